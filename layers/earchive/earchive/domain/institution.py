"""Receiving institutions (政务服务实施机构) as data: who they are, which certificates sign their replies, who may pull.

Pure: parsing a registration and deciding whether a certificate may sign for an institution at a
time. The registry itself (DynamoDB) is :mod:`earchive.aws.institutions`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ..crypto.identity import fingerprint
from ..errors import UsageError

CODE = re.compile(r"^[0-9A-Za-z]{1,32}$")  # a prefix in the transfer bucket: no '/', '*' or '#'
PRINCIPAL = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:(root|role/[\w+=,.@/-]+|user/[\w+=,.@/-]+)$")
STATUSES = ("ACTIVE", "REVOKED")


def check_code(code: str) -> str:
    """An institution code safe as an S3 prefix and a session-tag value (letters and digits only)."""
    if not CODE.match(code or ""):
        raise UsageError(f"institution code {code!r}: 1–32 letters or digits (it becomes the prefix institutions/<code>/)")
    return code


def check_principal(arn: str) -> str:
    if not PRINCIPAL.match(arn or ""):
        raise UsageError(f"principal {arn!r}: an IAM role, user or account root ARN (arn:aws:iam::123456789012:role/…)")
    return arn


def access_point_name(stack_prefix: str, code: str) -> str:
    """The S3 Access Point of one institution on the transfer bucket (ADR 0012): 3–50 lowercase letters, digits, hyphens."""
    import hashlib

    code = check_code(code)
    tag = hashlib.sha256(f"{stack_prefix}/{code}".encode()).hexdigest()[:8]  # "ABC" and "abc", or two long stack names, never share one
    base = "".join(ch if ch.isalnum() else "-" for ch in stack_prefix.lower()).strip("-")[:50 - len(code) - 13] or "earchive"
    return f"{base}-ap-{code.lower()}-{tag}"


def access_point_policy(access_point_arn: str, code: str, principals: list[str]) -> dict[str, Any]:
    """The access point's whole policy: the institution's principals read ``institutions/<code>/…`` and write only their
    replies there; nothing else, through nothing else (the bucket delegates to this account's access points only)."""
    code = check_code(code)
    who = {"AWS": sorted(check_principal(p) for p in principals)}
    prefix = f"{access_point_arn}/object/institutions/{code}"
    return {"Version": "2012-10-17", "Statement": [
        {"Sid": "ReadOwnBatchesAndReplies", "Effect": "Allow", "Principal": who, "Action": ["s3:GetObject", "s3:GetObjectVersion"],
         "Resource": f"{prefix}/*"},
        {"Sid": "ListOwnPrefix", "Effect": "Allow", "Principal": who, "Action": "s3:ListBucket", "Resource": access_point_arn,
         "Condition": {"StringLike": {"s3:prefix": [f"institutions/{code}/*"]}}},
        {"Sid": "WriteOwnReplies", "Effect": "Allow", "Principal": who, "Action": "s3:PutObject", "Resource": f"{prefix}/replies/*"},
    ]}


def certificate_record(pem: bytes) -> dict[str, Any]:
    """What the registry keeps of a reply-signing certificate: the PEM, its SHA-256 fingerprint, subject and validity."""
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise UsageError(f"not a PEM certificate: {exc}") from None
    return {"pem": cert.public_bytes(Encoding.PEM).decode("ascii"), "sha256": fingerprint(cert),
            "subject": cert.subject.rfc4514_string(), "not_before": cert.not_valid_before_utc.isoformat(),
            "not_after": cert.not_valid_after_utc.isoformat()}


def may_sign(institution: dict[str, Any] | None, cert: x509.Certificate, at: dt.datetime) -> list[str]:
    """Why ``cert`` may not sign a reply for ``institution`` at ``at`` (empty: it may).

    The institution must be registered and active; the certificate one registered for it, and valid at ``at``.
    """
    if not institution:
        return ["the institution is not registered"]
    code = institution.get("code")
    if institution.get("status") != "ACTIVE":
        return [f"institution {code} is {institution.get('status')}"]
    pin = fingerprint(cert)
    registered = {c["sha256"]: c for c in institution.get("certificates", [])}
    if pin not in registered:
        return [f"{cert.subject.rfc4514_string()} is not a certificate registered for institution {code}"]
    entry = registered[pin]
    if entry.get("revoked_at"):
        return [f"the certificate {pin[:16]}… of institution {code} was revoked on {entry['revoked_at']}"]
    if not (dt.datetime.fromisoformat(entry["not_before"]) <= at <= dt.datetime.fromisoformat(entry["not_after"])):
        return [f"the certificate {pin[:16]}… of institution {code} is not valid at {at.isoformat(timespec='seconds')}"]
    return []
