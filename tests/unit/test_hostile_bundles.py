"""Hostile bundles: each is rejected with its rule, nothing is written, the input is untouched."""

from __future__ import annotations

import json
import unicodedata
import zipfile
from pathlib import Path

import pytest

from earchive.domain.pack import pack
from earchive.errors import EarchiveError
from earchive_devtools.sample import sample_case, zip_case
from tests.conftest import tree_digest


def _pack_rejects(bundle: Path, out: Path, signer, tsa) -> EarchiveError:
    before = tree_digest(bundle)
    with pytest.raises(EarchiveError) as exc:
        pack(bundle, out, signer=signer, tsa=tsa)
    assert tree_digest(bundle) == before, "the input must stay untouched"
    leftovers = list(out.rglob("*")) if out.exists() else []
    assert leftovers == [], f"nothing may be left behind: {leftovers}"
    return exc.value


def _case_zip(tmp_path: Path, seed: int = 21, **kw) -> tuple[Path, dict]:
    case = sample_case(tmp_path / "cases", seed=seed, **kw)
    data = json.loads((case.folder / "case.json").read_text("utf-8"))
    return case.folder, data


def _rezip(folder: Path, target: Path, extra: list[tuple[zipfile.ZipInfo | str, bytes]] = (), drop: set[str] = frozenset()) -> Path:
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(folder.rglob("*")):
            name = p.relative_to(folder).as_posix()
            if p.is_file() and name not in drop:
                zf.write(p, name)
        for info, data in extra:
            zf.writestr(info, data)
    return target


@pytest.mark.parametrize(
    ("defect", "rule"),
    [
        ("digest", "MATERIAL-DIGEST"),
        ("truncated", "MATERIAL-SIZE"),
        ("empty", "MATERIAL-EMPTY"),
        ("undeclared", "MATERIAL-UNDECLARED"),
        ("missing-metadata", "CASE-JSON-SCHEMA"),
    ],
)
def test_defective_case_folder_is_rejected_with_its_rule(tmp_path, signer, tsa, defect, rule):
    folder, data = _case_zip(tmp_path, defect=defect)
    err = _pack_rejects(folder, tmp_path / "out", signer, tsa)
    assert rule in {p.rule for p in err.problems}, str(err)
    problem = next(p for p in err.problems if p.rule == rule)
    if defect != "missing-metadata":
        assert problem.file and problem.file.startswith("materials/"), "the error names the file"
        assert problem.case == data["case"]["project_id"], "the error names the case"
    else:
        assert "transact_time" in problem.message


def test_defects_also_rejected_when_zipped(tmp_path, signer, tsa):
    folder, _ = _case_zip(tmp_path, defect="truncated")
    bundle = zip_case(folder, tmp_path / "b.zip")
    assert _pack_rejects(bundle, tmp_path / "out", signer, tsa).rule == "MATERIAL-SIZE"


@pytest.mark.parametrize("name", ["../evil.pdf", "/etc/passwd", "materials/../../x.pdf", "C:/x.pdf", "a/./b.pdf", "materials\\..\\x.pdf"])
def test_unsafe_member_paths(tmp_path, signer, tsa, name):
    folder, _ = _case_zip(tmp_path)
    bundle = _rezip(folder, tmp_path / "b.zip", extra=[(name, b"%PDF-1.4\n")])
    err = _pack_rejects(bundle, tmp_path / "out", signer, tsa)
    assert err.rule == "BUNDLE-PATH"
    assert not (tmp_path / "evil.pdf").exists() and not (tmp_path / "x.pdf").exists()


def test_zip_bomb_by_ratio(tmp_path, signer, tsa):
    folder, _ = _case_zip(tmp_path)
    bundle = _rezip(folder, tmp_path / "b.zip", extra=[("materials/bomb.xml", b"\0" * (64 * 1024 * 1024))])
    assert _pack_rejects(bundle, tmp_path / "out", signer, tsa).rule == "BUNDLE-BOMB"


