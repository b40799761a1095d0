"""`make bench`: every benchmark, one after another, each in its own process; figures to out/bench/ (issue 12).

Quick by default (a few minutes on 2 cores); ``--full`` runs the issue's sizes (200 cases, a 10,000-package
batch, a 2 GB file, 100,000 catalogue items: the best part of an hour). Each benchmark prints its own figures;
this prints where they are with the machine they ran on, and exits 1 if one failed to run (a target missed
is a figure to report, not a failure: each benchmark says which it met).

    python bench/run.py [--full] [--only pipeline,transfer,pack,console]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE.parent / "out" / "bench"
RUNS = {  # name → (script, quick arguments, full arguments)
    "pipeline": ("bench_pipeline.py", ["--cases", "40"], ["--full"]),
    "transfer": ("bench_transfer.py", ["--packages", "200"], ["--packages", "10000"]),
    "pack": ("bench_pack_verify.py", ["--small", "20", "--large-mb", "600"], ["--small", "40", "--large-mb", "2048"]),
    "console": ("bench_console.py", ["--items", "20000", "--requests", "30"], ["--items", "100000"]),
}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor())
    mem = next((int(line.split()[1]) // 1024**2 for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")), 0)
    return f"{os.cpu_count()} cores ({cpu}), {mem} GiB, Python {platform.python_version()}, {platform.system()} {platform.release()}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("--only", default=",".join(RUNS))
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    failed, summary = [], {"machine": machine(), "mode": "full" if args.full else "quick", "runs": {}}
    print(f"benchmarks ({summary['mode']}) on {summary['machine']}", flush=True)
    for name in [n.strip() for n in args.only.split(",") if n.strip()]:
        script, quick, full = RUNS[name]
        target = OUT / f"{name}.json"
        cmd = [sys.executable, str(HERE / script), *(full if args.full else quick), "--json", str(target)]
        print(f"\n== {name}: {' '.join(cmd[1:])}", flush=True)
        started = time.perf_counter()
        rc = subprocess.call(cmd)
        summary["runs"][name] = {"rc": rc, "seconds": round(time.perf_counter() - started, 1),
                                 "figures": json.loads(target.read_text("utf-8")) if target.exists() else None}
        if rc != 0:
            failed.append(name)
    (OUT / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2), "utf-8")
    took = ", ".join(f"{k} {v['seconds']} s" for k, v in summary["runs"].items())
    print(f"\nfigures: {OUT}/  ({took})")
    if failed:
        print(f"did not complete: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
