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
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from .sample import sample_case, zip_case

STEPS = ("Collect", "Organise", "Pack", "Seal", "Check", "Register", "Store", "Reject")
MARKER = ".earchive-demo"  # a folder holding it was written by a demo and may be cleaned by the next
DEMO_NAMES = {MARKER, "cases", "packages", "reports", "rejections", "transfer", "institutions", "catalogue.csv", "catalogue.json",
              "README.txt", "归档配置-事项目录.csv"}


def prepare_out(out: Path) -> None:
    """A fresh output folder for this run: the previous demo's files are removed, never mixed with the new ones.

    A folder that is not empty and was not written by a demo is refused (nothing of the user's is deleted).
    """
    if out.exists() and any(out.iterdir()):
        # marked, or an older demo's output (before the marker): its catalogue, packages and cases, and nothing else
        names = {p.name for p in out.iterdir()}
        ours = (out / MARKER).exists() or ({"catalogue.csv", "packages", "cases"} <= names and names <= DEMO_NAMES)
        if not ours:
            from earchive.errors import UsageError

            raise UsageError(f"{out} is not empty and was not written by `earchive demo`: choose another --out")
        shutil.rmtree(out)
        print(f"  cleaned {out} (the previous demo's files were removed)", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by earchive demo; the next demo run cleans this folder\n", "utf-8")


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


# The province's 事项目录 as an administrator imports it (归档配置, ADR 0017): each 事项's type, retention and the materials
# it must carry; a case whose platform-given period differs is archived with the schedule's period and a note.
SCHEDULE = {"430000000101": "D30", "430000000202": "Y", "430000000303": "Y", "430000000404": "D30", "430000000505": "D30",
            "430000000606": "Y", "430000000707": "D30"}
CONFIG_FILE = "归档配置-事项目录.csv"


def _configure(cloud: Any, out: Path) -> None:
    """归档配置 from a spreadsheet, as `earchive config import` reads it: one change in the event log, by a named administrator."""
    from earchive.client import TransferService
    from earchive.domain.archiving_config import parse_catalogue, read_rows

    from .sample import ITEMS

    path = out / CONFIG_FILE
    with open(path, "w", newline="", encoding="utf-8-sig") as f:
        w = csv.writer(f)
        w.writerow(["事项编码", "事项名称", "事项类型", "保管期限", "必备材料", "保管期限不符时"])
        for task_type, name, code, _, _ in ITEMS:
            w.writerow([code, name, task_type, SCHEDULE[code], "申报:A1；结果:C1", "按目录期限"])
    content = path.read_bytes()
    configs, errors = parse_catalogue(read_rows(path.name, content))
    assert not errors, errors
    TransferService.from_cloud(cloud).aws.archiving_config.import_catalogue(configs, actor="管理员 张华", reason="导入本省政务服务事项目录（演示）",
                                                                              source=path.name, content=content)
    print(f"  归档配置: {len(configs)} 个事项 imported from {CONFIG_FILE} (retention per 事项; a differing period is replaced and noted)",
          file=sys.stderr)


def run_demo(out: Path, cases: int = 12, guomi: bool = False) -> int:
    """The cloud demo on moto; returns 0 when every good case was archived and the bad one rejected.

    ``guomi``: a 国密 stack in China mode (SealKeySpec SM2, CryptoProfile guomi: ADR 0020), whose institutions reply with SM2 keys.
    """
    from .localcloud import GUOMI_PARAMETERS, LocalCloud

    started = time.monotonic()
    print(f"earchive demo: starting the local cloud (template.yaml + statemachine/archive.asl.json on moto) → {out.resolve()}",
          file=sys.stderr)
    prepare_out(out)
    if guomi:
        print("  国密 stack: SM2 seal (KMS SM2DSA) over the SM3 manifest, SM2 TSA, SM2 institutions; as in cn-north-1", file=sys.stderr)
    with LocalCloud(log_level="ERROR", mode="china" if guomi else "global", parameters=GUOMI_PARAMETERS if guomi else None) as cloud:
        print(f"  intake bucket {cloud.name('IntakeBucket')}, archive bucket {cloud.name('ArchiveBucket')} (Object Lock COMPLIANCE)",
              file=sys.stderr)
        _configure(cloud, out)
        plan = [(seed, None) for seed in range(1, cases)] + [(cases + 100, "digest")]
        uploads = {}
        for seed, defect in plan:
            case = sample_case(out / "cases", seed=seed, files=5 + seed % 4, defect=defect, region="430102")  # 芙蓉区's window
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
        (out / "rejections").mkdir(exist_ok=True)
        rejected_rules: dict[str, list[str]] = {}
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
                rows.append((meta["case"].project_id, output["record_code"], "归档 ARCHIVED", meta["case"].case["task_name"], "", times))
            else:
                suffix = "rejected" if d.get("error") == "Rejected" else "failed"
                for ext in ("json", "html"):
                    body = s3.get_object(Bucket=cloud.name("IntakeBucket"), Key=f"{key}.{suffix}.{ext}")["Body"].read()
                    (out / "rejections" / f"{key}.{suffix}.{ext}").write_bytes(body)
                report = json.loads((out / "rejections" / f"{key}.{suffix}.json").read_text("utf-8"))
                rejected_rules[meta["case"].project_id] = [p["rule"] for p in report["problems"]]
                reasons = "; ".join(f"[{p['rule']}] {p.get('file') or ''}" for p in report["problems"])
                rows.append((meta["case"].project_id, report.get("record_code") or "—", f"拒收 REJECTED at {report['stage']}",
                             meta["case"].case["task_name"], reasons, times))
        _print_table(rows, step_sum, step_n, len(arns))
        archived = sum(1 for r in rows if r[2].startswith("归档"))
        print(f"\n{archived} archived under Object Lock, {len(rows) - archived} rejected with reasons, in {time.monotonic() - started:.1f}s")
        transfer_ok = _transfer_loop(cloud, out, uploads, sm2=guomi) if archived else False
        items = cloud.catalogue().by_status()
        _download_packages(cloud, items, out)
        _download_reports(cloud, out)
        _export_catalogue(items, out)
        _write_index(out, cloud=True)
    print(f"packages, check reports, rejection reports, the signed transfer lists and catalogue.csv/json are in {out.resolve()} "
          "(README.txt says what each file is)")
    print(out.resolve())
    defective = next(u["case"].project_id for u in uploads.values() if u["defect"])
    right_rule = rejected_rules.get(defective) == ["MATERIAL-DIGEST"]
    if not right_rule:
        print(f"unexpected: the defective case {defective} was rejected for {rejected_rules.get(defective)}, not MATERIAL-DIGEST",
              file=sys.stderr)
    expected_ok = archived == len(plan) - 1 and right_rule and transfer_ok
    return 0 if expected_ok else 1


def _download_packages(cloud, items: list[dict[str, Any]], out: Path) -> None:
    """The current version of every package, and every earlier (returned) version beside it as ``<code>.v<n>.zip``."""
    s3 = cloud.client("s3")
    (out / "packages").mkdir(exist_ok=True)
    for item in items:
        loc, pid = item.get("archive"), str(item["package_id"])
        if not loc or item.get("status") not in ("ARCHIVED", "ACCEPTED", "RETURNED"):
            continue
        code, _, version = pid.partition("#v")
        name = f"{code}.v{version}-returned.zip" if version else f"{code}.zip"
        s3.download_file(loc["bucket"], loc["key"], str(out / "packages" / name), ExtraArgs={"VersionId": loc["version_id"]})


def _download_reports(cloud, out: Path) -> None:
    """Every check report of every version (JSON and HTML), named ``<电子文件号>_<time>-<SM3 prefix>-archiving.*``."""
    s3 = cloud.client("s3")
    (out / "reports").mkdir(exist_ok=True)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=cloud.name("ReportsBucket"), Prefix="reports/"):
        for obj in page.get("Contents", []):
            target = out / "reports" / obj["Key"].removeprefix("reports/").replace("/", "_")
            s3.download_file(cloud.name("ReportsBucket"), obj["Key"], str(target))


