"""The institution's reply to a transfer batch (接收 / 退回), in the spirit of Vitam's transfer reply.

The receiving institution writes it on its own machine after its own 接收检测 and signs it with its
own key; the window verifies it before anything changes. Pure: building the document and saying
why a reply cannot be taken (empty: it can). The CMS signature is checked by the caller, which
passes what it found (the signer's certificate) in.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from cryptography import x509

from ..crypto.identity import fingerprint
from ..errors import UsageError
from . import strict_json
from .institution import may_sign
from .transfer import REASON_CHARS, canonical

VERSION = "1"
MAX_BYTES = 2 * 1024**2  # a reply of 10,000 packages with reasons is well under this
OUTCOMES = ("ACCEPTED", "RETURNED")
INSTITUTION_REASON_CHARS = REASON_CHARS  # what the institution's side asks of a return's reason (review page and CLI; TDR, Enduro)


def failed_reason(check: dict[str, Any]) -> str:
    """The reason a package that failed the institution's check is returned with, naming its failed tests."""
    return "接收检测不合格：" + "、".join(check.get("failed") or ["未检测"])


def build(listing: dict[str, Any], list_sha256: str, *, receiver: str, checks: dict[str, dict[str, Any]],
          returns: dict[str, str], reply_id: str | None = None, at: dt.datetime | None = None) -> dict[str, Any]:
    """The reply to ``listing``: every package accepted unless returned, and a package that failed the check is returned.

    ``checks`` maps 电子文件号 → {"passed", "failed": [test ids], "checked_at"} from the institution's own check.
    """
    at = at or dt.datetime.now(dt.UTC)
    packages = []
    for p in listing["packages"]:
        code = p["record_code"]
        check = checks.get(code) or {}
        reason = returns.get(code)
        if reason is None and not check.get("passed"):
            reason = failed_reason(check)
        packages.append({"package_id": code, "outcome": "RETURNED" if reason is not None else "ACCEPTED",
                         **({"reason": reason} if reason is not None else {}), "failed_tests": list(check.get("failed") or []),
                         "manual_tests": list(check.get("manual") or []), "checked_at": check.get("checked_at")})
    return {"version": VERSION, "reply_id": reply_id or str(uuid.uuid4()), "batch_id": listing["batch_id"],
            "institution": listing["institution"], "list_sha256": list_sha256, "receiver": receiver,
            "decided_at": at.isoformat(timespec="seconds"), "packages": packages}


def draft(listing: dict[str, Any], list_sha256: str, *, receiver: str, checks: dict[str, dict[str, Any]],
          returns: dict[str, str]) -> dict[str, Any]:
    """The reply the institution is about to sign, or :class:`UsageError` saying why it cannot be (the CLI, the review
    page and the console's receiver page all pass through here, so the window cannot tell which was used)."""
    from .transfer import refused

    problems = refused([{"package_id": p["record_code"]} for p in listing["packages"]], returns, receiver)  # one minimum, both sides
    if problems:
        raise UsageError(f"reply to batch {listing['batch_id']} refused: {'; '.join(problems)}")
    return build(listing, list_sha256, receiver=receiver, checks=checks, returns=returns)


def check_of(report: dict[str, Any]) -> dict[str, Any]:
    """One package's 接收检测 as a reply's ``checks`` carries it, from a check report (``CheckReport.as_dict()`` or its JSON)."""
    results = report.get("results") or []
    return {"passed": bool(report.get("passed")), "failed": [r["id"] for r in results if r.get("status") == "fail"],
            "manual": [r["id"] for r in results if r.get("status") == "manual"], "checked_at": report.get("checked_at"),
            "results": [{"id": r["id"], "property": r.get("property"), "status": r.get("status"), "checked_at": r.get("checked_at")}
                        for r in results]}


