"""The receiver's page in the browser (issue 11): the batch as sent, its 接收检测, and the same signed reply as `earchive receive reply`.

The institution's key never reaches this server. The receiver's browser imports the institution's key file
(PKCS#8 P-256: what `earchive receive init` makes, or what its CA issued) with WebCrypto, non-extractable,
and signs what the server prepares; each value is verified against the certificate before it is used:

1. :meth:`Receiving.begin` drafts the reply (:func:`earchive.domain.reply.draft`, the CLI's own rules) from the
   list the institution was sent and the 接收检测 the transfer machine ran on its copies. The certificate must be
   one registered for the institution and valid now. With a certified printed list, the approval signature is
   laid out (:func:`earchive.crypto.pdf_sign.prepare`) and its signed attributes go to the browser.
2. :meth:`Receiving.sign` takes that value, finishes the PDF with the stack's TSA and a document timestamp,
   names both PDFs' SHA-256 in the reply, and sends the reply's own CMS signed attributes to be signed; then
   assembles the CMS, adds its signature timestamp (the stack's TSA: no key needed), and writes the PDF, the
   signature and the JSON (last) where `earchive receive` writes them.
   The reply machine verifies them as any reply: it cannot tell, and need not know, which way a reply came.

A session lives in the staging bucket under the user's key (its lifecycle expires it): a retry after a lost
answer gets the same result, and nobody else can continue someone's session.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import uuid
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..crypto import cms
from ..crypto.identity import fingerprint
from ..domain import reply as replies
from ..domain.decided import DECISION_ZH, OUTCOME_ZH, outcome_text
from ..domain.decided import refusal as decided_refusal
from ..domain.institution import may_sign
from ..domain.transfer import DECIDED, FINAL_PACKAGE_STATES
from ..domain.wording import receipt_word
from ..errors import ConflictError, TransferError, UsageError

SESSIONS = "console-replies/"  # in the staging bucket, beside the other console work in progress
SESSION_SECONDS = 1800
ALGORITHM = "sha256_ecdsa"  # WebCrypto's ECDSA P-256 with SHA-256 (SM2 is not in WebCrypto: such keys use `earchive receive`)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, what: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError:
        raise UsageError(f"{what}: 不是 base64 / not base64") from None


def certificate_of(pem: Any) -> x509.Certificate:
    """The receiver's certificate as the browser sent it: one PEM certificate of an ECDSA P-256 key."""
    try:
        cert = x509.load_pem_x509_certificate(str(pem or "").encode("ascii", "replace"))
    except ValueError:
        raise UsageError("certificate: 请选择本单位回执签名证书（PEM，earchive receive init 生成或 CA 签发）/ not a PEM certificate") from None
    from ..crypto.signers import profile
    from ..crypto.sm2 import is_sm2_certificate

    if profile() == "guomi":  # WebCrypto has no SM2, and a 国密 stack takes SM2-signed replies only
        raise UsageError("certificate: 本系统为国密配置，回执须以 SM2 密钥签署，浏览器无法签署；请用本单位电脑上的 earchive receive review / "
                         "a 国密 stack takes SM2-signed replies, which a browser cannot make: use `earchive receive`")
    key = None if is_sm2_certificate(cert) else cert.public_key()
    if not (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"):
        raise UsageError("certificate: 浏览器签署只支持 ECDSA P-256 密钥；SM2 或 RSA 密钥请用本单位电脑上的 earchive receive / "
                         "the browser signs with ECDSA P-256 keys only")
    return cert


class Receiving:
    """The receiver's side of one stack's console: views, and two-step signed replies."""

    def __init__(self, aws: Any, settings: Any):
        self.aws, self.settings = aws, settings

    # -- what the institution was sent
    def _base(self, batch: dict[str, Any]) -> str:
        return f"institutions/{batch['institution']}/batches/{batch['batch_id']}/"

    def _listing(self, batch: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        body = self.aws.s3.get_bytes(self.settings.transfer_bucket, self._base(batch) + "transfer-list.json")
        if body is None:
            raise UsageError(f"批次 {batch['batch_id']} 尚未送达（状态 {batch.get('status')}）/ the batch has not been sent yet")
        return body, json.loads(body)

    def _checks(self, batch_id: str) -> dict[str, dict[str, Any]]:
        """Each package's 接收检测 as the transfer machine recorded it (one query; the reports stay in the bucket)."""
        return {p["record_code"]: replies.check_of_receipt(p.get("receipt")) for p in self.aws.transfers.packages(batch_id)}

    def view(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The batch page of a receiver: the list as signed, each package's check results, whether a reply is awaited."""
        listing_bytes, listing = self._listing(batch)
        rows = {p["record_code"]: p for p in self.aws.transfers.packages(batch["batch_id"])}
        decided = batch.get("status") in DECIDED
        packages = []
        for p in listing["packages"]:
            row = rows.get(p["record_code"]) or {}
            receipt = row.get("receipt") or {}
            state = row.get("state") if decided and row.get("state") in FINAL_PACKAGE_STATES else None
            packages.append({"record_code": p["record_code"], "project_id": p.get("project_id"), "task_name": p.get("task_name"),
                             "version": p.get("version"), "size": p.get("size"), "sm3": p["digest"]["value"],
                             "checked": bool(receipt), "passed": receipt.get("passed"), "checked_at": receipt.get("checked_at"),
                             "verdict_zh": receipt_word(receipt),
                             "failed": receipt.get("failed") or [],
                             **({"decision": state, "decision_zh": DECISION_ZH[state], "reason": row.get("return_reason") or ""} if state else {})})
        # the certified printed list's SHA-256, shown: the page approves only a PDF that begins with exactly this one (issue 21)
        printed = self.aws.s3.get_bytes(self.settings.transfer_bucket, self._base(batch) + "transfer-list.pdf")
        keep = ("batch_id", "status", "institution", "institution_name", "transferor", "reviewer", "created_at", "submitted_at",
                "package_count", "resubmits", "decided_at", "receiver")
        return {"batch": {k: batch[k] for k in keep if k in batch}, "waiting": self.waiting(batch),
                "rows": self._rows(batch, listing),
                "list_sha256": hashlib.sha256(listing_bytes).hexdigest(), "printed_list": printed is not None, "packages": packages,
                "printed_list_sha256": hashlib.sha256(printed).hexdigest() if printed is not None else None,
                "reason_chars": list(replies.INSTITUTION_REASON_CHARS), "decision": self._decision(batch) if decided else None,
                "refused_replies": self.refused_replies(batch)}

    def _rows(self, batch: dict[str, Any], listing: dict[str, Any]) -> list[dict[str, Any]]:
        """Table A.1 as the two signed documents state it (domain.final): the list, and once decided the receipt's answers."""
        from ..domain.final import final_list

        body = self.aws.s3.get_bytes(self.settings.transfer_bucket, self._base(batch) + "receipt.json")
        return final_list(listing, json.loads(body) if body else None)["rows"]

    def _decision(self, batch: dict[str, Any]) -> dict[str, Any]:
        """The batch's outcome as the window recorded it (withdrawn packages included), and whether both parties signed the list."""
        counts = {k: int(batch.get(f"{k}_count") or 0) for k in ("accepted", "returned", "withdrawn")}
        decision = {"status": batch["status"], **counts, "receiver": batch.get("receiver"), "decided_at": batch.get("decided_at")}
        signed = self.aws.s3.size(self.settings.transfer_bucket, self._base(batch) + "transfer-list.signed.pdf") is not None
        return {**decision, "status_zh": OUTCOME_ZH.get(batch["status"], batch["status"]), "outcome": outcome_text(decision),
                "both_signed": signed}

    def refused_replies(self, batch: dict[str, Any]) -> list[dict[str, Any]]:
        """Every reply to this batch the window refused, with its reason (a Chinese lead, the reasons as given), oldest first."""
        prefix = f"institutions/{batch['institution']}/replies/{batch['batch_id']}/"
        notes = [self.aws.s3.get_bytes(self.settings.transfer_bucket, k) for k in self.aws.s3.keys(self.settings.transfer_bucket, prefix)
                 if k.endswith(".refused.json")]
        return sorted((decided_refusal(json.loads(n)) for n in notes if n), key=lambda r: str(r.get("refused_at") or ""))

    @staticmethod
    def waiting(batch: dict[str, Any]) -> bool:
        return batch.get("status") == "RECEIVING" and bool(batch.get("task_token"))

    def file_url(self, batch: dict[str, Any], record_code: str, kind: str) -> str | None:
        """A short-lived link to a package as sent (``package``) or its 接收检测 report (``report``)."""
        if kind not in ("package", "report"):
            raise UsageError("kind: package 或 report")
        try:  # one read of the package's row, not the whole batch (a batch may hold 10,000)
            row = self.aws.transfers.package(batch["batch_id"], record_code)
        except TransferError:
            return None
        if kind == "package":
            key = (row.get("transfer_copy") or {}).get("key")
            return self.aws.s3.presign_get(self.settings.transfer_bucket, key, filename=f"{record_code}.zip", inline=False) if key else None
        key = (row.get("receipt") or {}).get("report")
        return self.aws.s3.presign_get(self.settings.transfer_bucket, key.replace(".json", ".html"),
                                       content_type="text/html; charset=utf-8") if key else None

    # -- the reply, in two signatures
    def begin(self, user: str, batch: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        """Draft the reply and return the first thing to sign (the PDF approval's attributes, or the reply's own)."""
        if not self.waiting(batch):
            raise UsageError(f"批次 {batch['batch_id']} 状态为 {batch.get('status')}，现在不等待接收单位的决定 / the batch awaits no decision")
        cert = certificate_of(body.get("certificate"))
        institution = self.aws.institutions.get(batch["institution"])
        refused = may_sign(institution, cert, dt.datetime.now(dt.UTC))
        if refused:
            raise UsageError("certificate: " + "; ".join(refused) + "（请用在本系统登记过的回执签名证书）")
        returns = body.get("returns") or {}
        if not isinstance(returns, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in returns.items()):
            raise UsageError("returns: 应为 {电子文件号: 退回原因} / returns must map record codes to reasons")
        listing_bytes, listing = self._listing(batch)
        checks = self._checks(batch["batch_id"])
        unchecked = [p["record_code"] for p in listing["packages"] if not checks.get(p["record_code"])]
        if unchecked:  # a copy the window never made or checked is the window's to fix, not a return to the clerk
            raise UsageError(f"批次 {batch['batch_id']}：{'、'.join(unchecked[:5])} 尚未完成接收检测，请稍后或联系移交单位 / not checked yet")
        standing = self.aws.transfers.browser_reply(batch["batch_id"])
        if standing and not self._refused(batch, standing["reply_id"]):
            raise UsageError(f"批次 {batch['batch_id']} 已在浏览器中签署并发送回执 {standing['reply_id']}（{standing.get('sent_at')}）；"
                             "移交单位核验后生效 / a reply was sent already")
        document = replies.draft(listing, hashlib.sha256(listing_bytes).hexdigest(), receiver=str(body.get("receiver") or "")[:100],
                                 checks=checks, returns=returns)
        session: dict[str, Any] = {"id": uuid.uuid4().hex, "batch_id": batch["batch_id"], "institution": batch["institution"],
                                   "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                                   "certificate": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"), "document": document,
                                   "replacing": standing["reply_id"] if standing else None}
        certified = self.aws.s3.get_bytes(self.settings.transfer_bucket, self._base(batch) + "transfer-list.pdf")
        if certified is not None:
            from ..crypto.pdf_sign import prepare

            pending = prepare(certified, cert, [], ALGORITHM, note=replies.approval_note(document), system=True,
                              values=replies.printed_answers(listing, document, certified))
            session.update(step="pdf", to_sign=pending.to_sign.hex(), pending=pending.state, list_pdf_sha256=hashlib.sha256(certified).hexdigest())
        else:
            self._reply_step(session, cert)
        self._save(user, session)
        return self._answer(session)

    def sign(self, user: str, batch: dict[str, Any], session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Take one signature value (WebCrypto's r‖s); answer the next thing to sign, or the reply as sent."""
        session = self._load(user, session_id)
        if session["batch_id"] != batch["batch_id"]:
            raise UsageError("session: 属于另一个批次 / the session is of another batch")
        if session["step"] == "sent" or (body.get("step_token") and body.get("step_token") == session.get("prev_token")):
            return self._answer(session)  # a retry after a lost answer: the same answer, nothing signed or sent twice
        if not self.waiting(batch):
            raise UsageError(f"批次 {batch['batch_id']} 状态为 {batch.get('status')}，不再等待接收单位的决定 / the batch awaits no decision now")
        if session.get("step_token") != body.get("step_token"):
            raise ConflictError(f"session {session_id}: 已在另一窗口中继续（步骤 {session['step']}）/ continued elsewhere")
        cert = x509.load_pem_x509_certificate(session["certificate"].encode("ascii"))
        to_sign = bytes.fromhex(session["to_sign"])
        try:
            value = cms.ecdsa_der(_unb64(body.get("signature"), "signature"))
        except ValueError as exc:
            raise UsageError(f"signature: {exc}") from None
        wrong = cms.value_problem(cert, ALGORITHM, value, to_sign, "sha256")
        if wrong:
            raise UsageError(f"签名未通过核验：所选密钥与证书不匹配？/ the signature does not verify with the certificate ({wrong})")
        if session["step"] == "pdf":
            self._finish_pdf(user, session, value)
            self._reply_step(session, cert)
        else:
            self._send(user, session, cert, value)
        self._save(user, session)
        return self._answer(session)

    def _finish_pdf(self, user: str, session: dict[str, Any], value: bytes) -> None:
        from ..crypto.pdf_sign import Pending, finish
        from ..crypto.signers import make_tsa

        signed = finish(Pending(bytes.fromhex(session["to_sign"]), session.pop("pending")), value, make_tsa(self.settings.tsa))
        key = self._key(user, session["id"], ".pdf")
        self.aws.s3.put(self.settings.staging_bucket, key, signed, "application/pdf")
        session["signed_pdf"] = key
        session["document"].update(list_pdf_sha256=session.pop("list_pdf_sha256"), signed_pdf_sha256=hashlib.sha256(signed).hexdigest())

    def _reply_step(self, session: dict[str, Any], cert: x509.Certificate) -> None:
        attrs = cms.signed_attributes(cert, "sha256", replies.encode(session["document"]))
        session.update(step="reply", to_sign=attrs.hex())

    def _send(self, user: str, session: dict[str, Any], cert: x509.Certificate, value: bytes) -> None:
        """The reply as `earchive receive send` leaves it: the signed PDF and the signature first, the JSON last.

        The signature timestamp (CAdES-T, required by the window) is added here, from the stack's TSA: it needs no key, only
        the signature value the browser made. The token proves the signature existed at its time; it does not speak for the
        institution (its unsigned attribute is outside what the institution's key signed, and changes nothing it signed).
        """
        from ..crypto.cades import add_signature_timestamp
        from ..crypto.signers import make_tsa

        document, bucket = session["document"], self.settings.transfer_bucket
        body = replies.encode(document)
        signature = cms.assemble(cert, [], "sha256", ALGORITHM, bytes.fromhex(session["to_sign"]), value, content=body).dump()
        signature = add_signature_timestamp(signature, make_tsa(self.settings.tsa))  # before the claim: a TSA outage claims nothing
        key = replies.key(session["institution"], session["batch_id"], document["reply_id"])
        self.aws.transfers.claim_browser_reply(session["batch_id"], document["reply_id"], user, replacing=session.get("replacing"))
        if session.get("signed_pdf"):
            pdf = self.aws.s3.get_bytes(self.settings.staging_bucket, session["signed_pdf"])
            if pdf is None or hashlib.sha256(pdf).hexdigest() != document["signed_pdf_sha256"]:
                raise UsageError(f"session {session['id']}: 已签章的登记表不见了或被改动，请重新开始 / the signed PDF is gone; start again")
            self.aws.s3.put(bucket, key[:-5] + ".pdf", pdf, "application/pdf")
        self.aws.s3.put(bucket, key + ".p7s", signature, "application/pkcs7-signature")
        self.aws.s3.put(bucket, key, body, "application/json")
        back = [p["package_id"] for p in document["packages"] if p["outcome"] == "RETURNED"]
        self.aws.events.append(f"user#{user}", actor=user, action="reply-send", result="sent",
                               detail={"batch_id": session["batch_id"], "reply_id": document["reply_id"], "returned": back})
        session.update(step="sent", key=key, sent_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))

    def _refused(self, batch: dict[str, Any], reply_id: str) -> bool:
        """Whether the reply machine refused this reply (its ``.refused.json`` beside it): then another may be signed."""
        key = replies.key(batch["institution"], batch["batch_id"], reply_id)
        return self.aws.s3.size(self.settings.transfer_bucket, key[:-5] + ".refused.json") is not None

    # -- sessions
    def _key(self, user: str, session_id: str, suffix: str = ".json") -> str:
        from .desk import user_key

        if not re.fullmatch(r"[0-9a-f]{32}", session_id):
            raise UsageError("session: 编号不对 / not a session id")
        return f"{SESSIONS}{user_key(user)}/{session_id}{suffix}"

    def _save(self, user: str, session: dict[str, Any]) -> None:
        # a second tab that read the session before cannot sign the same step twice; the previous token asks for the same answer again
        session["prev_token"], session["step_token"] = session.get("step_token"), uuid.uuid4().hex
        self.aws.s3.put(self.settings.staging_bucket, self._key(user, session["id"]), json.dumps(session, ensure_ascii=False).encode(),
                        "application/json")

    def _load(self, user: str, session_id: str) -> dict[str, Any]:
        raw = self.aws.s3.get_bytes(self.settings.staging_bucket, self._key(user, session_id))
        if raw is None:
            raise UsageError(f"session {session_id}: 没有这个签署会话（不是您开始的，或已过期）/ no such session of yours")
        session = json.loads(raw)
        age = dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(session["created_at"])
        if session["step"] != "sent" and age.total_seconds() > SESSION_SECONDS:
            raise UsageError(f"session {session_id}: 已超过 {SESSION_SECONDS // 60} 分钟，请重新开始 / expired; start again")
        return session

    @staticmethod
    def _answer(session: dict[str, Any]) -> dict[str, Any]:
        document = session["document"]
        out = {"session": session["id"], "step": session["step"], "reply_id": document["reply_id"],
               "outcomes": {p["package_id"]: p["outcome"] for p in document["packages"]}}
        if session["step"] == "sent":
            return {**out, "key": session["key"], "sent_at": session["sent_at"]}
        # the draft goes with what is to be signed, so the page checks it against the receiver's choices before its key signs
        pdf_step = {"prepared_pdf": _b64(bytes.fromhex(session["pending"]["prepared_pdf"])), "list_pdf_sha256": session["list_pdf_sha256"]} \
            if session["step"] == "pdf" else {}  # the page hashes the PDF's byte range itself before its key signs (issue 21)
        return {**out, **pdf_step, "to_sign": _b64(bytes.fromhex(session["to_sign"])), "step_token": session["step_token"],
                "document": _b64(replies.encode(document)),
                "signer_sha256": fingerprint(x509.load_pem_x509_certificate(session["certificate"].encode("ascii")))}


__all__ = ["ALGORITHM", "Receiving", "certificate_of"]
