"""补录 and 人工录入 (issue 11): a clerk's corrected or hand-entered case, as a bundle the pipeline takes like any other. Pure.

The console never changes an upload: a corrected case is a *new* bundle beside the original (which
stays, with its rejection report), made of the clerk's ``case.json`` and, for each material, either the
file the clerk uploaded in its place or the original file. The digest and size of every replaced or
added file are computed here from the bytes themselves (SHA-256), never taken from the browser. The
pipeline then collects, packs, seals and checks the new bundle exactly as it would the platform's.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

from .collect import CASE_JSON, _time_problems, _validator
from .organise import case_rules

CHUNK = 1024 * 1024
FIELD = re.compile(r"^([A-Za-z0-9_/]+): ")  # CASE-JSON-SCHEMA messages begin with the field's path


@dataclass(frozen=True)
class Marks:
    """What the form marks: failing fields (``case/task_type``) and failing materials (by file name), each with its reasons."""

    fields: dict[str, list[str]]
    files: dict[str, list[str]]
    other: list[str]


def marks(problems: list[dict[str, Any]]) -> Marks:
    """The rejection's problems sorted onto the form: a schema problem marks its field, a file problem its material."""
    fields: dict[str, list[str]] = {}
    files: dict[str, list[str]] = {}
    other: list[str] = []
    for p in problems:
        message, file = str(p.get("message", "")), p.get("file")
        m = FIELD.match(message)
        if file == CASE_JSON and m:
            fields.setdefault(m.group(1), []).append(f"[{p.get('rule')}] {message[m.end():]}")
        elif file and file != CASE_JSON:
            files.setdefault(str(file), []).append(f"[{p.get('rule')}] {message}")
        else:
            other.append(f"[{p.get('rule')}] {message}")
    return Marks(fields, files, other)


def problems(data: Any) -> list[dict[str, str]]:
    """Every schema and time problem of a case.json, as ``{"field": "case/task_type", "message": …}`` (the form's inline checks)."""
    if not isinstance(data, dict):
        return [{"field": "(root)", "message": "case.json must be an object"}]
    out = [{"field": "/".join(str(x) for x in e.absolute_path) or "(root)", "message": e.message}
           for e in sorted(_validator().iter_errors(data), key=lambda e: list(e.absolute_path))]
    if not out:
        out += [{"field": "case", "message": p.message} for p in _time_problems(data)]
    if not out:  # then the rules Organise applies (受理 … 办结, 申报 and 结果 materials): the pipeline would reject on them
        out += [{"field": "process" if p.rule.startswith("PROCESS") else "materials", "message": f"[{p.rule}] {p.message}"}
                for p in case_rules(data)]
    return out


@dataclass(frozen=True)
class Replacement:
    """A file the clerk uploaded for one material: where to read it and how long it is."""

    file_name: str
    size: int
    open: Callable[[], BinaryIO]


def _copy(src: BinaryIO, dst: BinaryIO, limit: int) -> tuple[int, str]:
    digest, n = hashlib.sha256(), 0
    while chunk := src.read(CHUNK):
        n += len(chunk)
        if n > limit:
            raise ValueError(f"more than the {limit} bytes declared")
        digest.update(chunk)
        dst.write(chunk)
    return n, digest.hexdigest()


def corrected_bundle(case_json: dict[str, Any], out: BinaryIO, *, replacements: dict[str, Replacement],
                     originals: dict[str, Callable[[], BinaryIO]]) -> dict[str, Any]:
    """Write the bundle (a zip) for ``case_json`` to ``out``; returns the case.json written into it.

    Each material's file comes from ``replacements`` (the clerk's upload, digested here) or else from
    ``originals`` (the first upload's files by name, their declared digest kept). A material with
    neither is a :class:`ValueError` naming it: nothing half-made is ever sent to the pipeline.
    """
    data = json.loads(json.dumps(case_json))  # a copy: the caller's dict stays as the clerk sent it
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as z:
        for m in data.get("materials", []):
            name = str(m.get("file_name", ""))
            if name in replacements:
                r = replacements[name]
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                with r.open() as src, z.open(info, "w", force_zip64=r.size > 2**31) as dst:
                    size, sha = _copy(src, dst, r.size)
                if size != r.size:
                    raise ValueError(f"{name}: {size} bytes arrived, {r.size} were declared")
                m["size"], m["digest"] = size, {"algorithm": "SHA-256", "value": sha}
            elif name in originals:
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                with originals[name]() as src, z.open(info, "w", force_zip64=True) as dst:
                    _copy(src, dst, 1 << 40)
            else:
                raise ValueError(f"材料 {m.get('seq')} {name!r}: 没有文件（请上传）/ no file for this material")
        z.writestr(CASE_JSON, json.dumps(data, ensure_ascii=False, indent=2))
    return data


def bundle_bytes(case_json: dict[str, Any], files: dict[str, bytes]) -> bytes:
    """A small bundle in memory (tests and the demo): every material from ``files``."""
    out = io.BytesIO()
    corrected_bundle(case_json, out, replacements={n: Replacement(n, len(b), (lambda b=b: io.BytesIO(b))) for n, b in files.items()},
                     originals={})
    return out.getvalue()


__all__ = ["Marks", "Replacement", "bundle_bytes", "corrected_bundle", "marks", "problems"]
