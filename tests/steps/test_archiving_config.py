"""The 归档配置 registry on the local cloud (issue 20, item 6; ADR 0017): versions only added, every change in the event log."""

from __future__ import annotations

import base64
import json

import pytest

from earchive.cli import main
from earchive.client import TransferService
from earchive.domain.archiving_config import DEPLOYMENT
from earchive.errors import UsageError
from earchive_devtools.localcloud import LocalCloud

ADMIN = "周丽"
CSV = ("事项编码,事项名称,事项类型,保管期限,接收单位,必备材料\n"
       "430000000404,药品零售企业许可,行政权力事项,D30,430102001,申报:A1；结果:C1\n"
       "430000000505,社会保障卡申领,公共服务事项,D10,,申报:申请人身份证明\n")


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud() as c:
        yield c


@pytest.fixture(scope="module")
def service(cloud):
    return TransferService.from_cloud(cloud)


@pytest.fixture()
def cli(cloud, monkeypatch):
    import earchive.client as client

    monkeypatch.setattr(client.TransferService, "from_local_state", classmethod(lambda cls: client.TransferService.from_cloud(cloud)))
    monkeypatch.setattr(client, "local_state", lambda: {"endpoint": cloud.endpoint, "resources": cloud.resolver.names})


def entries(service) -> list[dict]:
    return sorted(service.aws.events.entries("archiving-config"), key=lambda e: int(e["seq"]))


def test_nothing_configured_says_so_and_the_first_change_makes_the_defaults_explicit(service, cli, capsys):
    registry = service.aws.archiving_config
    assert registry.deployment() is None
    assert main(["status"]) == 0 and "未配置归档配置：保管期限按平台提交值" in capsys.readouterr().out
    with pytest.raises(UsageError, match="变更原因"):
        registry.save({"task_code": "430000000101", "task_name": "食品经营许可", "task_type": "行政权力事项", "retention_period": "D30"},
                      actor=ADMIN, reason=" ")
    first = registry.save({"task_code": "430000000101", "task_name": "食品经营许可", "task_type": "行政权力事项", "retention_period": "D30",
                           "required": "申报:A1"}, actor=ADMIN, reason="按省事项目录配置")
    assert first["version"] == 1 and registry.deployment()["retention_mismatch"] == "refuse"
    assert [e["action"] for e in entries(service)] == ["modes", "change"]
    assert main(["status"]) == 0 and "归档配置：1 个事项" in capsys.readouterr().out


def test_every_change_is_a_new_version_with_who_and_why_and_the_old_one_stays(service):
    registry = service.aws.archiving_config
    base = registry.current("430000000101")
    same = registry.save({**base}, actor=ADMIN, reason="再次保存，未改动")
    assert same["version"] == base["version"], "an unchanged save makes no version"
    second = registry.save({**base, "retention_period": "Y"}, actor="王强", reason="省档案馆通知：改为永久")
    assert second["version"] == base["version"] + 1
    assert [v["retention_period"] for v in registry.versions("430000000101")] == ["Y", "D30"]
    assert registry.version("430000000101", base["version"])["retention_period"] == "D30"
    last = entries(service)[-1]
    assert last["actor"] == "王强" and json.loads(last["detail"])["reason"] == "省档案馆通知：改为永久"
    assert json.loads(last["detail"])["changed"] == {"retention_period": ["D30", "Y"]}
    with pytest.raises(Exception, match="刚由他人保存"):  # two administrators cannot both make the same version
        registry._write({**second}, base, actor="x", reason="y", source="cli")
    assert registry.all()[0]["task_code"] == "430000000101" and DEPLOYMENT not in [i["task_code"] for i in registry.all()]


