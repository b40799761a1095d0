"""The platform's outcome events (issue 11): archived, rejected, returned and accepted, each an EventBridge event whose
detail meets schemas/outcome-event.schema.json, so the provincial platform can subscribe instead of polling."""

from __future__ import annotations

import json
from importlib import resources

import jsonschema
import pytest

from earchive.client import TransferService
from earchive.domain.outcome import DETAIL_TYPES, SOURCE
from earchive.domain.transfer import Selection
from earchive_devtools.institutions import register
from earchive_devtools.localcloud import LocalCloud
from earchive_devtools.sample import sample_case, zip_case

pytestmark = pytest.mark.slow  # the local cloud


def subscribe(cloud: LocalCloud) -> str:
    """What the platform would do: a rule on the bus for source "earchive", here into a queue."""
    sqs, events = cloud.client("sqs"), cloud.client("events")
    url = sqs.create_queue(QueueName=f"platform-{cloud.suffix}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=f"platform-{cloud.suffix}", EventPattern=json.dumps({"source": [SOURCE]}))
    events.put_targets(Rule=f"platform-{cloud.suffix}", Targets=[{"Id": "platform", "Arn": arn}])
    return url


def received(cloud: LocalCloud, url: str) -> list[dict]:
    out, sqs = [], cloud.client("sqs")
    while msgs := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def test_every_outcome_the_platform_acts_on_is_an_event_it_can_subscribe_to(earchive_home, tmp_path):
    schema = json.loads(resources.files("earchive").joinpath("schemas/outcome-event.schema.json").read_text("utf-8"))
    with LocalCloud() as cloud:
        url = subscribe(cloud)
        good = [sample_case(tmp_path / "c", seed=s) for s in (931, 932)]
        bad = sample_case(tmp_path / "c", seed=933, defect="digest")
        for case in (*good, bad):
            cloud.upload(zip_case(case.folder, tmp_path / f"{case.project_id}.zip"))
        runs = cloud.wait(cloud.dispatch(wait=0.5), timeout=300).values()
        codes = [json.loads(r["output"])["record_code"] for r in runs if r["status"] == "SUCCEEDED"]
        assert len(codes) == 2
        svc = TransferService.from_cloud(cloud)
        register(svc)
        bid = svc.create(Selection(package_ids=tuple(codes)), institution="430102001", institution_name="芙蓉区行政审批服务局",
                         transferor="李敏")["batch_id"]
        svc.submit(bid, actor="李敏")
        svc.wait_for_decision(bid)
        svc.decide(bid, receiver="王芳", returns={codes[0]: "申请表扫描件模糊，请重新扫描"})
        events = received(cloud, url)
    for e in events:
        assert e["source"] == SOURCE and e["detail-type"] == DETAIL_TYPES[e["detail"]["status"]]
        jsonschema.validate(e["detail"], schema)
    by = {(e["detail"]["status"], e["detail"]["project_id"]): e["detail"] for e in events}
    statuses = sorted(s for s, _ in by)
    assert statuses.count("ARCHIVED") == 2 and "REJECTED" in statuses and "RETURNED" in statuses and "ACCEPTED" in statuses, statuses
    rejected = by[("REJECTED", bad.project_id)]
    assert rejected["reasons"][0]["rule"] == "MATERIAL-DIGEST" and rejected["reasons"][0]["kind"] == "fix" and rejected["upload"]["key"]
    returned = next(d for (s, _), d in by.items() if s == "RETURNED")
    assert returned["record_code"] == codes[0] and returned["batch"]["batch_id"] == bid
    assert returned["reasons"][0] == {"rule": "INSTITUTION-RETURN", "file": None, "message": "申请表扫描件模糊，请重新扫描",
                                      "reason_zh": "申请表扫描件模糊，请重新扫描", "kind": "fix"}
    archived = next(d for (s, _), d in by.items() if s == "ARCHIVED")
    assert archived["package"]["sm3"] and archived["package"]["retain_until"]
