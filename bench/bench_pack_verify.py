"""Benchmark: pack+verify against one single-core ``openssl dgst -sm3`` pass and against bagit-python.

Three corpora, each measured the same way (issue 12, target 3):

* ``one-large``: one case whose application PDF is one large file (600 MB quick, 2 GB full),
  target pack+verify <= 2.2 x one SM3 pass (each step must compute SM3 over every byte: 2.0 x is
  the floor for one file, whatever the cores);
* ``many-files``: one case of 24 files, nine of them large, the same bytes in all: target
  <= 1.3 x, because different files' SM3 runs on different cores (``DigestLanes``);
* ``small-cases``: many small cases, one package each, as a hall makes them;
* ``one-large-guomi``: the one large file again under the 国密 profile (issue 23: SM2 seal over the SM3
  manifest, SM2 TSA with an SM3 imprint, the check walking the SM2 chain), target <= 2.2 x as well.

Against each, one ``openssl dgst -sm3`` pass over the same material bytes (the floor of a sealed,
checked package), and bagit-python ``make_bag`` + ``Bag.validate`` with as many processes as
earchive has cores, once with its default checksums (SHA-256 + SHA-512, six times cheaper than
SM3 here) and once with the digests earchive computes (SM3 + SHA-256). Peak RSS of ``earchive
pack`` and ``earchive verify`` on the large file, each in its own process (target < 300 MB).
The files are hard-linked into the bags, and the page cache is warm for every contender.

    python bench/bench_pack_verify.py [--small 40] [--large-mb 2048] [--work DIR] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def child_peak_rss(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(seconds, peak RSS MB) of one child process, measured with wait4."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return seconds, usage.ru_maxrss / 1024


TARGETS = {"one-large": 2.2, "many-files": 1.3, "small-cases": None, "one-large-guomi": 2.2}


def measure(name: str, cases: list[Path], work: Path, cores: int, *, profile: str = "standard", bagit_too: bool = True) -> dict:
    """Every contender over one corpus, from a warm page cache (``profile``: EARCHIVE_CRYPTO_PROFILE for earchive's run)."""
    os.environ["EARCHIVE_CRYPTO_PROFILE"] = profile
    import bagit

    from earchive.check import CheckOptions, check_package
    from earchive.check.virus import make_scanner
    from earchive.crypto.signers import make_signer, make_tsa
    from earchive.domain.pack import pack

    materials = [p for c in cases for p in sorted((c / "materials").iterdir())]
    total = sum(p.stat().st_size for p in materials)
    signer, tsa, scanner = make_signer(), make_tsa(), make_scanner("builtin")
    subprocess.run(["cat", *map(str, materials)], stdout=subprocess.DEVNULL, check=True)

    t = time.perf_counter()
    subprocess.run(["openssl", "dgst", "-sm3", *map(str, materials)], stdout=subprocess.DEVNULL, check=True)
    sm3_s = time.perf_counter() - t

    out = work / "packages" / name
    t = time.perf_counter()
    packages = [pack(c, out, signer=signer, tsa=tsa, overwrite=True).path for c in cases]
    pack_s = time.perf_counter() - t
    t = time.perf_counter()
    reports = [check_package(p, CheckOptions(scanner=scanner)) for p in packages]
    verify_s = time.perf_counter() - t
    assert all(r.passed for r in reports), [r.failures for r in reports if not r.passed]
    shutil.rmtree(out)
    os.environ["EARCHIVE_CRYPTO_PROFILE"] = "standard"
    profiles = sorted({r.crypto_profile for r in reports})
    if not bagit_too:
        both = pack_s + verify_s
        return {"cases": len(cases), "files": len(materials), "bytes": total, "crypto_profile": profiles,
                "openssl_sm3_pass_s": round(sm3_s, 2), "pack_s": round(pack_s, 2), "verify_s": round(verify_s, 2),
                "pack_verify_s": round(both, 2), "ratio_to_sm3_pass": round(both / sm3_s, 2), "target_ratio": TARGETS[name]}

    bagit.CHECKSUM_ALGOS = set(bagit.CHECKSUM_ALGOS) | {"sm3"}  # so Bag() finds and validates manifest-sm3.txt
    bag_s = {}
    for label, checksums in (("defaults", list(bagit.DEFAULT_CHECKSUMS)), ("sm3+sha256", ["sm3", "sha256"])):
        bag_root = work / "bags" / name
        took = 0.0
        for c in cases:
            bag = bag_root / c.name
            bag.mkdir(parents=True)
            for f in sorted((c / "materials").iterdir()):
                os.link(f, bag / f.name)
            t = time.perf_counter()
            bagit.make_bag(str(bag), processes=cores, checksums=checksums)
            b = bagit.Bag(str(bag))
            assert set(b.algorithms) == set(checksums), b.algorithms
            b.validate(processes=cores)
            took += time.perf_counter() - t
        shutil.rmtree(bag_root)
        bag_s[label] = took
    both = pack_s + verify_s
    return {
        "cases": len(cases), "files": len(materials), "bytes": total, "crypto_profile": profiles,
        "openssl_sm3_pass_s": round(sm3_s, 2), "pack_s": round(pack_s, 2), "verify_s": round(verify_s, 2),
        "pack_verify_s": round(both, 2), "ratio_to_sm3_pass": round(both / sm3_s, 2), "target_ratio": TARGETS[name],
        "bagit_processes": cores, "bagit_defaults_s": round(bag_s["defaults"], 2), "bagit_sm3_sha256_s": round(bag_s["sm3+sha256"], 2),
        "ratio_to_bagit_defaults": round(both / bag_s["defaults"], 2), "ratio_to_bagit_same_digests": round(both / bag_s["sm3+sha256"], 2),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=40, help="number of small cases")
    ap.add_argument("--large-mb", type=float, default=2048, help="size of the large file, and of the many-file case")
    ap.add_argument("--work", help="working folder (default: a temp folder, removed after)")
    ap.add_argument("--json", help="also write the figures as JSON here")
    args = ap.parse_args()

    from earchive.crypto.digests import available_cores
    from earchive_devtools.sample import sample_case

    work = Path(args.work or tempfile.mkdtemp(prefix="earchive-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, EARCHIVE_HOME=str(work / "home"))
    os.environ["EARCHIVE_HOME"] = env["EARCHIVE_HOME"]
    cores = available_cores()
    try:
        print(f"generating: {args.small} small cases, one {args.large_mb:.0f} MB file, {args.large_mb:.0f} MB in 24 files", file=sys.stderr)
        corpora = {
            "one-large": [sample_case(work / "cases", seed=1, files=5, size_mb=args.large_mb).folder],
            "many-files": [sample_case(work / "cases", seed=2, files=24, size_mb=args.large_mb / 9, big_files=9).folder],
            "small-cases": [sample_case(work / "cases", seed=1000 + i, files=5 + i % 4).folder for i in range(args.small)],
        }
        figures: dict = {"machine": f"{os.cpu_count()} cores ({cores} usable), Python {sys.version.split()[0]}", "corpora": {}}
        for name, cases in corpora.items():
            print(f"measuring {name}", file=sys.stderr)
            figures["corpora"][name] = measure(name, cases, work, cores)
        print("measuring one-large-guomi", file=sys.stderr)
        figures["corpora"]["one-large-guomi"] = measure("one-large-guomi", corpora["one-large"], work, cores, profile="guomi",
                                                        bagit_too=False)

        exe = [sys.executable, "-m", "earchive"]
        large, big_out = corpora["one-large"][0], work / "big"
        pack_big_s, pack_rss = child_peak_rss(exe + ["pack", str(large), "--out", str(big_out), "--force", "--no-progress"], env)
        big_pkg = next(big_out.glob("*.zip"))
        verify_big_s, verify_rss = child_peak_rss(exe + ["verify", str(big_pkg), "--json"], env)
        figures.update({"large_file_mb": args.large_mb, "large_pack_s": round(pack_big_s, 2), "large_pack_peak_rss_mb": round(pack_rss, 1),
                        "large_verify_s": round(verify_big_s, 2), "large_verify_peak_rss_mb": round(verify_rss, 1)})

        print(f"""
| corpus | MB | SM3 pass s | pack s | verify s | pack+verify / SM3 | target | bagit {cores}p defaults s \
| bagit {cores}p SM3+SHA-256 s | / bagit defaults | / bagit same digests |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|""")
        for name, f in figures["corpora"].items():
            print(f"| {name} ({f['files']} files) | {f['bytes'] / 1e6:,.0f} | {f['openssl_sm3_pass_s']} | {f['pack_s']} | {f['verify_s']} | "
                  f"**{f['ratio_to_sm3_pass']}** | {'≤ ' + str(f['target_ratio']) if f['target_ratio'] else '—'} | {f.get('bagit_defaults_s', '—')} | "
                  f"{f.get('bagit_sm3_sha256_s', '—')} | {f.get('ratio_to_bagit_defaults', '—')} | {f.get('ratio_to_bagit_same_digests', '—')} |")
        print(f"""
large file ({args.large_mb:.0f} MB), each in its own process: pack {pack_big_s:.1f}s, peak RSS {pack_rss:.0f} MB (target < 300); \
verify {verify_big_s:.1f}s, peak RSS {verify_rss:.0f} MB; {figures['machine']}""")
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2), "utf-8")
        c = figures["corpora"]
        met = {
            "one large file <= 2.2x SM3": c["one-large"]["ratio_to_sm3_pass"] <= 2.2,
            "one large file, 国密 profile, <= 2.2x SM3": c["one-large-guomi"]["ratio_to_sm3_pass"] <= 2.2
            and c["one-large-guomi"]["crypto_profile"] == ["guomi"],
            "many files <= 1.3x SM3": c["many-files"]["ratio_to_sm3_pass"] <= 1.3,
            "faster than bagit (same digests, same processes)": all(f["ratio_to_bagit_same_digests"] < 1 for f in c.values()
                                                                     if "ratio_to_bagit_same_digests" in f),
            "pack RSS < 300 MB": pack_rss < 300 and verify_rss < 300,
        }
        for what, ok in met.items():  # a figure, not a failure: the run itself succeeded
            print(f"{'met   ' if ok else 'MISSED'} {what}")
        return 0
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
