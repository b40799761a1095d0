"""The whole loop in both partitions (issue 22 item 1): the same stack, run as a global one (aws, us-east-1) and as a China
one (aws-cn, cn-north-1, no Cognito, X-Ray off): a good case archived under Object Lock, a bad one rejected with its
report, a transfer, the institution's own signed reply verified by the reply machine, and the acceptance. Every execution
runs in the stack's partition, so a literal partition anywhere in the ASL would fail it (States.Runtime)."""

from __future__ import annotations

import argparse
import json
import time

import pytest

from earchive.check import CheckOptions
from earchive.cli import _seal_identity
from earchive.client import TransferService
from earchive.crypto.pki import DevPKI, load_trust_anchors
from earchive.domain.transfer import Selection
from earchive.receive import Desk
from earchive_devtools.institutions import register
from earchive_devtools.localcloud import LocalCloud
from earchive_devtools.sample import sample_case, zip_case

pytestmark = pytest.mark.slow  # end to end: the archive, transfer and reply machines on the local cloud


@pytest.mark.parametrize(("mode", "partition", "region"), [("global", "aws", "us-east-1"), ("china", "aws-cn", "cn-north-1")])
def test_archive_reject_transfer_signed_reply_and_acceptance(earchive_home, tmp_path, mode, partition, region):
    with LocalCloud(mode=mode) as cloud:
        assert cloud.state_machine_arn.startswith(f"arn:{partition}:states:{region}:")
        good = sample_case(tmp_path / "cases", seed=5101, files=4)
        bad = sample_case(tmp_path / "cases", seed=5102, files=4, defect="digest")
        for case in (good, bad):
            cloud.upload(zip_case(case.folder, tmp_path / f"{case.project_id}.zip"))
        runs = cloud.wait(cloud.dispatch(wait=0.5), timeout=300)
        assert sorted(r["status"] for r in runs.values()) == ["FAILED", "SUCCEEDED"], [r.get("cause", "")[:300] for r in runs.values()]
        assert all(arn.startswith(f"arn:{partition}:states:{region}:") for arn in runs)
        rejected = next(r for r in runs.values() if r["status"] == "FAILED")
        assert rejected["error"] == "Rejected", rejected.get("cause")
        s3, intake = cloud.client("s3"), cloud.name("IntakeBucket")
        report = json.loads(s3.get_object(Bucket=intake, Key=f"{bad.project_id}.zip.rejected.json")["Body"].read())
        assert "MATERIAL-DIGEST" in [p["rule"] for p in report["problems"]]
        archived = json.loads(next(r for r in runs.values() if r["status"] == "SUCCEEDED")["output"])
        code = archived["record_code"]
        loc = archived["archive"]
        assert s3.head_object(Bucket=loc["bucket"], Key=loc["key"], VersionId=loc["version_id"])["ObjectLockMode"] == "COMPLIANCE"

        svc = TransferService.from_cloud(cloud)
        desk = Desk("430102001", tmp_path / "institution-pc")
        register(svc, "430102001", "芙蓉区行政审批服务局", certificates=[desk.init("芙蓉区行政审批服务局").read_bytes()])
        bid = svc.create(Selection(package_ids=(code,)), institution="430102001", institution_name="芙蓉区行政审批服务局",
                         transferor="李敏")["batch_id"]
        svc.submit(bid, actor="李敏")
        svc.wait_for_decision(bid)
        bucket = cloud.name("TransferBucket")
        anchors = load_trust_anchors(DevPKI().ca_path)
        identity = _seal_identity(argparse.Namespace(seal_cert=None, seal_policy=None))
        desk.pull(svc.aws.s3, bucket, bid, trust=anchors, seal_identity=identity)
        desk.check(bid, CheckOptions(trust=anchors, seal_identity=identity))
        document, body, signature = desk.reply(bid, receiver="王芳", returns={})
        desk.send(svc.aws.s3, bucket, bid, document, body, signature)

        deadline, verdicts = time.monotonic() + 120, []
        while not verdicts and time.monotonic() < deadline:  # the reply's arrival starts the reply machine
            done = cloud.wait(cloud.dispatch(wait=0.5, machine="ReplyStateMachine"), timeout=300)
            assert all(d["status"] == "SUCCEEDED" and d["executionArn"].startswith(f"arn:{partition}:") for d in done.values()), done
            verdicts += [json.loads(d["output"]) for d in done.values()]
        assert [v["outcome"] for v in verdicts] == ["taken"], verdicts
        decided = svc.take_reply(bid, actor="李敏")
        assert decided["status"] == "ACCEPTED" and decided.get("decided_by_reply"), decided
        assert cloud.catalogue().get(code)["status"] == "ACCEPTED"
        sfn = cloud.client("stepfunctions")
        transfer_runs = sfn.list_executions(stateMachineArn=cloud.state_machines["TransferStateMachine"])["executions"]
        assert transfer_runs and all(e["status"] == "SUCCEEDED" and e["executionArn"].startswith(f"arn:{partition}:states:{region}:")
                                     for e in transfer_runs), transfer_runs
