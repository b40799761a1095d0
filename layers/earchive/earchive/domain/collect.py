"""Collect (收集): read one case bundle and validate what the platform declared.

A bundle is what the provincial platform uploads for one finished case: a
zip (or, for local use, a folder) holding ``case.json`` and the material
files. Nothing is extracted to disk: members are streamed straight into the
package later, so the original upload is never touched and a hostile zip
never reaches the file system.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

import jsonschema

from ..errors import DuplicateKey, EarchiveError, Problem, reject
from .safezip import SafeZip, ZipLimits, name_key, relative_name_from_disk, safe_relative_path

CASE_JSON = "case.json"
MAX_CASE_JSON = 16 * 1024**2  # far beyond any real case.json: a larger one is refused unread
CHINA_TZ = dt.timezone(dt.timedelta(hours=8))
# Operating-system litter that zip tools add; never material, never archived.
IGNORED_NAMES = {".ds_store", "thumbs.db", "desktop.ini"}
IGNORED_DIRS = {"__macosx"}


@dataclass
class SourceFile:
    """A file in the bundle: its checked name, size, and a way to stream it."""

    name: str
    size: int
    open: Callable[[], BinaryIO]


@dataclass
class Material:
    """One declared material (电子文件) joined to its file in the bundle."""

    seq: int
    category: str
    title: str
    file_name: str
    declared_size: int
    digest_algorithm: str
    digest_value: str
    source: SourceFile
    file_code: str | None = None
    created: dt.datetime | None = None
    share_type: str | None = None

    @property
    def extension(self) -> str:
        return PurePosixPath(self.source.name).suffix.lower().lstrip(".")


@dataclass
class CaseRecord:
    """A validated case: metadata, process record and materials, ready to organise."""

    bundle: str
    data: dict
    materials: list[Material]
    ignored: list[str] = field(default_factory=list)

    @property
    def case(self) -> dict:
        return self.data["case"]

    @property
    def project_id(self) -> str:
        return self.data["case"]["project_id"]

    @property
    def process(self) -> list[dict]:
        return self.data["process"]


@lru_cache(maxsize=1)
def case_schema() -> dict:
    return json.loads(resources.files("earchive").joinpath("schemas/case.schema.json").read_text("utf-8"))


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(case_schema())


def parse_time(value: str) -> dt.datetime:
    """ISO 8601 with optional zone; a time without a zone is Beijing time (+08:00)."""
    parsed = dt.datetime.fromisoformat(value.replace(" ", "T").replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=CHINA_TZ)


MAX_JSON_DEPTH = 16  # case.json is four levels deep; anything far deeper is an attack, not a case


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object of case.json; a repeated key is refused (readers disagree on which value counts)."""
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise DuplicateKey(k)
        out[k] = v
    return out


def _depth(value: Any, level: int = 0) -> int:
    if level > MAX_JSON_DEPTH:
        return level
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _time_problems(data: dict[str, Any]) -> list[Problem]:
    """Times the schema's pattern lets through but the calendar does not (2026-02-30, 24:00:00): rejected by rule."""
    fields = [("case/receive_time", data["case"].get("receive_time")), ("case/transact_time", data["case"].get("transact_time"))]
    fields += [(f"process/{i}/time", p.get("time")) for i, p in enumerate(data.get("process") or [])]
    fields += [(f"materials/{i}/created", m.get("created")) for i, m in enumerate(data.get("materials") or [])]
    problems = []
    for where, value in fields:
        if not value:
            continue
        try:
            parse_time(value)
        except ValueError as exc:
            problems.append(Problem("CASE-JSON-SCHEMA", f"{where}: {value!r} is not a real date and time ({exc})", file=CASE_JSON))
    return problems


def _is_ignored(name: str) -> bool:
    parts = name.split("/")
    return parts[-1].casefold() in IGNORED_NAMES or any(p.casefold() in IGNORED_DIRS for p in parts[:-1])


