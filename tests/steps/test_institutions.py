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
