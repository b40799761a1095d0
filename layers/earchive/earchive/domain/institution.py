"""Receiving institutions (政务服务实施机构) as data: who they are, which certificates sign their replies, who may pull.

Pure: parsing a registration and deciding whether a certificate may sign for an institution at a
time. The registry itself (DynamoDB) is :mod:`earchive.aws.institutions`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
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


def certificate_record(pem: bytes, chain: bytes | None = None, at: dt.datetime | None = None) -> dict[str, Any]:
    """What the registry keeps of a reply-signing certificate: the PEM, its SHA-256 fingerprint, subject, validity and key
    algorithm (``SM2`` or ``ECDSA``/``RSA``: an SM2 institution approves the printed list by its signed reply, ADR 0012).

    The leaf is pinned; ``chain`` (its CA's certificates, PEM) is checked to issue it — SM3withSM2 CAs included, by
    :func:`earchive.crypto.cms.verify_chain` — and kept beside it, so the registry shows which CA certified the key.
    """
    try:
        cert = x509.load_pem_x509_certificate(pem)
        cas = [c for c in x509.load_pem_x509_certificates(chain) if fingerprint(c) != fingerprint(cert)] if chain else []
    except ValueError as exc:
        raise UsageError(f"not a PEM certificate: {exc}") from None
    record = {"pem": cert.public_bytes(Encoding.PEM).decode("ascii"), "sha256": fingerprint(cert),
              "subject": cert.subject.rfc4514_string(), "not_before": cert.not_valid_before_utc.isoformat(),
              "not_after": cert.not_valid_after_utc.isoformat(), "key": key_algorithm(cert)}
    if cas:
        from ..crypto.cms import verify_chain

        roots = [c for c in cas if c.subject == c.issuer] or cas[-1:]
        errors = verify_chain(cert, [c for c in cas if c not in roots], roots, at or dt.datetime.now(dt.UTC))
        if errors:
            raise UsageError(f"证书链不能证明此证书 / the chain given does not certify {record['subject']}: {'; '.join(errors)}")
        record["chain"] = [c.public_bytes(Encoding.PEM).decode("ascii") for c in cas]
        record["issuer"] = cert.issuer.rfc4514_string()
    return record


def key_algorithm(cert: x509.Certificate) -> str:
    """``SM2`` for a key on the SM2 curve (GB/T 32918), else ``ECDSA`` or ``RSA`` (what else may sign a reply is refused at
    verification)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    from ..crypto.sm2 import is_sm2_certificate

    if is_sm2_certificate(cert):
        return "SM2"
    return "RSA" if isinstance(cert.public_key(), rsa.RSAPublicKey) else "ECDSA"


def is_sm2(record_or_cert: dict[str, Any] | x509.Certificate) -> bool:
    """Whether a registered certificate (its record, or the certificate) holds an SM2 key."""
    if isinstance(record_or_cert, dict):
        return record_or_cert.get("key") == "SM2" or key_algorithm(x509.load_pem_x509_certificate(record_or_cert["pem"].encode())) == "SM2"
    return key_algorithm(record_or_cert) == "SM2"


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


# -- competence (受理范围): what an institution receives (issue 20 item 5, auditor D5)

TASK_TYPES = ("行政权力事项", "公共服务事项")
REGION = re.compile(r"^\d{6}$")
HALL = re.compile(r"^(\d{6})[#:]([0-9A-Za-z]{1,16})$")  # 行政区划#全宗号, as the catalogue keys it (430102:0102 accepted as users write it)
TASK_CODE = re.compile(r"^[0-9A-Za-z]{1,40}$")
# Names for the codes this project's samples and messages meet (GB/T 2260); any other code is shown by its digits only.
REGION_NAMES = {
    "430000": "湖南省", "430100": "长沙市", "430102": "长沙市芙蓉区", "430103": "长沙市天心区", "430104": "长沙市岳麓区",
    "430105": "长沙市开福区", "430111": "长沙市雨花区", "430200": "株洲市", "430203": "株洲市芦淞区", "430211": "株洲市天元区",
    "430300": "湘潭市", "430302": "湘潭市雨湖区", "430400": "衡阳市", "430405": "衡阳市珠晖区", "430500": "邵阳市", "430600": "岳阳市",
    "430602": "岳阳市岳阳楼区", "430700": "常德市", "430800": "张家界市", "430900": "益阳市", "431000": "郴州市", "431100": "永州市",
    "431200": "怀化市", "431300": "娄底市", "433100": "湘西土家族苗族自治州",
}


def region_prefix(region: str) -> str:
    """The code prefix a 行政区划 covers: 430000 → 43 (the province), 430100 → 4301 (the city), 430102 → 430102 (as collect's scope)."""
    prefix = region.rstrip("0")
    return prefix + "0" * (len(prefix) % 2)


def region_label(code: str) -> str:
    """``株洲市芦淞区（430203）``; a district not in the table by its city, ``430299（株洲市）``; else the code."""
    code = str(code or "")
    if code in REGION_NAMES:
        return f"{REGION_NAMES[code]}（{code}）"
    city = REGION_NAMES.get(code[:4] + "00") or REGION_NAMES.get(code[:2] + "0000")
    return f"{code}（{city}）" if city else code or "（无行政区划）"


@dataclass(frozen=True)
class Scope:
    """An institution's competence (受理范围): the packages it may be sent. Every kind given must match; an empty kind
    does not narrow. A recorded scope names at least one 行政区划 or hall: the geography is what the auditor's D5 is about,
    so 事项 alone (a province-wide 事项 code) never widens a batch to every region."""

    regions: tuple[str, ...] = ()  # 行政区划; a city or province code covers its districts
    halls: tuple[str, ...] = ()  # 行政区划#全宗号
    task_codes: tuple[str, ...] = ()  # 事项编码
    task_types: tuple[str, ...] = ()  # 行政权力事项 / 公共服务事项

    @classmethod
    def parse(cls, *, regions: Any = (), halls: Any = (), task_codes: Any = (), task_types: Any = ()) -> Scope:
        """From what an administrator typed (or the registry holds); anything malformed is a :class:`UsageError` in Chinese first."""
        out_regions = tuple(dict.fromkeys(str(r).strip() for r in regions or ()))
        for r in out_regions:
            if not REGION.match(r) or len(region_prefix(r)) < 2:
                raise UsageError(f"行政区划 {r!r} 应为 6 位数字（如 430102）/ a region is 6 digits")
        out_halls = []
        for hall in halls or ():
            m = HALL.match(str(hall).strip())
            if not m:
                raise UsageError(f"窗口 {hall!r} 应为 行政区划#全宗号（如 430102#0102）/ a hall is REGION#FONDS")
            out_halls.append(f"{m.group(1)}#{m.group(2)}")
        codes = tuple(dict.fromkeys(str(c).strip() for c in task_codes or ()))
        for c in codes:
            if not TASK_CODE.match(c):
                raise UsageError(f"事项编码 {c!r} 应为字母或数字 / a task code is letters and digits")
        types = tuple(dict.fromkeys(str(t).strip() for t in task_types or ()))
        for t in types:
            if t not in TASK_TYPES:
                raise UsageError(f"事项类型 {t!r} 应为 {' 或 '.join(TASK_TYPES)}")
        scope = cls(out_regions, tuple(dict.fromkeys(out_halls)), codes, types)
        if not scope.regions and not scope.halls:
            raise UsageError("受理范围须至少指定一个行政区划（--region）或窗口（--hall）/ a scope names at least one region or hall")
        return scope

    @classmethod
    def of(cls, institution: dict[str, Any] | None) -> Scope | None:
        """The scope the registry recorded for ``institution``; None when none was (a registration older than issue 20)."""
        raw = (institution or {}).get("scope")
        if not raw:
            return None
        return cls(tuple(raw.get("regions") or ()), tuple(raw.get("halls") or ()), tuple(raw.get("task_codes") or ()),
                   tuple(raw.get("task_types") or ()))

    def as_item(self) -> dict[str, list[str]]:
        return {"regions": list(self.regions), "halls": list(self.halls), "task_codes": list(self.task_codes),
                "task_types": list(self.task_types)}

    def describe(self) -> str:
        """``行政区划 长沙市芙蓉区（430102）；事项类型 公共服务事项`` — the scope as the registry and refusals print it."""
        parts = []
        if self.regions:
            parts.append("行政区划 " + "、".join(region_label(r) for r in self.regions))
        if self.halls:
            parts.append("窗口 " + "、".join(self.halls))
        if self.task_codes:
            parts.append("事项编码 " + "、".join(self.task_codes))
        if self.task_types:
            parts.append("事项类型 " + "、".join(self.task_types))
        return "；".join(parts) or "（未登记）"

    def admits_hall(self, hall: str) -> bool:
        """Whether any package of this hall (行政区划#全宗号) can be in scope (the console lists one hall at a time)."""
        region = hall.split("#", 1)[0]
        return ((not self.regions or any(region.startswith(region_prefix(r)) for r in self.regions))
                and (not self.halls or hall in self.halls))

    def outside(self, item: dict[str, Any]) -> list[str]:
        """Why a catalogue item is not within this scope, one Chinese fragment per kind (empty: it is)."""
        region = str(item.get("region_code") or "")
        hall = f"{region}#{item.get('fonds_identifier') or ''}"
        why = []
        if self.regions and not any(region and region.startswith(region_prefix(r)) for r in self.regions):
            why.append(f"属{region_label(region)}")
        if self.halls and hall not in self.halls:
            why.append(f"来自窗口 {hall}")
        if self.task_codes and item.get("task_code") not in self.task_codes:
            why.append(f"事项 {item.get('task_name') or ''}（{item.get('task_code') or '无事项编码'}）")
        if self.task_types and item.get("task_type") not in self.task_types:
            why.append(f"事项类型为 {item.get('task_type') or '（空）'}")
        return why


def competence_refusal(item: dict[str, Any], institution: dict[str, Any], why: list[str]) -> str:
    """``430203-… 属株洲市芦淞区（430203），不在接收单位 430102001（…）的受理范围（…）内``: a named package refused."""
    code = item.get("record_code") or item.get("package_id")
    return (f"{code} {'，'.join(why)}，不在接收单位 {institution['code']}（{institution.get('name', '')}）的受理范围"
            f"（{(Scope.of(institution) or Scope()).describe()}）内")


def competence_problem(code: str, institution: dict[str, Any] | None) -> str | None:
    """Why no batch may be made for ``code`` now (None: one may): unregistered, revoked, or no scope recorded."""
    if institution is None:
        return (f"接收单位 {code} 未登记，不能向其移交（`earchive institution list` 列出已登记的接收单位）"
                f" / institution {code} is not registered")
    if institution.get("status") != "ACTIVE":
        return (f"接收单位 {code}（{institution.get('name', '')}）已撤销，不能再向其移交 / institution {code} is "
                f"{institution.get('status')}")
    if Scope.of(institution) is None:
        return (f"接收单位 {code}（{institution.get('name', '')}）未登记受理范围，不能向其移交：请管理员先运行 "
                f"`earchive institution scope {code} --region 行政区划代码 --actor 姓名` / institution {code} has no scope recorded")
    return None
