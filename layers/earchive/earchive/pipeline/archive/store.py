"""Store (接收入库 of the archiving stage): the sealed package into the archive bucket under COMPLIANCE Object Lock.

Input :class:`~earchive.pipeline.state.Registered`; output :class:`~earchive.pipeline.state.Stored`.
The stored copy is verified (S3's SHA-256 checksum and the size) before the
staging copies are removed; a retry finds the version already stored.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any
from urllib.parse import quote, unquote

from ...domain.outcome import outcome
from ...domain.wording import report_verdict
from ...errors import TransientError
from ..runtime import Runtime
from ..state import Registered, Stored
from .common import ACTOR, anchor_head, finish_upload

log = logging.getLogger(__name__)
EVIDENCE = ("signer", "tsa", "check_report")  # kept in the stored version's metadata, so an adopted copy keeps its own


def _evidence(item: dict[str, Any], state: Registered) -> dict[str, str]:
    """Who sealed and time-stamped this package and which check report examined it (S3 metadata is ASCII: quoted)."""
    found = {"signer": item.get("signer"), "tsa": item.get("tsa"), "check_report": (state.get("check") or {}).get("report")}
    return {k: str(v) for k, v in found.items() if v}


def archive_key(state: Registered) -> str:
    """Where a package lives in the archive bucket: by region, fonds and year."""
    c = state["case"]
    return f"packages/{c['region_code']}/{c['fonds_identifier']}/{state['year']}/{state['record_code']}.zip"


def run(state: Registered, rt: Runtime) -> Stored:
    """Copy the sealed package into the archive bucket under COMPLIANCE Object Lock, verify it, then clean up.

    Never a second locked copy (review F9): a retried Store finds the version holding these bytes,
    and a re-run after a crash finds the version an earlier attempt of the *same upload* stored
    (its bytes differ: a re-pack has a new 归档时间) and adopts it, with its own digests. Every
    attempt reads the stored version back — whole-object SHA-256 and size, the lock mode, the
    retain-until date and the legal hold — and fails loudly if anything is short (F16, P2, P10).
    """
    aws, settings = rt.aws, rt.settings
    code, key, bucket = state["record_code"], archive_key(state), settings.archive_bucket
    package = dict(state["package"])
    until = dt.datetime.fromisoformat(state["retention"]["until"])
    stream = state["stream"].removeprefix("upload#")
    unusable: list[str] = []  # locked versions whose bytes are not what their metadata says (kept by the lock, never used)
    found, measured = None, None
    # A retried Store finds these very bytes; a re-run after a crash finds what an earlier attempt of this upload locked.
    earlier = aws.s3.has_versions(bucket, key)  # the first attempt at a new record code: nothing to find, no listing
    for wanted in ({"earchive-sha256": package["sha256"]}, {"earchive-stream": stream, "earchive-record-code": code}) if earlier else ():
        candidate = aws.s3.version_with(bucket, key, wanted)
        if candidate is None or candidate[0] in unusable:
            continue
        measured = aws.s3.digests(bucket, key, candidate[0])
        if measured[1]["SHA-256"] != candidate[1].get("earchive-sha256"):
            unusable.append(candidate[0])
            continue
        found = candidate
        package.update(sha256=candidate[1]["earchive-sha256"], sm3=candidate[1]["earchive-sm3"])
        break
    item = aws.catalogue.get(code) or {}
    evidence = _evidence(item, state)
    if found is None:
        extra: dict[str, Any] = {
            "ObjectLockMode": aws.s3.lock_mode, "ObjectLockRetainUntilDate": until, "ChecksumAlgorithm": "SHA256",
            "Metadata": {"earchive-sha256": package["sha256"], "earchive-sm3": package["sm3"], "earchive-record-code": code,
                         "earchive-stream": stream, **{f"earchive-{k.replace('_', '-')}": quote(v) for k, v in evidence.items()}},
            "ContentType": "application/zip",
        }
        if state["retention"]["legal_hold"]:
            extra["ObjectLockLegalHoldStatus"] = "ON"
        version = aws.s3.copy_locked(settings.staging_bucket, state["staging"]["sealed"], bucket, key, extra)
    else:
        version = found[0]
        # what sealed and checked *these* bytes: the earlier attempt's signer, TSA and check report, not the re-pack's
        evidence = {k: unquote(found[1][f"earchive-{k.replace('_', '-')}"]) for k in EVIDENCE if f"earchive-{k.replace('_', '-')}" in found[1]}
        if not evidence:  # locked before its evidence was kept beside it: never record the re-pack's as if it were its own
            evidence = {k: "unknown: the adopted copy was stored before its seal evidence was recorded with it" for k in EVIDENCE}
    size, digests = measured if found is not None and measured else aws.s3.digests(bucket, key, version)  # every attempt reads back
    if digests["SHA-256"] != package["sha256"] or (found is None and size != package["size"]):
        raise TransientError(f"stored copy of {code} (version {version}) has SHA-256 {digests['SHA-256']} and {size} bytes, "
                             f"expected {package['sha256']} and {package['size']}")
    package["size"] = size
    aws.s3.ensure_lock(bucket, key, version, until, bool(state["retention"]["legal_hold"]))
    location = {"bucket": bucket, "key": key, "version_id": version}
    aws.filemap.locate(code, location)
    entry = aws.events.append(state["stream"], actor=ACTOR, action="store", result="ok",
                              detail={**location, "sha256": package["sha256"], "adopted": found is not None and package != state["package"],
                                      **({"unusable_versions": unusable} if unusable else {})})
    anchor_head(rt, state["stream"], entry, until)
    aws.catalogue.move(code, "ARCHIVED", allowed_from=("REGISTERED",), owner=state.get("execution", ""), archive=location,
                       archived_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), package_sha256=package["sha256"],
                       package_sm3=package["sm3"], package_size=size, event_head={"seq": entry["seq"], "hash": entry["hash"]}, **evidence)
    try:  # after ARCHIVED the upload's verdict is settled: a notice that cannot be written is logged, never a failure
        write_receipt(rt, state["upload"], {"record_code": code, "package_version": int(item.get("package_version", 1)),
                                            "sha256": package["sha256"], "sm3": package["sm3"], "size": size,
                                            "archived_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                                            "check_verdict": report_verdict(0, len((item.get("check_summary") or {}).get("manual") or [])),
                                            **_config_of(item)})
    except Exception as exc:  # noqa: BLE001
        log.warning("the 归档回执 beside %s could not be written: %s", state["upload"].get("key"), exc)
    finish_upload(rt, state, state["upload"], "ARCHIVED", code)
    rt.announce(state["stream"], [outcome("ARCHIVED", aws.catalogue.get(code) or item)])
    return {**state, "package": package, "archive": location, "status": "ARCHIVED"}  # type: ignore[typeddict-item]


def write_receipt(rt: Runtime, up: dict[str, Any], archived: dict[str, Any]) -> None:
    """``<upload>.archived.json/.html`` (归档回执) beside the upload; a notice left there for an earlier version is superseded.

    The platform reads the verdict where it uploaded (newcomer P9): a rejection of an earlier upload
    under the same key gets a new version saying it no longer applies (the old one stays a version).
    """
    import json

    from ... import zh

    receipt = {"upload": up, "status": "ARCHIVED", **archived, "archived_at_beijing": zh.beijing(archived["archived_at"])}
    bucket, key = up["bucket"], up["key"]
    rt.aws.s3.put(bucket, f"{key}.archived.json", json.dumps(receipt, ensure_ascii=False, indent=2).encode("utf-8"), "application/json")
    rt.aws.s3.put(bucket, f"{key}.archived.html", _receipt_html(receipt).encode("utf-8"), "text/html; charset=utf-8")
    for suffix in ("rejected", "failed"):
        try:  # the platform can write beside its uploads: a notice that is not ours, or not older, is left alone
            earlier = json.loads(rt.aws.s3.get_bytes(bucket, f"{key}.{suffix}.json") or b"null")
            if not isinstance(earlier, dict) or earlier.get("status") == "SUPERSEDED" or not _older(rt, earlier.get("upload"), up):
                continue
        except Exception as exc:  # noqa: BLE001 - the receipt is courtesy; the package is archived whatever happens here
            log.warning("notice %s.%s.json left as it is: %s", key, suffix, exc)
            continue
        same = (earlier.get("upload") or {}).get("version") == up.get("version")
        note = {"status": "SUPERSEDED", "superseded_by": receipt, "was": earlier.get("status"),
                "note": (f"此通知针对{'本次上传此前的一次处理' if same else '同名文件此前的一次上传'}；版本 {up.get('version')} 已于 "
                         f"{receipt['archived_at_beijing']}（北京时间）归档为 {archived['record_code']}，见 {key}.archived.html")}
        rt.aws.s3.put(bucket, f"{key}.{suffix}.json", json.dumps(note, ensure_ascii=False, indent=2).encode("utf-8"), "application/json")
        rt.aws.s3.put(bucket, f"{key}.{suffix}.html", _superseded_html(note).encode("utf-8"), "text/html; charset=utf-8")


def _older(rt: Runtime, notice_upload: Any, up: dict[str, Any]) -> bool:
    """Is the notice about this upload version, or about one uploaded before it under the same key?"""
    if not isinstance(notice_upload, dict) or notice_upload.get("key") != up["key"] or notice_upload.get("bucket") != up["bucket"]:
        return False
    if notice_upload.get("version") == up.get("version"):
        return True
    order = rt.aws.s3.versions_newest_first(up["bucket"], up["key"])  # S3's own order: two uploads in one second still differ
    theirs, ours = notice_upload.get("version"), up.get("version")
    return theirs in order and ours in order and order.index(theirs) > order.index(ours)


_CSS = ('body{font-family:"Noto Sans CJK SC","Source Han Sans SC","Microsoft YaHei",sans-serif;margin:2em;color:#222}'
        ".ok{border:2px solid #166534;padding:.6em .8em}td{padding:.15em .8em .15em 0}")


def _config_of(item: dict[str, Any]) -> dict[str, Any]:
    """What the 归档配置 (ADR 0017) said of the case, for the receipt: the versions checked against and its notes."""
    checked = item.get("config")
    if not checked:
        return {}
    versions = {k: int(checked[k]) for k in ("deployment_version", "task_version") if checked.get(k) is not None}  # DynamoDB's Decimals
    return {"retention_period": item.get("retention_period"), "config": {**checked, **versions},
            "notes": [n.get("message", "") for n in checked.get("notes") or []]}


def _receipt_html(r: dict[str, Any]) -> str:
    from html import escape as e

    rows = [("上传文件", r["upload"].get("key")), ("上传版本", r["upload"].get("version") or "—"), ("电子文件号", r["record_code"]),
            ("信息包版本", r.get("package_version") or 1), ("归档时间", f"{r['archived_at_beijing']}（北京时间）"),
            ("四性检测", r.get("check_verdict") or "检测合格"), ("SM3", r["sm3"]), ("SHA-256", r["sha256"]), ("字节数", r["size"])]
    rows += [("备注（归档配置）", note) for note in r.get("notes") or []]
    table = "".join(f"<tr><td>{e(k)}：</td><td>{e(str(v))}</td></tr>" for k, v in rows)
    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>归档回执 — {e(str(r["record_code"]))}</title>'
            f'<style>{_CSS}</style></head><body><h1>办件归档回执</h1><p class="ok"><b>已归档</b>：本办件已形成归档信息包，'
            f"经四性检测（{e(r.get('check_verdict') or '检测合格')}），按保管期限锁定保存。无需任何操作。</p><table>{table}</table></body></html>")


def _superseded_html(note: dict[str, Any]) -> str:
    from html import escape as e

    return (f'<!DOCTYPE html><html lang="zh-CN"><head><meta charset="utf-8"><title>通知已失效</title><style>{_CSS}</style></head>'
            f'<body><h1>此通知已失效</h1><p class="ok">{e(note["note"])}</p></body></html>')
