"""The transfer state machine's steps (statemachine/transfer.asl.json), over earchive.transfer.

submit (the window signs the list) → copy each package to the institution's
prefix of the transfer bucket → receiving check of each copy (YJ tests, with
the institution's own trust anchors) → wait for the institution's decision
(task token) → decide (the institution signs; accepted packages are recorded,
returned ones carry their reasons back to the catalogue).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from .check import CheckOptions, check_package
from .cms import signed_data
from .pki import load_trust_anchors
from .report import to_html, to_json
from .s3io import download
from .seal import make_signer
from .steps import Aws, Settings, workdir
from .transfer import Transfers, canonical, transfer_list
from .virus import make_scanner


def _transfers(settings: Settings) -> tuple[Aws, Transfers]:
    import boto3

    aws = Aws(settings)
    table = boto3.resource("dynamodb").Table(os.environ["TRANSFER_TABLE"])
    return aws, Transfers(table, aws.catalogue, aws.events, aws.filemap)


def prefix(batch: dict[str, Any]) -> str:
    """Everything of a batch lives under its institution's prefix (the institution's role reads only that)."""
    return f"institutions/{batch['institution']}/batches/{batch['batch_id']}/"


def submit_step(state: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """DRAFT → SUBMITTED; the window's signature over the transfer list; list and manifest to the transfer bucket."""
    aws, transfers = _transfers(settings)
    batch_id = state["batch_id"]
    batch = transfers.batch(batch_id)
    if batch["status"] != "SUBMITTED":  # SUBMITTED already: this is the machine retrying its own step
        batch = transfers.move(batch_id, "SUBMITTED", allowed_from=("DRAFT",), actor=state.get("actor", "window"),
                               submitted_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    packages = transfers.packages(batch_id)
    transfers.save_rows(batch_id)
    document = transfer_list(batch, packages)
    body = canonical(document)
    signature = signed_data(make_signer(settings.signer), content=body).dump()
    bucket, base = os.environ["TRANSFER_BUCKET"], prefix(batch)
    aws.s3.put_object(Bucket=bucket, Key=base + "transfer-list.json", Body=body, ContentType="application/json")
    aws.s3.put_object(Bucket=bucket, Key=base + "transfer-list.json.sender.p7s", Body=signature)
    manifest = [{"record_code": p["record_code"], "key": f"{base}packages/{p['record_code']}.zip",
                 "digest": p["package_sm3"], "digest_algorithm": "SM3", "sha256": p["package_sha256"]} for p in packages]
    aws.s3.put_object(Bucket=bucket, Key=base + "manifest.json", Body=json.dumps(manifest, ensure_ascii=False, indent=1).encode())
    # The Distributed Map reads its items from S3: the state stays small however large the batch.
    items = [{"batch_id": batch_id, "package_id": p["package_id"]} for p in packages]
    aws.s3.put_object(Bucket=bucket, Key=base + "items.json", Body=json.dumps(items).encode())
    return {"batch_id": batch_id, "count": len(items), "items": {"bucket": bucket, "key": base + "items.json"}}


def copy_step(item: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """Server-side copy of one archived package version to the institution's prefix."""
    aws, transfers = _transfers(settings)
    batch = transfers.batch(item["batch_id"])
    p = transfers.package(item["batch_id"], item["package_id"])
    src = p["archive"]
    key = f"{prefix(batch)}packages/{p['record_code']}.zip"
    bucket = os.environ["TRANSFER_BUCKET"]
    aws.s3.copy({"Bucket": src["bucket"], "Key": src["key"], "VersionId": src["version_id"]}, bucket, key)
    version = aws.s3.head_object(Bucket=bucket, Key=key).get("VersionId", "")
    transfers.set_package(item["batch_id"], item["package_id"], state="COPIED",
                          transfer_copy={"bucket": bucket, "key": key, "version_id": version})
    return item


def receive_check_step(item: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The YJ tests on the copy the institution received, with the institution's trust anchors."""
    aws, transfers = _transfers(settings)
    p = transfers.package(item["batch_id"], item["package_id"])
    copy = p["transfer_copy"]
    with workdir(settings, "receive") as work:
        path = work / Path(copy["key"]).name
        _, measured = download(aws.s3, copy["bucket"], copy["key"], path, copy.get("version_id") or None)
        options = CheckOptions(stage="receiving", scanner=make_scanner(settings.scanner), expected_digest=("SM3", p["package_sm3"]),
                               measured_digests=measured)
        trust = os.environ.get("EARCHIVE_INSTITUTION_TRUST") or settings.trust
        if trust:  # the institution's own anchors; never what the package or the sender says
            options.trust, options.trust_label = load_trust_anchors(trust), [trust]
        report = check_package(path, options)
    report_key = copy["key"].replace("/packages/", "/receiving-reports/").replace(".zip", ".json")
    aws.s3.put_object(Bucket=copy["bucket"], Key=report_key, Body=to_json(report).encode(), ContentType="application/json")
    aws.s3.put_object(Bucket=copy["bucket"], Key=report_key.replace(".json", ".html"), Body=to_html(report).encode(),
                      ContentType="text/html; charset=utf-8")
    failed = [{"id": r.id, "name": r.name, "detail": r.detail[:300]} for r in report.failures]
    transfers.set_package(item["batch_id"], item["package_id"], state="CHECKED",
                          receipt={"passed": report.passed, "failed": failed, "report": report_key, "checked_at": report.checked_at})
    return {**item, "passed": report.passed}


def await_decision_step(state: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """SUBMITTED → RECEIVING, keeping the task token: the machine sleeps until the institution decides."""
    _, transfers = _transfers(settings)
    if transfers.batch(state["batch_id"])["status"] == "RECEIVING":  # a retried task brings a new token
        transfers.table.update_item(Key={"batch_id": state["batch_id"], "item": "BATCH"}, UpdateExpression="SET task_token = :t",
                                    ConditionExpression="#st = :r", ExpressionAttributeNames={"#st": "status"},
                                    ExpressionAttributeValues={":t": state["token"], ":r": "RECEIVING"})
    else:
        transfers.move(state["batch_id"], "RECEIVING", allowed_from=("SUBMITTED",), actor="earchive-transfer", task_token=state["token"])
    return {"batch_id": state["batch_id"], "waiting": True}


def decide_step(decision: dict[str, Any], settings: Settings) -> dict[str, Any]:
    """The institution's decision: it signs the list with its own key; packages are accepted or returned."""
    aws, transfers = _transfers(settings)
    batch_id = decision["batch_id"]
    batch = transfers.batch(batch_id)
    if batch["status"] in ("ACCEPTED", "PARTLY_RETURNED", "RETURNED"):  # decided already: the machine retried
        return {"batch_id": batch_id, "status": batch["status"], "accepted": int(batch.get("accepted_count", 0)),
                "returned": int(batch.get("returned_count", 0))}
    receiver = decision.get("receiver", "receiving institution")
    document = {**transfer_list(batch, transfers.packages(batch_id)), "receiver": receiver,
                "decisions": {pid: f"退回：{why}" for pid, why in (decision.get("returns") or {}).items()}}
    # The institution's own key (production: its KMS key or key file); never the window's.
    signer = make_signer(os.environ.get("EARCHIVE_INSTITUTION_SIGNER") or "dev:institution")
    bucket, base = os.environ["TRANSFER_BUCKET"], prefix(batch)
    body = canonical(document)
    aws.s3.put_object(Bucket=bucket, Key=base + "receipt.json", Body=body, ContentType="application/json")
    aws.s3.put_object(Bucket=bucket, Key=base + "receipt.json.receiver.p7s", Body=signed_data(signer, content=body).dump())
    out = transfers.decide(batch_id, decision.get("returns") or {}, receiver=receiver, receiver_signature_key=base + "receipt.json.receiver.p7s")
    return {"batch_id": batch_id, "status": out["status"], "accepted": int(out["accepted_count"]), "returned": int(out["returned_count"])}


STEPS = {"submit": submit_step, "copy": copy_step, "receive_check": receive_check_step,
         "await_decision": await_decision_step, "decide": decide_step}
