"""An institution's competence (受理范围, issue 20 item 5): the pure rules, one test per rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earchive.domain.institution import Scope, competence_problem, competence_refusal, region_label, region_prefix
from earchive.errors import UsageError

FURONG = {"code": "430102001", "name": "长沙市芙蓉区行政审批服务局", "status": "ACTIVE",
          "scope": {"regions": ["430102"], "halls": [], "task_codes": [], "task_types": []}}


def item(region: str = "430102", fonds: str = "0102", task_code: str = "430000000707", task_type: str = "公共服务事项") -> dict:
    return {"package_id": f"{region}-{fonds}-{task_code}-2026-D30-000001", "record_code": f"{region}-{fonds}-{task_code}-2026-D30-000001",
            "region_code": region, "fonds_identifier": fonds, "task_code": task_code, "task_name": "不动产登记资料查询", "task_type": task_type}


def test_a_package_of_another_region_is_outside_and_the_reason_names_the_region():
    scope = Scope.parse(regions=["430102"])
    assert scope.outside(item()) == []
    assert scope.outside(item("430203", "0203")) == ["属株洲市芦淞区（430203）"]


def test_a_city_or_province_code_covers_its_districts_and_nothing_beyond():
    assert region_prefix("430000") == "43" and region_prefix("430100") == "4301" and region_prefix("431000") == "4310"
    city = Scope.parse(regions=["430100"])
    assert city.outside(item("430102")) == [] and city.outside(item("430111")) == []
    assert city.outside(item("430203")), "长沙市 does not cover 株洲"
    assert Scope.parse(regions=["431000"]).outside(item("430102")), "郴州 (4310) is not 长沙 (4301)"


def test_halls_task_codes_and_task_types_each_narrow_and_all_given_kinds_must_match():
    scope = Scope.parse(regions=["430102"], halls=["430102:0102"], task_codes=["430000000707"], task_types=["公共服务事项"])
    assert scope.halls == ("430102#0102",), "a hall is kept as the catalogue keys it"
    assert scope.outside(item()) == []
    assert scope.outside(item(fonds="9999")) == ["来自窗口 430102#9999"]
    assert scope.outside(item(task_code="430000000101")) == ["事项 不动产登记资料查询（430000000101）"]
    assert scope.outside(item(task_type="行政权力事项")) == ["事项类型为 行政权力事项"]
    assert len(scope.outside(item("430203", "0203", "430000000101", "行政权力事项"))) == 4, "every kind that fails is named"


def test_a_scope_without_a_region_or_hall_is_refused_and_malformed_values_are_named():
    with pytest.raises(UsageError, match="至少指定一个行政区划"):
        Scope.parse(task_types=["公共服务事项"])
    for kwargs, words in (({"regions": ["4301"]}, "6 位数字"), ({"regions": ["000000"]}, "6 位数字"), ({"halls": ["430102"]}, "行政区划#全宗号"),
                          ({"regions": ["430102"], "task_types": ["许可"]}, "事项类型"),
                          ({"regions": ["430102"], "task_codes": ["43/01"]}, "事项编码")):
        with pytest.raises(UsageError, match=words):
            Scope.parse(**kwargs)


def test_an_unregistered_revoked_or_scopeless_institution_takes_no_batch_and_says_so_in_chinese_first():
    assert competence_problem("999999999", None).startswith("接收单位 999999999 未登记")
    assert "已撤销" in competence_problem("430102001", {**FURONG, "status": "REVOKED"})
    scopeless = competence_problem("430102001", {k: v for k, v in FURONG.items() if k != "scope"})
    assert "未登记受理范围" in scopeless and "earchive institution scope 430102001 --region" in scopeless
    assert competence_problem("430102001", FURONG) is None


def test_a_refusal_names_the_package_why_and_the_institutions_scope():
    out = item("430203", "0203")
    text = competence_refusal(out, FURONG, Scope.of(FURONG).outside(out))
    assert text == (f"{out['record_code']} 属株洲市芦淞区（430203），不在接收单位 430102001（长沙市芙蓉区行政审批服务局）的受理范围"
                    "（行政区划 长沙市芙蓉区（430102））内")


def test_the_hall_test_agrees_with_the_package_test():
    scope = Scope.parse(regions=["430100"], halls=["430102#0102"])
    assert scope.admits_hall("430102#0102") and not scope.admits_hall("430102#0103") and not scope.admits_hall("430203#0203")


def test_region_labels_fall_back_to_the_city_then_to_the_code():
    assert region_label("430102") == "长沙市芙蓉区（430102）"
    assert region_label("430199") == "430199（长沙市）"
    assert region_label("110101") == "110101"


regions = st.from_regex(r"43[0-9]{4}", fullmatch=True)


@given(scope_regions=st.lists(regions, min_size=1, max_size=3), package_region=regions)
def test_a_package_is_inside_exactly_when_one_region_prefix_covers_it(scope_regions, package_region):
    scope = Scope(regions=tuple(scope_regions))
    covered = any(package_region.startswith(region_prefix(r)) for r in scope_regions)
    assert (scope.outside(item(package_region)) == []) == covered
    assert scope.admits_hall(f"{package_region}#0001") == covered, "the console's hall test and the package test agree"


@given(st.lists(regions, min_size=1, max_size=3), st.lists(st.sampled_from(["行政权力事项", "公共服务事项"]), max_size=2))
def test_a_scope_survives_the_registry_round_trip(scope_regions, types):
    scope = Scope.parse(regions=scope_regions, task_types=types)
    assert Scope.of({"scope": scope.as_item()}) == scope
