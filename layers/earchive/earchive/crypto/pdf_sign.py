"""PAdES signatures on the transfer form (pyHanko): the window certifies, the institution approves, each with its own key.

* :func:`certify` — the window at submit: a certification signature (DocMDP, form filling allowed) in
  the 移交单位 box, with an RFC 3161 signature timestamp (PAdES-B-T).
* :func:`approve` — the institution in its reply: an approval signature in the 接收单位 box as an
  incremental update (the window's bytes stay as they are), then a document timestamp.
* :func:`prepare` / :func:`finish` — the same approval in two steps, for a UKey or a provincial e-seal
  service: the first step returns the bytes to sign and stops; the second embeds the signature value
  made elsewhere. Nothing in between needs the private key.
* :func:`validate` — every signature and document timestamp, as pyHanko reads it.

Any earchive signer works (development keys, ``kms:`` keys, key files): it signs the DER of the signed
attributes, which is what pyHanko's raw signing asks for. **pyHanko cannot make SM2 PDF signatures**
(no SM2 in pyHanko, pyhanko-certvalidator or asn1crypto): an SM2 signer is refused here by name; the
JSON list and reply keep their SM2-capable CMS signatures.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from asn1crypto import algos, tsp
from asn1crypto import x509 as ax509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..domain.transfer_form import RECEIVER_FIELD as RECEIVER
from ..domain.transfer_form import SENDER_FIELD as SENDER
from ..errors import reject
from .cms import attribute_problems
from .identity import fingerprint

# pyHanko logs a traceback for every certificate it cannot chain to the anchors it was given; the window pins the
# institution's own certificates rather than chaining them, so "not trusted" is expected and reported in the results.
logging.getLogger("pyhanko.sign.validation.generic_cms").setLevel(logging.ERROR)

SYSTEM_SEAL = "系统签章"  # a key the system holds (KMS, a server key file) is not a person's signature
STAMP_TEXT = "%(unit)s数字签章（%(kind)s）\n签署人：%(signer)s\n时间：%(ts)s\n%(note)s"
EXTERNAL_RESERVE = 16384  # bytes for a CMS made later: a certificate chain, the signature and its timestamp token
_MECHANISMS = {"sha256_ecdsa": "sha256_ecdsa", "sha384_ecdsa": "sha384_ecdsa", "sha256_rsa": "sha256_rsa"}


def _acert(cert: x509.Certificate) -> ax509.Certificate:
    return ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _mechanism(alg: str) -> str:
    """pyHanko's name for an earchive signature algorithm; SM2 refused by name."""
    if alg == "sm2_sm3":
        raise reject("SEAL-CONFIG", "pyHanko cannot make SM2 PDF signatures (no SM2 in pyHanko, pyhanko-certvalidator or asn1crypto): "
                                    "sign the PDF with an ECDSA or RSA key; the JSON list and reply keep their SM2 CMS signatures")
    if alg not in _MECHANISMS:
        raise reject("SEAL-CONFIG", f"signature algorithm {alg} cannot sign a PDF here")
    return _MECHANISMS[alg]


def _signer_parts(certificate: x509.Certificate, chain: list[x509.Certificate], signature_algorithm: str) -> tuple[dict[str, Any], int]:
    """pyHanko's signer arguments (certificate, its chain, mechanism) and the largest signature the key makes (for size estimates)."""
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    mechanism = _mechanism(signature_algorithm)
    return ({"signing_cert": _acert(certificate), "cert_registry": SimpleCertificateStore.from_certs([_acert(c) for c in chain]),
             "signature_mechanism": algos.SignedDigestAlgorithm({"algorithm": mechanism})}, 600 if "rsa" in mechanism else 72)


def hanko_signer(ours: Any):
    """A pyHanko ``Signer`` over any earchive signer (``sign(data)`` of the signed attributes, hashing its own)."""
    from pyhanko.sign.signers.pdf_cms import Signer

    parts, largest = _signer_parts(ours.certificate, ours.chain, ours.signature_algorithm)

    class _Signer(Signer):
        async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
            return bytes(largest) if dry_run else ours.sign(data)  # dry run: a size estimate

    return _Signer(**parts)


