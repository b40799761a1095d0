"""Copy (one Map item): server-side copy of one archived package version to the institution's prefix.

Input and output :class:`~earchive.pipeline.state.BatchItem`.
"""

from __future__ import annotations

from ..runtime import Runtime
from ..state import BatchItem
from .common import prefix


def run(item: BatchItem, rt: Runtime) -> BatchItem:
    """Server-side copy of one archived package version to the institution's prefix."""
    aws, transfers = rt.aws, rt.aws.transfers
    batch = transfers.batch(item["batch_id"])
    p = transfers.package(item["batch_id"], item["package_id"])
    key = f"{prefix(batch)}packages/{p['record_code']}.zip"
    bucket = rt.settings.transfer_bucket
    version = aws.s3.copy_version(p["archive"], bucket, key, size=int(p.get("size") or 0) or None)
    transfers.set_package(item["batch_id"], item["package_id"], state="COPIED",
                          transfer_copy={"bucket": bucket, "key": key, "version_id": version})
    return item
