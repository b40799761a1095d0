"""Benchmark: pack+verify against one ``openssl dgst -sm3`` pass and against bagit-python.

Generates a corpus (many small cases and one large one), then from the same
run measures:

* earchive pack + verify (archiving check, built-in scanner) over every case;
* one ``openssl dgst -sm3`` pass over the same material bytes (the floor: a
  sealed, checked package needs at least one SM3 read);
* bagit-python ``make_bag`` + ``Bag.validate`` (its default checksums) over
  the same files, hard-linked so the page cache is shared;
* peak RSS of ``earchive pack`` and ``earchive verify`` on the large case,
  each in its own process.

Targets (issue 2): pack+verify < 2.5x the SM3 pass, faster than bagit make+validate,
pack peak RSS < 300 MB with a 2 GB file. Usage::

    python bench/bench_pack_verify.py [--small 40] [--large-mb 2048] [--work DIR]
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=40, help="number of small cases")
    ap.add_argument("--large-mb", type=float, default=2048, help="size of the large case's big file")
    ap.add_argument("--work", help="working folder (default: a temp folder, removed after)")
    ap.add_argument("--json", help="also write the figures as JSON here")
    args = ap.parse_args()

    from earchive.check import CheckOptions, check_package
    from earchive.check.virus import make_scanner
    from earchive.crypto.signers import make_signer, make_tsa
    from earchive.domain.pack import pack
    from earchive_devtools.sample import sample_case

    work = Path(args.work or tempfile.mkdtemp(prefix="earchive-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, EARCHIVE_HOME=str(work / "home"))
    os.environ["EARCHIVE_HOME"] = env["EARCHIVE_HOME"]
    try:
        print(f"generating {args.small} small cases and one {args.large_mb:.0f} MB case in {work}", file=sys.stderr)
        cases = [sample_case(work / "cases", seed=1000 + i, files=5 + i % 4).folder for i in range(args.small)]
        large = sample_case(work / "cases", seed=1, files=5, size_mb=args.large_mb).folder
        cases.append(large)
        materials = [p for c in cases for p in sorted((c / "materials").iterdir())]
        total_bytes = sum(p.stat().st_size for p in materials)
        print(f"corpus: {len(cases)} cases, {len(materials)} files, {total_bytes / 1e6:,.1f} MB", file=sys.stderr)
        signer, tsa, scanner = make_signer(), make_tsa(), make_scanner("builtin")
        # warm the page cache and the PKI so every contender reads from memory
        subprocess.run(["cat", *map(str, materials)], stdout=subprocess.DEVNULL, check=True)

        # 1. the floor: one openssl SM3 pass
        t = time.perf_counter()
        subprocess.run(["openssl", "dgst", "-sm3", *map(str, materials)], stdout=subprocess.DEVNULL, check=True)
        sm3_s = time.perf_counter() - t

        # 2. earchive pack + verify
        out = work / "packages"
        t = time.perf_counter()
        packages = [pack(c, out, signer=signer, tsa=tsa, overwrite=True).path for c in cases]
        pack_s = time.perf_counter() - t
        t = time.perf_counter()
        reports = [check_package(p, CheckOptions(scanner=scanner)) for p in packages]
        verify_s = time.perf_counter() - t
        assert all(r.passed for r in reports), [r.failures for r in reports if not r.passed]
        for p in packages:
            p.unlink()

        # 3. bagit-python make + validate, default checksums, on hard links of the same files
        import bagit

        bag_root = work / "bags"
        bagit_s = 0.0
        for c in cases:
            bag = bag_root / c.name
            bag.mkdir(parents=True)
            for f in sorted((c / "materials").iterdir()):
                os.link(f, bag / f.name)
            t = time.perf_counter()
            b = bagit.make_bag(str(bag))
            b = bagit.Bag(str(bag))
            b.validate()
            bagit_s += time.perf_counter() - t
        shutil.rmtree(bag_root)

        # 4. memory: pack and verify of the large case in their own processes
        exe = [sys.executable, "-m", "earchive"]
        big_out = work / "big"
        pack_big_s, pack_rss = child_peak_rss(exe + ["pack", str(large), "--out", str(big_out), "--force", "--no-progress"], env)
        big_pkg = next(big_out.glob("*.zip"))
        verify_big_s, verify_rss = child_peak_rss(exe + ["verify", str(big_pkg), "--json"], env)

        figures = {
            "corpus": {"cases": len(cases), "files": len(materials), "bytes": total_bytes, "large_file_mb": args.large_mb},
            "openssl_sm3_pass_s": round(sm3_s, 2),
            "earchive_pack_s": round(pack_s, 2),
            "earchive_verify_s": round(verify_s, 2),
            "earchive_pack_verify_s": round(pack_s + verify_s, 2),
            "ratio_to_sm3_pass": round((pack_s + verify_s) / sm3_s, 2),
            "bagit_make_validate_s": round(bagit_s, 2),
            "bagit_checksums": list(bagit.DEFAULT_CHECKSUMS),
            "ratio_to_bagit": round((pack_s + verify_s) / bagit_s, 2),
            "large_pack_s": round(pack_big_s, 2),
            "large_pack_peak_rss_mb": round(pack_rss, 1),
            "large_verify_s": round(verify_big_s, 2),
            "large_verify_peak_rss_mb": round(verify_rss, 1),
            "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}",
        }
        mb = total_bytes / 1e6
        print(f"""
| measure | seconds | MB/s | ratio |
|---|---:|---:|---:|
| openssl dgst -sm3 (one pass) | {sm3_s:.2f} | {mb / sm3_s:,.0f} | 1.00 |
| earchive pack | {pack_s:.2f} | {mb / pack_s:,.0f} | {pack_s / sm3_s:.2f} |
| earchive verify (archiving check) | {verify_s:.2f} | {mb / verify_s:,.0f} | {verify_s / sm3_s:.2f} |
| **earchive pack + verify** | **{pack_s + verify_s:.2f}** | {mb / (pack_s + verify_s):,.0f} | **{(pack_s + verify_s) / sm3_s:.2f}** (target < 2.5) |
| bagit-python make + validate ({'+'.join(bagit.DEFAULT_CHECKSUMS)}) | {bagit_s:.2f} | {mb / bagit_s:,.0f} | {bagit_s / sm3_s:.2f} |

pack+verify / bagit = {(pack_s + verify_s) / bagit_s:.2f} (target < 1)
large case ({args.large_mb:.0f} MB file): pack {pack_big_s:.1f}s, peak RSS {pack_rss:.0f} MB (target < 300); \
verify {verify_big_s:.1f}s, peak RSS {verify_rss:.0f} MB
corpus: {len(cases)} cases, {len(materials)} files, {mb:,.1f} MB; {figures['machine']}""")
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2), "utf-8")
        ok = figures["ratio_to_sm3_pass"] < 2.5 and figures["ratio_to_bagit"] < 1 and pack_rss < 300
        print("targets met" if ok else "TARGETS MISSED")  # a figure, not a failure: the run itself succeeded
        return 0
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
