"""A signature timestamp on a CMS signature (CAdES-T; RFC 3161 appendix A): a trusted time for a signed JSON.

The transfer list and the institution's reply are CMS SignedData whose only time is the signer's own claim
(signingTime). An RFC 3161 token over the SignerInfo's signature value, carried in the unsigned attribute
id-aa-signatureTimeStampToken, proves the signature existed at the token's genTime: the time at which the
signer's certificate must be valid. The attribute is unsigned, so adding it changes neither the signed
attributes nor the signature: :func:`earchive.crypto.cms.verify_signed_data` (and ``openssl cms -verify``)
check the signature exactly as before, and the token verifies on its own with ``openssl ts -verify``.
"""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

from asn1crypto import cms, tsp
from cryptography import x509

from .cms import SignatureCheck, verify_signed_data
from .timestamp import TimestampAuthority, timestamp, verify_timestamp

SIGNATURE_TIME_STAMP_TOKEN = "1.2.840.113549.1.9.16.2.14"  # noqa: S105 - an OID: id-aa-signatureTimeStampToken (RFC 3161 app. A)
ATTRIBUTE = "signature_time_stamp_token"  # asn1crypto's name for it
SKEW = dt.timedelta(minutes=5)  # the signer's clock may run ahead of the TSA's by this much (as for the seal, YJ-1-1-3)


def _signer_info(signature_der: bytes) -> tuple[cms.ContentInfo, cms.SignerInfo]:
    """The SignedData and its one SignerInfo; ValueError when it is not one-signer SignedData."""
    info = cms.ContentInfo.load(signature_der)
    if info["content_type"].native != "signed_data":
        raise ValueError("not a CMS SignedData")
    infos = info["content"]["signer_infos"]
    if len(infos) != 1:
        raise ValueError(f"expected one signer, found {len(infos)}")
    return info, infos[0]


def signature_value(signature_der: bytes) -> bytes:
    """The bytes a signature timestamp is over: the contents of the SignerInfo's signature OCTET STRING (RFC 3161 appendix A)."""
    return _signer_info(signature_der)[1]["signature"].native


def add_signature_timestamp(signature_der: bytes, tsa: TimestampAuthority) -> bytes:
    """``signature_der`` with a token from ``tsa`` over its signature value, as the unsigned attribute id-aa-signatureTimeStampToken.

    The token is the TimeStampToken (a ContentInfo), not the TimeStampResp around it. Only the SignerInfo's unsigned
    attributes change: every byte the signature covers, and the certificates, stay as they were (checked below, since
    a re-encoded structure would be a different signature to a strict verifier). A signature that carries one already is
    refused: one token, one trusted time.
    """
    info, si = _signer_info(signature_der)
    existing = si["unsigned_attrs"]
    if existing.native and any(a["type"].dotted == SIGNATURE_TIME_STAMP_TOKEN for a in existing):
        raise ValueError("the signature carries a signature timestamp already")
    resp = tsp.TimeStampResp.load(timestamp(si["signature"].native, tsa))
    token = cms.ContentInfo.load(resp["time_stamp_token"].dump())
    attrs = [cms.CMSAttribute.load(a.dump()) for a in existing] if existing.native else []
    attrs.append(cms.CMSAttribute({"type": ATTRIBUTE, "values": [token]}))
    signed_before = si["signed_attrs"].dump()
    new_si = cms.SignerInfo.load(si.dump())
    new_si["unsigned_attrs"] = cms.CMSAttributes(attrs)
    sd = cms.SignedData.load(info["content"].untag().dump())
    sd["signer_infos"] = cms.SignerInfos([new_si])
    out = cms.ContentInfo({"content_type": "signed_data", "content": sd}).dump()
    _, again = _signer_info(out)
    if again["signed_attrs"].dump() != signed_before or again["signature"].native != si["signature"].native:
        raise ValueError("adding the signature timestamp changed what the signature covers")  # never expected: a guard, not a path
    return out


