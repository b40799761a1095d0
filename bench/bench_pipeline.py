"""Benchmark: generated cases through the real archive state machine on the local cloud (issue 12, target 1).

First one case alone (after one warm-up case, so the containers are warm as on a busy Lambda), then N
cases uploaded together and started as the EventBridge rule would. Prints cases/s over the N, p50/p95
latency from upload to archived (the queue's wait included), the time in each state (from the execution
histories), and the process's RSS: moto keeps every object in this process, so the growth beyond the
bytes the local S3 holds is what the pipeline itself keeps.

    python bench/bench_pipeline.py [--cases 40] [--full]   # --full: 200 cases
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stored_mb(cloud) -> float:
    """What the local S3 holds (every version), in MB: moto keeps it in this process."""
    s3, total = cloud.client("s3"), 0
    for b in s3.list_buckets()["Buckets"]:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=b["Name"]):
            total += sum(v["Size"] for v in page.get("Versions", []))
    return total / 1024**2


def per_state(cloud, arns: list[str], sizes: list[int] | None = None) -> dict[str, list[float]]:
    """Seconds in each state of each execution, from its history (entered → exited); ``sizes`` gets each history's JSON size."""
    sfn, out = cloud.client("stepfunctions"), defaultdict(list)
    for arn in arns:
        entered: dict[str, float] = {}
        events = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
        if sizes is not None:
            sizes.append(len(json.dumps(events, default=str)))
        for e in events:
            kind = e["type"]
            if kind.endswith("StateEntered"):
                d = e.get("stateEnteredEventDetails", {})
                entered[d.get("name", "?")] = e["timestamp"].timestamp()
            elif kind.endswith("StateExited"):
                d = e.get("stateExitedEventDetails", {})
                name = d.get("name", "?")
                if name in entered:
                    out[name].append(e["timestamp"].timestamp() - entered.pop(name))
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))] if values else 0.0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=40)
    ap.add_argument("--full", action="store_true", help="200 cases (the issue's sustained figure)")
    ap.add_argument("--in-flight", type=int, default=8, help="executions running at once; the queue holds the rest (0: no bound)")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    n = 200 if args.full else args.cases
    work = Path(tempfile.mkdtemp(prefix="earchive-bench-pipeline-"))
    os.environ["EARCHIVE_HOME"] = str(work / "home")

    from earchive_devtools.localcloud import LocalCloud
    from earchive_devtools.sample import sample_case, zip_case

    zips = [zip_case(sample_case(work / "cases", seed=20_000 + i, files=3).folder, work / f"case-{i}.zip") for i in range(n + 2)]
    with LocalCloud(log_level="ERROR") as cloud:
        def run(paths: list[Path], timeout: float) -> tuple[dict, float]:
            t0 = time.perf_counter()
            for p in paths:
                cloud.upload(p)
            uploaded = dt.datetime.now(dt.UTC)  # latency is counted from here: the queue's wait included
            arns: list[str] = []
            idle_since = time.monotonic()
            while len(arns) < len(paths) and time.monotonic() - idle_since < 30:  # the queue holds the rest while some run
                new = cloud.dispatch(wait=0.2, max_in_flight=args.in_flight or None)
                arns += new
                idle_since = time.monotonic() if new else idle_since
            done = cloud.wait(arns, timeout=timeout)
            for d in done.values():
                d["uploaded"] = uploaded
            return done, time.perf_counter() - t0

        run(zips[:1], 120)  # warm-up: cold containers, imports, the first clients
        rss_warm, stored_warm = rss_mb(), stored_mb(cloud)
        lone, lone_wall = run(zips[1:2], 120)
        (one,) = lone.values()
        one_s = (one["stopDate"] - one["startDate"]).total_seconds()
        done, wall = run(zips[2:], 60 + 10 * n)
        failed = [d for d in done.values() if d["status"] != "SUCCEEDED"]
        latencies = [(d["stopDate"] - d["uploaded"]).total_seconds() for d in done.values()]  # upload → archived
        sizes: list[int] = []
        states = per_state(cloud, list(done), sizes)
        lone_states = per_state(cloud, list(lone))
        rss_end, stored_end = rss_mb(), stored_mb(cloud)
        figures = {
            "cases": n, "in_flight": args.in_flight, "failed": len(failed), "cases_per_s": round(n / wall, 2), "wall_s": round(wall, 1),
            "one_case_s": round(one_s, 2), "one_case_wall_s": round(lone_wall, 2),
            "latency_p50_s": round(pct(latencies, 0.5), 2), "latency_p95_s": round(pct(latencies, 0.95), 2),
            "states_mean_s": {k: round(statistics.mean(v), 3) for k, v in sorted(states.items(), key=lambda kv: -statistics.mean(kv[1]))},
            "states_one_case_s": {k: round(v[0], 3) for k, v in lone_states.items()},
            "histories_mb": round(sum(sizes) / 1024**2, 1),
            "rss_warm_mb": round(rss_warm, 1), "rss_end_mb": round(rss_end, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "stored_growth_mb": round(stored_end - stored_warm, 1),
            "growth_beyond_store_mb": round((rss_end - rss_warm) - (stored_end - stored_warm), 1),
            "cpus": os.cpu_count(),
        }
    print(f"archive pipeline on the local cloud ({figures['cpus']} cores): {n} cases in {figures['wall_s']} s → "
          f"{figures['cases_per_s']} cases/s ({figures['failed']} failed)")
    print(f"  one case alone, warm: {figures['one_case_s']} s end to end ({figures['one_case_wall_s']} s from upload)")
    bound = f"at most {args.in_flight} running, the queue holding the rest" if args.in_flight else "all running at once"
    print(f"  latency from upload to archived, {n} uploaded together ({bound}): p50 {figures['latency_p50_s']} s, "
          f"p95 {figures['latency_p95_s']} s")
    print("  mean seconds per state: " + ", ".join(f"{k} {v}" for k, v in figures["states_mean_s"].items()))
    print("  one case alone, seconds per state: " + ", ".join(f"{k} {v}" for k, v in figures["states_one_case_s"].items()))
    print(f"  RSS warm {figures['rss_warm_mb']} MB → {figures['rss_end_mb']} MB (peak {figures['peak_rss_mb']} MB); the local S3 grew "
          f"{figures['stored_growth_mb']} MB; growth beyond it {figures['growth_beyond_store_mb']} MB, of which the execution histories "
          f"moto keeps are {figures['histories_mb']} MB as JSON")
    if failed:
        print("  failures: " + json.dumps([f.get("cause", "")[:200] for f in failed[:3]], ensure_ascii=False), file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, ensure_ascii=False, indent=2), "utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