def approval_note(document: dict[str, Any]) -> str:
    """The text of the institution's signature stamp: the decision's counts. The 接收检测 itself is in the 登记表's 接收单位
    column, which the institution fills as it signs (domain.final), in the words of :mod:`earchive.domain.wording`."""
    back = sum(1 for p in document["packages"] if p["outcome"] == "RETURNED")
    return f"接收 {len(document['packages']) - back} 件，退回 {back} 件"


def key(institution: str, batch_id: str, reply_id: str) -> str:
    """Where a reply goes in the transfer bucket: the institution's own prefix (its access point may write only there)."""
    return f"institutions/{institution}/replies/{batch_id}/{reply_id}.json"


def check_of_receipt(receipt: dict[str, Any] | None) -> dict[str, Any]:
    """A package's 接收检测 from the receipt the transfer machine's ReceiveCheck recorded (its failed tests, by property)."""
    from ..check.catalogue import PROPERTIES  # YJ-<property>-…

    if not receipt:
        return {}
    failed = [str(f["id"]) for f in receipt.get("failed") or []]
    manual = [str(t) for t in receipt.get("manual") or []]
    return {"passed": bool(receipt.get("passed")), "failed": failed, "manual": manual, "checked_at": receipt.get("checked_at"),
            "results": [{"id": t, "property": PROPERTIES.get((t.split("-") + ["", ""])[1], ""), "status": "fail"} for t in failed]}


def encode(reply: dict[str, Any]) -> bytes:
    """The exact bytes the institution signs (canonical JSON)."""
    return canonical(reply)


def problems(body: bytes, *, signer: x509.Certificate | None, signature_errors: list[str], institution: dict[str, Any] | None,
             listing: dict[str, Any], list_sha256: str, used_reply_ids: set[str], at: dt.datetime) -> list[str]:
    """Why this reply changes nothing (empty: take it). Each reason names the reply, the batch or the package."""
    try:  # one byte string, one meaning: UTF-8, unique keys, bounded, canonical (issue 21)
        reply = strict_json.loads(body, max_bytes=MAX_BYTES, what="the reply")
    except ValueError as exc:
        return [f"the reply is refused: {exc}"]
    if not isinstance(reply, dict) or not isinstance(reply.get("packages"), list):
        return ["the reply is not a reply document (no packages)"]
    shape = _shape_problems(reply)
    if shape:  # a hostile document is refused by what it is, before any rule reads a field of the wrong type
        return shape
    out = [f"signature: {e}" for e in signature_errors]
    if signer is None:
        out.append("signature: no signer certificate")
    else:
        out += [f"signer: {p}" for p in may_sign(institution, signer, at)]
    batch = listing["batch_id"]
    if reply.get("version") != VERSION:
        out.append(f"reply version {reply.get('version')!r}, expected {VERSION}")
    if reply.get("batch_id") != batch:
        out.append(f"the reply answers batch {reply.get('batch_id')}, not {batch}")
    if reply.get("institution") != listing["institution"] or (institution or {}).get("code") != listing["institution"]:
        out.append(f"batch {batch} is addressed to {listing['institution']}; the reply is from {reply.get('institution')}")
    if reply.get("list_sha256") != list_sha256:
        out.append(f"the reply answers another list of batch {batch} (an older one?), not the current one")
    if reply.get("reply_id") in used_reply_ids:
        out.append(f"reply {reply.get('reply_id')} was used already (a replay)")
    if not str(reply.get("receiver") or "").strip():
        out.append("the reply names no receiver (接收人)")
    listed = [p["record_code"] for p in listing["packages"]]
    seen: dict[str, int] = {}
    for p in reply["packages"]:
        pid = p.get("package_id") if isinstance(p, dict) else None
        seen[str(pid)] = seen.get(str(pid), 0) + 1
        if pid not in listed:
            out.append(f"{pid} is not in batch {batch}")
            continue
        if p.get("outcome") not in OUTCOMES:
            out.append(f"{pid}: outcome {p.get('outcome')!r} is neither ACCEPTED nor RETURNED")
        low, high = REASON_CHARS
        if p.get("outcome") == "RETURNED" and not low <= len(str(p.get("reason") or "").strip()) <= high:
            out.append(f"{pid}: a return needs a reason of {low}–{high} characters")
        if p.get("outcome") == "ACCEPTED" and p.get("failed_tests"):
            out.append(f"{pid}: accepted although its receiving check failed ({', '.join(map(str, p['failed_tests']))})")
    out += [f"{pid} is decided {n} times" for pid, n in seen.items() if n > 1]
    out += [f"{pid} of batch {batch} is not decided" for pid in listed if pid not in seen]
    return out


