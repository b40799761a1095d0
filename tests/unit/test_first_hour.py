"""Ordinary situations get one clear line and the documented exit code (issue 9, P4, P7, P14)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from earchive.cli import main


@pytest.fixture
def state(earchive_home):
    from earchive.client import local_state_file

    path = local_state_file()
    yield path
    path.unlink(missing_ok=True)


def test_a_state_file_left_by_a_killed_local_cloud_is_removed_with_one_line(state, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    state.write_text(json.dumps({"endpoint": "http://127.0.0.1:9", "resources": {"CatalogueTable": "x"}, "pid": dead.pid}), "utf-8")
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert "no local cloud is running" in err and "stale file was removed" in err and "Traceback" not in err
    assert not state.exists()


def test_a_reused_pid_is_not_taken_for_the_local_cloud(state, capsys):
    """Our own pid, but not the process that wrote the file (another start time): stale, and nothing is signalled."""
    state.write_text(json.dumps({"endpoint": "http://127.0.0.1:9", "resources": {}, "pid": os.getpid(), "pid_start": "1"}), "utf-8")
    assert main(["local", "down"]) == 0
    assert "no local cloud is running" in capsys.readouterr().out
    assert not state.exists()


def test_the_demo_never_cleans_a_folder_it_did_not_write(tmp_path, capsys):
    from earchive_devtools.demo import MARKER, prepare_out

    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "README.txt").write_text("my notes", "utf-8")
    (mine / "reports").mkdir()
    assert main(["demo", "--offline", "--out", str(mine)]) == 2
    assert (mine / "README.txt").read_text("utf-8") == "my notes"
    ran = tmp_path / "ran"
    prepare_out(ran)
    (ran / "packages").mkdir()
    prepare_out(ran)
    assert (ran / MARKER).exists() and not (ran / "packages").exists(), "its own folder is cleaned"


def test_aws_situations_are_one_line():
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError

    from earchive.aws.clients import aws_problem

    assert "no AWS credentials" in aws_problem(NoCredentialsError())
    assert "no AWS region" in aws_problem(NoRegionError())
    assert "is `earchive local up` still running" in aws_problem(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    assert aws_problem(S3UploadFailedError("Failed to upload x: AccessDenied")).startswith("AWS: ")
    assert aws_problem(KeyError("a bug")) is None, "a bug stays a traceback"


def test_uploading_something_the_pipeline_would_never_start_on_is_a_wrong_command_line(tmp_path, capsys):
    (tmp_path / "case.ZIP").write_bytes(b"PK")
    assert main(["upload", str(tmp_path / "case.ZIP")]) == 2
    assert "*.zip" in capsys.readouterr().err
    assert main(["upload", str(tmp_path / "missing.zip")]) == 2


def test_a_return_needs_a_receiver_and_a_reason_that_says_something():
    """A blank receiver or a one-character reason would be signed as the institution's word (newcomer run of issue 9)."""
    from earchive.domain.transfer import refused

    packages = [{"package_id": "P1"}, {"package_id": "P2"}]
    assert refused(packages, {"P1": "申请表扫描件模糊，请重新扫描"}, "王芳") == []
    assert any("须为 10–1300 个字" in p for p in refused(packages, {"P1": "申请表扫描件模糊"}, "王芳")), "one minimum on both sides (issue 21)"
    assert any("characters" in p for p in refused(packages, {"P1": " "}, "王芳"))
    assert any("characters" in p for p in refused(packages, {"P1": "x"}, "王芳"))
    assert any("characters" in p for p in refused(packages, {"P1": "很" * 1301}, "王芳"))
    assert refused(packages, {}, "  ") == ["未填写接收人 / the receiver (接收人) is blank"]


def test_a_trust_file_that_is_not_pem_is_a_wrong_command_line(tmp_path, capsys, package_copy):
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"PK\x03\x04 not a certificate")
    assert main(["verify", str(package_copy), "--trust", str(junk)]) == 2
    err = capsys.readouterr().err
    assert "is not a PEM file" in err and "ParseError" not in err
    assert main(["verify", str(package_copy), "--trust", str(tmp_path / "none.pem")]) == 2


def test_stack_may_follow_the_transfer_subcommand():
    """P6: `transfer list --stack X`, as a newcomer writes it, works like `transfer --stack X list`."""
    from earchive.cli import build_parser

    assert build_parser().parse_args(["transfer", "list", "--stack", "earchive"]).stack == "earchive"
    assert build_parser().parse_args(["transfer", "--stack", "earchive", "list"]).stack == "earchive"


def test_a_sample_case_written_again_replaces_its_folder(tmp_path):
    """P7: seed 7 with 6 files, then with 3: the second is a valid case on its own, no stale material left."""
    from earchive.domain.pack import pack
    from earchive_devtools.sample import sample_case

    first = sample_case(tmp_path / "t", seed=7, files=6)
    second = sample_case(tmp_path / "t", seed=7, files=3)
    assert first.folder == second.folder and len(list((second.folder / "materials").iterdir())) == 3
    assert pack(second.folder, tmp_path / "pk").path.exists()


@pytest.mark.parametrize("change", [{"reply_id": ["x"]}, {"receiver": 5}, {"packages": [{"package_id": ["P1"], "outcome": "ACCEPTED"}]},
                                    {"packages": [{"package_id": "P1", "outcome": "ACCEPTED", "failed_tests": 5}]},
                                    {"packages": ["P1"]}])
def test_a_reply_of_the_wrong_shape_is_refused_not_a_crash(change):
    """Hostile replies (issue 10): fields of the wrong type are named, never a TypeError in the window."""
    import datetime as dt

    from earchive.domain import reply

    doc = {"version": "1", "reply_id": "r1", "batch_id": "B", "institution": "A", "list_sha256": "s", "receiver": "王芳",
           "packages": [{"package_id": "P1", "outcome": "ACCEPTED", "failed_tests": []}], **change}
    found = reply.problems(reply.encode(doc), signer=None, signature_errors=[], institution={"code": "A", "status": "ACTIVE"},
                           listing={"batch_id": "B", "institution": "A", "packages": [{"record_code": "P1"}]}, list_sha256="s",
                           used_reply_ids={"r0"}, at=dt.datetime.now(dt.UTC))
    assert found and any("not text" in p or "not an object" in p or "not a list" in p for p in found), found
