"""Benchmark: the console's list pages over a catalogue of 100,000 items (issue 11: p95 < 300 ms locally).

Seeds N catalogue items (as the pipeline writes them: ``hall``/``hall_sk`` for the index ``by_hall``)
across five halls and five statuses into the local cloud's catalogue table (moto, in this process),
then answers list requests through the console's real path: a payload-2.0 event with the clerk's
claims → Powertools' resolver → authorisation → one DynamoDB index query → JSON. Prints p50/p95/max
per kind of page (first page, a status, a status + date range, 事项 filter, the next page by cursor).

moto answers a query by sorting and walking every item of the table in Python; the local cloud
(``earchive_devtools.localcloud._index_dynamodb``) keeps the table sorted and grouped by index key
between changes, so a query walks one partition as DynamoDB does. The first query after a change
pays for that once and is printed apart.

    python bench/bench_console.py [--items 100000] [--requests 60]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HALLS = ["430102#0102", "430203#0203", "430302#0302", "430405#0405", "430602#0602"]
STATUSES = ["ARCHIVED", "ARCHIVED", "ARCHIVED", "REJECTED", "ACCEPTED", "RETURNED"]


def event(path: str, query: dict[str, str], hall: str) -> dict:
    region, fonds = hall.split("#")
    claims = {"sub": "bench-clerk", "cognito:username": "clerk", "cognito:groups": "[window_clerk]", "custom:scopes": f"hall:{region}:{fonds}"}
    qs = "&".join(f"{k}={v}" for k, v in query.items())
    return {"version": "2.0", "routeKey": "ANY /api/{proxy+}", "rawPath": path, "rawQueryString": qs, "headers": {},
            "queryStringParameters": query or None, "isBase64Encoded": False,
            "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": "127.0.0.1"}, "requestId": "bench", "stage": "$default",
                               "authorizer": {"jwt": {"claims": claims, "scopes": None}}}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=60, help="requests per kind of page")
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    os.environ["EARCHIVE_HOME"] = str(Path(tempfile.mkdtemp(prefix="earchive-bench-console-")) / "home")

    from earchive.config import Settings
    from earchive.console.api import make_app
    from earchive.console.desk import Desk
    from earchive.domain.listing import indexed
    from earchive_devtools.localcloud import LocalCloud

    with LocalCloud(log_level="ERROR") as cloud:
        table = cloud.catalogue().table
        t0 = time.perf_counter()
        start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        with table.batch_writer() as w:
            for i in range(args.items):
                hall = HALLS[i % len(HALLS)]
                region, fonds = hall.split("#")
                status = STATUSES[(i // len(HALLS)) % len(STATUSES)]
                at = (start + dt.timedelta(minutes=5 * i)).isoformat(timespec="seconds")
                code = f"{region}-{fonds}-4300000001{i % 90 + 10:02d}-2026-D30-{i:06d}"
                w.put_item(Item=indexed({"package_id": code, "record_code": code, "project_id": f"P{i:09d}", "status": status,
                                         "task_code": f"4300000001{i % 90 + 10:02d}", "task_name": "食品经营许可", "task_type": "行政权力事项",
                                         "region_code": region, "fonds_identifier": fonds, "updated_at": at, "package_version": 1}))
        seeded = time.perf_counter() - t0
        settings = Settings.from_env()
        app = make_app(Desk(settings), settings)
        hall = HALLS[0]
        kinds = {
            "first page (50, newest first)": {},
            "status=REJECTED": {"status": "REJECTED"},
            "status=ARCHIVED, one month": {"status": "ARCHIVED", "since": "2026-03-01", "until": "2026-03-31"},
            "事项 filter": {"status": "ARCHIVED", "task_code": "430000000115"},
        }
        results: dict[str, list[float]] = {}
        cursor = None
        t = time.perf_counter()
        app.resolve(event("/api/cases", {}, hall), None)  # the first query after a change: the local cloud sorts and groups the table once
        cold = (time.perf_counter() - t) * 1000
        for name, query in kinds.items():
            times = []
            for _ in range(args.requests):
                t = time.perf_counter()
                out = app.resolve(event("/api/cases", query, hall), None)
                times.append((time.perf_counter() - t) * 1000)
                assert out["statusCode"] == 200, out["body"][:300]
                body = json.loads(out["body"])
                if name.startswith("first"):
                    cursor = body["cursor"]
            results[name] = times
        times = []
        for _ in range(args.requests):  # the next page, by the cursor the first one gave
            t = time.perf_counter()
            out = app.resolve(event("/api/cases", {"cursor": cursor}, hall), None)
            times.append((time.perf_counter() - t) * 1000)
            assert out["statusCode"] == 200 and json.loads(out["body"])["items"], out["body"][:300]
        results["next page (cursor)"] = times
        print(f"console list pages over {args.items:,} catalogue items in 5 halls (seeded in {seeded:.0f} s), {args.requests} requests each, "
              f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, moto in process")
        print(f"{'page':<34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
        worst = 0.0
        for name, times in results.items():
            p95 = statistics.quantiles(times, n=20)[18]
            worst = max(worst, p95)
            print(f"{name:<34} {statistics.median(times):8.1f} {p95:8.1f} {max(times):8.1f}")
        print(f"the first query after a change to the table (the local cloud re-sorts it once): {cold:.0f} ms")
        print(f"target p95 < 300 ms: {'met' if worst < 300 else 'MISSED'} (worst p95 {worst:.0f} ms)")
    if args.json:
        Path(args.json).write_text(json.dumps({"items": args.items, "requests": args.requests, "worst_p95_ms": round(worst, 1),
                                               "first_after_change_ms": round(cold), "p95_ms": {k: round(statistics.quantiles(v, n=20)[18], 1)
                                                                                               for k, v in results.items()}},
                                              ensure_ascii=False, indent=2), "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