FIELDS = ("version", "reply_id", "batch_id", "institution", "list_sha256", "receiver", "decided_at", "list_pdf_sha256", "signed_pdf_sha256",
          "approval", "list_pdf_sm3", "signer", "signer_certificate_sha256")
SM2_REPLY = "sm2-reply"  # the approval of an SM2-only institution: its SM2-signed reply binds the printed list's digests (ADR 0012)


def _shape_problems(reply: dict[str, Any]) -> list[str]:
    """Fields of the wrong type: text where text belongs, a list of package objects, failed tests a list of text."""
    out = [f"field {f!r} is not text" for f in FIELDS if f in reply and not isinstance(reply[f], str)]
    if isinstance(reply.get("decided_at"), str):  # printed as the 接收日期 (Beijing): a time with its zone, or nothing is taken
        try:
            if dt.datetime.fromisoformat(reply["decided_at"]).tzinfo is None:
                out.append("field 'decided_at' has no time zone")
        except ValueError:
            out.append(f"field 'decided_at' is not an ISO 8601 time: {reply['decided_at'][:40]!r}")
    for n, p in enumerate(reply["packages"], 1):
        if not isinstance(p, dict):
            out.append(f"package entry {n} is not an object")
            continue
        out += [f"package entry {n}: {f!r} is not text" for f in ("package_id", "outcome", "reason", "checked_at")
                if p.get(f) is not None and not isinstance(p[f], str)]
        for key in ("failed_tests", "manual_tests"):
            tests = p.get(key, [])
            if not isinstance(tests, list) or not all(isinstance(t, str) for t in tests):
                out.append(f"package entry {n}: {key!r} is not a list of test codes")
    return out


def check(body: bytes, signature: bytes, *, institution: dict[str, Any] | None, listing: dict[str, Any], list_sha256: str,
          used_reply_ids: set[str], at: dt.datetime, certified_pdf: bytes | None = None, replied_pdf: bytes | None = None,
          tsa_anchors: list[x509.Certificate] | None = None) -> list[str]:
    """A reply as the window receives it: the detached CMS signature over its exact bytes, verified against the
    certificates registered for the institution (pinned), with its signature timestamp (CAdES-T) from a TSA chaining
    to ``tsa_anchors`` (default: the development CA), then every rule of :func:`problems`; and, when the window
    certified a printed list for the batch, the institution's approval on that very file (:func:`pdf_problems`).

    The certificate must be valid at the timestamp's genTime (the trusted time), not at the signer's own claim. A reply
    without a signature timestamp is refused: every reply earchive makes (CLI, review page, console) carries one.
    """
    from ..crypto.cades import verify_timestamped

    pinned = [x509.load_pem_x509_certificate(c["pem"].encode()) for c in (institution or {}).get("certificates", [])]
    found = verify_timestamped(signature, body, pinned, tsa_anchors if tsa_anchors is not None else _development_anchors())
    signer = found.check.signer_cert if found.check else None
    at = found.gen_time or at  # the trusted time when there is one; without it the reply is refused below anyway
    out = problems(body, signer=signer, signature_errors=found.signature_problems, institution=institution, listing=listing,
                   list_sha256=list_sha256, used_reply_ids=used_reply_ids, at=at)
    from ..crypto.signers import profile
    from ..crypto.sm2 import is_sm2_certificate

    if profile() == "guomi" and signer is not None and not is_sm2_certificate(signer):  # ADR 0020: every signature 国密
        out.append("国密配置要求接收单位以 SM2 密钥签署回执 / the 国密 profile takes SM2-signed replies only")
    hostile = any(p.startswith(("the reply is", "field ", "package entry")) for p in out)  # refused for what it is, as problems() does
    if not hostile:  # parsed strictly above
        out = found.timestamp_problems + out + _decided_in_time(body, found.gen_time)
        reply = json.loads(body)
        if reply.get("approval") is not None and certified_pdf is None:
            out.append(f"the reply approves a printed list ({reply.get('approval')}), but the archive certified none for this batch")
        elif reply.get("approval") is not None:
            out += sm2_approval_problems(reply, certified_pdf, replied_pdf, signer)
        elif certified_pdf is not None:
            usable = [c for c in pinned if not may_sign(institution, c, at)]  # registered, active, valid then: as for the reply itself
            signer_sha = fingerprint(signer) if signer is not None else None
            out += pdf_problems(reply, certified_pdf, replied_pdf, usable, tsa_anchors, signer_sha, listing=listing)
    return out