def hanko_timestamper(tsa: Any):
    """A pyHanko ``TimeStamper`` over any earchive TSA (``request(query_der) -> response_der``: local or RFC 3161 over HTTP).

    Every PDF timestamp comes through here, from an RSA/ECDSA TSA (:func:`~earchive.crypto.signers.pdf_tsa`): pyHanko,
    which validates the printed lists, has no SM2.
    """
    from pyhanko.sign.timestamps.api import TimeStamper

    from .signers import pdf_tsa

    tsa = pdf_tsa(tsa)

    class _Stamper(TimeStamper):
        async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
            return tsp.TimeStampResp.load(tsa.request(req.dump()))

    return _Stamper()


def stamp_font() -> Path:
    """A single-face OpenType CJK font with 1000 units per em, as pyHanko's stamps need (interface-notes §3.1).

    The PDF's own font (:func:`earchive.domain.exports.pdf_font`) is Noto Sans CJK (upem 1000); a face of a
    collection is saved once as a font of its own among earchive's local files.
    """
    from ..config import earchive_home
    from ..domain.exports import pdf_font

    file, face = pdf_font()
    if not file.lower().endswith((".ttc", ".otc")):
        return Path(file)
    target = earchive_home() / "fonts" / f"{Path(file).stem}-{face}-{Path(file).stat().st_size}.otf"
    if not target.is_file():
        from fontTools.ttLib import TTFont

        from .pki import write_atomic

        target.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        TTFont(file, fontNumber=face).save(buf)
        write_atomic(target, buf.getvalue())
    return target


STAMP_PT = 8  # ≥ 7 pt on an A4 print: the lines are wrapped to the 登记表's 签章 box, so pyHanko never has to shrink the stamp
STAMP_EMS = 22  # a line of the stamp: the box is 70 mm wide (transfer_form._signing_block), less pyHanko's margins


def _stamp_style(unit: str, note: str, system: bool, signer: str = "%(signer)s"):
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.stamp import TextStampStyle

    from ..zh import beijing

    now = beijing(dt.datetime.now(dt.UTC))  # the stamp's own clock, in Beijing time (pyHanko's %(ts)s is the server's zone)
    from .pdf_form import wrap

    text = (STAMP_TEXT.replace("%(unit)s", unit).replace("%(kind)s", SYSTEM_SEAL if system else "外部签章设备")
            .replace("%(ts)s", f"{now}（北京时间）").replace("%(signer)s", signer.replace("%", "%%")).replace("%(note)s", note.replace("%", "%%")))
    text = "\n".join(part for line in text.split("\n") for part in wrap(line, STAMP_EMS))
    size = STAMP_PT  # the same size in the factory and the text box (pyHanko #733: multi-line stamps drift otherwise)
    return TextStampStyle(stamp_text=text, text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(str(stamp_font()), font_size=size),
                                                                        font_size=size, leading=size + 2), border_width=1)


def certify(pdf: bytes, boxes: dict[str, tuple[int, tuple[float, float, float, float]]], signer: Any, tsa: Any,
            note: str = "", text_fields: dict[str, tuple[int, tuple[float, float, float, float]]] | None = None,
            values: dict[str, str] | None = None) -> bytes:
    """The window's certification signature (DocMDP: form filling and signing allowed), with both signature fields laid out
    and the text fields the institution answers in (:mod:`earchive.crypto.pdf_form`), showing ``values`` until it does."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers
    from pyhanko.sign.fields import MDPPerm, SigSeedSubFilter

    from . import pdf_form

    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    for name, (page, box) in boxes.items():
        fields.append_signature_field(w, fields.SigFieldSpec(sig_field_name=name, on_page=page, box=box))
    if text_fields:
        pdf_form.add_fields(w, text_fields, values or {})
    meta = signers.PdfSignatureMetadata(field_name=SENDER, certify=True, docmdp_permissions=MDPPerm.FILL_FORMS,
                                        subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256",
                                        reason="政务服务电子档案移交（移交方签章）")
    out = io.BytesIO()
    pdf_signer = signers.PdfSigner(meta, signer=hanko_signer(signer), timestamper=hanko_timestamper(tsa),
                                   stamp_style=_stamp_style("移交单位", note, system=True, signer=_cn(signer.certificate)))
    asyncio.run(pdf_signer.async_sign_pdf(w, output=out))
    return out.getvalue()


def _cn(cert: x509.Certificate) -> str:
    """Who signed, as the stamp names them: the certificate's common name (else its whole subject)."""
    from cryptography.x509.oid import NameOID

    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.subject.rfc4514_string()