INDEX = {
    "cases/": "生成的办件（文件夹与 zip），即平台上传的内容 / the generated case bundles as uploaded",
    "packages/": "归档信息包 <电子文件号>.zip（本地云 demo：被退回并更正的办件，其退回的旧版本为 <电子文件号>.v1-returned.zip；"
                 "离线 demo：检测报告 .archiving-report.html 在包旁边）",
    "reports/": "归档检测报告（四性检测，每个版本一份）：.html 可打印，.json 供系统读取",
    "rejections/": "拒收通知（.rejected.html/.json）与系统失败通知（.failed.*），与上传的文件同名",
    "transfer/": "移交批次，每批一个文件夹 <批次编号>/，全部由双方签名的两份文件生成（ADR 0016），重新导出内容不变：\n"
                 "  transfer-list.signed.pdf = 移交清单-<批次>.pdf：移交方认证签名 + 接收方批准签名的同一份清单、登记表与摘要附表；"
                 "表 A.1 的检测意见、接收人、接收日期及登记表接收单位一栏由接收单位签署时填写（pdftotext 可读，pdfsig 可验两个签名）；"
                 "签章时间为北京时间\n"
                 "  transfer-list.json(.sender.p7s)：移交方签名的清单（含每个信息包的版本、摘要、保管期限、件数、归档时间，即归档目录清单）\n"
                 "  receipt.json(.receiver.p7s)：接收单位签名的答复（每个信息包的接收/退回及原因、检测结果）\n"
                 "  移交清单-<批次>.xlsx / .json：同一份清单的表格与 JSON 视图；归档目录清单-<批次>.xlsx / .csv：本批次所移交的版本及其结果\n"
                 "  须人工核查的检测项（如未配置正式杀毒软件时的病毒扫描）在所有文件中写作“未自动检测……须人工核查”，从不写作合格",
    "institutions/": "两个接收单位各自机器上的文件夹：自己的签名密钥与证书、拉取的批次、接收检测报告、签名的答复",
    "归档配置-事项目录.csv": "归档配置：管理员导入的事项目录（事项类型、保管期限、必备材料）；平台提交的保管期限与目录不符时按目录期限归档并注明",
    "catalogue.csv": "归档目录（Excel 可直接打开）/ the catalogue",
    "catalogue.json": "归档目录（JSON）",
}