def _decided_in_time(body: bytes, gen_time: dt.datetime | None) -> list[str]:
    """The 接收日期 printed on the list is the reply's ``decided_at``: it may not be after the signature timestamp (a TSA's
    time) by more than the clock skew, nor more than 30 days before it, so what is printed is bound to the trusted time."""
    from ..crypto.cades import SKEW

    try:
        decided = dt.datetime.fromisoformat(json.loads(body)["decided_at"])
    except (ValueError, TypeError, KeyError):
        return []  # malformed: refused by problems() already
    if gen_time is None or decided.tzinfo is None:
        return []
    if decided > gen_time + SKEW or decided < gen_time - dt.timedelta(days=30):
        return [f"接收日期与签名时间戳不符 / decided_at {decided.isoformat()} is not within the signature timestamp "
                f"{gen_time.isoformat()} (at most {SKEW.seconds // 60} minutes after, 30 days before)"]
    return []


def sm2_approval(document: dict[str, Any], certified: bytes, certificate: x509.Certificate) -> dict[str, Any]:
    """The reply's fields by which an SM2-only institution approves the printed list (no PAdES: pyHanko makes no SM2 PDF
    signature): the form, the certified list's SHA-256 and SM3, and the signing certificate (its SHA-256 and subject)."""
    import hashlib

    from ..crypto.cms import digest

    return {**document, "approval": SM2_REPLY, "list_pdf_sha256": hashlib.sha256(certified).hexdigest(),
            "list_pdf_sm3": digest("sm3", certified).hex(), "signer": certificate.subject.rfc4514_string(),
            "signer_certificate_sha256": fingerprint(certificate)}


def sm2_approval_problems(reply: dict[str, Any], certified: bytes, replied: bytes | None, signer: x509.Certificate | None) -> list[str]:
    """Why the reply's ``sm2-reply`` approval does not approve the printed list the window certified (empty: it does).

    Taken only from an SM2 certificate (pinned: :func:`problems` checked it is registered and valid); a key that can make a
    PAdES signature (ECDSA, RSA) approves the PDF itself. The reply must name this very list by SHA-256 and SM3, and the
    certificate that signed it by SHA-256 and subject, and carry no signed PDF beside it (one approval, one form).
    """
    import hashlib

    from ..crypto.cms import digest
    from .institution import is_sm2

    if reply.get("approval") != SM2_REPLY:
        return [f"approval {reply.get('approval')!r} is not a form the archive takes ({SM2_REPLY}, or a PAdES approval on the PDF)"]
    if signer is None:
        return []  # refused already: no signer certificate
    if not is_sm2(signer):
        return [f"approval {SM2_REPLY}: taken only from an institution's SM2 certificate; {signer.subject.rfc4514_string()} can "
                "sign the printed list itself (PAdES)"]
    out = []
    if reply.get("list_pdf_sha256") != hashlib.sha256(certified).hexdigest() or reply.get("list_pdf_sm3") != digest("sm3", certified).hex():
        out.append("the reply answers another printed list of the batch (an older one?), not the one the archive certified (SHA-256/SM3)")
    if reply.get("signer_certificate_sha256") != fingerprint(signer) or reply.get("signer") != signer.subject.rfc4514_string():
        out.append(f"approval {SM2_REPLY}: the reply names another signer than the certificate that signed it")
    if reply.get("signed_pdf_sha256") is not None or replied is not None:
        out.append(f"approval {SM2_REPLY}: a signed printed list beside the reply as well (one approval, one form)")
    return out