class Bundle:
    """The files of a bundle, by checked relative name; zip or folder alike."""

    def __init__(self, path: str | os.PathLike | BinaryIO, limits: ZipLimits | None = None, label: str | None = None,
                 verify_layout: bool = True):
        self.files: dict[str, SourceFile] = {}
        self.ignored: list[str] = []
        self._zip: SafeZip | None = None
        self._verify_layout = verify_layout
        if not isinstance(path, (str, os.PathLike)):  # a seekable stream, e.g. an S3 object read by ranges
            self.path, self.label = Path(label or "bundle.zip"), label or "bundle.zip"
            self._load_zip(path, limits)
        else:
            self.path, self.label = Path(path), str(path)
            if self.path.is_dir():
                self._load_folder()
            elif self.path.is_file():
                self._load_zip(str(self.path), limits)
            else:
                raise reject("BUNDLE-NOT-FOUND", "no such file or folder", file=self.label)
        self._strip_single_top_folder()

    def _load_zip(self, source: str | BinaryIO, limits: ZipLimits | None) -> None:
        self._zip = SafeZip(source, limits or ZipLimits(), verify_layout=self._verify_layout)
        self._zip.raise_problems()
        for m in self._zip.iter_members():
            self._add(SourceFile(m.path, m.size, (lambda m=m: self._zip.open(m))))  # type: ignore[union-attr]

    def _add(self, f: SourceFile) -> None:
        if _is_ignored(f.name):
            self.ignored.append(f.name)
            return
        self.files[f.name] = f

    def _load_folder(self) -> None:
        problems: list[Problem] = []
        seen: dict[str, str] = {}
        for dirpath, dirnames, filenames in os.walk(self.path):
            for entry in dirnames + filenames:
                full = Path(dirpath) / entry
                rel = PurePosixPath(full.relative_to(self.path).as_posix())
                name = relative_name_from_disk(rel)
                if full.is_symlink():
                    problems.append(Problem("BUNDLE-PATH", "symbolic links are not allowed", file=str(rel)))
                    continue
                if name is None:
                    problems.append(Problem("BUNDLE-PATH", "unsafe or undecodable name", file=str(rel)))
                    continue
                if entry in dirnames:
                    continue
                key = name_key(name)
                if key in seen:
                    problems.append(Problem("BUNDLE-DUPLICATE", f"same name as {seen[key]!r} after NFC and case folding", file=name))
                    continue
                seen[key] = name
                self._add(SourceFile(name, full.stat().st_size, (lambda full=full: open(full, "rb"))))
        if problems:
            raise EarchiveError(problems)

    def _strip_single_top_folder(self) -> None:
        """Accept a zip of the case folder itself (``X/case.json``) as well as its contents."""
        if CASE_JSON in self.files or not self.files:
            return
        tops = {name.split("/", 1)[0] for name in self.files}
        if len(tops) == 1 and all("/" in n for n in self.files):
            top = tops.pop() + "/"
            self.files = {
                n[len(top):]: SourceFile(n[len(top):], f.size, f.open) for n, f in self.files.items()
            }

    def close(self) -> None:
        if self._zip:
            self._zip.close()


def _schema_problems(data: dict) -> list[Problem]:
    problems = []
    for err in sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(p) for p in err.absolute_path) or "(root)"
        problems.append(Problem("CASE-JSON-SCHEMA", f"{where}: {err.message}", file=CASE_JSON))
    return problems


def collect(path: str | os.PathLike | BinaryIO, limits: ZipLimits | None = None, label: str | None = None,
            verify_layout: bool = True) -> tuple[CaseRecord, Bundle]:
    """Open and validate a bundle; the caller closes the returned bundle.

    ``verify_layout=False`` skips only the byte-layout check of the zip, for a caller that reads the
    same upload version again after Collect verified it (on S3 the check costs a ranged GET per entry).
    """
    bundle = Bundle(path, limits, label, verify_layout)
    try:
        return _collect(bundle), bundle
    except BaseException:
        bundle.close()
        raise


