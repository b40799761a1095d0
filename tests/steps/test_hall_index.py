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
           "project_id": "P7", "status": "ARCHIVED", "region_code": "430102", "fonds_identifier": "0102", "updated_at": "2025-06-01T02:00:00+00:00",
           "archived_at": "2025-06-01T02:00:00+00:00"}
    table.put_item(Item=old)  # as written before the index: no hall, no hall_sk
    table.put_item(Item={"package_id": "upload#abc", "status": "REJECTED", "rejected_at": "2025-06-02T02:00:00+00:00", "project_id": "unknown"})
    table.put_item(Item={"package_id": "claim#x", "status": "DONE"})
    svc.transfers.table.put_item(Item={"batch_id": "202506010001", "item": "BATCH", "status": "ACCEPTED", "institution": "430102001"})
    svc.transfers.table.put_item(Item={"batch_id": "202506010001", "item": f"PKG#{old['package_id']}", "package_id": old["package_id"]})
    assert cat.page(CaseQuery.parse("430102#0102", {}))[0] == []
    cat.default_hall = "430102#0102"
    assert list(cat.ready()) == [], "written before by_ready: not in 申请移交's list yet"
    assert cat.backfill_hall_index() == 2, "the package and the unreadable upload; never a claim"
    assert [i["package_id"] for i in cat.ready("2025-06-01", "2025-06-01")] == [old["package_id"]], "now it is, by its day"
    assert list(cat.ready("2025-06-02")) == []
    assert svc.transfers.backfill_halls() == 1
    items, _ = cat.page(CaseQuery.parse("430102#0102", {"status": "ARCHIVED", "since": "2025-06-01", "until": "2025-06-01"}))
    assert [i["package_id"] for i in items] == [old["package_id"]]
    assert [b["batch_id"] for b in svc.transfers.outbox("430102#0102")[0]] == ["202506010001"]
    assert cat.backfill_hall_index() == 0 and svc.transfers.backfill_halls() == 0, "safe to repeat"
    assert cat.get("claim#x").get("hall") is None


def test_the_auditors_list_of_streams_is_one_query_by_kind_and_beijing_day_and_older_streams_join_it_chains_intact(cloud):
    from earchive.console.desk import Desk
    from earchive.domain.eventlog import GENESIS, entry_hash
    from earchive.errors import UsageError

    svc = TransferService.from_cloud(cloud)
    log = svc.aws.events
    log.append("batch#202612010901", actor="u1", action="create", result="DRAFT")
    log.append("batch#202612010901", actor="u1", action="submit", result="ok")  # a second entry: the stream is listed once
    log.append("user#u1", actor="u1", action="user-add", result="window_clerk")
    # an older deployment's stream, written before the index, opened at 23:30 UTC: the next day in Beijing
    older = {"stream": "batch#202501010001", "seq": 1, "at": "2024-12-31T23:30:00.000+00:00", "actor": "李敏", "action": "create",
             "result": "DRAFT", "detail": "{}", "prev_hash": GENESIS}
    log.table.put_item(Item={**older, "hash": entry_hash(older)})
    desk = Desk(cloud.settings(), aws=svc.aws)
    today = desk.streams("batch", "", None)
    listed_today = [i["stream"] for i in today["items"]]
    assert listed_today.count("batch#202612010901") == 1 and not [s for s in listed_today if not s.startswith("batch#")], listed_today
    assert desk.streams("batch", "2025-01-01", None)["items"] == []
    assert log.backfill_opened() == 1 and log.backfill_opened() == 0, "safe to repeat"
    listed = desk.streams("batch", "2025-01-01", None)["items"]
    assert [i["stream"] for i in listed] == ["batch#202501010001"] and listed[0]["actor"] == "李敏", "the Beijing day, not UTC's"
    assert log.verify("batch#202501010001") == [] and log.verify("batch#202612010901") == [], "the index keys are outside the chain"
    for kind, day in (("secrets", "2026-12-01"), ("batch", "12/01/2026"), ("batch", "20261201"), ("batch", "2026-W49-1")):
        with pytest.raises(UsageError):
            desk.streams(kind, day, None)
    for n in range(3):
        log.append(f"institution#43010200{n}", actor="admin", action="add", result="ACTIVE")
    page = svc.aws.events.opened("institution", today["day"], limit=2)
    from earchive.domain.listing import encode_cursor

    rest = desk.streams("institution", today["day"], encode_cursor(page[1]))
    assert len(page[0]) == 2 and len(rest["items"]) >= 1 and not {i["stream"] for i in page[0]} & {i["stream"] for i in rest["items"]}
    with pytest.raises(UsageError, match="另一个列表"):
        desk.streams("batch", today["day"], encode_cursor(page[1]))