def _write_index(out: Path, *, cloud: bool) -> None:
    """``README.txt``: what each file of this run is (Chinese first), and how many there are."""
    lines = [f"earchive demo（{'本地云：模板 + 真实状态机' if cloud else '离线：组包 → 检测'}）"
             f" {dt.datetime.now(dt.timezone(dt.timedelta(hours=8))):%Y-%m-%d %H:%M}（北京时间）", ""]
    for name, what in INDEX.items():
        path = out / name.rstrip("/")
        if not path.exists():
            continue
        count = f"（{sum(1 for p in path.rglob('*') if p.is_file())} 个文件）" if path.is_dir() else ""
        lines.append(f"{name:<16} {what}{count}")
    lines += ["", "下次运行 demo 会清空本文件夹 / the next demo run cleans this folder."]
    (out / "README.txt").write_text("\n".join(lines) + "\n", "utf-8")


def _transfer_loop(cloud, out: Path, uploads: dict[str, Any], sm2: bool = False) -> bool:
    """Walk the seed's second stage with two institutions: A pulls, checks and replies with its own key (returning one
    package); B's forged reply for A's batch is refused; the window fixes, re-archives, resubmits; A accepts."""
    import argparse

    from earchive.check import CheckOptions
    from earchive.cli import _seal_identity
    from earchive.client import TransferService
    from earchive.crypto.cms import signed_data
    from earchive.crypto.pki import load_trust_anchors
    from earchive.crypto.signers import default_trust_path
    from earchive.domain import reply as replies
    from earchive.domain.institution import Scope
    from earchive.domain.transfer import Selection
    from earchive.receive import Desk

    svc = TransferService.from_cloud(cloud)
    s3, bucket = svc.aws.s3, cloud.name("TransferBucket")

    def say(msg: str) -> None:
        print(msg, file=sys.stderr)

    print("\n移交 transfer to the implementing institution (政务服务实施机构), which decides with its own key")
    desks = {"430102001": Desk("430102001", out / "institutions" / "430102001"), "430103001": Desk("430103001", out / "institutions" / "430103001")}
    names = {"430102001": "长沙市芙蓉区行政审批服务局", "430103001": "长沙市天心区行政审批服务局"}
    regions = {"430102001": "430102", "430103001": "430103"}  # each receives its own district's cases only (受理范围, issue 20)
    for code, desk in desks.items():  # each on its own PC: its key stays there; the archive registers its certificate and scope
        svc.aws.institutions.add(code, names[code], certificates=[desk.init(names[code], sm2=sm2).read_bytes()], principals=[], actor="档案管理员",
                                 scope=Scope.parse(regions=[regions[code]]))
    say(f"  institutions registered: {', '.join(f'{c} {names[c]}（受理范围 行政区划 {regions[c]}）' for c in desks)}"
        " (each made its own reply-signing key)")
    a = desks["430102001"]
    anchors = load_trust_anchors(default_trust_path())  # the development roots stand for A's own anchors of the archive's seal
    identity = _seal_identity(argparse.Namespace(seal_cert=None, seal_policy=None))

    def institution_decides(batch_id: str, returns: dict[str, str]) -> dict[str, Any]:
        a.pull(s3, bucket, batch_id, trust=anchors, seal_identity=identity)
        checks = a.check(batch_id, CheckOptions(trust=anchors, seal_identity=identity))
        say(f"  430102001 pulled and checked batch {batch_id} on its own machine: {sum(c['passed'] for c in checks.values())}/"
            f"{len(checks)} passed the YJ tests")
        document, body, signature = a.reply(batch_id, receiver="区行政审批局 王芳", returns=returns)
        a.send(s3, bucket, batch_id, document, body, signature)
        return document

    def replies_verified(batch_id: str) -> dict[str, Any]:
        """S3 announced the replies: the reply machine verifies each (a forgery is refused) and a good one resumes the batch."""
        deadline = time.monotonic() + 600
        while svc.transfers.batch(batch_id)["status"] == "RECEIVING" and time.monotonic() < deadline:  # until the reply's event came
            for d in cloud.wait(cloud.dispatch(wait=0.5, machine="ReplyStateMachine"), 600).values():
                v = json.loads(d.get("output") or "{}")
                if v.get("outcome") != "ignored":
                    say(f"  回执核验 reply machine: {v.get('key', '?').rsplit('/', 1)[-1]} {v.get('outcome')}")
        return svc.take_reply(batch_id, actor="综合受理窗口 李敏")  # decided by the machine: this reads the decision

    batch = svc.create(Selection(), institution="430102001", transferor="综合受理窗口 李敏")  # its name from the registry
    bid = batch["batch_id"]
    say(f"  batch {bid}: {int(batch['package_count'])} packages, all within 430102001's scope (行政区划 430102 芙蓉区), "
        "DRAFT → submitted (the window signs the list)")
    svc.submit(bid, actor="综合受理窗口 李敏")
    svc.wait_for_decision(bid, timeout=1800)
    back = svc.show(bid)["packages"][0]
    reason = "申请表扫描件模糊，请重新扫描后补正"
    document = institution_decides(bid, {back["package_id"]: reason})
    forged = replies.encode({**document, "reply_id": "0-forged-by-430103001"})  # B signs a reply for A's batch
    s3.put(bucket, f"institutions/430102001/replies/{bid}/0-forged-by-430103001.json.p7s",
           signed_data(desks["430103001"].signer(), content=forged).dump())
    s3.put(bucket, f"institutions/430102001/replies/{bid}/0-forged-by-430103001.json", forged)  # the JSON last, as a real reply
    done = replies_verified(bid)
    refusal = s3.get_bytes(bucket, f"institutions/430102001/replies/{bid}/0-forged-by-430103001.refused.json")
    if refusal is None:
        say("  unexpected: the reply 430103001 signed for 430102001's batch was not refused")
        return False
    say(f"  a reply for this batch signed by 430103001 was refused, changing nothing: {json.loads(refusal)['problems'][0]}")
    print(f"  batch {bid}: {done['status']} — accepted {int(done['accepted_count'])}, returned {back['record_code']}: {reason}"
          " (the institution's own signed reply is the receipt)")
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
    institution_decides(again["batch_id"], {})
    final = replies_verified(again["batch_id"])
    print(f"  batch {again['batch_id']} (resubmits {bid}): {final['status']} — both parties signed; packages received into storage")
    for b in (bid, again["batch_id"]):
        svc.export(b, out / "transfer" / b)
    print(f"  transfer lists (XLSX, PDF), signatures and 归档目录清单 in {out / 'transfer'}; each institution's folder in {out / 'institutions'}")
    return final["status"] == "ACCEPTED" and done["status"] in ("PARTLY_RETURNED", "RETURNED")