def test_zip_bomb_by_overlapping_entries(tmp_path, signer, tsa):
    """Fifield-style: two central-directory entries pointing at the same data."""
    folder, _ = _case_zip(tmp_path)
    bundle = _rezip(folder, tmp_path / "b.zip")
    data = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as zf:
        infos = zf.infolist()
    # point the second central-directory record at the first member's local header
    cd = data.find(b"PK\x01\x02")
    second = data.find(b"PK\x01\x02", cd + 4)
    data[second + 42:second + 46] = infos[0].header_offset.to_bytes(4, "little")
    bundle.write_bytes(bytes(data))
    err = _pack_rejects(bundle, tmp_path / "out", signer, tsa)
    assert err.rule in {"BUNDLE-BOMB", "BUNDLE-NOT-ZIP"}


def test_member_inflating_past_declared_size_is_stopped(tmp_path, signer, tsa):
    folder, data = _case_zip(tmp_path)
    bundle = _rezip(folder, tmp_path / "b.zip")
    raw = bytearray(bundle.read_bytes())
    target = data["materials"][4]["file_name"].encode()  # the deflated licence XML
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo(target.decode())
    # lie in both headers: claim 10 bytes uncompressed
    lh = info.header_offset
    raw[lh + 22:lh + 26] = (10).to_bytes(4, "little")
    idx = 0
    while (idx := raw.find(b"PK\x01\x02", idx)) != -1:
        name_len = int.from_bytes(raw[idx + 28:idx + 30], "little")
        if raw[idx + 46:idx + 46 + name_len] == target:
            raw[idx + 24:idx + 28] = (10).to_bytes(4, "little")
        idx += 4
    bundle.write_bytes(bytes(raw))
    err = _pack_rejects(bundle, tmp_path / "out", signer, tsa)
    assert err.rule in {"BUNDLE-BOMB", "MATERIAL-SIZE"}, str(err)


def set_encrypted_flag(zip_path: Path, name: str) -> None:
    """Mark one member encrypted in both headers (zipfile cannot write encrypted members)."""
    raw = bytearray(zip_path.read_bytes())
    with zipfile.ZipFile(zip_path) as zf:
        lh = zf.getinfo(name).header_offset
    raw[lh + 6] |= 0x1
    idx = 0
    while (idx := raw.find(b"PK\x01\x02", idx)) != -1:
        n = int.from_bytes(raw[idx + 28:idx + 30], "little")
        if raw[idx + 46:idx + 46 + n] == name.encode():
            raw[idx + 8] |= 0x1
        idx += 4
    zip_path.write_bytes(bytes(raw))


def test_encrypted_member(tmp_path, signer, tsa):
    folder, _ = _case_zip(tmp_path)
    bundle = _rezip(folder, tmp_path / "b.zip", extra=[("materials/secret.pdf", b"\x00" * 64)])
    set_encrypted_flag(bundle, "materials/secret.pdf")
    assert _pack_rejects(bundle, tmp_path / "out", signer, tsa).rule == "BUNDLE-ENCRYPTED"