def _approval(note: str, system: bool, signer: str):
    from pyhanko.sign import signers
    from pyhanko.sign.fields import SigSeedSubFilter

    return signers.PdfSignatureMetadata(field_name=RECEIVER, subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256",
                                        reason="政务服务电子档案接收（接收方签章）"), _stamp_style("接收单位", note, system, signer)


def _document_timestamp(signed: bytes, tsa: Any) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import signers

    out = io.BytesIO()
    stamper = signers.PdfTimeStamper(hanko_timestamper(tsa))
    asyncio.run(stamper.async_timestamp_pdf(IncrementalPdfFileWriter(io.BytesIO(signed)), "sha256", output=out))
    return out.getvalue()


def _filled(pdf: bytes, values: dict[str, str] | None) -> Any:
    """An incremental writer over ``pdf`` with the institution's answers in their fields: its signature's revision covers them."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    from . import pdf_form

    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    if values:
        pdf_form.fill(w, values)
    return w


def approve(pdf: bytes, signer: Any, tsa: Any, note: str = "", values: dict[str, str] | None = None) -> bytes:
    """The institution's approval signature (incremental, signature timestamp) over its answers in the list's fields
    (``values``, filled in the same revision), then a document timestamp."""
    from pyhanko.sign import signers

    meta, style = _approval(note, system=True, signer=_cn(signer.certificate))  # a key this software holds: 系统签章
    out = io.BytesIO()
    pdf_signer = signers.PdfSigner(meta, signer=hanko_signer(signer), timestamper=hanko_timestamper(tsa), stamp_style=style)
    asyncio.run(pdf_signer.async_sign_pdf(_filled(pdf, values), existing_fields_only=True, output=out))
    return _document_timestamp(out.getvalue(), tsa)


@dataclass(frozen=True)
class Pending:
    """An approval waiting for its signature value: what to sign, and what :func:`finish` needs (no key)."""

    to_sign: bytes  # the DER of the signed attributes: sign these bytes (the device hashes them with SHA-256)
    state: dict[str, Any]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "to-sign.der").write_bytes(self.to_sign)
        (folder / "pending.json").write_text(json.dumps(self.state, ensure_ascii=False, indent=1), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Pending:
        return cls((folder / "to-sign.der").read_bytes(), json.loads((folder / "pending.json").read_text(encoding="utf-8")))


def prepare(pdf: bytes, certificate: x509.Certificate, chain: list[x509.Certificate], signature_algorithm: str,
            note: str = "", *, system: bool = False, values: dict[str, str] | None = None) -> Pending:
    """Step one of a two-step approval: the document digested and its signature placeholder laid out; returns what to sign.

    ``system``: the stamp of a key file (as :func:`approve` makes it), for a key file used in a browser; else a device's.
    """
    from pyhanko.sign import signers
    parts, largest = _signer_parts(certificate, chain, signature_algorithm)
    ext = signers.ExternalSigner(signature_value=largest, **parts)
    meta, style = _approval(note, system=system, signer=_cn(certificate))

    async def run():
        pdf_signer = signers.PdfSigner(meta, signer=ext, stamp_style=style)
        digest, _, output = await pdf_signer.async_digest_doc_for_signing(_filled(pdf, values), existing_fields_only=True,
                                                                           bytes_reserved=EXTERNAL_RESERVE)
        attrs = await ext.signed_attrs(digest.document_digest, "sha256", use_pades=True)
        return digest, output.getvalue(), attrs.dump()

    digest, prepared, attrs = asyncio.run(run())
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in [certificate, *chain]).decode()
    return Pending(attrs, {"document_digest": digest.document_digest.hex(), "reserved_region_start": digest.reserved_region_start,
                           "reserved_region_end": digest.reserved_region_end, "prepared_pdf": prepared.hex(), "certificates": pem,
                           "signature_algorithm": signature_algorithm})


def finish(pending: Pending, signature_value: bytes, tsa: Any) -> bytes:
    """Step two: the signature value made by the device embedded (with its timestamp), then the document timestamp."""
    from asn1crypto import cms
    from pyhanko.sign import signers
    from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
    from pyhanko.sign.signers.pdf_signer import PdfTBSDocument
    s = pending.state
    certs = x509.load_pem_x509_certificates(s["certificates"].encode())
    parts, _ = _signer_parts(certs[0], certs[1:], s["signature_algorithm"])
    ext = signers.ExternalSigner(signature_value=signature_value, **parts)
    digest = PreparedByteRangeDigest(bytes.fromhex(s["document_digest"]), s["reserved_region_start"], s["reserved_region_end"])

    async def run() -> bytes:
        attrs = cms.CMSAttributes.load(pending.to_sign)
        signed = await ext.async_sign_prescribed_attributes("sha256", signed_attrs=attrs, timestamper=hanko_timestamper(tsa))
        out = io.BytesIO(bytes.fromhex(s["prepared_pdf"]))
        await PdfTBSDocument.async_finish_signing(out, digest, signed)
        return out.getvalue()

    return _document_timestamp(asyncio.run(run()), tsa)


def validate(pdf: bytes, anchors: list[x509.Certificate], tsa_anchors: list[x509.Certificate] | None = None) -> list[dict[str, Any]]:
    """Every signature and document timestamp of ``pdf``, as pyHanko validates it against ``anchors`` (offline)."""
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
    from pyhanko_certvalidator import ValidationContext

    from .sm2 import is_sm2_certificate

    # pyHanko's validator has no SM2: an SM2 root among the anchors (a 国密 deployment trusts one) would stop it with
    # UnsupportedAlgorithm, so only the roots it can use are given; a PDF signer under an SM2 CA is then "not trusted".
    roots = [_acert(c) for c in anchors + (tsa_anchors or []) if not is_sm2_certificate(c)]
    results = []
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=True)  # no hybrid cross-reference tricks (a review finding)
        embedded = list(reader.embedded_signatures)
    except Exception as exc:  # noqa: BLE001 - any malformed file is a verdict, not a crash
        return [{"field": None, "valid": False, "problem": f"not a readable PDF: {exc}"}]
    for sig in embedded:
        vc = ValidationContext(trust_roots=roots, allow_fetching=False, revocation_mode="soft-fail")
        entry: dict[str, Any] = {"field": sig.field_name, "document_timestamp": sig.sig_object_type == "/DocTimeStamp"}
        try:  # the same strictness as every CMS earchive verifies (issue 21): one DER SET, each attribute once
            strict = attribute_problems(sig.signer_info["signed_attrs"])
        except Exception as exc:  # noqa: BLE001 - a malformed signature is a verdict
            strict = [f"signed attributes unreadable: {exc}"]
        if strict:
            results.append({**entry, "valid": False, "problem": "; ".join(strict)})
            continue
        try:
            if entry["document_timestamp"]:
                status = validate_pdf_timestamp(sig, validation_context=vc)
            else:
                status = validate_pdf_signature(sig, signer_validation_context=vc, ts_validation_context=vc)
        except Exception as exc:  # noqa: BLE001
            results.append({**entry, "valid": False, "problem": f"{type(exc).__name__}: {exc}"})
            continue
        leaf = status.signing_cert
        entry.update(intact=status.intact, valid=status.valid, trusted=status.trusted, signer=leaf.subject.human_friendly if leaf else None,
                     signer_sha256=leaf.sha256.hex() if leaf else None,
                     coverage=getattr(status.coverage, "name", None), modification_level=getattr(getattr(status, "modification_level", None), "name", None),
                     docmdp_ok=getattr(status, "docmdp_ok", None), signed_at=_when(status),
                     certification=sig.docmdp_level is not None,
                     timestamp_valid=bool(getattr(status, "timestamp_validity", None) and status.timestamp_validity.valid)
                     if not entry["document_timestamp"] else True, revision_end=sig.signed_revision)
        results.append(entry)
    return results


def _when(status: Any) -> str:
    """The trusted time of a signature (its timestamp token) or of a document timestamp."""
    ts = getattr(status, "timestamp_validity", None)
    when = getattr(ts, "timestamp", None) or getattr(status, "timestamp", None)
    return when.isoformat(timespec="seconds") if when else ""


def certification_problems(pdf: bytes, anchors: list[x509.Certificate], signer_sha256: str | None = None) -> list[str]:
    """Why ``pdf`` is not the window's intact certified form (empty: it is): one certification signature, valid and trusted,
    by ``signer_sha256`` when given (the certificate that signed the JSON list, pinned)."""
    found = validate(pdf, anchors)
    sender = [v for v in found if v.get("field") == SENDER]
    if len(sender) != 1:
        return [f"the printed list carries {len(sender)} signature(s) in {SENDER}, not one certification"]
    v = sender[0]
    out = [f"{SENDER}: {v['problem']}"] if v.get("problem") else []
    out += [f"{SENDER}: {what}" for what, bad in (("altered after signing", not v.get("intact")), ("does not verify", not v.get("valid")),
                                                 ("signer not trusted", not v.get("trusted")), ("its timestamp does not verify", not v.get("timestamp_valid")),
                                                 ("not a certification signature", not v.get("certification")),
                                                 ("the file was changed after it was certified", v.get("coverage") != "ENTIRE_FILE"))
            if bad and not v.get("problem")]
    if len(found) != 1:
        out.append(f"the printed list carries {len(found)} signatures; the archive's certified list has exactly one")
    if signer_sha256 and v.get("signer_sha256") != signer_sha256:
        out.append(f"{SENDER}: signed by {v.get('signer')}, not by the archive's seal that signed the list")
    return out


def approval_problems(certified: bytes, replied: bytes, pinned: list[x509.Certificate], tsa_anchors: list[x509.Certificate] | None = None,
                      signer_sha256: str | None = None) -> list[str]:
    """Why ``replied`` is not ``certified`` with only the institution's approval and a document timestamp added (empty: it is).

    The window's bytes must be its first part, unchanged; the approval must be intact, valid and by one of the
    ``pinned`` certificates (registered for the institution); the document's changes stay within the certification's
    permissions; a document timestamp closes it.
    """
    if not replied.startswith(certified):
        return ["the signed list does not begin with the list the archive certified (not an incremental update of it)"]
    found = validate(replied, pinned, tsa_anchors)
    pins = {fingerprint(c) for c in pinned}
    out = []
    by_field = {v.get("field"): v for v in found if not v.get("document_timestamp")}
    if set(by_field) != {SENDER, RECEIVER}:
        out.append(f"the signed list has signatures {sorted(map(str, by_field))}, expected {SENDER} and {RECEIVER}")
    for name, v in by_field.items():
        if v.get("problem"):
            out.append(f"{name}: {v['problem']}")
        elif not (v.get("intact") and v.get("valid")):
            out.append(f"{name}: altered after signing or does not verify")
        elif v.get("docmdp_ok") is False:
            out.append(f"{name}: the document was changed beyond what the certification allows")
    receiver = by_field.get(RECEIVER) or {}
    if receiver and not receiver.get("problem") and receiver.get("signer_sha256") not in pins:
        out.append(f"{RECEIVER}: signed by {receiver.get('signer')}, not by a certificate registered for the institution")
    elif receiver and signer_sha256 and receiver.get("signer_sha256") != signer_sha256:
        out.append(f"{RECEIVER}: signed by another certificate than the reply itself")
    if receiver and not receiver.get("problem") and receiver.get("modification_level") not in ("NONE", "LTA_UPDATES"):
        # only a document timestamp may follow the approval: fields filled after it are covered by no signature of the institution
        out.append(f"{RECEIVER}: the list was changed after the institution signed it ({receiver.get('modification_level')}); "
                   "its signature does not cover what the list shows")
    stamps_after = [v for v in found if v.get("document_timestamp") and (v.get("revision_end") or 0) > (receiver.get("revision_end") or 0)]
    if receiver and not stamps_after:
        out.append("the document timestamp does not follow the approval")
    stamps = [v for v in found if v.get("document_timestamp")]
    if not stamps or not all(v.get("intact") and v.get("valid") for v in stamps):
        out.append("the signed list has no valid document timestamp after the approval")
    elif max(stamps, key=lambda v: v.get("revision_end") or 0).get("coverage") != "ENTIRE_FILE":
        out.append("the signed list was changed after its last document timestamp (an update no signature covers)")
    return out


__all__ = ["SYSTEM_SEAL", "Pending", "approval_problems", "approve", "certification_problems", "certify", "finish", "hanko_signer",
           "hanko_timestamper", "prepare", "stamp_font", "validate"]