def _export_catalogue(items: list[dict[str, Any]], out: Path) -> None:
    def plain(v: Any) -> Any:
        return json.loads(json.dumps(v, default=lambda o: int(o) if float(o).is_integer() else float(o)))

    (out / "catalogue.json").write_text(json.dumps([plain(i) for i in items], ensure_ascii=False, indent=2), "utf-8")
    from earchive.domain.exports import csv_text as safe_cell
    from earchive.zh import CASE_STATUS, RETENTION, beijing, label

    columns = ["package_id", "project_id", "status", "task_name", "task_type", "retention_period", "retain_until", "legal_hold",
               "total_number", "total_bytes", "package_sha256", "package_sm3", "archived_at", "rejected_at"]
    with open(out / "catalogue.csv", "w", newline="", encoding="utf-8-sig") as f:  # BOM: Excel opens Chinese right
        w = csv.writer(f)
        w.writerow(columns + ["状态", "保管期限", "归档时间（北京时间）", "archive_key", "archive_version", "problems"])
        for i in items:
            w.writerow([safe_cell(plain(i.get(c, ""))) for c in columns] + [
                label(CASE_STATUS, i.get("status")), label(RETENTION, i.get("retention_period")), beijing(i.get("archived_at")),
                i.get("archive", {}).get("key", ""), i.get("archive", {}).get("version_id", ""),
                safe_cell("; ".join(f"{p.get('rule')}: {p.get('message', '')[:80]}" for p in i.get("problems", [])))])