def signature_timestamp(signature_der: bytes, anchors: list[x509.Certificate]) -> tuple[dt.datetime | None, list[str]]:
    """(the token's genTime, why it is not a valid signature timestamp of this signature): the time only when no problem.

    Valid: exactly one id-aa-signatureTimeStampToken with one token; its imprint is over exactly this signature value;
    the token verifies and its TSA (critical timeStamping key purpose) chains to ``anchors``; and the signer's claimed
    signingTime is not after genTime + 5 minutes (a signature cannot be made after the time it was seen).
    """
    try:
        _, si = _signer_info(signature_der)
        value = si["signature"].native
        unsigned = si["unsigned_attrs"]
        found = [a for a in unsigned if a["type"].dotted == SIGNATURE_TIME_STAMP_TOKEN] if unsigned.native else []
        if not found:
            return None, ["签名没有时间戳 / the signature carries no signature timestamp (CAdES-T id-aa-signatureTimeStampToken): "
                          "its time is only the signer's own claim"]
        if len(found) != 1 or len(found[0]["values"]) != 1:
            return None, ["签名带有多个时间戳 / the signature carries more than one signature timestamp (one token, one time)"]
        token = found[0]["values"][0]
        resp = tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": cms.ContentInfo.load(token.dump())}).dump()
        signing_time = _signing_time(si)
    except (ValueError, TypeError, KeyError) as exc:
        return None, [f"签名时间戳无法读取 / the signature timestamp cannot be read: {exc}"]
    check = verify_timestamp(value, resp, anchors)
    problems = [f"签名时间戳无效 / signature timestamp: {e}" for e in check.errors]
    problems += [f"签名时间戳的签发机构不受信任 / signature timestamp's TSA: {e}" for e in check.chain_errors]
    if not problems and check.gen_time is None:
        problems.append("签名时间戳没有时间 / the signature timestamp has no genTime")
    from .signers import profile

    if not problems and profile() == "guomi" and check.algorithm != "sm2_sm3/sm3":  # the verifier's deployment is 国密 (ADR 0020)
        problems.append(f"国密配置要求 SM2 时间戳（SM3 摘要），此签名时间戳为 {check.algorithm} / the 国密 profile takes SM2 tokens over "
                        "an SM3 imprint only")
    if not problems and signing_time is not None and signing_time > check.gen_time + SKEW:
        problems.append(f"签名时间晚于签名时间戳 / the signing time {signing_time.isoformat()} is after the signature timestamp "
                        f"{check.gen_time.isoformat()} (more than {SKEW.seconds // 60} minutes)")
    return (None if problems else check.gen_time), problems


class Timestamped(NamedTuple):
    """A detached signature over a signed JSON and its signature timestamp, each checked, each with its own problems."""

    check: SignatureCheck | None  # None when the signature is not CMS at all
    gen_time: dt.datetime | None  # the trusted time (the token's genTime), only when the timestamp is valid
    signature_problems: list[str]
    timestamp_problems: list[str]

    @property
    def problems(self) -> list[str]:
        return self.signature_problems + self.timestamp_problems


def verify_timestamped(signature_der: bytes, content: bytes, anchors: list[x509.Certificate],
                       tsa_anchors: list[x509.Certificate]) -> Timestamped:
    """The signature over ``content`` (chaining to ``anchors``) and its signature timestamp (TSA chaining to ``tsa_anchors``).

    The signer's chain is checked at the token's genTime when the timestamp is valid: the time a third party vouches
    for, not the signer's own claim (without a valid timestamp the signature is refused anyway, by its timestamp).
    """
    gen_time, stamp = signature_timestamp(signature_der, tsa_anchors)
    try:
        check = verify_signed_data(cms.ContentInfo.load(signature_der), anchors, content=content, at=gen_time)
    except ValueError as exc:
        return Timestamped(None, gen_time, [f"not a CMS signature: {exc}"], stamp)
    return Timestamped(check, gen_time, check.errors + check.chain_errors, stamp)


def _signing_time(si: cms.SignerInfo) -> dt.datetime | None:
    """The signer's claimed signingTime (a signed attribute), if any."""
    for a in si["signed_attrs"] or []:
        if a["type"].native == "signing_time" and len(a["values"]) == 1:
            return a["values"][0].native
    return None


__all__ = ["SIGNATURE_TIME_STAMP_TOKEN", "Timestamped", "add_signature_timestamp", "signature_timestamp", "signature_value", "verify_timestamped"]
