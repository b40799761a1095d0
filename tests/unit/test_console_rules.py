"""The console's own rules (issue 11 review): a correction is of its own case; Beijing days; keys that never collide."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earchive.console.api import make_app
from earchive.console.desk import member_key, user_key
from earchive.domain.listing import CaseQuery, indexed
from tests.unit.test_console_authorisation import CODE_IN, HALL, Store, case_json, claims, event


def test_a_correction_is_of_the_case_it_was_opened_for():
    store = Store()
    store.items[CODE_IN].update(project_id="P0", status="RETURNED", task_code="430000000101", retention_period="D30")
    app = make_app(store)
    other = case_json(HALL)
    other["case"]["project_id"] = "P-OTHER"
    out = app.resolve(event("POST", f"/api/cases/{CODE_IN}/fix", claims("window_clerk", True), {"case_json": other, "uploads": {}}), None)
    assert out["statusCode"] == 400 and "不是所补录的办件" in json.loads(out["body"])["error"]
    same = case_json(HALL)
    same["case"]["project_id"] = "P0"
    same["case"]["retention_period"] = "Y"  # part of the returned package's 电子文件号
    out = app.resolve(event("POST", f"/api/cases/{CODE_IN}/fix", claims("window_clerk", True), {"case_json": same, "uploads": {}}), None)
    assert out["statusCode"] == 400 and "retention_period" in json.loads(out["body"])["error"]
    bad = case_json(HALL)
    bad["case"]["project_id"] = "P0"
    out = app.resolve(event("POST", f"/api/cases/{CODE_IN}/fix", claims("window_clerk", True), {"case_json": bad, "uploads": ["x"]}), None)
    assert out["statusCode"] == 400, "uploads of the wrong type are the request's fault, not a 500"
    assert not store.changes


def test_dates_are_beijing_calendar_days():
    q = CaseQuery.parse("430102#0102", {"status": "ARCHIVED", "since": "2026-05-02", "until": "2026-05-02"})
    low, high = q.key_range()
    stored = indexed({"package_id": "x", "status": "ARCHIVED", "region_code": "430102", "fonds_identifier": "0102",
                      "updated_at": "2026-05-01T23:30:00+00:00"})  # 07:30 on 05-02 in Beijing
    assert low <= stored["hall_sk"] <= high
    late = indexed({**stored, "updated_at": "2026-05-02T16:00:00+00:00"})  # 00:00 on 05-03 in Beijing
    assert not low <= late["hall_sk"] <= high


@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_user_and_member_keys_never_collide(a, b):
    if a.strip() and b.strip() and a != b:
        assert user_key(a) != user_key(b)
    if a != b:
        assert member_key(a) != member_key(b)
    assert user_key("a|b").isalnum() and "/" not in member_key("x/../a.pdf")


def test_the_receivers_column_counts_a_package_never_checked_as_passing_no_row():
    """The 登记表's 接收单位 column, as the decided list states it (domain.final from the receipt)."""
    from earchive.domain.final import final_list

    listing = {"rows": [{"办理事项名称": "事项", "事项类型": "行政许可"}],
               "packages": [{"record_code": c, "task_name": "事项", "task_type": "行政许可"} for c in "AB"]}

    def column(*outcomes):
        receipt = {"receiver": "王芳", "decided_at": "2026-12-06T02:00:00+00:00", "outcomes": [dict(o) for o in outcomes]}
        return final_list(listing, receipt)["receiver_checks"]

    one_checked = column({"package_id": "A", "outcome": "ACCEPTED", "checked_at": "t", "failed_tests": [], "manual_tests": []},
                         {"package_id": "B", "outcome": "RETURNED", "reason": "未接收检测的信息包，退回补正"})
    assert one_checked["准确性检验"].startswith("合格 1 件；未检测 1 件"), one_checked
    assert "合格（2 件均通过）" not in str(one_checked)
    failed = column({"package_id": "A", "outcome": "RETURNED", "reason": "完整性检测不合格，请补正后再移交", "checked_at": "t",
                     "failed_tests": ["YJ-2-3"], "manual_tests": []})
    assert failed["准确性检验"].startswith("合格") and failed["完整性检验"].startswith("不合格 1 件"), "a failed test counts against its own property only"
    manual = column({"package_id": "A", "outcome": "ACCEPTED", "checked_at": "t", "failed_tests": [], "manual_tests": ["YJ-4-1", "YJ-4-2"]})
    assert manual["安全性检验"].startswith("未自动检测：病毒扫描须人工核查") and "合格" not in manual["安全性检验"], "a manual result is never 合格"
    unknown = column({"package_id": "A", "outcome": "ACCEPTED", "checked_at": "t", "failed_tests": []})
    assert "合格" not in unknown["安全性检验"], unknown


