"""One case, one owner at a time (review F2, F3): interleavings of the archive states, run directly on moto.

Two uploads of one case in flight (a correction pushed before the first finished), or two cases
that would get the same 电子文件号, must never share a catalogue item or staging objects, overwrite
each other, or end with the wrong verdict. The states are called in a chosen order, as two Lambda
executions could run them; hypothesis draws the orders.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from earchive.errors import BundleRejected
from earchive.pipeline.archive.common import claim_key
from earchive.pipeline.registry import STEPS
from earchive.pipeline.runtime import Runtime
from earchive_devtools.localcloud import LocalCloud, object_created
from earchive_devtools.sample import sample_case, zip_case

SEEN: set[int] = set()
ARCHIVE = ("collect", "organise", "pack", "seal", "check", "register", "store")


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


class Live:
    """Step Functions as the interleaving sees it: an execution is RUNNING until it has its verdict."""

    def __init__(self) -> None:
        self.running: set[str] = set()

    def status(self, arn: str) -> str:
        return "RUNNING" if arn in self.running else "FAILED"  # an execution that stopped before its verdict crashed


class WithLive:
    """The runtime's AWS adapters with Step Functions replaced by :class:`Live` (a dependency passed in)."""

    def __init__(self, aws: Any, live: Live):
        self._aws, self.executions = aws, live

    def __getattr__(self, name: str) -> Any:
        return getattr(self._aws, name)


def runtime() -> Runtime:
    rt = Runtime.from_env()
    rt.aws = WithLive(rt.aws, Live())  # type: ignore[assignment]
    return rt


class Execution:
    """One execution of the archive machine for one upload, advanced one state at a time (Catch → Reject as the ASL)."""

    def __init__(self, rt: Runtime, up: dict[str, Any], name: str):
        self.rt, self.up = rt, up
        self.state: Any = {"event": object_created(up), "execution": f"arn:aws:states:us-east-1:123456789012:execution:archive:{name}"}
        rt.aws.executions.running.add(self.state["execution"])
        self.todo = list(ARCHIVE)
        self.verdict: str | None = None
        self.rules: list[str] = []

    def step(self) -> None:
        name = self.todo.pop(0)
        try:
            out = STEPS[name].run(self.state, self.rt)
        except BundleRejected as exc:
            self._reject({**(self.state.get("event") or self.state), **{k: v for k, v in self.state.items() if k != "event"},
                          "error": {"Error": "BundleRejected", "Cause": json.dumps({"errorMessage": str(exc)})}})
            return
        if name == "collect":
            out["execution"] = self.state["execution"]
        self.state = out
        if name == "check" and not out["check"]["passed"]:
            self._reject(out)
        elif name == "store":
            self.verdict = "ARCHIVED"
        if self.done:
            self.rt.aws.executions.running.discard(self.state["execution"])

    def _reject(self, state: dict[str, Any]) -> None:
        out = STEPS["reject"].run(state, self.rt)
        self.verdict, self.rules, self.todo = "REJECTED", [p["rule"] for p in out["rejection"]["problems"]], []
        self.rt.aws.executions.running.discard(self.state["execution"])

    @property
    def done(self) -> bool:
        return self.verdict is not None


