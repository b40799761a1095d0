"""Institutions are data (issue 10, first part): a registry of who receives, which certificates sign their replies."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from earchive.cli import main
from earchive.crypto.pki import DevPKI
from earchive.domain.institution import may_sign
from earchive.errors import TransferError, UsageError
from earchive_devtools.localcloud import LocalCloud


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


@pytest.fixture(scope="module")
def registry(cloud):
    from earchive.client import TransferService

    return TransferService.from_cloud(cloud).aws.institutions


def pem(name: str) -> bytes:
    return DevPKI().pair(name).cert.public_bytes(Encoding.PEM)


def test_a_registered_certificate_of_an_active_institution_may_sign_and_nothing_else(registry):
    a = registry.add("430102001", "长沙市芙蓉区行政审批服务局", certificates=[pem("institution-a")],
                     principals=["arn:aws:iam::111122223333:role/receiver-a"], actor="管理员")
    registry.add("430103001", "长沙市天心区行政审批服务局", certificates=[pem("institution-b")], principals=[], actor="管理员")
    now = dt.datetime.now(dt.UTC)
    cert_a, cert_b = DevPKI().pair("institution-a").cert, DevPKI().pair("institution-b").cert
    assert may_sign(registry.get("430102001"), cert_a, now) == []
    assert "not a certificate registered for institution 430102001" in may_sign(registry.get("430102001"), cert_b, now)[0], \
        "B's key never signs for A"
    assert may_sign(None, cert_a, now) == ["the institution is not registered"]
    assert "not valid at" in may_sign(a, cert_a, now + dt.timedelta(days=365 * 30))[0]
    registry.revoke("430103001", reason="机构撤并", actor="管理员")
    assert "is REVOKED" in may_sign(registry.get("430103001"), cert_b, now)[0]
    with pytest.raises(TransferError, match="exists already"):
        registry.add("430102001", "again", certificates=[], principals=[], actor="x")
    for bad in ("4301/02", "*", "a#b", ""):
        with pytest.raises(UsageError):
            registry.add(bad, "x", certificates=[], principals=[], actor="x")
    with pytest.raises(UsageError, match="principal"):
        registry.add("430104001", "x", certificates=[], principals=["*"], actor="x")
    renewed = registry.add_certificate("430102001", pem("institution-a2"), actor="管理员")
    assert len(renewed["certificates"]) == 2, "a renewal keeps the earlier certificate for the replies it signed"
    assert [e["action"] for e in sorted(registry.events.entries("institution#430102001"), key=lambda e: int(e["seq"]))] == \
        ["add", "add-certificate"]


def test_the_institution_commands(cloud, registry, capsys, tmp_path, monkeypatch):
    import earchive.client as client

    monkeypatch.setattr(client.TransferService, "from_local_state", classmethod(lambda cls: client.TransferService.from_cloud(cloud)))
    cert = tmp_path / "c.pem"
    cert.write_bytes(pem("institution-c"))
    assert main(["institution", "add", "430105001", "--name", "长沙市雨花区行政审批服务局", "--cert", str(cert), "--actor", "管理员"]) == 0
    assert "有效 ACTIVE" in capsys.readouterr().out
    assert main(["institution", "list"]) == 0
    assert "430105001" in capsys.readouterr().out
    assert main(["institution", "show", "999"]) == 2 and "no institution 999" in capsys.readouterr().err
    assert main(["institution", "add", "bad/code", "--name", "x", "--actor", "a"]) == 2
    assert main(["institution", "revoke", "430105001", "--reason", "测试", "--actor", "管理员"]) == 0
    assert "已撤销 REVOKED" in capsys.readouterr().out


# -- competence (受理范围, issue 20 item 5): one test per rule, on the registry in DynamoDB (moto)

def _service(cloud):
    from earchive.client import TransferService

    return TransferService.from_cloud(cloud)


def _archived(svc, region: str, n: int, day: str, task_type: str = "公共服务事项") -> str:
    """An ARCHIVED package of ``region`` in the catalogue (as the archive machine leaves it), archived on ``day``."""
    fonds = region[2:]
    code = f"{region}-{fonds}-430000000707-2026-D30-{n:06d}"
    svc.aws.catalogue.put_new({"package_id": code, "record_code": code, "project_id": f"P{n}", "status": "ARCHIVED", "region_code": region,
                               "fonds_identifier": fonds, "archived_at": f"{day}T02:00:00+00:00", "updated_at": f"{day}T02:00:00+00:00",
                               "task_code": "430000000707", "task_name": "不动产登记资料查询", "task_type": task_type,
                               "archive": {"bucket": "b", "key": code}, "package_sha256": "0" * 64, "package_sm3": "0" * 64})
    return code


def _batch_ids(svc) -> set[str]:
    return {b["batch_id"] for b in svc.transfers.batches()}


def test_a_scope_is_recorded_at_registration_and_each_change_is_logged_with_who_made_it(cloud, registry, capsys, monkeypatch):
    import earchive.client as client
    from earchive.domain.institution import Scope

    monkeypatch.setattr(client.TransferService, "from_local_state", classmethod(lambda cls: client.TransferService.from_cloud(cloud)))
    assert main(["institution", "add", "430111001", "--name", "长沙市雨花区行政审批服务局", "--region", "430111", "--task-type", "公共服务事项",
                 "--actor", "管理员 周敏"]) == 0
    assert "受理范围 行政区划 长沙市雨花区（430111）；事项类型 公共服务事项" in capsys.readouterr().out
    assert main(["institution", "scope", "430111001", "--region", "430111", "--hall", "430111:0111", "--actor", "管理员 吴刚"]) == 0
    assert Scope.of(registry.get("430111001")) == Scope(("430111",), ("430111#0111",))
    assert main(["institution", "scope", "430111001", "--actor", "x"]) == 2 and "请给出受理范围" in capsys.readouterr().err
    assert main(["institution", "scope", "430111001", "--region", "4301", "--actor", "x"]) == 2 and "6 位数字" in capsys.readouterr().err
    events = sorted(registry.events.entries("institution#430111001"), key=lambda e: int(e["seq"]))
    assert [(e["action"], e["actor"]) for e in events] == [("add", "管理员 周敏"), ("scope", "管理员 吴刚")]
    assert '"halls": ["430111#0111"]' in events[1]["detail"] and '"before"' in events[1]["detail"]
    registry.revoke("430111001", reason="机构撤并", actor="管理员")
    with pytest.raises(TransferError, match="已撤销"):
        registry.set_scope("430111001", Scope.parse(regions=["430111"]), actor="管理员")


def test_transfer_create_refuses_an_unregistered_code_in_chinese_and_makes_nothing(cloud, capsys, monkeypatch):
    import earchive.client as client

    svc = _service(cloud)
    monkeypatch.setattr(client.TransferService, "from_local_state", classmethod(lambda cls: client.TransferService.from_cloud(cloud)))
    code = _archived(svc, "430102", 7001, "2026-04-01")
    before = _batch_ids(svc)
    assert main(["transfer", "create", "--institution", "999999999", "--institution-name", "随便写的名字", "--transferor", "李敏",
                 "--package", code]) == 1
    assert "接收单位 999999999 未登记" in capsys.readouterr().err
    assert _batch_ids(svc) == before and not svc.aws.catalogue.get(code).get("transfer_batch"), "no batch, the package untouched"


def test_a_revoked_institution_takes_no_new_batch(cloud, registry):
    from earchive.domain.institution import Scope
    from earchive.domain.transfer import Selection

    svc = _service(cloud)
    registry.add("430104001", "长沙市岳麓区行政审批服务局", certificates=[], principals=[], actor="管理员", scope=Scope.parse(regions=["430104"]))
    registry.revoke("430104001", reason="机构撤并", actor="管理员")
    code = _archived(svc, "430104", 7002, "2026-04-02")
    with pytest.raises(TransferError, match="接收单位 430104001（长沙市岳麓区行政审批服务局）已撤销"):
        svc.create(Selection(package_ids=(code,)), institution="430104001", transferor="李敏")


def test_an_institution_registered_without_a_scope_takes_no_batch_until_one_is_recorded(cloud, registry):
    from earchive.domain.institution import Scope
    from earchive.domain.transfer import Selection

    svc = _service(cloud)
    registry.add("430105002", "长沙市开福区行政审批服务局", certificates=[], principals=[], actor="管理员")  # as before issue 20
    code = _archived(svc, "430105", 7003, "2026-04-03")
    with pytest.raises(TransferError, match=r"未登记受理范围.*earchive institution scope 430105002 --region"):
        svc.create(Selection(package_ids=(code,)), institution="430105002", transferor="李敏")
    registry.set_scope("430105002", Scope.parse(regions=["430105"]), actor="管理员")
    assert int(svc.create(Selection(package_ids=(code,)), institution="430105002", transferor="李敏")["package_count"]) == 1


def test_the_name_comes_from_the_registry_and_another_is_refused(cloud, registry):
    from earchive.domain.institution import Scope
    from earchive.domain.transfer import Selection

    svc = _service(cloud)
    registry.add("430103002", "长沙市天心区行政审批服务局", certificates=[], principals=[], actor="管理员", scope=Scope.parse(regions=["430103"]))
    a, b = _archived(svc, "430103", 7004, "2026-04-04"), _archived(svc, "430103", 7005, "2026-04-04")
    with pytest.raises(TransferError, match="登记的名称是「长沙市天心区行政审批服务局」，不是「随便写的名字」"):
        svc.create(Selection(package_ids=(a,)), institution="430103002", institution_name="随便写的名字", transferor="李敏")
    batch = svc.create(Selection(package_ids=(a,)), institution="430103002", transferor="李敏")
    assert batch["institution_name"] == "长沙市天心区行政审批服务局"
    same = svc.create(Selection(package_ids=(b,)), institution="430103002", institution_name="长沙市天心区行政审批服务局", transferor="李敏")
    assert same["institution_name"] == "长沙市天心区行政审批服务局", "the registered name, given again, is fine"


def test_by_criteria_only_packages_within_the_scope_are_offered_by_one_index_query(cloud, registry):
    from earchive.domain.institution import Scope
    from earchive.domain.transfer import Selection

    svc = _service(cloud)
    registry.add("430102101", "长沙市芙蓉区行政审批服务局（测试）", certificates=[], principals=[], actor="管理员",
                 scope=Scope.parse(regions=["430102"], task_types=["公共服务事项"]))
    inside = _archived(svc, "430102", 7010, "2026-04-10")
    others = [_archived(svc, "430203", 7011, "2026-04-10"), _archived(svc, "430302", 7012, "2026-04-10"),
              _archived(svc, "430102", 7013, "2026-04-10", task_type="行政权力事项")]

    def no_scan(**_):
        raise AssertionError("the catalogue was scanned")

    svc.aws.catalogue.table.scan = no_scan
    batch = svc.create(Selection(archived_from="2026-04-10", archived_to="2026-04-10"), institution="430102101", transferor="李敏")
    assert [p["package_id"] for p in svc.transfers.packages(batch["batch_id"])] == [inside]
    assert all(not svc.aws.catalogue.get(c).get("transfer_batch") for c in others), "the others stay for their own institutions"
    with pytest.raises(TransferError, match=r"没有符合条件.*受理范围：行政区划 长沙市芙蓉区（430102）；事项类型 公共服务事项"):
        svc.create(Selection(archived_from="2026-04-10", archived_to="2026-04-10"), institution="430102101", transferor="李敏")


def test_packages_named_outside_the_scope_are_refused_each_by_name_and_why(cloud, registry):
    from earchive.domain.institution import Scope
    from earchive.domain.transfer import Selection

    svc = _service(cloud)
    registry.add("430102102", "长沙市芙蓉区行政审批服务局（二）", certificates=[], principals=[], actor="管理员", scope=Scope.parse(regions=["430102"]))
    inside = _archived(svc, "430102", 7020, "2026-04-20")
    zhuzhou, xiangtan = _archived(svc, "430203", 7021, "2026-04-20"), _archived(svc, "430302", 7022, "2026-04-20")
    before = _batch_ids(svc)
    with pytest.raises(TransferError) as refused:
        svc.create(Selection(package_ids=(inside, zhuzhou, xiangtan)), institution="430102102", transferor="李敏")
    text = str(refused.value)
    assert f"{zhuzhou} 属株洲市芦淞区（430203），不在接收单位 430102102（长沙市芙蓉区行政审批服务局（二））的受理范围" in text
    assert f"{xiangtan} 属湘潭市雨湖区（430302）" in text and inside not in text
    assert _batch_ids(svc) == before and not svc.aws.catalogue.get(inside).get("transfer_batch"), "nothing was made or claimed"


def test_the_console_offers_only_in_scope_packages_and_its_server_refuses_the_rest(cloud, registry):
    from earchive.console.desk import Desk
    from earchive.domain.institution import Scope

    svc = _service(cloud)
    desk = Desk(cloud.settings(), aws=svc.aws)
    registry.add("430203001", "株洲市芦淞区行政审批服务局", certificates=[], principals=[], actor="管理员",
                 scope=Scope.parse(regions=["430203"], task_types=["公共服务事项"]))
    ours = _archived(svc, "430203", 7030, "2026-04-30")
    power = _archived(svc, "430203", 7031, "2026-04-30", task_type="行政权力事项")
    page = desk.archived("430203#0203", {"institution": "430203001", "since": "2026-04-30", "until": "2026-04-30"})
    listed = [i["package_id"] for i in page["items"]]
    assert ours in listed and power not in listed and "公共服务事项" in page["scope"]
    elsewhere = desk.archived("430102#0102", {"institution": "430203001"})
    assert elsewhere["items"] == [] and "不在接收单位 430203001" in elsewhere["note"], "another hall: nothing offered, without a query"
    with pytest.raises(UsageError, match=f"{power} 事项类型为 行政权力事项，不在接收单位 430203001"):
        desk.create_batch("clerk-sub", "430203#0203", {"institution": "430203001", "packages": [ours, power]}, name="李敏")
    with pytest.raises(UsageError, match="接收单位 999999999 未登记"):
        desk.create_batch("clerk-sub", "430203#0203", {"institution": "999999999", "packages": [ours]}, name="李敏")
    batch = desk.create_batch("clerk-sub", "430203#0203", {"institution": "430203001", "packages": [ours]}, name="李敏")
    assert batch["institution_name"] == "株洲市芦淞区行政审批服务局" and int(batch["package_count"]) == 1
    assert {i["code"]: i["scope"] for i in desk.institutions()}["430203001"].startswith("行政区划 株洲市芦淞区（430203）")
