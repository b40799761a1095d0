"""The command line as a clerk or a script uses it: exit codes, last line, JSON, HTML."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from earchive.cli import main


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "earchive", *args], capture_output=True, text=True)


def test_sample_pack_verify_round_trip(tmp_path, capsys):
    assert main(["sample-case", str(tmp_path / "cases"), "--seed", "5", "--files", "4"]) == 0
    folder = capsys.readouterr().out.strip().splitlines()[-1]
    assert Path(folder, "case.json").exists()
    assert main(["pack", folder, "--out", str(tmp_path / "out")]) == 0
    package = capsys.readouterr().out.strip().splitlines()[-1]
    assert package.endswith(".zip") and Path(package).exists()
    assert main(["verify", package, "--json", "--html"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {"package", "stage", "passed", "checked_at", "results"}
    assert report["passed"] is True and report["stage"] == "archiving"
    assert set(report["results"][0]) >= {"id", "property", "name", "status", "detail"}
    html = Path(package + ".archiving-report.html").read_text("utf-8")
    assert "检测合格" in html and "GD-1-1-2" in html


def test_pack_json_is_one_document(tmp_path, capsys):
    main(["sample-case", str(tmp_path / "c"), "--seed", "6"])
    folder = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["pack", folder, "--out", str(tmp_path / "out"), "--json", "--signer", "local-sm2"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert Path(result["package"]).exists() and result["signer"] == "development SM2 key" and len(result["files"]) == 5


def test_sample_case_zip_and_size(tmp_path, capsys):
    assert main(["sample-case", str(tmp_path), "--seed", "3", "--size-mb", "3", "--zip"]) == 0
    out = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert out.suffix == ".zip" and out.stat().st_size > 3 * 1024 * 1024


def test_failed_verify_exits_1_with_report(tmp_path, capsys):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"nope")
    assert main(["verify", str(bad), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["passed"] is False


def test_rejected_pack_exits_1_and_names_rule_file_and_case(tmp_path, capsys):
    main(["sample-case", str(tmp_path / "c"), "--seed", "9", "--defect", "digest"])
    folder = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["pack", folder, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "MATERIAL-DIGEST" in err and "materials/" in err and "case 43" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("args", [[], ["verify"], ["pack", "x"], ["verify", "p", "--stage", "nope"], ["bogus"]])
def test_wrong_command_line_exits_2(args):
    proc = run(*args)
    assert proc.returncode == 2, proc.stderr


def test_a_missing_package_or_a_malformed_digest_is_a_wrong_command_line(tmp_path):
    """P14: one clear line and exit 2, not 34 failed tests and exit 1."""
    proc = run("verify", str(tmp_path / "missing.zip"))
    assert proc.returncode == 2 and "no such file" in proc.stderr and proc.stdout == ""
    assert "Traceback" not in proc.stderr + proc.stdout
    (tmp_path / "p.zip").write_bytes(b"PK")
    proc = run("verify", str(tmp_path / "p.zip"), "--package-digest", "SM3:ab12")
    assert proc.returncode == 2 and "--package-digest" in proc.stderr and "Traceback" not in proc.stderr


def test_dev_ca_prints_both_development_roots(capsys):
    """One PEM file, the ECDSA root and the SM2 root, which is what `verify` trusts by default."""
    from pathlib import Path

    from cryptography import x509

    assert main(["dev-ca"]) == 0
    path = Path(capsys.readouterr().out.strip())
    roots = x509.load_pem_x509_certificates(path.read_bytes())
    assert [c.signature_algorithm_oid.dotted_string for c in roots] == ["1.2.840.10045.4.3.2", "1.2.156.10197.1.501"]
    assert all(c.subject == c.issuer for c in roots)


def test_a_development_command_without_the_devtools_says_what_to_install(tmp_path):
    """An office PC with only the library installed: `sample-case` explains itself, no traceback."""
    script = ("import sys; sys.modules['earchive_devtools'] = None\n"
              "from earchive.cli import main\n"
              f"sys.exit(main(['sample-case', {str(tmp_path / 'c')!r}]))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 1
    assert "development tools" in out.stderr and "Traceback" not in out.stderr


def test_the_local_cloud_warns_when_told_to_listen_beyond_loopback(monkeypatch, capsys):
    """Issue 21: loopback unless told otherwise, and then a warning naming what is exposed."""
    import argparse

    import earchive_devtools.server as server
    from earchive.cli_local import cmd_local_up

    served = []
    monkeypatch.setattr(server, "serve", lambda host, port, **kw: served.append(host))
    for host, warned in (("127.0.0.1", False), ("0.0.0.0", True)):
        cmd_local_up(argparse.Namespace(host=host, port=4566, verbose=False, console_port=8080, detach=False))
        assert ("警告：本地云监听 0.0.0.0" in capsys.readouterr().err) == warned
    assert served == ["127.0.0.1", "0.0.0.0"]
