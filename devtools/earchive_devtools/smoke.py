"""A deployed stack exercised end to end, deploying nothing (issue 22 item 10): ``make smoke STACK=… REGION=…``.

What an operator needs to know after ``sam deploy``: a case uploaded by a platform is archived and its Object Lock reads
back; a bad one is rejected with its rule; a batch goes to a test institution, which pulls, checks and signs its reply
with its own key; the window verifies the reply and the batch is accepted; no alarm fired meanwhile. Each step is timed
and its verdict printed (Chinese first) and written to ``smoke-report.json``; the exit code is 1 when any step failed.

The same steps run in ``make test`` against the local cloud, in the global and the China mode: there the local cloud's
queues stand in for EventBridge (:meth:`LocalTarget.pump`). On AWS nothing is pumped: S3's events start the machines.

The sample case stays archived for its retention period (COMPLIANCE locks cannot be lifted): on a production stack it is
one labelled test record (项目 ``SMOKE-…``), which is why ``--accept-test-record`` is required there.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .sample import sample_case, zip_case

TRANSFEROR = "冒烟测试 smoke"


def scope_of(region_code: str, fonds: str) -> tuple[str, str | None]:
    """A sample case's 行政区划 and 全宗号 within what the stack keeps (its RegionCode and FondsIdentifier): a district of a
    province or city stack (430000 → 430102, 430100 → 430102), the first fonds it names (none: the sample's own)."""
    code = region_code or "430000"
    region = code[:2] + "0102" if code.endswith("0000") else code[:4] + "02" if code.endswith("00") else code
    return region, (fonds.split(",")[0].strip() or None)


@dataclass
class Step:
    name: str
    ok: bool | None = None  # None: not run (an earlier step it needs failed)
    detail: str = ""
    seconds: float = 0.0


@dataclass
class Target:
    """One stack: its transfer client, how its machines are started, what its alarms say, where the institution works."""

    svc: Any
    label: str
    pump: Callable[[], None]  # the local cloud starts queued executions; AWS needs nothing
    alarms: Callable[[], list[str]]  # names of what is alarming now (empty: quiet)
    institution: str
    desk: Any
    register: Callable[[], None] | None = None  # locally: register the test institution; on AWS it must be registered already
    anchors: list[Any] = field(default_factory=list)
    seal_identity: Any = None
    region: str = "430102"  # the sample's 行政区划 (the test institution's scope must cover it)
    fonds: str | None = None  # its 全宗号, when the stack keeps named fonds only


class Smoke:
    def __init__(self, target: Target, out: Path, timeout: float = 900) -> None:
        self.t, self.out, self.timeout = target, out, timeout
        self.steps: list[Step] = []
        self.facts: dict[str, Any] = {}

    # -- running steps
    def step(self, name: str, fn: Callable[[], str], needs: tuple[str, ...] = ()) -> bool:
        s = Step(name)
        self.steps.append(s)
        missing = [n for n in needs if n not in self.facts]
        if missing:
            s.detail = f"未运行：前面的步骤未完成 / not run: needs {', '.join(missing)}"
            return False
        started = time.monotonic()
        try:
            s.detail, s.ok = fn(), True
        except Exception as exc:  # noqa: BLE001 - every failure is a verdict in the report, never a traceback alone
            s.ok, s.detail = False, f"{type(exc).__name__}: {exc}"
            (self.out / "smoke-errors.txt").open("a", encoding="utf-8").write(f"== {name}\n{traceback.format_exc()}\n")
        s.seconds = round(time.monotonic() - started, 2)
        print(f"{'✓' if s.ok else '✗'} {name}（{s.seconds:.1f} 秒）：{s.detail}", flush=True)
        return bool(s.ok)

    def run(self) -> int:
        self.out.mkdir(parents=True, exist_ok=True)
        started = dt.datetime.now(dt.UTC)
        print(f"earchive smoke: {self.t.label} — nothing is deployed; one test case is archived and transferred", flush=True)
        self.step("归档：样例办件归档并读回对象锁 archive + lock", self.archive)
        self.step("拒收：有缺陷的办件被拒收并说明规则 reject", self.reject)
        self.step("接收单位：测试机构已登记且有效 institution", self.institution)
        self.step("移交：批次提交、复制并完成接收检测 transfer", self.transfer, needs=("package", "institution"))
        self.step("接收检测：机构拉取并用自己的信任锚检测 pull + check", self.pull_and_check, needs=("batch",))
        self.step("回执：机构签署回执，移交方核验后接收入库 reply + accept", self.reply, needs=("checked",))
        self.step("告警：无告警 alarms quiet", self.quiet)
        failed = [s for s in self.steps if not s.ok]
        report = {"target": self.t.label, "started_at": started.isoformat(timespec="seconds"),
                  "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "passed": not failed,
                  "steps": [asdict(s) for s in self.steps], "facts": self.facts}
        (self.out / "smoke-report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str), "utf-8")
        print(f"{'通过 PASSED' if not failed else f'失败 FAILED（{len(failed)} 步）'}: report {self.out / 'smoke-report.json'}", flush=True)
        return 0 if not failed else 1

    # -- the steps
    def _upload(self, defect: str | None) -> tuple[str, str, dict[str, Any]]:
        """A fresh sample case (its own 项目编号 each run) uploaded to the intake bucket; waits for its verdict (the claim)."""
        from earchive.pipeline.archive.common import claim_key

        seed = int(time.time() * 1000) % 10_000_000 + (7 if defect else 0)
        case = sample_case(self.out / "cases", seed=seed, files=3, defect=defect, region=self.t.region, fonds=self.t.fonds)
        bundle = zip_case(case.folder, self.out / "cases" / f"{case.project_id}.zip")
        bucket, key = self.t.svc.names["IntakeBucket"], f"smoke-{case.project_id}.zip"
        version = self.t.svc.aws.s3.upload_file(str(bundle), bucket, key)
        if not version:
            raise RuntimeError(f"the intake bucket {bucket} gave no version id: is versioning on?")
        claim = claim_key({"bucket": bucket, "key": key, "version": version})
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            self.t.pump()
            item = self.t.svc.aws.catalogue.get(claim) or {}
            if item.get("outcome") or item.get("status") == "FAILED":
                return case.project_id, key, item
            time.sleep(1)
        raise TimeoutError(f"no verdict for s3://{bucket}/{key} within {self.timeout:.0f} s (is the intake rule enabled?)")

    def archive(self) -> str:
        project_id, key, claim = self._upload(None)
        if claim.get("outcome") != "ARCHIVED":
            raise RuntimeError(f"{project_id} ({key}) ended {claim.get('outcome') or claim.get('status')}, not ARCHIVED: "
                               f"see s3://{self.t.svc.names['IntakeBucket']}/{key}.failed.html or .rejected.html")
        package = claim["package"]
        item = self.t.svc.aws.catalogue.get(package) or {}
        where = item.get("archive") or {}
        head = self.t.svc.aws.s3.head(where["bucket"], where["key"], where["version_id"])
        mode, until = head.get("ObjectLockMode"), head.get("ObjectLockRetainUntilDate")
        if mode not in ("COMPLIANCE", "GOVERNANCE") or not until or until <= dt.datetime.now(dt.UTC):
            raise RuntimeError(f"{package}: the archived version {where.get('version_id')} is not locked (mode {mode}, until {until})")
        self.facts.update(package=package, project_id=project_id, lock_mode=mode, retain_until=str(until))
        return f"{project_id} → {package}，对象锁 {mode} 至 {until:%Y-%m-%d}（版本 {where['version_id']}）"

    def reject(self) -> str:
        project_id, key, claim = self._upload("digest")
        if claim.get("outcome") != "REJECTED":
            raise RuntimeError(f"the defective case {project_id} ended {claim.get('outcome') or claim.get('status')}, not REJECTED")
        body = self.t.svc.aws.s3.get_bytes(self.t.svc.names["IntakeBucket"], f"{key}.rejected.json")
        rules = [p.get("rule") for p in json.loads(body or b"{}").get("problems", [])]
        if "MATERIAL-DIGEST" not in rules:
            raise RuntimeError(f"{project_id} was rejected for {rules}, not MATERIAL-DIGEST (a material whose digest differs)")
        return f"{project_id} 拒收，规则 {', '.join(r for r in rules if r)}；通知在 {key}.rejected.html"

    def institution(self) -> str:
        if self.t.register:
            self.t.register()
        found = self.t.svc.aws.institutions.get(self.t.institution)
        if not found or found.get("status", "ACTIVE") != "ACTIVE":
            raise RuntimeError(f"institution {self.t.institution} is not registered and active (`earchive institution add`)")
        self.facts["institution"] = self.t.institution
        return f"{self.t.institution} {found.get('name', '')}"

    def transfer(self) -> str:
        from earchive.domain.transfer import Selection

        svc = self.t.svc
        batch = svc.create(Selection(package_ids=(self.facts["package"],)), institution=self.t.institution, transferor=TRANSFEROR,
                           note="冒烟测试批次 smoke test batch")
        bid = batch["batch_id"]
        svc.submit(bid, actor=TRANSFEROR)
        waiting = svc.wait_for_decision(bid, timeout=self.timeout)
        self.facts["batch"] = bid
        return f"批次 {bid}：{int(waiting.get('package_count', 1))} 个信息包已送达，等待接收单位决定"

    def pull_and_check(self) -> str:
        from earchive.check import CheckOptions

        svc, bid, desk = self.t.svc, self.facts["batch"], self.t.desk
        desk.pull(svc.aws.s3, svc.names["TransferBucket"], bid, trust=self.t.anchors, seal_identity=self.t.seal_identity)
        checks = desk.check(bid, CheckOptions(trust=self.t.anchors, seal_identity=self.t.seal_identity))
        failed = {code: c["failed"] for code, c in checks.items() if not c["passed"]}
        if failed:
            raise RuntimeError(f"the institution's 接收检测 failed: {failed}")
        self.facts["checked"] = len(checks)
        return f"{len(checks)} 个信息包通过四性检测（机构自己的信任锚）"

    def reply(self) -> str:
        svc, bid, desk = self.t.svc, self.facts["batch"], self.t.desk
        bucket = svc.names["TransferBucket"]
        document, body, signature = desk.reply(bid, receiver="冒烟测试 接收人", returns={})
        desk.send(svc.aws.s3, bucket, bid, document, body, signature)
        deadline = time.monotonic() + self.timeout
        while svc.transfers.batch(bid)["status"] == "RECEIVING" and time.monotonic() < deadline:
            self.t.pump()
            time.sleep(1)
        decided = svc.take_reply(bid, actor=TRANSFEROR, timeout=self.timeout)
        if decided["status"] != "ACCEPTED":
            raise RuntimeError(f"batch {bid} ended {decided['status']}, not ACCEPTED")
        base = f"institutions/{self.t.institution}/batches/{bid}/"
        missing = [n for n in ("receipt.json", "receipt.json.receiver.p7s") if svc.aws.s3.size(bucket, base + n) is None]
        if missing:
            raise RuntimeError(f"batch {bid} accepted but {', '.join(missing)} missing under {base}")
        self.facts["accepted"] = bid
        signed = svc.aws.s3.size(bucket, base + "transfer-list.signed.pdf") is not None
        return f"回执 {document['reply_id']} 已核验；批次 {bid} 接收入库" + ("，登记表双方签章" if signed else "")

    def quiet(self) -> str:
        alarming = self.t.alarms()
        if alarming:
            raise RuntimeError("alarming: " + "; ".join(alarming))
        return "失败执行队列与启动失败队列为空，告警未触发"


# ---------------------------------------------------------------- targets

def queue_alarms(sqs: Any, queues: dict[str, str]) -> list[str]:
    """The alert queues' depth: the template's alarms fire on one message in either (FailedExecutions, StartFailures)."""
    out = []
    for logical, url in queues.items():
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        if int(attrs.get("ApproximateNumberOfMessages", 0)):
            out.append(f"{logical} holds {attrs['ApproximateNumberOfMessages']} message(s)")
    return out


def local_target(cloud: Any, home: Path) -> Target:
    """The running local cloud (either mode): a test institution on its own 'PC' folder, the development trust anchors."""
    from earchive.cli import _seal_identity
    from earchive.client import TransferService
    from earchive.crypto.pki import load_trust_anchors
    from earchive.crypto.signers import default_trust_path
    from earchive.domain.institution import Scope
    from earchive.receive import Desk

    svc = TransferService.from_cloud(cloud)
    region, fonds = scope_of(cloud.resolver.params.get("RegionCode", ""), cloud.resolver.params.get("FondsIdentifier", ""))
    code, name = f"{region}999", "冒烟测试接收单位"
    desk = Desk(code, home / "institution")

    def register() -> None:
        cert = desk.cert_path.read_bytes() if desk.key_path.exists() else desk.init(name).read_bytes()  # a second run: the same PC
        if svc.aws.institutions.get(code) is None:
            svc.aws.institutions.add(code, name, certificates=[cert], principals=[], actor="冒烟测试", scope=Scope.parse(regions=[region]))
        else:
            svc.aws.institutions.add_certificate(code, cert, actor="冒烟测试")

    def pump() -> None:
        for machine in ("ArchiveStateMachine", "ReplyStateMachine"):
            arns = cloud.dispatch(wait=0.2, machine=machine)
            if arns:
                cloud.wait(arns, timeout=600)

    queues = {q: cloud.name(q) for q in ("FailedExecutionsQueue", "StartFailuresQueue")}
    return Target(svc=svc, label=f"local cloud ({getattr(cloud, 'mode', 'global')})", pump=pump,
                  alarms=lambda: queue_alarms(cloud.client("sqs"), queues), institution=code, desk=desk, register=register,
                  anchors=load_trust_anchors(default_trust_path()), seal_identity=_seal_identity(argparse.Namespace(seal_cert=None, seal_policy=None)),
                  region=region, fonds=fonds)


def aws_target(args: argparse.Namespace) -> Target:
    """A deployed stack: the test institution and its desk (``earchive receive init``) exist already; the seal's anchors given."""
    from earchive.aws.clients import stack_parameters, stack_resources
    from earchive.check import CheckOptions  # noqa: F401 - imported early: a broken install fails before anything is uploaded
    from earchive.cli import _seal_identity
    from earchive.client import TransferService
    from earchive.crypto.pki import load_trust_anchors
    from earchive.receive import Desk

    svc = TransferService.from_stack(args.stack)
    resources, parameters = stack_resources(args.stack), stack_parameters(args.stack)
    region, fonds = scope_of(parameters.get("RegionCode", ""), parameters.get("FondsIdentifier", ""))
    queues = {q: resources[q] for q in ("FailedExecutionsQueue", "StartFailuresQueue") if q in resources}
    alarm_names = [physical for logical, physical in resources.items() if logical.endswith("Alarm")]

    def alarms() -> list[str]:
        found = queue_alarms(svc.aws.client("sqs"), queues)
        if alarm_names:
            for a in svc.aws.client("cloudwatch").describe_alarms(AlarmNames=alarm_names[:100])["MetricAlarms"]:
                if a["StateValue"] == "ALARM":
                    found.append(f"{a['AlarmName']}: {a.get('StateReason', '')}")
        return found

    return Target(svc=svc, label=f"stack {args.stack} ({os.environ.get('AWS_REGION') or os.environ.get('AWS_DEFAULT_REGION', '?')})",
                  pump=lambda: None, alarms=alarms, institution=args.institution, desk=Desk(args.institution, Path(args.desk)),
                  anchors=load_trust_anchors(Path(args.trust)), seal_identity=_seal_identity(args),
                  region=args.region_code or region, fonds=args.fonds or fonds)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="earchive-smoke", description=__doc__.split("\n\n")[0])
    p.add_argument("--stack", help="a deployed stack (default: a fresh local cloud)")
    p.add_argument("--region", help="its region (cn-north-1, cn-northwest-1, …)")
    p.add_argument("--china", action="store_true", help="local cloud only: run it as a China stack (aws-cn, cn-north-1)")
    p.add_argument("--institution", help="on AWS: the registered test institution's code (its scope covers the sample's 行政区划)")
    p.add_argument("--region-code", help="on AWS: the sample case's 行政区划 (default: a district within the stack's RegionCode)")
    p.add_argument("--fonds", help="on AWS: its 全宗号 (default: the first of the stack's FondsIdentifier, else the sample's own)")
    p.add_argument("--desk", help="on AWS: that institution's folder made by `earchive receive init` (its key and certificate)")
    p.add_argument("--trust", help="on AWS: the seal's trust anchors (PEM), as the institution holds them")
    p.add_argument("--seal-cert", help="on AWS: the seal certificate(s) to pin (PEM)")
    p.add_argument("--seal-policy", help="on AWS: or the seal certificates' policy OID")
    p.add_argument("--accept-test-record", action="store_true",
                   help="on AWS: a sample case stays archived (Object Lock) for its retention period; say you accept that")
    p.add_argument("--out", default="out/smoke", help="where the report and the sample cases go")
    p.add_argument("--timeout", type=float, default=900, help="seconds to wait for each verdict")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.stack:
        missing = [f"--{n}" for n in ("institution", "desk", "trust") if not getattr(args, n)]
        if missing or not args.accept_test_record:
            p.error(f"on AWS give {' '.join(missing + ([] if args.accept_test_record else ['--accept-test-record']))}"
                    " (README: the smoke test on a real account)")
        if args.region:
            os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = args.region
        return Smoke(aws_target(args), out, args.timeout).run()
    from .localcloud import LocalCloud

    kwargs = {"mode": "china"} if args.china else {}
    with LocalCloud(log_level="ERROR", **kwargs) as cloud:
        return Smoke(local_target(cloud, out), out, args.timeout).run()


if __name__ == "__main__":
    sys.exit(main())