def _print_table(rows: list[tuple], step_sum: dict[str, float], step_n: dict[str, int], at_once: int) -> None:
    print(f"\n{'办件编号':<18}  {'电子文件号':<38}  {'结果':<24}  {'秒*':>5}  事项 / 原因")
    for project_id, code, status, task, reasons, times in sorted(rows, key=lambda r: r[2]):
        total = sum(times.values())
        print(f"{project_id:<22}  {code:<43}  {status:<26}  {total:5.2f}  {reasons or task}"[:220])
    means = ", ".join(f"{s.lower()} {step_sum[s] / step_n[s]:.2f}" for s in STEPS if step_n.get(s))
    print(f"\nmean seconds per step*: {means}")
    print(f"* {at_once} cases ran at once on this machine: the seconds include waiting for a free worker, not only work "
          "(bench/ measures speed)")


def run_offline_demo(out: Path, cases: int = 6) -> int:
    """pack → verify on generated cases, no cloud at all."""
    from earchive.check import CheckOptions, check_package
    from earchive.check.report import write_html
    from earchive.check.virus import make_scanner
    from earchive.crypto.signers import make_signer, make_tsa
    from earchive.domain.pack import pack
    from earchive.errors import EarchiveError

    prepare_out(out)
    signer, tsa, options = make_signer(), make_tsa(), CheckOptions(scanner=make_scanner())
    plan = [(seed, None) for seed in range(1, max(cases, 2))] + [(cases + 100, "digest"), (cases + 101, "eicar")]
    expected = {"digest": "MATERIAL-DIGEST", "eicar": "GD-4-2"}  # what each defect must be refused for
    archived, wrong = 0, []
    for seed, defect in plan:
        case = sample_case(out / "cases", seed=seed, files=5 + seed % 3, defect=defect)
        try:
            result = pack(case.folder, out / "packages", signer=signer, tsa=tsa, overwrite=True)
        except EarchiveError as exc:
            rules = [p.rule for p in exc.problems]
            print(f"{case.project_id}  拒收 rejected at pack: " + "; ".join(f"[{p.rule}] {p.file or ''}" for p in exc.problems))
            if expected.get(defect or "") not in rules:
                wrong.append(f"{case.project_id}: rejected for {rules}" + ("" if defect else " (a good case)"))
            continue
        report = check_package(result.path, options)
        write_html(report)
        failed = [r.id for r in report.failures]
        if report.passed:
            archived += 1
            print(f"{case.project_id}  归档 archived: {result.path.name}")
        else:
            print(f"{case.project_id}  拒收 rejected at check: " + "; ".join(f"{r.id} {r.detail}" for r in report.failures)[:200])
        if (defect is None) != report.passed or (defect and not any(f.startswith(expected[defect]) for f in failed)):
            wrong.append(f"{case.project_id}: {'archived' if report.passed else f'failed {failed}'}" + (f" (defect {defect})" if defect else ""))
    _write_index(out, cloud=False)
    print(f"{archived} archived, {len(plan) - archived} rejected")
    for w in wrong:
        print(f"unexpected verdict: {w}", file=sys.stderr)
    print(out.resolve())
    return 1 if wrong else 0