@pytest.mark.parametrize(
    "twin",
    [
        lambda n: n.upper(),  # case folding
        lambda n: unicodedata.normalize("NFD", n),  # same name, decomposed
    ],
)
def test_duplicate_names_after_nfc_and_casefold(tmp_path, signer, tsa, twin):
    folder, data = _case_zip(tmp_path)
    # a name with a letter that decomposes and that has case
    src = folder / data["materials"][0]["file_name"]
    renamed = src.with_name("Émission-申请表.pdf")
    src.rename(renamed)
    data["materials"][0]["file_name"] = "materials/Émission-申请表.pdf"
    (folder / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    dup_name = "materials/" + twin("Émission-申请表.pdf")
    assert dup_name != "materials/Émission-申请表.pdf"
    bundle = _rezip(folder, tmp_path / "b.zip", extra=[(dup_name, renamed.read_bytes())])
    assert _pack_rejects(bundle, tmp_path / "out", signer, tsa).rule == "BUNDLE-DUPLICATE"


def test_undecodable_member_name(tmp_path, signer, tsa):
    from earchive_devtools.sample import _LegacyNameInfo

    folder, _ = _case_zip(tmp_path)
    info = _LegacyNameInfo(b"materials/\xff\xfe\xfd.pdf".decode("cp437"))
    bundle = _rezip(folder, tmp_path / "b.zip", extra=[(info, b"x")])
    assert _pack_rejects(bundle, tmp_path / "out", signer, tsa).rule == "BUNDLE-NAME-ENCODING"


def test_missing_case_json_and_bad_json(tmp_path, signer, tsa):
    folder, _ = _case_zip(tmp_path)
    assert _pack_rejects(_rezip(folder, tmp_path / "a.zip", drop={"case.json"}), tmp_path / "out", signer, tsa).rule == "CASE-JSON-MISSING"
    (folder / "case.json").write_bytes(b"{not json")
    assert _pack_rejects(folder, tmp_path / "out", signer, tsa).rule == "CASE-JSON-SYNTAX"


def test_not_a_zip_and_missing_path(tmp_path, signer, tsa):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not a zip at all")
    assert _pack_rejects(junk, tmp_path / "out", signer, tsa).rule == "BUNDLE-NOT-ZIP"
    with pytest.raises(EarchiveError) as exc:
        pack(tmp_path / "nope", tmp_path / "out", signer=signer, tsa=tsa)
    assert exc.value.rule == "BUNDLE-NOT-FOUND"


def test_process_record_without_banjie_is_rejected(tmp_path, signer, tsa):
    folder, data = _case_zip(tmp_path)
    data["process"] = [p for p in data["process"] if p["step"] != "办结"]
    (folder / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    err = _pack_rejects(folder, tmp_path / "out", signer, tsa)
    assert err.rule == "PROCESS-INCOMPLETE" and "办结" in str(err)


def test_sequence_gap_is_rejected(tmp_path, signer, tsa):
    folder, data = _case_zip(tmp_path)
    data["materials"][-1]["seq"] = 99
    (folder / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    assert _pack_rejects(folder, tmp_path / "out", signer, tsa).rule == "MATERIAL-SEQUENCE"


def test_mac_litter_is_ignored_not_archived(tmp_path, signer, tsa):
    folder, _ = _case_zip(tmp_path)
    bundle = _rezip(folder, tmp_path / "b.zip", extra=[("__MACOSX/materials/._x.pdf", b"junk"), ("materials/.DS_Store", b"junk")])
    result = pack(bundle, tmp_path / "out", signer=signer, tsa=tsa)
    assert not any("DS_Store" in f["member"] or "MACOSX" in f["member"] for f in result.files)


def test_zip_of_the_case_folder_itself_is_accepted(tmp_path, signer, tsa):
    folder, _ = _case_zip(tmp_path)
    bundle = tmp_path / "wrapped.zip"
    with zipfile.ZipFile(bundle, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, f"{folder.name}/{p.relative_to(folder).as_posix()}")
    assert pack(bundle, tmp_path / "out", signer=signer, tsa=tsa).path.exists()


def test_folder_with_gbk_file_names_on_disk(tmp_path, signer, tsa):
    """An old unzip leaves GBK bytes as file names; the folder bundle still finds the declared materials."""
    import os

    folder, data = _case_zip(tmp_path, seed=23)
    first = data["materials"][0]
    src = folder / first["file_name"]
    gbk_name = "申请表（扫描件）.pdf"
    os.rename(os.fsencode(src), os.fsencode(src.parent) + b"/" + gbk_name.encode("gbk"))
    first["file_name"] = f"materials/{gbk_name}"
    (folder / "case.json").write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    assert not (src.parent / gbk_name).exists(), "on disk the name is GBK bytes, not UTF-8"
    result = pack(folder, tmp_path / "out", signer=signer, tsa=tsa)
    assert result.files[0]["member"] == f"申报文件/001-{gbk_name}"


def test_member_damaged_in_transit_fails_its_crc(tmp_path, signer, tsa):
    folder, data = _case_zip(tmp_path, seed=24)
    bundle = _rezip(folder, tmp_path / "b.zip")
    target = data["materials"][0]["file_name"]  # a deflated member: one flipped byte breaks its CRC or its stream
    raw = bytearray(bundle.read_bytes())
    with zipfile.ZipFile(bundle) as zf:
        info = zf.getinfo(target)
    start = info.header_offset + 30 + len(info.orig_filename.encode()) + len(info.extra)
    raw[start + info.compress_size // 2] ^= 0x55
    bundle.write_bytes(bytes(raw))
    err = _pack_rejects(bundle, tmp_path / "out", signer, tsa)
    assert err.rule == "MATERIAL-CORRUPT" and err.problems[0].file == target