def case_json_of(bundle: Bundle) -> dict | None:
    """The bundle's case.json as far as it can be read (the 补录 form, a rejection's hall), or None; never a verdict: :func:`collect` gives that."""
    source = bundle.files.get(CASE_JSON)
    if source is None or source.size > MAX_CASE_JSON:
        return None
    try:
        with source.open() as f:
            data = json.loads(f.read().decode("utf-8-sig"))
    except (zipfile.BadZipFile, EOFError, zlib.error, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _collect(bundle: Bundle) -> CaseRecord:
    source = bundle.files.get(CASE_JSON)
    if source is None:
        raise reject("CASE-JSON-MISSING", "the bundle has no case.json at its top level", file=bundle.label)
    if source.size > MAX_CASE_JSON:
        raise reject("CASE-JSON-SYNTAX", "case.json is larger than 16 MiB", file=CASE_JSON)
    try:
        with source.open() as f:
            raw = f.read()
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise reject("CASE-JSON-SYNTAX", f"case.json is damaged in the bundle: {exc}", file=CASE_JSON) from None
    try:
        data = json.loads(raw.decode("utf-8-sig"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise reject("CASE-JSON-SYNTAX", str(exc), file=CASE_JSON) from None
    except DuplicateKey as exc:
        raise reject("CASE-JSON-SYNTAX", f"key {exc.args[0]!r} appears twice in one object: which value counts is undefined",
                     file=CASE_JSON) from None
    except RecursionError:
        raise reject("CASE-JSON-SYNTAX", "case.json nests too deeply", file=CASE_JSON) from None
    if _depth(data) > MAX_JSON_DEPTH:
        raise reject("CASE-JSON-SYNTAX", f"case.json nests deeper than {MAX_JSON_DEPTH} levels", file=CASE_JSON)
    case_id = data.get("case", {}).get("project_id") if isinstance(data, dict) and isinstance(data.get("case"), dict) else None
    case_id = case_id if isinstance(case_id, str) else None
    problems = _schema_problems(data) if isinstance(data, dict) else [Problem("CASE-JSON-SCHEMA", "top level is not an object", file=CASE_JSON)]
    problems += _time_problems(data) if not problems else []
    if problems:
        raise EarchiveError(problems).with_case(case_id)

    by_key = {name_key(n): f for n, f in bundle.files.items() if n != CASE_JSON}
    used: set[str] = set()
    materials: list[Material] = []
    for i, m in enumerate(data["materials"]):
        declared = safe_relative_path(m["file_name"])
        if declared is None:
            problems.append(Problem("MATERIAL-NAME", f"materials/{i}/file_name is not a safe relative path", case_id, m["file_name"]))
            continue
        src = by_key.get(name_key(declared))
        if src is None:
            problems.append(Problem("MATERIAL-MISSING", "declared in case.json but not in the bundle", case_id, declared))
            continue
        if name_key(declared) in used:
            problems.append(Problem("MATERIAL-NAME", "the same file is declared twice", case_id, declared))
            continue
        used.add(name_key(declared))
        if src.size == 0 or m["size"] == 0:
            problems.append(Problem("MATERIAL-EMPTY", "zero-byte material", case_id, declared))
            continue
        if src.size != m["size"]:
            problems.append(Problem(
                "MATERIAL-SIZE", f"{src.size} bytes in the bundle, {m['size']} declared (truncated or damaged)", case_id, declared))
            continue
        materials.append(Material(
            seq=m["seq"], category=m["category"], title=m["title"], file_name=declared, declared_size=m["size"],
            digest_algorithm=m["digest"]["algorithm"], digest_value=m["digest"]["value"].lower(), source=src,
            file_code=m.get("file_code"), created=parse_time(m["created"]) if m.get("created") else None,
            share_type=m.get("share_type"),
        ))
    for key, src in by_key.items():
        if key not in used:
            problems.append(Problem("MATERIAL-UNDECLARED", "file in the bundle that case.json does not declare", case_id, src.name))
    if problems:
        raise EarchiveError(problems)
    return CaseRecord(bundle=bundle.label, data=data, materials=materials, ignored=bundle.ignored)


def scope_problems(case: dict[str, Any], region: str, fonds: str) -> list[Problem]:
    """A deployment archives the cases of its own region (and fonds, when configured)."""
    problems = []
    prefix = region.rstrip("0") if region else ""
    prefix = prefix + "0" * (len(prefix) % 2)  # 430000 → 43, 430100 → 4301, 431000 → 4310
    if prefix and not case["region_code"].startswith(prefix):
        problems.append(Problem("CASE-OUT-OF-SCOPE", f"行政区划编码 {case['region_code']} is outside this archive's region {region}",
                                case["project_id"], "case.json"))
    allowed = [f for f in fonds.split(",") if f]
    if allowed and case["fonds_identifier"] not in allowed:
        problems.append(Problem("CASE-OUT-OF-SCOPE", f"全宗号 {case['fonds_identifier']} is not kept here ({', '.join(allowed)})",
                                case["project_id"], "case.json"))
    return problems
