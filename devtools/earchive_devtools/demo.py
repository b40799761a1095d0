"""``earchive demo``: the main job on the local default.

Starts the local cloud (template.yaml + the real ASL on moto), generates a
dozen realistic cases (one defective: a file corrupted in transit; some
zipped by GBK-era tools), uploads them to the intake bucket, shows progress
while the state machine runs, and prints a summary table (archived /
rejected with reasons, time per step). Packages, check reports, rejection
reports and the catalogue export are left in the output folder.
``--offline`` runs the pack → verify round trip without the cloud.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from .sample import sample_case, zip_case

STEPS = ("Collect", "Organise", "Pack", "Seal", "Check", "Register", "Store", "Reject")


def _step_times(history: list[dict[str, Any]]) -> dict[str, float]:
    entered: dict[str, dt.datetime] = {}
    times: dict[str, float] = {}
    for e in history:
        if e["type"] == "TaskStateEntered":
            entered[e["stateEnteredEventDetails"]["name"]] = e["timestamp"]
        elif e["type"] == "TaskStateExited":
            name = e["stateExitedEventDetails"]["name"]
            if name in entered:
                times[name] = (e["timestamp"] - entered[name]).total_seconds()
    return times


def _progress(done: int, total: int, counts: dict[str, int]) -> None:
    bar = "#" * int(30 * done / total) + "." * (30 - int(30 * done / total))
    end = "" if sys.stderr.isatty() else "\n"
    print(f"\r  [{bar}] {done}/{total} done — archived {counts['ARCHIVED']}, rejected {counts['REJECTED']}",
          end=end, file=sys.stderr, flush=True)


def run_demo(out: Path, cases: int = 12) -> int:
    """The cloud demo on moto; returns 0 when every good case was archived and the bad one rejected."""
    from .localcloud import LocalCloud

    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"earchive demo: starting the local cloud (template.yaml + statemachine/archive.asl.json on moto) → {out.resolve()}",
          file=sys.stderr)
    with LocalCloud(log_level="ERROR") as cloud:
        print(f"  intake bucket {cloud.name('IntakeBucket')}, archive bucket {cloud.name('ArchiveBucket')} (Object Lock COMPLIANCE)",
              file=sys.stderr)
        plan = [(seed, None) for seed in range(1, cases)] + [(cases + 100, "digest")]
        uploads = {}
        for seed, defect in plan:
            case = sample_case(out / "cases", seed=seed, files=5 + seed % 4, defect=defect)
            bundle = zip_case(case.folder, out / "cases" / f"{case.project_id}.zip", gbk_names=seed % 4 == 0)
            up = cloud.upload(bundle)
            uploads[up["key"]] = {"case": case, "defect": defect, "gbk": seed % 4 == 0}
        print(f"  uploaded {len(uploads)} cases ({sum(1 for u in uploads.values() if u['gbk'])} zipped with GBK names, "
              f"{sum(1 for u in uploads.values() if u['defect'])} defective)", file=sys.stderr)
        arns = cloud.dispatch(wait=0.5)
        sfn = cloud.client("stepfunctions")

        def show(done: dict[str, dict[str, Any]]) -> None:
            counts: dict[str, int] = defaultdict(int)
            for d in done.values():
                counts["ARCHIVED" if d["status"] == "SUCCEEDED" else "REJECTED"] += 1
            _progress(len(done), len(arns), counts)

        results = cloud.wait(arns, timeout=1800, progress=show)
        print(file=sys.stderr)
        rows, step_sum, step_n = [], defaultdict(float), defaultdict(int)
        s3 = cloud.client("s3")
        (out / "packages").mkdir(exist_ok=True)
        (out / "reports").mkdir(exist_ok=True)
        (out / "rejections").mkdir(exist_ok=True)
        for arn, d in results.items():
            history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
            times = _step_times(history)
            for k, v in times.items():
                step_sum[k] += v
                step_n[k] += 1
            event = json.loads(d["input"])
            key = event["detail"]["object"]["key"]
            meta = uploads[key]
            if d["status"] == "SUCCEEDED":
                output = json.loads(d["output"])
                loc = output["archive"]
                target = out / "packages" / Path(loc["key"]).name
                s3.download_file(loc["bucket"], loc["key"], str(target), ExtraArgs={"VersionId": loc["version_id"]})
                rows.append((meta["case"].project_id, output["record_code"], "归档 ARCHIVED", meta["case"].case["task_name"], "", times))
            else:
                report = json.loads(s3.get_object(Bucket=cloud.name("IntakeBucket"), Key=f"{key}.rejected.json")["Body"].read())
                (out / "rejections" / f"{key}.rejected.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), "utf-8")
                reasons = "; ".join(f"[{p['rule']}] {p.get('file') or ''}" for p in report["problems"])
                rows.append((meta["case"].project_id, report.get("record_code") or "—", f"拒收 REJECTED at {report['stage']}",
                             meta["case"].case["task_name"], reasons, times))
        for obj in s3.list_objects_v2(Bucket=cloud.name("ReportsBucket")).get("Contents", []):
            target = out / "reports" / obj["Key"].replace("reports/", "").replace("/", "_")
            s3.download_file(cloud.name("ReportsBucket"), obj["Key"], str(target))
        _print_table(rows, step_sum, step_n)
        archived = sum(1 for r in rows if r[2].startswith("归档"))
        print(f"\n{archived} archived under Object Lock, {len(rows) - archived} rejected with reasons, in {time.monotonic() - started:.1f}s")
        transfer_ok = _transfer_loop(cloud, out, uploads) if archived else False
        _export_catalogue(cloud.catalogue().by_status(), out)
    print(f"packages, check reports, rejection reports, the signed transfer lists and catalogue.csv/json are in {out.resolve()}")
    print(out.resolve())
    expected_ok = archived == len(plan) - 1 and transfer_ok
    return 0 if expected_ok else 1


def _transfer_loop(cloud, out: Path, uploads: dict[str, Any]) -> bool:
    """Walk the seed's second stage: submit a batch, return one package, fix it, resubmit, accept."""
    from earchive.client import TransferService
    from earchive.domain.transfer import Selection

    svc = TransferService.from_cloud(cloud)
    def say(msg: str) -> None:
        print(msg, file=sys.stderr)

    print("\n移交 transfer to the implementing institution (政务服务实施机构)")
    batch = svc.create(Selection(), institution="430102001", institution_name="长沙市芙蓉区行政审批服务局", transferor="综合受理窗口 李敏")
    bid = batch["batch_id"]
    say(f"  batch {bid}: {int(batch['package_count'])} packages, DRAFT → submitted (the window signs the list)")
    svc.submit(bid, actor="综合受理窗口 李敏")
    svc.wait_for_decision(bid, timeout=1800)
    view = svc.show(bid)
    say(f"  receiving check (YJ tests, institution's trust anchors): {sum(1 for p in view['packages'] if p['receipt']['passed'])}"
        f"/{len(view['packages'])} passed; the state machine now sleeps on its task token")
    back = view["packages"][0]
    reason = "申请表扫描件模糊，请重新扫描后补正"
    done = svc.decide(bid, receiver="区行政审批局 王芳", returns={back["package_id"]: reason})
    print(f"  batch {bid}: {done['status']} — accepted {int(done['accepted_count'])}, returned {back['record_code']}: {reason}")
    # the window corrects the case and uploads it again: a new version, the returned one kept
    key = next(k for k, u in uploads.items() if u["case"].project_id == back["project_id"])
    folder = uploads[key]["case"].folder
    data = json.loads((folder / "case.json").read_text("utf-8"))
    data["case"]["remarks"] = "补正：按接收单位意见重新扫描申请表"
    (folder / "case.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), "utf-8")
    cloud.upload(zip_case(folder, out / "cases" / f"{back['project_id']}-补正.zip"))
    (fixed,) = cloud.wait(cloud.dispatch(wait=0.5), timeout=600).values()
    item = cloud.catalogue().get(back["package_id"])
    print(f"  corrected case re-archived: {back['record_code']} version {int(item['package_version'])} "
          f"({fixed['status']}); version 1 kept under Object Lock")
    again = svc.resubmit(bid, transferor="综合受理窗口 李敏")
    svc.submit(again["batch_id"], actor="综合受理窗口 李敏")
    svc.wait_for_decision(again["batch_id"], timeout=1800)
    final = svc.decide(again["batch_id"], receiver="区行政审批局 王芳")
    print(f"  batch {again['batch_id']} (resubmits {bid}): {final['status']} — both parties signed; packages received into storage")
    for b in (bid, again["batch_id"]):
        svc.export(b, out / "transfer" / b)
    print(f"  transfer lists (XLSX, PDF), signatures and 归档目录清单 in {out / 'transfer'}")
    return final["status"] == "ACCEPTED" and done["status"] == "PARTLY_RETURNED"


def _export_catalogue(items: list[dict[str, Any]], out: Path) -> None:
    def plain(v: Any) -> Any:
        return json.loads(json.dumps(v, default=lambda o: int(o) if float(o).is_integer() else float(o)))

    (out / "catalogue.json").write_text(json.dumps([plain(i) for i in items], ensure_ascii=False, indent=2), "utf-8")
    columns = ["package_id", "project_id", "status", "task_name", "task_type", "retention_period", "retain_until", "legal_hold",
               "total_number", "total_bytes", "package_sha256", "package_sm3", "archived_at", "rejected_at"]
    with open(out / "catalogue.csv", "w", newline="", encoding="utf-8-sig") as f:  # BOM: Excel opens Chinese right
        w = csv.writer(f)
        w.writerow(columns + ["archive_key", "archive_version", "problems"])
        for i in items:
            w.writerow([plain(i.get(c, "")) for c in columns] + [
                i.get("archive", {}).get("key", ""), i.get("archive", {}).get("version_id", ""),
                "; ".join(f"{p.get('rule')}: {p.get('message', '')[:80]}" for p in i.get("problems", []))])


def _print_table(rows: list[tuple], step_sum: dict[str, float], step_n: dict[str, int]) -> None:
    print(f"\n{'办件编号':<18}  {'电子文件号':<38}  {'结果':<24}  {'秒':>5}  事项 / 原因")
    for project_id, code, status, task, reasons, times in sorted(rows, key=lambda r: r[2]):
        total = sum(times.values())
        print(f"{project_id:<22}  {code:<43}  {status:<26}  {total:5.2f}  {reasons or task}"[:220])
    means = ", ".join(f"{s.lower()} {step_sum[s] / step_n[s]:.2f}" for s in STEPS if step_n.get(s))
    print(f"\nmean seconds per step: {means}")


def run_offline_demo(out: Path, cases: int = 6) -> int:
    """pack → verify on generated cases, no cloud at all."""
    from earchive.check import CheckOptions, check_package
    from earchive.check.report import write_html
    from earchive.check.virus import make_scanner
    from earchive.crypto.signers import make_signer, make_tsa
    from earchive.domain.pack import pack
    from earchive.errors import EarchiveError

    out.mkdir(parents=True, exist_ok=True)
    signer, tsa, options = make_signer(), make_tsa(), CheckOptions(scanner=make_scanner())
    plan = [(seed, None) for seed in range(1, max(cases, 2))] + [(cases + 100, "digest"), (cases + 101, "eicar")]
    archived = 0
    for seed, defect in plan:
        case = sample_case(out / "cases", seed=seed, files=5 + seed % 3, defect=defect)
        try:
            result = pack(case.folder, out / "packages", signer=signer, tsa=tsa, overwrite=True)
        except EarchiveError as exc:
            print(f"{case.project_id}  拒收 rejected at pack: " + "; ".join(f"[{p.rule}] {p.file or ''}" for p in exc.problems))
            continue
        report = check_package(result.path, options)
        write_html(report)
        if report.passed:
            archived += 1
            print(f"{case.project_id}  归档 archived: {result.path.name}")
        else:
            print(f"{case.project_id}  拒收 rejected at check: " + "; ".join(f"{r.id} {r.detail}" for r in report.failures)[:200])
    print(f"{archived} archived, {len(plan) - archived} rejected")
    print(out.resolve())
    return 0
