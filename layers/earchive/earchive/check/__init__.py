"""Check (归档检测 / 接收检测): the DA/T 70 four-property tests of one package.

Every test has a stable ID in DA/T 70's style — ``GD-x-y`` at archiving,
``YJ-x-y`` at receiving, the same numbers at both stages — its property
(authenticity / integrity / usability / security), its Chinese name, a status
(pass, fail, manual, not_applicable), the time it ran and a detail that names
the object and the rule. The catalogue below is the single source of those
facts; docs/checks.md is generated from it.

The package is untrusted: it is read through :class:`SafeZip`, every member
is read once (digests, virus signatures, head and tail for format checks in
the same pass) and nothing is ever extracted. Whatever goes wrong becomes a
failed test in the report, never an exception.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from asn1crypto import cms as acms
from cryptography import x509
from lxml import etree

from ..crypto.digests import MultiDigest
from ..crypto.pki import load_trust_anchors
from ..domain import metadata as md
from ..domain.formats import DEFAULT_ALLOWED, check_readable, identify, kind_matches
from ..domain.identifiers import id_card_valid, uscc_valid
from ..domain.layout import CATEGORIES, FOLDER_IDS, METADATA_NAME, RECORD_CODE_RE
from ..domain.safezip import SafeZip, ZipLimits
from ..domain.seal import MANIFEST_SHA256, MANIFEST_SM3, SEAL_FILES, SIGNATURE, TIMESTAMP, parse_manifest

PROPERTIES = {"1": "authenticity", "2": "integrity", "3": "usability", "4": "security"}
STAGES = {"archiving": "GD", "receiving": "YJ"}
PASS, FAIL, MANUAL, NA = "pass", "fail", "manual", "not_applicable"
KEEP_IN_MEMORY = 8 * 1024**2  # small members are kept from the single read for the format checks

# code -> (Chinese name, what it checks). Numbers follow DA/T 70-2018 where the
# notes corroborate them (docs/standards.md §2.3); sub-items of 1-1 are ours.
CATALOGUE: dict[str, tuple[str, str]] = {
    "1-1-1": ("固化信息有效性检测（数字摘要）", "every file matches the SM3 and SHA-256 manifests"),
    "1-1-2": ("固化信息有效性检测（电子签名）", "the CMS signature over manifest-sha256.txt verifies"),
    "1-1-3": ("固化信息有效性检测（时间戳）", "the RFC 3161 timestamp covers the signature and verifies"),
    "1-1-4": ("固化信息有效性检测（证书链）", "signer and TSA certificates chain to a trust anchor"),
    "1-2": ("元数据项数据长度检测", "metadata values within their length limits"),
    "1-3": ("元数据项数据类型、格式检测", "metadata values of the right type and format"),
    "1-4": ("设定值域的元数据项值域符合度检测", "enumerated metadata within their value domains"),
    "1-5": ("元数据项数据值合理性检测", "dates in order and in range, identifier check digits"),
    "1-6": ("元数据项数据包含特殊字符检测", "no control, replacement (mojibake), private-use or zero-width characters"),
    "1-7": ("档号规范性检测", "电子文件号 well-formed, agrees with metadata and with the package name"),
    "1-8": ("元数据项数据重复性检测", "no repeated sequence numbers or file names"),
    "1-9": ("内容电子属性一致性检测", "file name, size and format of each file agree with its metadata"),
    "1-10": ("内容数字摘要一致性检测", "the SM3/SHA-256 digests in the metadata match the content"),
    "1-11": ("元数据与内容关联一致性检测", "every metadata file points to content in its folder, and back"),
    "1-12": ("说明文件和目录文件规范性检测", "metadata XML valid against the XSD, manifests well-formed"),
    "1-13": ("信息包目录结构规范性检测", "only the expected entries, safe unique names, public compression"),
    "1-14": ("信息包一致性检测", "the package digest equals the one recorded by the sender"),
    "2-1": ("电子文件总件数相符性检测", "total_number = files in metadata = files in the package"),
    "2-2": ("总字节数相符性检测", "total_bytes = sum of declared sizes = bytes in the package"),
    "2-3": ("元数据项完整性检测", "every element of the metadata profile is present"),
    "2-4": ("元数据必著项检测", "mandatory elements are not empty"),
    "2-5": ("过程信息完整性检测", "the process record has 受理 and 办结, in time order"),
    "2-6": ("连续性元数据项检测", "件内顺序号 and process sequence run 1..n without gaps"),
    "2-7": ("内容数据完整性检测", "every file is non-empty and reads to its end with a correct CRC"),
    "2-9": ("归档范围检测", "a finished case has 申报文件 and 结果文件"),
    "2-10": ("归档信息包元数据完整性检测", "metadata, manifests, signature and timestamp are all present"),
    "2-11": ("归档信息包内容数据完整性检测", "every file the metadata declares is in the package"),
    "3-1": ("信息包中元数据的可读性检测", "the metadata XML parses as UTF-8"),
    "3-2": ("目标数据库中的元数据可访问性检测", "the catalogue record can be read"),
    "3-3": ("内容数据格式检测", "each file's real format (by signature) is allowed and matches its extension"),
    "3-4": ("内容数据可读性检测", "each file opens: PDF pages, OFD structure, images decode, XML parses"),
    "3-8": ("信息包中包含的内容数据格式合规性检测", "no encryption, no non-public compression"),
    "4-1": ("系统环境中是否安装杀毒软件检测", "a virus scanner ran, and with which database"),
    "4-2": ("病毒感染检测", "no file matches a virus signature"),
    "4-3": ("载体中多余文件检测", "no file in the package that the metadata does not declare"),
    "4-4": ("载体安全性检测", "physical carrier checks"),
}

# Metadata field rules used by 1-2 … 1-6: max length, pattern, value domain.
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


@dataclass(frozen=True)
class FieldRule:
    max_len: int = 200
    pattern: re.Pattern[str] | None = None
    domain: tuple[str, ...] | None = None
    kind: str = "text"  # text | datetime | integer


FIELD_RULES: dict[str, FieldRule] = {
    "electronic_record_code": FieldRule(80, RECORD_CODE_RE),
    "region_code": FieldRule(6, re.compile(r"^\d{6}$")),
    "fonds_identifier": FieldRule(10, re.compile(r"^[0-9A-Za-z]{1,10}$")),
    "social_code": FieldRule(18, re.compile(r"^[0-9A-Z]{18}$")),
    "task_code": FieldRule(40, re.compile(r"^[0-9A-Za-z]{1,40}$")),
    "task_type": FieldRule(domain=("行政权力事项", "公共服务事项")),
    "project_id": FieldRule(64, re.compile(r"^[0-9A-Za-z_-]{1,64}$")),
    "service_type": FieldRule(domain=("即办件", "承诺件")),
    "retention_period": FieldRule(3, domain=("Y", "D30", "D10")),
    "security_classification": FieldRule(domain=("公开", "内部", "限制")),
    "year": FieldRule(4, re.compile(r"^\d{4}$")),
    "archive_time": FieldRule(40, kind="datetime"),
    "receive_time": FieldRule(40, kind="datetime"),
    "transact_time": FieldRule(40, kind="datetime"),
    "apply_type": FieldRule(domain=("自然人", "法人", "其他组织")),
    "card_type": FieldRule(domain=("居民身份证", "护照", "港澳居民来往内地通行证", "台湾居民来往大陆通行证",
                                   "外国人永久居留身份证", "统一社会信用代码", "其他")),
    "contacted_card": FieldRule(64),
    "phone": FieldRule(30, re.compile(r"^[0-9+() -]{5,30}$")),
    "is_project": FieldRule(1, domain=("是", "否")),
    "total_number": FieldRule(9, kind="integer"),
    "total_bytes": FieldRule(20, kind="integer"),
    "remarks": FieldRule(500),
}
FILE_FIELD_RULES: dict[str, FieldRule] = {
    "seq": FieldRule(4, kind="integer"),
    "file_code": FieldRule(4, re.compile(r"^[ABC][0-9]{0,3}$")),
    "file_standard_name": FieldRule(200),
    "file_actual_name": FieldRule(255),
    "computer_file_name": FieldRule(255),
    "computer_file_size": FieldRule(20, kind="integer"),
    "computer_file_creation_time": FieldRule(40, kind="datetime"),
    "file_share": FieldRule(domain=("无条件共享", "有条件共享", "不予共享")),
}
MANDATORY = (
    "electronic_record_code", "region_code", "fonds_identifier", "fonds_constituting_unit_name", "task_code",
    "task_name", "task_type", "project_id", "project_name", "retention_period", "security_classification",
    "year", "archive_time", "apply_name", "apply_type", "card_type", "contacted_card", "receive_department",
    "receive_time", "transact_time", "result", "total_number", "total_bytes",
)
PROFILE_ELEMENTS = MANDATORY + ("information_system_description", "is_project", "process_info", "fileset")
FILE_MANDATORY = ("seq", "file_standard_name", "file_actual_name", "computer_file_name", "format_information", "computer_file_size")
BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd\u200b-\u200f\u2028\u2029\ufeff\ue000-\uf8ff]")


@dataclass
class TestResult:
    id: str
    property: str
    name: str
    status: str
    detail: str
    checked_at: str
    objects: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"id": self.id, "property": self.property, "name": self.name, "status": self.status,
                "detail": self.detail, "checked_at": self.checked_at, "objects": self.objects}


@dataclass
class CheckReport:
    package: str
    stage: str
    checked_at: str
    results: list[TestResult]
    scanner: str = ""
    trust: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not any(r.status == FAIL for r in self.results)

    @property
    def failures(self) -> list[TestResult]:
        return [r for r in self.results if r.status == FAIL]

    def as_dict(self) -> dict:
        return {"package": self.package, "stage": self.stage, "passed": self.passed, "checked_at": self.checked_at,
                "scanner": self.scanner, "trust_anchors": self.trust, "results": [r.as_dict() for r in self.results]}


@dataclass
class MemberFacts:
    """What the single read of one member found."""

    path: str
    size: int = 0
    sm3: str = ""
    sha256: str = ""
    head: bytes = b""
    tail: bytes = b""
    data: bytes | None = None  # kept when small, for the format checks
    read_error: str | None = None
    virus: list[str] = field(default_factory=list)


@dataclass
class CheckOptions:
    stage: str = "archiving"
    trust: list[x509.Certificate] | None = None
    trust_label: list[str] = field(default_factory=list)
    scanner: object | None = None
    allowed_formats: tuple[str, ...] = DEFAULT_ALLOWED
    expected_digest: tuple[str, str] | None = None  # (algorithm, hex) of the whole package
    # Digests of the package file measured by the caller while it wrote the file (e.g. while
    # downloading it), so YJ-1-14 need not read a multi-GB package a second time.
    measured_digests: dict[str, str] | None = None
    catalogue_reader: Callable[[str], bool] | None = None  # for 3-2 in the pipeline
    limits: ZipLimits = field(default_factory=ZipLimits)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


class _Run:
    """One check run: collects results in catalogue order."""

    def __init__(self, package: str, options: CheckOptions):
        self.package, self.opt = package, options
        self.prefix = STAGES[options.stage]
        self.results: dict[str, TestResult] = {}
        self.package_findings: list[str] = []  # scanner findings not tied to one member

    def add(self, code: str, status: str, detail: str, objects: list[str] | None = None) -> None:
        name, _ = CATALOGUE[code]
        self.results[code] = TestResult(f"{self.prefix}-{code}", PROPERTIES[code[0]], name, status, detail, _now(), objects or [])

    def verdict(self, code: str, problems: list[tuple[str, str]], ok_detail: str) -> None:
        """Fail with every (object, reason) found, or pass with ``ok_detail``."""
        if problems:
            shown = "; ".join(f"{obj}: {why}" if obj else why for obj, why in problems[:20])
            more = f" (+{len(problems) - 20} more)" if len(problems) > 20 else ""
            self.add(code, FAIL, shown + more, sorted({o for o, _ in problems if o}))
        else:
            self.add(code, PASS, ok_detail)

    def not_run(self, codes: list[str], why: str) -> None:
        for code in codes:
            if code not in self.results:
                self.add(code, FAIL, f"无法检测 / not checked: {why}")

    def report(self) -> CheckReport:
        ordered = [self.results[c] for c in CATALOGUE if c in self.results]
        scanner = self.opt.scanner
        return CheckReport(self.package, self.opt.stage, _now(), ordered,
                           f"{scanner.name}: {scanner.database_info}" if scanner else "none", self.opt.trust_label)


def check_package(path: str | Path, options: CheckOptions | None = None) -> CheckReport:
    """Run every test on the package at ``path``; never raises for a bad package."""
    options = options or CheckOptions()
    run = _Run(str(path), options)
    try:
        _check(run, Path(path))
    except Exception as exc:  # noqa: BLE001 - a hostile package must yield a report, not a traceback
        run.not_run(list(CATALOGUE), f"unexpected {type(exc).__name__}: {exc}")
    return run.report()


def _check(run: _Run, path: Path) -> None:
    opt = run.opt
    if opt.expected_digest is None:
        run.add("1-14", NA if opt.stage == "archiving" else MANUAL,
                "no sender digest given for the package (--package-digest)" if opt.stage == "archiving"
                else "no sender digest given: compare the package digest with the transfer list (--package-digest)")
    run.add("4-4", NA, "online transfer: no physical carrier (载体) to inspect")
    if not path.is_file():
        run.not_run(list(CATALOGUE), f"{path} is not a readable file")
        return
    try:
        z = SafeZip(str(path), opt.limits, rule_prefix="PACKAGE")
    except Exception as exc:  # noqa: BLE001 - EarchiveError or anything zipfile raises
        run.add("1-13", FAIL, f"not a readable zip package: {exc}", [path.name])
        run.not_run(list(CATALOGUE), "the package is not a readable zip")
        return
    with z:
        facts = _read_members(run, z, path)
        _structure(run, z)
        meta = _metadata(run, z, facts)
        _seal(run, z, facts)
        _package_digest(run, path)
        if meta is None:
            run.not_run(list(CATALOGUE), "the metadata XML is missing or unreadable")
            return
        _fields(run, meta, path)
        _content(run, z, meta, facts)
        _security(run, z, facts, meta)
        if opt.catalogue_reader is None:
            run.add("3-2", NA, "offline check: the catalogue (DynamoDB) is checked by the pipeline's register step")
        else:
            ok = opt.catalogue_reader(meta.fields.get("electronic_record_code", ""))
            run.add("3-2", PASS if ok else FAIL, "catalogue record readable" if ok else "catalogue record not found")


def _read_members(run: _Run, z: SafeZip, path: Path) -> dict[str, MemberFacts]:
    """The single read: digests, virus signatures, head/tail; CRC verified by zipfile."""
    scanner = run.opt.scanner
    facts: dict[str, MemberFacts] = {}
    for member in z.iter_members():
        f = MemberFacts(member.path, member.size)
        session = scanner.session() if scanner is not None and getattr(scanner, "streaming", False) else None
        md_ = MultiDigest()
        keep = bytearray() if member.size <= KEEP_IN_MEMORY else None
        tail = b""
        try:
            with z.open(member) as stream:
                while chunk := stream.read(1 << 20):
                    md_.update(chunk)
                    if session:
                        session.update(chunk)
                    if not f.head:
                        f.head = chunk[:16]
                    tail = (tail + chunk)[-1024:] if len(chunk) < 1024 else chunk[-1024:]
                    if keep is not None:
                        keep += chunk
            d = md_.hexdigests()
            f.sm3, f.sha256, f.size, f.tail = d["SM3"], d["SHA-256"], md_.size, tail
            f.data = bytes(keep) if keep is not None else None
        except Exception as exc:  # noqa: BLE001 - CRC errors, bombs, truncation: all reported
            f.read_error = f"{type(exc).__name__}: {exc}"
            md_.hexdigests()
        if session:
            f.virus = session.hits
        facts[member.path] = f
    if scanner is not None and not getattr(scanner, "streaming", False):
        hits, error = scanner.scan_file(str(path))
        unplaced = []
        for obj, sig in hits:
            inner = obj.split("!", 1)[-1] if "!" in obj else obj
            if inner in facts:
                facts[inner].virus.append(sig)
            else:  # clamscan names the zip itself, or something nested deeper
                unplaced.append(f"{Path(obj).name}: {sig}")
        if error:
            run.add("4-2", FAIL, f"the scanner failed: {error}")
        run.package_findings = unplaced
    return facts


def _structure(run: _Run, z: SafeZip) -> None:
    problems = [(p.file or "", f"{p.message} [{p.rule}]") for p in z.problems]
    allowed_top = {METADATA_NAME, *SEAL_FILES}
    for name, member in z.members.items():
        parts = name.split("/")
        if len(parts) == 1:
            if name not in allowed_top:
                problems.append((name, "unexpected file at the package root"))
        elif len(parts) != 2 or parts[0] not in CATEGORIES:
            problems.append((name, f"content must sit directly in one of {', '.join(CATEGORIES)}"))
        if member.info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            problems.append((name, "non-public compression method"))
        if not member.info.flag_bits & 0x800 and not name.isascii():
            problems.append((name, "non-ASCII name without the zip UTF-8 flag"))
    for d in z.directories:
        if d not in CATEGORIES:
            problems.append((d + "/", "unexpected folder"))
    run.verdict("1-13", problems, f"{len(z.members)} entries, layout 基本信息元数据.xml + {'/'.join(CATEGORIES)} + seal")
    missing = [(n, "missing") for n in (METADATA_NAME, *SEAL_FILES) if n not in z.members]
    run.verdict("2-10", missing, "metadata, both manifests, signature and timestamp present")


def _metadata(run: _Run, z: SafeZip, facts: dict[str, MemberFacts]) -> md.ParsedMetadata | None:
    member = z.members.get(METADATA_NAME)
    if member is None:
        run.add("3-1", FAIL, f"{METADATA_NAME} is missing", [METADATA_NAME])
        run.add("1-12", FAIL, f"{METADATA_NAME} is missing", [METADATA_NAME])
        return None
    f = facts[METADATA_NAME]
    if f.read_error or f.data is None:
        run.add("3-1", FAIL, f"cannot read: {f.read_error or 'larger than 8 MiB'}", [METADATA_NAME])
        return None
    try:
        f.data.decode("utf-8")
        meta = md.parse(f.data)
    except (UnicodeDecodeError, etree.XMLSyntaxError, ValueError) as exc:
        run.add("3-1", FAIL, f"not well-formed UTF-8 XML: {exc}", [METADATA_NAME])
        run.add("1-12", FAIL, "metadata XML does not parse", [METADATA_NAME])
        return None
    run.add("3-1", PASS, f"UTF-8 XML, {len(f.data)} bytes, root <{meta.tree.tag}>")
    problems = [(METADATA_NAME, e) for e in meta.schema_errors]
    for name in (MANIFEST_SM3, MANIFEST_SHA256):
        mf = facts.get(name)
        if mf is None or mf.data is None:
            continue
        try:
            parse_manifest(mf.data)
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append((name, str(exc)))
    run.verdict("1-12", problems, "metadata valid against base_info.xsd 1.0; manifests well-formed")
    return meta


def _anchors(run: _Run) -> list[x509.Certificate]:
    if run.opt.trust is None:
        from ..crypto.signers import default_trust_path

        p = default_trust_path()
        run.opt.trust = load_trust_anchors(p)
        run.opt.trust_label = [f"{p} (local development CA)"]
    return run.opt.trust


def _seal(run: _Run, z: SafeZip, facts: dict[str, MemberFacts]) -> None:
    from ..crypto.cms import verify_signed_data
    from ..crypto.timestamp import verify_timestamp

    missing = [n for n in SEAL_FILES if n not in facts or facts[n].data is None]
    if missing:
        why = f"seal file(s) missing or unreadable: {', '.join(missing)}"
        for code in ("1-1-1", "1-1-2", "1-1-3", "1-1-4"):
            run.add(code, FAIL, why, missing)
        return
    # 1-1-1: every file against both manifests, and every file listed.
    problems: list[tuple[str, str]] = []
    listed: dict[str, set[str]] = {}
    for manifest, algo, attr in ((MANIFEST_SHA256, "SHA-256", "sha256"), (MANIFEST_SM3, "SM3", "sm3")):
        try:
            entries = parse_manifest(facts[manifest].data or b"")
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append((manifest, f"malformed: {exc}"))
            continue
        listed[manifest] = {p for _, p in entries}
        for digest_hex, p in entries:
            f = facts.get(p)
            if f is None:
                problems.append((p, f"listed in {manifest} but not in the package"))
            elif f.read_error:
                problems.append((p, f"unreadable: {f.read_error}"))
            elif getattr(f, attr) != digest_hex:
                problems.append((p, f"{algo} {getattr(f, attr)} differs from {manifest} ({digest_hex}): altered"))
    covered = listed.get(MANIFEST_SHA256, set())
    for p in facts:
        if p not in covered and p not in (MANIFEST_SHA256, SIGNATURE, TIMESTAMP):
            problems.append((p, f"not covered by {MANIFEST_SHA256}"))
    run.verdict("1-1-1", problems, f"{len(facts) - 3} files match the SHA-256 and SM3 manifests")
    anchors = _anchors(run)
    manifest_bytes, signature = facts[MANIFEST_SHA256].data or b"", facts[SIGNATURE].data or b""
    try:
        sig = verify_signed_data(acms.ContentInfo.load(signature), anchors, content=manifest_bytes)
    except (ValueError, TypeError) as exc:
        run.add("1-1-2", FAIL, f"signature is not DER CMS: {exc}", [SIGNATURE])
        run.add("1-1-4", FAIL, "no signer certificate to check", [SIGNATURE])
        sig = None
    ts = verify_timestamp(signature, facts[TIMESTAMP].data or b"", anchors)
    if sig is not None:
        if sig.errors:
            run.add("1-1-2", FAIL, "; ".join(sig.errors), [SIGNATURE])
        else:
            run.add("1-1-2", PASS, f"{sig.algorithm} by {sig.signer_subject}, signed {sig.signing_time}")
    if ts.errors:
        run.add("1-1-3", FAIL, "; ".join(ts.errors), [TIMESTAMP])
    else:
        if sig and sig.signing_time and ts.gen_time and sig.signing_time > ts.gen_time + dt.timedelta(minutes=5):
            run.add("1-1-3", FAIL, f"signing time {sig.signing_time} is after the timestamp {ts.gen_time}", [TIMESTAMP])
        else:
            run.add("1-1-3", PASS, f"timestamp {ts.gen_time} by {ts.tsa_subject}, policy {ts.policy}")
    if sig is not None:
        chain = [f"signer: {e}" for e in sig.chain_errors] + [f"TSA: {e}" for e in ts.chain_errors]
        if sig.signer_cert is not None and ts.gen_time is not None:
            c = sig.signer_cert
            if not c.not_valid_before_utc <= ts.gen_time <= c.not_valid_after_utc:
                chain.append("signer: certificate not valid at the timestamp time")
        run.verdict("1-1-4", [("", e) for e in chain], f"signer and TSA chain to {', '.join(run.opt.trust_label) or 'the trust anchors'}")


def _package_digest(run: _Run, path: Path) -> None:
    if run.opt.expected_digest is None:
        return
    algorithm, expected = run.opt.expected_digest
    actual = (run.opt.measured_digests or {}).get(algorithm)
    if actual is None:
        from ..crypto.digests import new_hash

        h = new_hash(algorithm)
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        actual = h.hexdigest()
    if actual == expected.lower():
        run.add("1-14", PASS, f"{algorithm} of the package equals the sender's ({expected[:16]}…)")
    else:
        run.add("1-14", FAIL, f"{algorithm} of the package is {actual}, the sender recorded {expected}", [path.name])


def _text_problems(name: str, value: str, rule: FieldRule | None, where: str) -> dict[str, list[tuple[str, str]]]:
    out: dict[str, list[tuple[str, str]]] = {"1-2": [], "1-3": [], "1-4": [], "1-6": []}
    rule = rule or FieldRule()
    if len(value) > rule.max_len:
        out["1-2"].append((where, f"{name} has {len(value)} characters, limit {rule.max_len}"))
    if value:
        if rule.pattern and not rule.pattern.match(value):
            out["1-3"].append((where, f"{name}={value!r} does not match {rule.pattern.pattern}"))
        if rule.kind == "datetime" and not DATETIME_RE.match(value):
            out["1-3"].append((where, f"{name}={value!r} is not an ISO 8601 date-time with zone"))
        if rule.kind == "integer" and not value.isdigit():
            out["1-3"].append((where, f"{name}={value!r} is not a non-negative integer"))
        if rule.domain and value not in rule.domain:
            out["1-4"].append((where, f"{name}={value!r} not in {{{', '.join(rule.domain)}}}"))
    bad = BAD_CHARS.search(value.replace("\n", "").replace("\t", "").replace("\r", ""))
    if bad:
        out["1-6"].append((where, f"{name} contains U+{ord(bad.group()):04X} ({unicodedata.name(bad.group(), 'control')})"))
    return out


def _parse_dt(value: str) -> dt.datetime | None:
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else None
    except ValueError:
        return None


def _fields(run: _Run, meta: md.ParsedMetadata, path: Path) -> None:
    found: dict[str, list[tuple[str, str]]] = {"1-2": [], "1-3": [], "1-4": [], "1-6": []}
    where = METADATA_NAME

    def merge(part: dict[str, list[tuple[str, str]]]) -> None:
        for k, v in part.items():
            found[k] += v

    for name, value in meta.fields.items():
        merge(_text_problems(name, value, FIELD_RULES.get(name), where))
    for entry in meta.files:
        obj = entry.fields.get("computer_file_name") or f"file seq {entry.seq}"
        for name, value in entry.fields.items():
            merge(_text_problems(name, value, FILE_FIELD_RULES.get(name), obj))
    for i, step in enumerate(meta.process, 1):
        for name, value in step.items():
            merge(_text_problems(name, value, FieldRule(2000 if name == "opinion" else 200, kind="datetime" if name == "time" else "text"), f"process {i}"))
    run.verdict("1-2", found["1-2"], f"{len(meta.fields)} case elements and {len(meta.files)} file records within length limits")
    run.verdict("1-3", found["1-3"], "types and formats conform")
    run.verdict("1-4", found["1-4"], "enumerated values within their domains")
    run.verdict("1-6", found["1-6"], "no illegal or mojibake characters")

    # 1-5 reasonableness
    f = meta.fields
    reasons: list[tuple[str, str]] = []
    now = dt.datetime.now(dt.UTC)
    times = {k: _parse_dt(f.get(k, "")) for k in ("receive_time", "transact_time", "archive_time")}
    for k, t in times.items():
        if t and not (dt.datetime(1949, 10, 1, tzinfo=dt.UTC) <= t <= now + dt.timedelta(days=1)):
            reasons.append((where, f"{k} {t.isoformat()} is outside 1949-10-01 … today"))
    r, t, a = times["receive_time"], times["transact_time"], times["archive_time"]
    if r and t and t < r:
        reasons.append((where, "办结时间 (transact_time) is earlier than 受理时间 (receive_time)"))
    if t and a and a < t:
        reasons.append((where, "归档时间 (archive_time) is earlier than 办结时间 (transact_time)"))
    if t and f.get("year", "").isdigit() and int(f["year"]) != t.astimezone(dt.timezone(dt.timedelta(hours=8))).year:
        reasons.append((where, f"year {f['year']} is not the year of 办结时间"))
    if f.get("card_type") == "居民身份证" and f.get("contacted_card") and not id_card_valid(f["contacted_card"]):
        reasons.append((where, "contacted_card fails the GB 11643 check digit"))
    if f.get("card_type") == "统一社会信用代码" and f.get("contacted_card") and not uscc_valid(f["contacted_card"]):
        reasons.append((where, "contacted_card fails the GB 32100 check character"))
    if f.get("social_code") and not uscc_valid(f["social_code"]):
        reasons.append((where, "social_code fails the GB 32100 check character"))
    for entry in meta.files:
        created = _parse_dt(entry.fields.get("computer_file_creation_time", ""))
        if created and created > now + dt.timedelta(days=1):
            reasons.append((entry.fields.get("computer_file_name", ""), "creation time is in the future"))
    run.verdict("1-5", reasons, "dates ordered and in range; identifier check digits correct")

    # 1-7 档号 / 电子文件号
    code = f.get("electronic_record_code", "")
    m = RECORD_CODE_RE.match(code)
    problems: list[tuple[str, str]] = []
    if not m:
        problems.append((where, f"electronic_record_code {code!r} is not region-fonds-item-year-retention-serial"))
    else:
        expect = {"region_code": m[1], "fonds_identifier": m[2], "task_code": m[3], "year": m[4], "retention_period": m[5]}
        for k, v in expect.items():
            if f.get(k) != v:
                problems.append((where, f"electronic_record_code says {k}={v}, metadata says {f.get(k)!r}"))
        if path.name != f"{code}.zip":
            problems.append((path.name, f"package file name should be {code}.zip"))
    run.verdict("1-7", problems, f"{code} well-formed and consistent")

    # 1-8 duplicates
    dups: list[tuple[str, str]] = []
    for key in ("seq", "computer_file_name"):
        seen: set[str] = set()
        for entry in meta.files:
            v = entry.fields.get(key, "")
            if v in seen:
                dups.append((entry.fields.get("computer_file_name", ""), f"{key} {v!r} repeated"))
            seen.add(v)
    run.verdict("1-8", dups, "sequence numbers and file names unique")

    # 2-3 / 2-4 completeness of elements
    present = {el.tag for el in meta.tree if isinstance(el.tag, str)}
    missing = [e for e in PROFILE_ELEMENTS if e not in present]
    run.verdict("2-3", [(where, f"element <{e}> missing") for e in missing], f"all {len(PROFILE_ELEMENTS)} profile elements present")
    empty = [(where, f"<{e}> is empty") for e in MANDATORY if e in present and not f.get(e, "").strip()]
    for entry in meta.files:
        empty += [(entry.fields.get("computer_file_name", f"seq {entry.seq}"), f"<{e}> is missing or empty")
                  for e in FILE_MANDATORY if not entry.fields.get(e, "").strip()]
    run.verdict("2-4", empty, f"{len(MANDATORY)} mandatory case elements and file elements filled")

    # 2-5 process completeness
    steps = [p.get("step", "") for p in meta.process]
    proc: list[tuple[str, str]] = [(where, f"no {s} step in process_info") for s in ("受理", "办结") if s not in steps]
    ptimes = [_parse_dt(p.get("time", "")) for p in meta.process]
    for i, (x, y) in enumerate(zip(ptimes, ptimes[1:]), 2):
        if x and y and y < x:
            proc.append((where, f"process step {i} is earlier than step {i - 1}"))
    for i, p in enumerate(meta.process, 1):
        if not p.get("actor", "").strip():
            proc.append((where, f"process step {i} has no actor (经办人)"))
    run.verdict("2-5", proc, f"{len(steps)} steps: {' → '.join(steps)}")

    # 2-6 continuity
    seqs = sorted(e.seq for e in meta.files if e.seq is not None)
    cont: list[tuple[str, str]] = []
    if seqs != list(range(1, len(meta.files) + 1)):
        cont.append((where, f"件内顺序号 {seqs} do not run 1..{len(meta.files)}"))
    pseq = [p.get("seq", "") for p in meta.process]
    if pseq != [str(i) for i in range(1, len(pseq) + 1)]:
        cont.append((where, f"process seq {pseq} do not run 1..{len(pseq)}"))
    run.verdict("2-6", cont, f"件内顺序号 1..{len(seqs)} continuous")

    # 2-9 archiving scope
    folders = {e.folder for e in meta.files}
    scope = [(where, f"no {c}") for c in ("申报文件", "结果文件") if c not in folders]
    run.verdict("2-9", scope, "申报文件 and 结果文件 present")


def _content(run: _Run, z: SafeZip, meta: md.ParsedMetadata, facts: dict[str, MemberFacts]) -> None:
    declared = {e.fields.get("computer_file_name", ""): e for e in meta.files}
    content_members = {p for p in z.members if "/" in p}
    # 2-1 counts
    total = meta.fields.get("total_number", "")
    counts = [] if total == str(len(meta.files)) == str(len(content_members)) else [
        (METADATA_NAME, f"total_number={total}, metadata lists {len(meta.files)}, package holds {len(content_members)}")]
    run.verdict("2-1", counts, f"{len(meta.files)} files")
    # 2-2 bytes
    declared_bytes = sum(int(e.fields.get("computer_file_size", "0") or 0) for e in meta.files if e.fields.get("computer_file_size", "").isdigit())
    actual_bytes = sum(facts[p].size for p in content_members)
    tb = meta.fields.get("total_bytes", "")
    run.verdict("2-2", [] if tb == str(declared_bytes) == str(actual_bytes) else [
        (METADATA_NAME, f"total_bytes={tb}, sum of file sizes {declared_bytes}, bytes in package {actual_bytes}")],
        f"{actual_bytes} bytes")
    # 2-7, 2-11, 1-9, 1-10, 1-11, 3-3, 3-4, 3-8
    p27, p211, p19, p110, p111, p33, p34, p38 = ([] for _ in range(8))
    allowed = set(run.opt.allowed_formats)
    for name, entry in declared.items():
        f = facts.get(name)
        if f is None:
            p211.append((name, "declared in the metadata but not in the package"))
            p111.append((name, "metadata points to no content"))
            continue
        folder = name.split("/", 1)[0]
        if folder != entry.folder:
            p111.append((name, f"in folder {folder}, metadata files it under {entry.folder}"))
        if FOLDER_IDS.get(entry.folder) and entry.fields.get("file_code") and entry.fields["file_code"][0] != FOLDER_IDS[entry.folder]:
            p111.append((name, f"file_code {entry.fields['file_code']} does not belong in {entry.folder}"))
        if f.read_error:
            p27.append((name, f"does not read to its end: {f.read_error}"))
            continue
        if f.size == 0:
            p27.append((name, "zero bytes"))
        if entry.fields.get("computer_file_size") != str(f.size):
            p19.append((name, f"size {f.size} bytes, metadata says {entry.fields.get('computer_file_size')}"))
        actual_name = entry.fields.get("file_actual_name", "")
        if actual_name and not name.endswith(PurePosixPath(actual_name).name):
            p19.append((name, f"name does not carry the original file name {actual_name!r}"))
        ext = PurePosixPath(name).suffix.lower().lstrip(".")
        detected = identify(f.head)
        fmt_info = entry.fields.get("format_information", "")
        if ext and md.FORMAT_NAMES.get(ext) and fmt_info != md.FORMAT_NAMES[ext]:
            p19.append((name, f"format_information {fmt_info!r}, the file is {md.FORMAT_NAMES[ext]}"))
        for algo, attr in (("SM3", "sm3"), ("SHA-256", "sha256")):
            if entry.digests.get(algo) != getattr(f, attr):
                p110.append((name, f"{algo} {getattr(f, attr)} differs from the metadata ({entry.digests.get(algo)})"))
        if entry.source_digest:
            algo, value = entry.source_digest
            if algo in ("SM3", "SHA-256") and value != getattr(f, "sm3" if algo == "SM3" else "sha256"):
                p110.append((name, f"differs from the platform's {algo} recorded at collection"))
        if ext not in allowed:
            p33.append((name, f".{ext} is not an allowed archival format ({', '.join(sorted(allowed))})"))
        elif not kind_matches(ext, detected):
            p33.append((name, f"extension .{ext} but the content is {detected or 'unrecognised'} by signature"))
        else:
            opener = (lambda f=f: io.BytesIO(f.data)) if f.data is not None else None
            if opener is None:
                member = z.members[name]
                opener = (lambda member=member: z.stored_window(member) or z.open(member))
            result = check_readable(name, opener, f.tail)
            if not result.ok:
                p34.append((name, result.detail))
            if result.encrypted:
                p38.append((name, "content is encrypted"))
    for name in content_members:
        if name not in declared:
            p111.append((name, "content with no metadata record"))
    for name, member in z.members.items():
        if member.info.flag_bits & 0x1:
            p38.append((name, "zip member is encrypted"))
    p38 += [(p.file or "", p.message) for p in z.problems if p.rule in ("PACKAGE-ENCRYPTED", "PACKAGE-NOT-ZIP")]
    run.verdict("2-7", p27, "every file non-empty, read to its end, CRC correct")
    run.verdict("2-11", p211, f"all {len(declared)} declared files present")
    run.verdict("1-9", p19, "names, sizes and formats agree with the metadata")
    run.verdict("1-10", p110, "SM3 and SHA-256 in the metadata match the content")
    run.verdict("1-11", p111, "metadata and content correspond one to one")
    run.verdict("3-3", p33, "formats allowed and confirmed by signature")
    run.verdict("3-4", p34, f"all {len(declared)} files open")
    run.verdict("3-8", p38, "no encryption, stored/deflate only")


def _security(run: _Run, z: SafeZip, facts: dict[str, MemberFacts], meta: md.ParsedMetadata) -> None:
    scanner = run.opt.scanner
    if scanner is None:
        run.add("4-1", MANUAL, "no virus scanner configured (EARCHIVE_SCANNER=none): scan by hand")
        run.add("4-2", MANUAL, "not scanned: no scanner configured")
    else:
        label = f"{scanner.name}; {scanner.database_info}"
        if getattr(scanner, "production_grade", False):
            run.add("4-1", PASS, label)
        else:
            run.add("4-1", MANUAL, label + " — development signatures only, production needs a real database")
        if "4-2" not in run.results:
            infected = [(p, f"matches {', '.join(f.virus)}") for p, f in facts.items() if f.virus]
            infected += [("", f"in the package: {finding}") for finding in run.package_findings]
            run.verdict("4-2", infected, f"{len(facts)} files scanned, nothing found")
    declared = {e.fields.get("computer_file_name", "") for e in meta.files}
    extra = [(p, "not declared in the metadata (extra file)") for p in z.members
             if p not in declared and p != METADATA_NAME and p not in SEAL_FILES]
    run.verdict("4-3", extra, "no extra files")


def catalogue_markdown() -> str:
    """docs/checks.md: the test catalogue as a table."""
    lines = ["| 归档 ID | 接收 ID | property | 检测项目 | what it checks |", "|---|---|---|---|---|"]
    for code, (name, what) in CATALOGUE.items():
        lines.append(f"| GD-{code} | YJ-{code} | {PROPERTIES[code[0]]} | {name} | {what} |")
    return "\n".join(lines) + "\n"
