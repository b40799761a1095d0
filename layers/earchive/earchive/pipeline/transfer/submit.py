"""Submit (申请移交): DRAFT → SUBMITTED; the window signs the transfer list (JSON, CMS) and certifies its printed form
(PDF, PAdES); list, form and 归档目录清单 go to the institution's prefix, the Map's items to the machine's own.

Input :class:`~earchive.pipeline.state.BatchRef`; output :class:`~earchive.pipeline.state.Submitted`.
"""

from __future__ import annotations

import datetime as dt
import json

from ...crypto.cades import add_signature_timestamp
from ...crypto.cms import signed_data
from ...crypto.identity import fingerprint
from ...crypto.pdf_sign import certify
from ...domain.transfer import canonical, transfer_list
from ...domain.transfer_form import placeholders, render
from ..runtime import Runtime
from ..state import BatchRef, Submitted
from .common import INTERNAL, prefix


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
    # its time is the TSA's, not the window's own claim (CAdES-T: a token over the signature value, an unsigned attribute)
    signature = add_signature_timestamp(signed_data(rt.signer, content=body).dump(), rt.tsa)
    bucket, base = settings.transfer_bucket, prefix(batch)
    aws.s3.put(bucket, base + "transfer-list.json", body, "application/json")
    aws.s3.put(bucket, base + "transfer-list.json.sender.p7s", signature)
    # The printed list (Table A.1, 登记表, digest annex), certified by the window: the institution approves this very file,
    # answering in the fields laid out for it (检测意见, 接收人, 接收日期, 登记表 接收单位) before it signs.
    form = render(document)
    aws.s3.put(bucket, base + "transfer-list.pdf", certify(form.pdf, form.boxes, rt.pdf_signer, rt.tsa, note=f"移交 {len(packages)} 件",
                                                           text_fields=form.fields, values=placeholders(document)), "application/pdf")
    # The 归档目录清单 travels with the packages (seed §6.8): its rows are in the signed list; these are its printable views.
    for name, body_, kind in catalogue_files(document):
        aws.s3.put(bucket, base + name, body_, kind)
    # The Distributed Map reads its items from S3: the state stays small however large the batch. They are the machine's, not
    # the institution's (execution ids), so they live outside its prefix. Each attempt (a batch cancelled and sent again) is its
    # own run: the items carry it, so no saved result of an earlier one is reused.
    items = [{"batch_id": batch_id, "package_id": p["package_id"], "attempt": state.get("execution", "")} for p in packages]
    items_key = f"{INTERNAL}{batch_id}/items.json"
    aws.s3.put(bucket, items_key, json.dumps(items).encode())
    # The Map's results go to S3 beside its items (ResultWriter): kept in the state, ~250 bytes a package would pass Step Functions'
    # 256 KiB limit near 1,000 packages, and States.DataLimitExceeded is caught by no Catch (issue 22, F7).
    return {"batch_id": batch_id, "count": len(items), "items": {"bucket": bucket, "key": items_key},
            "results": {"bucket": bucket, "prefix": f"{INTERNAL}{batch_id}/map-results"}}


def catalogue_files(document: dict) -> list[tuple[str, bytes, str]]:
    """The batch's 归档目录清单 as CSV and XLSX, rendered from the signed list's rows (domain.final): the same on every export."""
    import tempfile
    from pathlib import Path

    from ...domain.exports import catalogue_csv, catalogue_xlsx
    from ...domain.final import catalogue_items

    items, batch_id = catalogue_items(document), document["batch_id"]
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = catalogue_csv(items, Path(tmp) / "c.csv")
        xlsx_path = catalogue_xlsx(items, Path(tmp) / "c.xlsx")
        return [(f"归档目录清单-{batch_id}.csv", csv_path.read_bytes(), "text/csv; charset=utf-8"),
                (f"归档目录清单-{batch_id}.xlsx", xlsx_path.read_bytes(), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")]
