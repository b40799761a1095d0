"""Submit (申请移交): DRAFT → SUBMITTED; the window signs the transfer list (JSON, CMS) and certifies its printed form
(PDF, PAdES); list, form, manifest and Map items go to the transfer bucket.

Input :class:`~earchive.pipeline.state.BatchRef`; output :class:`~earchive.pipeline.state.Submitted`.
"""

from __future__ import annotations

import datetime as dt
import json

from ...crypto.cms import signed_data
from ...crypto.identity import fingerprint
from ...crypto.pdf_sign import certify
from ...domain.transfer import canonical, transfer_list
from ...domain.transfer_form import render
from ..runtime import Runtime
from ..state import BatchRef, Submitted
from .common import prefix


def run(state: BatchRef, rt: Runtime) -> Submitted:
    """DRAFT → SUBMITTED; the window's signature over the transfer list; list and manifest to the transfer bucket."""
    aws, settings = rt.aws, rt.settings
    transfers = aws.transfers
    batch_id = state["batch_id"]
    batch = transfers.batch(batch_id)
    if batch["status"] != "SUBMITTED":  # SUBMITTED already: this is the machine retrying its own step
        batch = transfers.move(batch_id, "SUBMITTED", allowed_from=("DRAFT",), actor=state.get("actor", "window"),
                               submitted_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    packages = transfers.packages(batch_id)
    transfers.save_rows(batch_id)
    # the signed list names who certifies its printed form (the seal's key, or ListSigningKey where the seal is SM2): the institution pins it
    document = {**transfer_list(batch, packages), "printed_list_signer_sha256": fingerprint(rt.pdf_signer.certificate)}
    body = canonical(document)
    signature = signed_data(rt.signer, content=body).dump()
    bucket, base = settings.transfer_bucket, prefix(batch)
    aws.s3.put(bucket, base + "transfer-list.json", body, "application/json")
    aws.s3.put(bucket, base + "transfer-list.json.sender.p7s", signature)
    # The printed list (Table A.1, 登记表, digest annex), certified by the window: the institution approves this very file.
    form = render(document)
    aws.s3.put(bucket, base + "transfer-list.pdf", certify(form.pdf, form.boxes, rt.pdf_signer, rt.tsa, note=f"移交 {len(packages)} 件"),
               "application/pdf")
    manifest = [{"record_code": p["record_code"], "key": f"{base}packages/{p['record_code']}.zip",
                 "digest": p["package_sm3"], "digest_algorithm": "SM3", "sha256": p["package_sha256"]} for p in packages]
    aws.s3.put(bucket, base + "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode())
    # The Distributed Map reads its items from S3: the state stays small however large the batch.
    # Each attempt (a batch cancelled and sent again) is its own run: the items carry it, so no saved result of an earlier one is reused.
    items = [{"batch_id": batch_id, "package_id": p["package_id"], "attempt": state.get("execution", "")} for p in packages]
    aws.s3.put(bucket, base + "items.json", json.dumps(items).encode())
    return {"batch_id": batch_id, "count": len(items), "items": {"bucket": bucket, "key": base + "items.json"}}