def two_versions(cloud: LocalCloud, tmp_path: Path, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same case uploaded twice to one key: first with an unreadable PDF (fails GD-3-4), then corrected."""
    bad = zip_case(sample_case(tmp_path / "bad", seed=seed, defect="bad-pdf").folder, tmp_path / "bad.zip")
    good = zip_case(sample_case(tmp_path / "good", seed=seed).folder, tmp_path / "good.zip")
    key = f"{seed}.zip"
    return cloud.upload(bad, key), cloud.upload(good, key)


def run_interleaved(a: Execution, b: Execution, order: list[bool]) -> None:
    for pick_a in order:
        first, second = (a, b) if pick_a else (b, a)
        if not first.done:
            first.step()
        elif not second.done:
            second.step()
    for e in (a, b):
        while not e.done:
            e.step()


def assert_one_owner(rt: Runtime, cloud: LocalCloud, bad: Execution, good: Execution) -> None:
    """The invariants: each upload ends with its own verdict; nothing archived that is not in the catalogue."""
    assert bad.verdict == "REJECTED", "the damaged upload is never archived"
    # its own failure, or a rule about the other upload (in progress, or archived already): never a pass
    assert bad.rules and set(bad.rules) <= {"GD-3-4", "CASE-IN-PROGRESS", "CASE-ALREADY-ARCHIVED"}, bad.rules
    assert good.verdict == "ARCHIVED" or good.rules == ["CASE-IN-PROGRESS"], f"the corrected upload got {good.verdict} {good.rules}"
    for e in (bad, good):
        claim = rt.aws.catalogue.get(claim_key(e.up))
        assert claim["status"] == "DONE" and claim["outcome"] == e.verdict
        tags = {t["Key"]: t["Value"] for t in cloud.client("s3").get_object_tagging(
            Bucket=e.up["bucket"], Key=e.up["key"], VersionId=e.up["version"])["TagSet"]}
        assert tags.get("earchive-status") == e.verdict.lower()
    catalogued = {(i["archive"]["key"], i["archive"]["version_id"]) for i in rt.aws.catalogue.by_status("ARCHIVED") if i.get("archive")}
    s3 = cloud.client("s3")
    for v in s3.list_object_versions(Bucket=cloud.name("ArchiveBucket"), Prefix="packages/").get("Versions", []):
        assert (v["Key"], v["VersionId"]) in catalogued, f"an unreferenced locked object: {v['Key']}"
    if good.verdict == "ARCHIVED":
        item = rt.aws.catalogue.get(good.state["record_code"])
        assert {k: item["upload"][k] for k in ("bucket", "key", "version")} == good.up and item["status"] == "ARCHIVED"
        with zipfile.ZipFile(__import__("io").BytesIO(s3.get_object(Bucket=item["archive"]["bucket"], Key=item["archive"]["key"],
                                                                        VersionId=item["archive"]["version_id"])["Body"].read())) as z:
            assert z.testzip() is None


def test_a_correction_pushed_before_the_first_finished_never_takes_the_first_ones_verdict(cloud, tmp_path):
    """The review's trial: both in flight; the corrected one is refused as in progress, never rejected for the damaged one's GD-3-4."""
    rt = runtime()
    bad_up, good_up = two_versions(cloud, tmp_path, 601)
    bad, good = Execution(rt, bad_up, "v1"), Execution(rt, good_up, "v2")
    run_interleaved(bad, good, [True, True, False, False, True, True, True, True, True])
    assert good.rules == ["CASE-IN-PROGRESS"] and "being archived by" in json.dumps(
        rt.aws.catalogue.get(good.state["stream"])["problems"], ensure_ascii=False)
    assert bad.rules == ["GD-3-4"]
    assert_one_owner(rt, cloud, bad, good)


def test_a_correction_after_the_first_was_rejected_is_archived(cloud, tmp_path):
    rt = runtime()
    bad_up, good_up = two_versions(cloud, tmp_path, 602)
    bad, good = Execution(rt, bad_up, "v1"), Execution(rt, good_up, "v2")
    run_interleaved(bad, good, [True] * 10)
    assert bad.rules == ["GD-3-4"] and good.verdict == "ARCHIVED"
    assert_one_owner(rt, cloud, bad, good)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.lists(st.booleans(), min_size=2, max_size=16), seed=st.integers(min_value=700, max_value=10_000))
def test_any_interleaving_of_two_uploads_of_one_case_ends_with_the_right_verdicts(cloud, tmp_path_factory, order, seed):
    rt = runtime()
    tmp = tmp_path_factory.mktemp("interleave")
    if seed in SEEN:  # hypothesis may repeat a seed; each example wants a new case
        return
    SEEN.add(seed)
    bad_up, good_up = two_versions(cloud, tmp, seed)
    bad, good = Execution(rt, bad_up, f"v1-{seed}-{len(order)}"), Execution(rt, good_up, f"v2-{seed}-{len(order)}")
    run_interleaved(bad, good, order)
    assert_one_owner(rt, cloud, bad, good)


def _case_with_serial(tmp_path: Path, seed: int, serial: int | None) -> Path:
    case = sample_case(tmp_path / f"c{seed}", seed=seed)
    data = json.loads((case.folder / "case.json").read_text("utf-8"))
    data["case"].update(task_code="430000000909", region_code="430405", fonds_identifier="0405", retention_period="D30")
    if serial is not None:
        data["case"]["archive_serial"] = serial
    (case.folder / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    return zip_case(case.folder, tmp_path / f"{case.project_id}.zip")


def test_a_platform_serial_that_collides_is_refused_and_the_counter_skips_reserved_ones(cloud, tmp_path):
    """F3: X is numbered 1 by the counter and in flight; Y asks for serial 1 and is refused by rule; X is archived
    and catalogued; a serial a platform reserved (2) is never handed out by the counter (Z gets 3)."""
    rt = runtime()
    x = Execution(rt, cloud.upload(_case_with_serial(tmp_path, 801, None)), "x")
    for _ in range(6):  # up to register
        x.step()
    y = Execution(rt, cloud.upload(_case_with_serial(tmp_path, 802, 1)), "y")
    while not y.done:
        y.step()
    assert y.rules == ["ARCHIVE-SERIAL-TAKEN"]
    x.step()
    assert x.verdict == "ARCHIVED" and x.state["serial"] == 1
    assert rt.aws.catalogue.get(x.state["record_code"])["project_id"] == x.state["case"]["project_id"]
    w = Execution(rt, cloud.upload(_case_with_serial(tmp_path, 803, 2)), "w")
    while not w.done:
        w.step()
    z = Execution(rt, cloud.upload(_case_with_serial(tmp_path, 804, None)), "z")
    while not z.done:
        z.step()
    assert w.verdict == z.verdict == "ARCHIVED"
    assert (w.state["serial"], z.state["serial"]) == (2, 3)


def test_an_archived_case_is_not_taken_by_another_case_with_its_serial(cloud, tmp_path):
    rt = runtime()
    x = Execution(rt, cloud.upload(_case_with_serial(tmp_path, 811, 40)), "x")
    while not x.done:
        x.step()
    y = Execution(rt, cloud.upload(_case_with_serial(tmp_path, 812, 40)), "y")
    while not y.done:
        y.step()
    assert x.verdict == "ARCHIVED" and y.rules == ["ARCHIVE-SERIAL-TAKEN"], "not a false CASE-ALREADY-ARCHIVED"
    assert rt.aws.catalogue.get(x.state["record_code"])["project_id"] == x.state["case"]["project_id"]


class CrashBeforeArchived:
    """The catalogue adapter of a Store that crashes after its locked copy, before the item says ARCHIVED."""

    def __init__(self, real: Any):
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def move(self, package_id: str, to: str, **kwargs: Any) -> Any:
        if to == "ARCHIVED":
            raise RuntimeError("Store crashed after the copy")
        return self._real.move(package_id, to, **kwargs)


def test_a_rerun_after_store_crashed_adopts_the_locked_copy_instead_of_locking_a_second(cloud, tmp_path):
    """F9: the re-run re-packs (new 归档时间, new bytes) but never leaves an orphaned COMPLIANCE-locked version."""
    rt = runtime()
    up = cloud.upload(zip_case(sample_case(tmp_path / "c", seed=821).folder, tmp_path / "c821.zip"))
    first = Execution(rt, up, "first")
    for _ in range(6):
        first.step()
    first_report = first.state["check"]["report"]
    first_seal = {k: rt.aws.catalogue.get(first.state["record_code"])[k] for k in ("signer", "tsa")}
    rt.aws._aws.catalogue = CrashBeforeArchived(rt.aws._aws.catalogue)
    with pytest.raises(RuntimeError, match="crashed after the copy"):
        first.step()
    rt.aws._aws.catalogue = rt.aws._aws.catalogue._real
    rt.aws.executions.running.discard(first.state["execution"])  # the first execution is dead
    s3 = cloud.client("s3")
    key = f"packages/{first.state['case']['region_code']}/{first.state['case']['fonds_identifier']}/{first.state['year']}/" \
          f"{first.state['record_code']}.zip"
    assert len(s3.list_object_versions(Bucket=cloud.name("ArchiveBucket"), Prefix=key).get("Versions", [])) == 1
    rerun = Execution(rt, up, "rerun")
    while not rerun.done:
        rerun.step()
    assert rerun.verdict == "ARCHIVED"
    versions = s3.list_object_versions(Bucket=cloud.name("ArchiveBucket"), Prefix=key).get("Versions", [])
    assert len(versions) == 1, "one locked copy"
    item = rt.aws.catalogue.get(rerun.state["record_code"])
    assert item["archive"]["version_id"] == versions[0]["VersionId"]
    _, digests = rt.aws.s3.digests(cloud.name("ArchiveBucket"), key, versions[0]["VersionId"])
    assert item["package_sha256"] == digests["SHA-256"] and item["package_sm3"] == digests["SM3"]
    # the evidence recorded is that of the adopted bytes: the first attempt's check report, signer and TSA
    assert rerun.state["check"]["report"] != first_report
    assert item["check_report"] == first_report and {k: item[k] for k in ("signer", "tsa")} == first_seal


def test_store_reads_back_the_lock_it_asked_for_on_a_package_above_the_multipart_size(cloud, tmp_path):
    """P2: a 12 MB package (streamed in parts locally) is COMPLIANCE-locked until its retention date, legal hold for Y."""
    rt = runtime()
    case = sample_case(tmp_path / "big", seed=822, size_mb=12)
    data = json.loads((case.folder / "case.json").read_text("utf-8"))
    data["case"]["retention_period"] = "Y"
    (case.folder / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    e = Execution(rt, cloud.upload(zip_case(case.folder, tmp_path / "big.zip")), "big")
    while not e.done:
        e.step()
    assert e.verdict == "ARCHIVED", e.rules
    loc = e.state["archive"]
    head = cloud.client("s3").head_object(Bucket=loc["bucket"], Key=loc["key"], VersionId=loc["version_id"])
    assert head["ContentLength"] > 12 * 1024**2
    assert head["ObjectLockMode"] == "COMPLIANCE" and head["ObjectLockLegalHoldStatus"] == "ON"
    assert head["ObjectLockRetainUntilDate"].isoformat()[:10] == e.state["retention"]["until"][:10]


class CorruptingObjects:
    """An S3 adapter whose copy stores other bytes than it was given (a fault in transit or in the store)."""

    def __init__(self, real: Any):
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def copy_locked(self, src_bucket: str, src_key: str, bucket: str, key: str, extra: dict[str, Any]) -> str:
        data = bytearray(self._real.client.get_object(Bucket=src_bucket, Key=src_key)["Body"].read())
        data[len(data) // 2] ^= 1
        return self._real.client.put_object(Bucket=bucket, Key=key, Body=bytes(data), **extra)["VersionId"]


def test_store_compares_the_whole_objects_sha256_on_every_attempt(cloud, tmp_path):
    """F16, P10: the stored bytes are read back and hashed; a difference is never recorded as archived."""
    rt = runtime()
    e = Execution(rt, cloud.upload(zip_case(sample_case(tmp_path / "c", seed=823).folder, tmp_path / "c823.zip")), "corrupt")
    for _ in range(6):
        e.step()
    real = rt.aws._aws.s3
    rt.aws._aws.s3 = CorruptingObjects(real)
    with pytest.raises(Exception, match="has SHA-256"):
        STEPS["store"].run(e.state, rt)
    assert rt.aws.catalogue.get(e.state["record_code"])["status"] == "REGISTERED", "never recorded as archived"
    rt.aws._aws.s3 = real
    out = STEPS["store"].run(e.state, rt)  # the retry checks the version it finds, refuses the corrupt one, stores a good copy
    _, digests = rt.aws.s3.digests(out["archive"]["bucket"], out["archive"]["key"], out["archive"]["version_id"])
    assert digests["SHA-256"] == out["package"]["sha256"] == e.state["package"]["sha256"]
    entries = rt.aws.events.entries(e.state["stream"])
    assert json.loads(entries[-1]["detail"]).get("unusable_versions"), "the corrupt locked version is on record"


def test_a_consistently_rewritten_event_stream_still_disagrees_with_its_locked_head(cloud, tmp_path):
    """F19: the chain is unkeyed and the catalogue's head writable by the functions; the head locked in the archive is not."""
    from earchive.domain.eventlog import entry_hash, verify_entries

    rt = runtime()
    e = Execution(rt, cloud.upload(zip_case(sample_case(tmp_path / "c", seed=831).folder, tmp_path / "c831.zip")), "anchor")
    while not e.done:
        e.step()
    stream = e.state["stream"]
    assert rt.aws.anchors.verify(stream) == []
    table = rt.aws.events.table
    entries = sorted(rt.aws.events.entries(stream), key=lambda x: int(x["seq"]))
    prev = "0" * 64
    for entry in entries:  # an attacker with the functions' rights rewrites every entry and re-chains them
        entry = {**entry, "actor": "someone else"} if entry["action"] == "collect" else dict(entry)
        entry["prev_hash"] = prev
        entry["hash"] = entry_hash(entry)
        table.put_item(Item=entry)
        prev = entry["hash"]
    item = rt.aws.catalogue.get(e.state["record_code"])
    rt.aws.catalogue.table.update_item(Key={"package_id": item["package_id"]}, UpdateExpression="SET event_head = :h",
                                       ExpressionAttributeValues={":h": {"seq": len(entries), "hash": prev}})
    rewritten = sorted(rt.aws.events.entries(stream), key=lambda x: int(x["seq"]))
    assert verify_entries(rewritten, rt.aws.catalogue.get(e.state["record_code"])["event_head"]) == [], "the catalogue's head is fooled"
    assert any("differs from the hash recorded" in p for p in rt.aws.anchors.verify(stream)), "the locked head is not"


SERIAL_RACES: list[int] = []


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.lists(st.booleans(), min_size=2, max_size=16))
def test_two_cases_competing_for_one_serial_never_share_a_record_code(cloud, tmp_path_factory, order):
    """F3 as a property: X is numbered by the counter, Y asks for serial 1 of the same prefix; any interleaving."""
    SERIAL_RACES.append(len(SERIAL_RACES) + 1)
    n = SERIAL_RACES[-1]
    tmp = tmp_path_factory.mktemp("serials")
    rt = runtime()

    def case(seed: int, serial: int | None) -> Path:
        c = sample_case(tmp / f"c{seed}", seed=seed)
        data = json.loads((c.folder / "case.json").read_text("utf-8"))
        data["case"].update(task_code=f"4300009{n:05d}", region_code="430405", fonds_identifier="0405", retention_period="D30")
        if serial is not None:
            data["case"]["archive_serial"] = serial
        (c.folder / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
        return zip_case(c.folder, tmp / f"{c.project_id}.zip")

    x = Execution(rt, cloud.upload(case(2000 + 2 * n, None)), f"x{n}")
    y = Execution(rt, cloud.upload(case(2001 + 2 * n, 1)), f"y{n}")
    run_interleaved(x, y, order)
    assert x.verdict == "ARCHIVED", x.rules
    assert y.verdict == "ARCHIVED" or y.rules == ["ARCHIVE-SERIAL-TAKEN"], y.rules
    if y.verdict == "ARCHIVED":
        assert y.state["serial"] == 1 and x.state["serial"] != 1 and x.state["record_code"] != y.state["record_code"]
    for e in (x, y):
        if e.verdict == "ARCHIVED":
            item = rt.aws.catalogue.get(e.state["record_code"])
            assert item["project_id"] == e.state["case"]["project_id"] and item["status"] == "ARCHIVED"
    catalogued = {(i["archive"]["key"], i["archive"]["version_id"]) for i in rt.aws.catalogue.by_status("ARCHIVED") if i.get("archive")}
    own = "packages/430405/0405/"  # this test's cases only (the module's cloud also holds other tests' packages)
    for v in cloud.client("s3").list_object_versions(Bucket=cloud.name("ArchiveBucket"), Prefix=own).get("Versions", []):
        assert (v["Key"], v["VersionId"]) in catalogued


def test_migrate_serials_reserves_what_an_older_deployment_issued(cloud):
    """Remainder of F3: before serialno# items, a platform serial could be handed out again by the counter."""
    cat = cloud.catalogue()
    prefix = "439999-9999-430000009999-2025-D30"
    # as an older deployment left it: two packages (one numbered by the platform), the counter at 1, no serialno# items
    cat.table.put_item(Item={"package_id": f"{prefix}-000001", "record_code": f"{prefix}-000001", "project_id": "P-OLD-1", "status": "ARCHIVED"})
    cat.table.put_item(Item={"package_id": f"serial#{prefix}#P-OLD-1", "serial": 1})
    cat.table.put_item(Item={"package_id": f"{prefix}-000002", "record_code": f"{prefix}-000002", "project_id": "P-OLD-2", "status": "ARCHIVED"})
    cat.table.put_item(Item={"package_id": f"serial#{prefix}", "next_serial": 1})
    # a clash the migration can only report: serial 3 reserved for one case, used by another
    cat.table.put_item(Item={"package_id": f"serialno#{prefix}#3", "project_id": "P-OTHER"})
    cat.table.put_item(Item={"package_id": f"{prefix}-000003", "record_code": f"{prefix}-000003", "project_id": "P-OLD-3", "status": "ARCHIVED"})
    first = cat.backfill_serials()
    assert first["conflicts"] == [{"prefix": prefix, "serial": 3, "holder": "P-OTHER", "project_id": "P-OLD-3", "package_id": f"{prefix}-000003"}]
    assert first["reserved"] >= 2
    again = cat.backfill_serials()
    assert again["reserved"] == 0 and len(again["conflicts"]) == 1, "safe to repeat"
    assert cat.allocate_serial(prefix, "P-NEW") == 4, "the counter skips every serial already issued"