def test_the_auditors_index_keys_are_outside_the_hash_only_where_they_belong():
    from earchive.domain.eventlog import GENESIS, entry_hash, opened_keys, verify_entries

    first = {"stream": "batch#1", "seq": 1, "at": "2026-12-01T16:30:00.000+00:00", "actor": "a", "action": "create", "result": "ok",
             "detail": "{}", "prev_hash": GENESIS}
    first["hash"] = entry_hash(first)
    keys = opened_keys("batch#1", first["at"])
    assert keys["opened"] == "batch#2026-12-02", "16:30 UTC is the next day in Beijing"
    assert verify_entries([{**first, **keys}]) == [], "derived keys added later leave the chain intact"
    moved = {**first, **keys, "opened": "batch#2026-11-30"}
    assert any("edited" in p for p in verify_entries([moved])), "keys moved to hide a stream are an edit"
    second = {"stream": "batch#1", "seq": 2, "at": first["at"], "actor": "a", "action": "x", "result": "ok", "detail": "{}",
              "prev_hash": first["hash"]}
    second["hash"] = entry_hash(second)
    assert any("edited" in p for p in verify_entries([first, {**second, **opened_keys("batch#1", first["at"])}])), "only a first entry"


@pytest.mark.parametrize("region,host", [("cn-north-1", "https://earchive-stagingbucket-x.s3.cn-north-1.amazonaws.com.cn"),
                                         ("cn-northwest-1", "https://earchive-stagingbucket-x.s3.cn-northwest-1.amazonaws.com.cn"),
                                         ("eu-west-1", "https://earchive-stagingbucket-x.s3.eu-west-1.amazonaws.com")])
def test_the_csp_names_the_stacks_own_bucket_host_not_every_s3_host(region, host):
    """Issue 21: *.amazonaws.com would let a page send data to anyone's bucket; the console names only its staging bucket."""
    import boto3
    from botocore.config import Config

    from earchive.console.pages import CSP, origin_of

    client = boto3.client("s3", region_name=region, aws_access_key_id="k", aws_secret_access_key="s",
                          config=Config(signature_version="s3v4", s3={"addressing_style": "virtual"}))
    origin = origin_of(client, "earchive-stagingbucket-x")
    assert origin == host
    policy = CSP.format(s3=origin, connect="")
    assert "*" not in policy and f"connect-src 'self' {host};" in policy


def test_an_id_over_dynamodbs_key_limits_answers_400_not_500():
    """Issue 21: on AWS a GetItem with a 3,000-byte key is a ValidationException (the local cloud raises the same): the request is
    wrong, so the console answers 400 saying so, not 500."""
    from botocore.exceptions import ClientError

    class Long(Store):
        def case(self, package_id):
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "Size of hashkey has exceeded the maximum size limit"}},
                              "GetItem")

    out = make_app(Long()).resolve(event("GET", f"/api/cases/{'4' * 3000}", claims("window_clerk", True)), None)
    assert out["statusCode"] == 400 and "编号不合规" in json.loads(out["body"])["error"]