def _development_anchors() -> list[x509.Certificate]:
    """The development CA: whom a signature timestamp's TSA must chain to when the caller names no anchors (as the check does)."""
    from ..crypto.pki import load_trust_anchors
    from ..crypto.signers import default_trust_path

    return load_trust_anchors(default_trust_path())


def pdf_problems(reply: dict[str, Any], certified: bytes, replied: bytes | None, pinned: list[x509.Certificate],
                 tsa_anchors: list[x509.Certificate] | None = None, signer_sha256: str | None = None,
                 listing: dict[str, Any] | None = None) -> list[str]:
    """The printed list of the reply: the one the window certified for this batch, approved by the institution's registered key."""
    import hashlib

    from ..crypto.pdf_sign import approval_problems

    if reply.get("list_pdf_sha256") != hashlib.sha256(certified).hexdigest():
        return ["the reply answers another printed list of the batch (an older one?), not the one the archive certified"]
    if replied is None:
        return ["the reply has no signed printed list beside it (<reply>.pdf)"]
    if reply.get("signed_pdf_sha256") != hashlib.sha256(replied).hexdigest():
        return ["the signed printed list beside the reply is not the one the reply names (SHA-256 differs)"]
    found = [f"printed list: {p}" for p in approval_problems(certified, replied, pinned, tsa_anchors, signer_sha256)]
    return found or (printed_answer_problems(reply, listing, certified, replied) if listing is not None else [])


def printed_answers(listing: dict[str, Any], reply: dict[str, Any], certified: bytes) -> dict[str, str] | None:
    """What the institution writes in the printed list's fields as it signs (None: a list certified without them)."""
    from ..crypto import pdf_form
    from .final import final_list
    from .transfer_form import answers

    return answers(final_list(listing, reply)) if pdf_form.read(certified) else None


def printed_answer_problems(reply: dict[str, Any], listing: dict[str, Any], certified: bytes, replied: bytes) -> list[str]:
    """Why the institution's answers on the printed list are not exactly what its reply decided (empty: they are).

    What is signed must be true: the 检测意见, 接收人, 接收日期 and 接收单位 检验 cells it filled before signing are
    compared with the same cells rendered from the list and the reply (domain.final), field by field.
    """
    from ..crypto import pdf_form
    from .final import final_list
    from .transfer_form import answers

    if not pdf_form.read(certified):  # a list certified before the institution's cells were fields: nothing to compare
        return []
    want = answers(final_list(listing, reply))
    got = pdf_form.read(replied)
    try:  # what each cell shows (its appearance), not only what it claims (/V): a viewer and a printer show the appearance
        seen = pdf_form.shown(replied)
    except Exception as exc:  # noqa: BLE001 - a malformed appearance is a verdict, not a crash
        return [f"printed list: the fields' appearances cannot be read ({type(exc).__name__}: {exc})"]
    wrong = [name for name, value in want.items() if got.get(name) != value]
    wrong += [name for name, value in want.items() if name not in wrong and not all(
        pdf_form.shows(value, text) for text in seen.get(name, ("", "")) if text or value)]
    return [f"printed list: the field {name} says {got.get(name)!r} and shows {seen.get(name, ('', ''))[0]!r}, the reply decides {want[name]!r}"
            for name in wrong[:10]] + ([f"printed list: {len(wrong)} fields differ from the reply"] if len(wrong) > 10 else [])
