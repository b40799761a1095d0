"""Benchmark: one large transfer batch through the real transfer state machine on the local cloud.

Seeds N archived packages (packed and sealed offline, stored under Object Lock,
catalogued as the archive pipeline would), then times: creating the batch (N
conditional writes), submitting it until every package is copied and has had
its receiving check (the Distributed Map), and the institution's decision.
Prints packages/second and the process's peak RSS (moto keeps every object in
this process, so RSS includes the fake S3's contents).

    python bench/bench_transfer.py [--packages 500]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packages", type=int, default=500)
    ap.add_argument("--json", help="also write the figures to this file")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="earchive-bench-transfer-"))
    os.environ["EARCHIVE_HOME"] = str(work / "home")

    from earchive.client import TransferService
    from earchive.crypto.digests import StreamDigest
    from earchive.crypto.signers import make_signer, make_tsa
    from earchive.domain.listing import indexed
    from earchive.domain.pack import pack
    from earchive.domain.transfer import Selection
    from earchive_devtools.institutions import register
    from earchive_devtools.localcloud import LocalCloud, recorded_calls
    from earchive_devtools.sample import sample_case

    signer, tsa = make_signer(), make_tsa()
    with LocalCloud(log_level="ERROR") as cloud:
        s3 = cloud.client("s3")
        cat = cloud.catalogue()
        t0 = time.perf_counter()
        total_bytes = 0
        for i in range(args.packages):
            case = sample_case(work / "cases", seed=10_000 + i, files=4)
            result = pack(case.folder, work / "packages", signer=signer, tsa=tsa, serial=i + 1)
            data = result.path.read_bytes()
            md = StreamDigest()
            md.update(data)
            d = md.hexdigests()
            key = f"packages/{result.record_code}.zip"
            version = s3.put_object(Bucket=cloud.name("ArchiveBucket"), Key=key, Body=data, ChecksumAlgorithm="SHA256",
                                    ObjectLockMode="COMPLIANCE",
                                    ObjectLockRetainUntilDate=dt.datetime(2040, 1, 1, tzinfo=dt.UTC))["VersionId"]
            cat.table.put_item(Item=indexed({
                "package_id": result.record_code, "record_code": result.record_code, "project_id": result.project_id,
                "status": "ARCHIVED", "task_code": case.case["task_code"], "task_name": case.case["task_name"],
                "task_type": case.case["task_type"], "archived_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "archive": {"bucket": cloud.name("ArchiveBucket"), "key": key, "version_id": version},
                "package_sha256": d["SHA-256"], "package_sm3": d["SM3"], "package_size": len(data), "package_version": 1,
                "retention_period": case.case["retention_period"], "total_number": len(result.files),
                "region_code": case.case["region_code"], "fonds_identifier": case.case["fonds_identifier"],
            }))  # as Store writes it: with the keys the lists and 申请移交 read (by_hall, by_ready)
            total_bytes += len(data)
            result.path.unlink()
        seeded = time.perf_counter() - t0
        print(f"seeded {args.packages} archived packages ({total_bytes / 1e6:.1f} MB) in {seeded:.1f}s", file=sys.stderr)

        svc = TransferService.from_cloud(cloud)
        t = time.perf_counter()
        register(svc, name="长沙市芙蓉区行政审批服务局")  # the province: every seeded region is within its scope
        batch = svc.create(Selection(), institution="430102001", transferor="李敏")
        create_s = time.perf_counter() - t
        t = time.perf_counter()
        calls_before = len(recorded_calls())
        svc.submit(batch["batch_id"], actor="李敏")
        svc.wait_for_decision(batch["batch_id"], timeout=7200)
        receive_s = time.perf_counter() - t
        map_calls = sum(1 for c in recorded_calls()[calls_before:] if "copy" in c[0] or "receivecheck" in c[0])
        view = svc.show(batch["batch_id"])
        passed = sum(1 for p in view["packages"] if p.get("receipt", {}).get("passed"))
        t = time.perf_counter()
        done = svc.decide(batch["batch_id"], receiver="王芳", timeout=7200)
        decide_s = time.perf_counter() - t
        t = time.perf_counter()
        svc.export(batch["batch_id"], work / "export")
        export_s = time.perf_counter() - t
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n = args.packages
    print(f"""
| step | seconds | packages/s |
|---|---:|---:|
| create batch ({n} conditional writes) | {create_s:.1f} | {n / create_s:,.0f} |
| submit → copy + receiving check of every package (Distributed Map) | {receive_s:.1f} | {n / receive_s:,.1f} |
| decision (accept {int(done['accepted_count'])}, sign, record) | {decide_s:.1f} | {n / decide_s:,.0f} |
| export (XLSX, PDF, signatures, 归档目录清单) | {export_s:.1f} | |

{n} packages ({total_bytes / 1e6:.1f} MB), {passed} passed the receiving check, batch {done['status']};
the Map's functions (copy, receiving check) made {map_calls / n:.1f} AWS calls per package;
peak RSS of the whole local cloud process {rss:.0f} MB (moto holds every object in memory); 2 cores, Python {sys.version.split()[0]}""")
    if args.json:
        import json

        Path(args.json).write_text(json.dumps({"packages": n, "megabytes": round(total_bytes / 1e6, 1), "create_s": round(create_s, 2),
                                               "receive_s": round(receive_s, 1), "receive_packages_per_s": round(n / receive_s, 1),
                                               "map_calls_per_package": round(map_calls / n, 1),
                                               "decide_s": round(decide_s, 1), "export_s": round(export_s, 1), "peak_rss_mb": round(rss),
                                               "passed": passed, "status": done["status"]}, ensure_ascii=False, indent=2), "utf-8")
    return 0 if passed == n and done["status"] == "ACCEPTED" else 1


if __name__ == "__main__":
    raise SystemExit(main())
