"""`earchive migrate hall-index`: an older deployment's items and batches, written before the console's index, appear in their hall's lists."""

from __future__ import annotations

import pytest

from earchive.client import TransferService
from earchive.domain.listing import CaseQuery
from earchive_devtools.localcloud import LocalCloud


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


def test_older_items_and_batches_are_indexed_once_and_again_harmlessly(cloud):
    svc = TransferService.from_cloud(cloud)
    cat, table = svc.aws.catalogue, svc.aws.catalogue.table
    old = {"package_id": "430102-0102-430000000101-2025-D30-000007", "record_code": "430102-0102-430000000101-2025-D30-000007",
           "project_id": "P7", "status": "ARCHIVED", "region_code": "430102", "fonds_identifier": "0102", "updated_at": "2025-06-01T02:00:00+00:00"}
    table.put_item(Item=old)  # as written before the index: no hall, no hall_sk
    table.put_item(Item={"package_id": "upload#abc", "status": "REJECTED", "rejected_at": "2025-06-02T02:00:00+00:00", "project_id": "unknown"})
    table.put_item(Item={"package_id": "claim#x", "status": "DONE"})
    svc.transfers.table.put_item(Item={"batch_id": "202506010001", "item": "BATCH", "status": "ACCEPTED", "institution": "430102001"})
    svc.transfers.table.put_item(Item={"batch_id": "202506010001", "item": f"PKG#{old['package_id']}", "package_id": old["package_id"]})
    assert cat.page(CaseQuery.parse("430102#0102", {}))[0] == []
    cat.default_hall = "430102#0102"
    assert cat.backfill_hall_index() == 2, "the package and the unreadable upload; never a claim"
    assert svc.transfers.backfill_halls() == 1
    items, _ = cat.page(CaseQuery.parse("430102#0102", {"status": "ARCHIVED", "since": "2025-06-01", "until": "2025-06-01"}))
    assert [i["package_id"] for i in items] == [old["package_id"]]
    assert [b["batch_id"] for b in svc.transfers.outbox("430102#0102")[0]] == ["202506010001"]
    assert cat.backfill_hall_index() == 0 and svc.transfers.backfill_halls() == 0, "safe to repeat"
    assert cat.get("claim#x").get("hall") is None