def test_the_commands_and_an_import_as_one_change(service, cli, capsys, tmp_path):
    path = tmp_path / "事项目录.csv"
    path.write_text(CSV + "bad/code,,行政,D20,,,\n", "utf-8-sig")
    assert main(["config", "import", str(path), "--actor", ADMIN, "--reason", "导入"]) == 2
    err = capsys.readouterr().err
    assert "第 4 行「事项编码」列" in err and "未导入任何事项" in err
    path.write_text(CSV, "utf-8-sig")
    before = len(entries(service))
    assert main(["config", "import", str(path), "--actor", ADMIN, "--reason", "按省政务服务事项目录（2026版）导入"]) == 0
    assert "2 个新版本" in capsys.readouterr().out
    after = entries(service)
    assert len(after) == before + 1 and after[-1]["action"] == "import", "an import is one change in the event log"
    assert main(["config", "import", str(path), "--actor", ADMIN, "--reason", "再导一次"]) == 0
    assert "0 个新版本，2 个未变" in capsys.readouterr().out
    assert main(["config", "set", "430000000505", "--retention", "D30", "--retention-mismatch", "apply", "--actor", "王强",
                 "--reason", "社保卡档案改为30年"]) == 0
    assert "第 2 版" in capsys.readouterr().out
    assert main(["config", "show", "430000000505"]) == 0
    shown = capsys.readouterr().out
    assert "王强：社保卡档案改为30年" in shown and "周丽：按省政务服务事项目录（2026版）导入" in shown
    assert main(["config", "modes", "--unknown-task", "refuse", "--actor", ADMIN, "--reason", "只收目录中的事项"]) == 0
    assert "未配置的事项拒收" in capsys.readouterr().out
    assert main(["config", "retire", "430000000404", "--actor", ADMIN, "--reason", "事项取消"]) == 0
    assert main(["config", "list"]) == 0
    assert "已停用" in capsys.readouterr().out
    assert main(["config", "set", "430000000606", "--name", "参保登记", "--type", "其他", "--retention", "Y", "--actor", ADMIN,
                 "--reason", "x"]) == 2


def test_the_console_desk_imports_an_xlsx_and_refuses_a_bad_one(service):
    import io

    from openpyxl import Workbook

    from earchive.config import Settings
    from earchive.console.desk import Desk

    desk = Desk(Settings(archiving_config_table=service.names["ArchivingConfigTable"]), aws=service.aws)
    wb = Workbook()
    for row in (CSV.replace("D10", "D30") + "430000000707,不动产登记资料查询,公共服务事项,10年,,结果:C1\n").strip().split("\n"):
        wb.active.append(row.split(","))
    out = io.BytesIO()
    wb.save(out)
    body = {"file_name": "事项目录.xlsx", "content_base64": base64.b64encode(out.getvalue()).decode(), "reason": "控制台导入"}
    assert desk.config_import("周丽", "user-1", {**body, "dry_run": True}) == {"file": "事项目录.xlsx", "rows": 3, "dry_run": True}
    done = desk.config_import("周丽", "user-1", body)
    assert set(done["changed"]) >= {"430000000707"} and done["reason"] == "控制台导入"
    with pytest.raises(UsageError, match="第 2 行「保管期限」列"):
        bad = "事项编码,事项名称,事项类型,保管期限\n1,甲,行政权力事项,D5\n".encode()
        desk.config_import("周丽", "user-1", {**body, "file_name": "事项目录.csv", "content_base64": base64.b64encode(bad).decode()})
    assert desk.config_versions("430000000707")["versions"][0]["changed_by"] == "周丽"
    assert "归档配置" in desk.config_list()["summary"]


def test_register_verifies_the_retention_against_the_version_the_case_was_checked_against(service):
    from earchive.config import Settings
    from earchive.pipeline.archive.configured import verify_retention
    from earchive.pipeline.runtime import Runtime

    rt = Runtime(Settings(), service.aws)
    version = service.aws.archiving_config.current("430000000505")
    item = {"task_code": "430000000505", "project_id": "P1", "package_id": "X", "retention_period": version["retention_period"],
            "config": {"task_version": version["version"], "notes": []}}
    assert verify_retention(rt, item) == []
    assert [p.rule for p in verify_retention(rt, {**item, "retention_period": "Y"})] == ["CONFIG-RETENTION"]
    assert [p.rule for p in verify_retention(rt, {**item, "config": {"task_version": 99}})] == ["CONFIG-RETENTION"]
    assert verify_retention(rt, {**item, "config": {"notes": []}}) == [], "an unknown 事项 accepted with a note has no schedule to verify"