def test_a_batch_is_gathered_by_index_never_by_scanning_the_catalogue(cloud):
    """申请移交 by criteria reads `by_ready`; by name, one read each; a package joining a batch leaves the list, a withdrawn one returns."""
    from earchive.domain.transfer import Selection
    from earchive.errors import UsageError

    svc = TransferService.from_cloud(cloud)
    cat = svc.aws.catalogue
    codes = [f"430102-0102-430000000101-2026-D30-0009{n:02d}" for n in range(3)]
    for n, code in enumerate(codes):
        cat.put_new({"package_id": code, "record_code": code, "project_id": f"PR{n}", "status": "ARCHIVED", "region_code": "430102",
                     "fonds_identifier": "0102", "archived_at": f"2026-03-0{n + 1}T02:00:00+00:00", "updated_at": "2026-03-01T02:00:00+00:00",
                     "task_code": "430000000101", "task_name": "食品经营许可", "task_type": "行政权力事项", "archive": {"bucket": "b", "key": code},
                     "package_sha256": "0" * 64, "package_sm3": "0" * 64})

    def no_scan(**_):
        raise AssertionError("the catalogue was scanned")

    cat.table.scan = no_scan  # the Table resource of this adapter only
    batch = svc.transfers.create(Selection(archived_from="2026-03-02", archived_to="2026-03-03"), institution="430102001",
                                 institution_name="芙蓉区行政审批服务局", transferor="李敏")
    assert {p["package_id"] for p in svc.transfers.packages(batch["batch_id"])} == set(codes[1:])
    assert [i["package_id"] for i in cat.ready("2026-03-01", "2026-03-03")] == [codes[0]], "in a batch: out of the list"
    named = svc.transfers.create(Selection(package_ids=(codes[0],)), institution="430102001", institution_name="芙蓉区行政审批服务局",
                                 transferor="李敏")
    assert int(named["package_count"]) == 1 and list(cat.ready("2026-03-01", "2026-03-03")) == []
    cat.release_from_batch(codes[0], "202601010999")  # a retry for a batch it is no longer in: nothing changes
    assert cat.get(codes[0])["transfer_batch"] == named["batch_id"] and list(cat.ready("2026-03-01")) == []
    cat.release_from_batch(codes[0], named["batch_id"])  # withdrawn (never received): still ARCHIVED, back in the list
    assert [i["package_id"] for i in cat.ready("2026-03-01")] == [codes[0]]
    ours = set(codes)
    assert [i["package_id"] for i in cat.ready(archived_to="2026-03-01") if i["package_id"] in ours] == [codes[0]], "one bound only"
    assert [i["package_id"] for i in cat.ready(hall="430102#0102") if i["package_id"] in ours] == [codes[0]], "the hall's own partition"
    assert list(cat.ready(hall="430103#0103")) == [] and list(cat.ready(task_code="430000000999")) == []
    with pytest.raises(UsageError):
        list(cat.ready("2026-03-03", "2026-03-01"))
    cat.move(codes[1], "ACCEPTED", allowed_from=("ARCHIVED",))
    assert codes[1] not in [i["package_id"] for i in cat.ready()]
