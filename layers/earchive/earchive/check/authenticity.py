"""Authenticity (真实性, DA/T 70 GD-1-x / YJ-1-x): is the package what its sender sealed and described?

One function per test code. Each records its verdict on the :class:`Run`; the orchestrator in
``check/__init__.py`` calls them in a fixed order. They only look at the facts of the single read
(:mod:`.read`) and the parsed metadata: no member is read again here.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from asn1crypto import cms as acms
from cryptography import x509

from ..crypto.chain import SM2_SIGN_OID
from ..crypto.identity import SealIdentity
from ..crypto.pki import load_trust_anchors
from ..domain import metadata as md
from ..domain.identifiers import id_card_valid, uscc_valid
from ..domain.layout import CATEGORIES, FOLDER_IDS, METADATA_NAME, RECORD_CODE_RE, SealLayout, seal_layout_of
from ..domain.safezip import SafeZip
from ..domain.seal import MANIFEST_SHA256, MANIFEST_SM3, parse_manifest
from .catalogue import BAD_CHARS, DATETIME_RE, FAIL, FIELD_RULES, FILE_FIELD_RULES, MANUAL, NA, PASS, FieldRule, parse_datetime
from .model import MemberFacts, Problems, Run, content_members, declared_files

if TYPE_CHECKING:
    from ..crypto.cms import SignatureCheck
    from ..crypto.timestamp import TimestampCheck

SEAL_CODES = ("1-1-1", "1-1-2", "1-1-3", "1-1-4")


# --- 1-1: the seal (固化信息) -------------------------------------------------------------

def missing_seal_files(facts: dict[str, MemberFacts]) -> list[str]:
    """Seal files absent or too large to have been kept: without them no part of 1-1 can be checked."""
    return [n for n in seal_layout_of(facts).files if n not in facts or facts[n].data is None]


def seal_unverifiable(run: Run, missing: list[str]) -> None:
    """Fail all of 1-1 alike when a seal file is missing: there is nothing to verify."""
    why = f"seal file(s) missing or unreadable: {', '.join(missing)}"
    for code in SEAL_CODES:
        run.add(code, FAIL, why, missing)


def t_1_1_1_manifest_digests(run: Run, facts: dict[str, MemberFacts]) -> None:
    """Every file against both manifests, and every file listed."""
    layout = seal_layout_of(facts)
    problems: Problems = []
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
    signed = listed.get(layout.signed_manifest, set())  # the signed manifest covers everything but itself and its seal
    for p in facts:
        if p not in signed and p not in (layout.signed_manifest, layout.signature, layout.timestamp):
            problems.append((p, f"not covered by {layout.signed_manifest}, the manifest the seal signs"))
    if layout.other_manifest in listed:  # the other manifest is fixity too: it must cover every file, not just exist
        for p in facts:
            if p not in listed[layout.other_manifest] and p not in layout.files:
                problems.append((p, f"not covered by {layout.other_manifest}"))
    run.verdict("1-1-1", problems, f"{len(facts) - 3} files match the SHA-256 and SM3 manifests; the seal signs {layout.signed_manifest}")


@dataclass
class SealEvidence:
    """The signature and timestamp, verified once and judged by 1-1-2, 1-1-3 and 1-1-4."""

    signature: SignatureCheck | None  # None when the signature is not DER CMS
    not_der: str | None  # why the signature could not even be parsed
    timestamp: TimestampCheck
    identity: list[str]  # why the signer is not the seal identity (empty: it is)
    layout: SealLayout

    @property
    def profile(self) -> str:
        """What the seal was found to be, named exactly ("" when it did not verify: nothing is claimed for it).

        ``guomi``: the seal and its timestamp verified, both SM2 over SM3 (the seal over the SM3 manifest), and every
        certificate on both paths signed SM3withSM2; ``guomi-seal``: a verified SM2 seal over the SM3 manifest with
        something else on its paths or timestamp; ``standard``: any other verified seal.
        """
        sig, ts = self.signature, self.timestamp
        if sig is None or not sig.ok or self.identity or not sig.chain_checked or not ts.ok or not ts.chain_checked:
            return ""
        if self.layout.profile != "guomi" or sig.algorithm != "sm2_sm3/sm3":
            return "standard"
        paths = sig.path + ts.path
        all_sm2 = ts.algorithm == "sm2_sm3/sm3" and all(c.signature_algorithm_oid.dotted_string == SM2_SIGN_OID for c in paths)
        return "guomi" if all_sm2 else "guomi-seal"


def _anchors(run: Run) -> list[x509.Certificate]:
    """The trust anchors of the run, defaulting to the local development CA (and saying so in the report)."""
    if run.opt.trust is None:
        from ..crypto.signers import default_trust_path

        p = default_trust_path()
        run.opt.trust = load_trust_anchors(p)
        run.opt.trust_label = [f"{p} (local development roots, ECDSA and SM2)"]
    return run.opt.trust


def verify_seal(run: Run, facts: dict[str, MemberFacts]) -> SealEvidence:
    """Verify the CMS signature over the signed manifest (the layout names it) and the timestamp over the signature."""
    from ..crypto.cms import verify_signed_data
    from ..crypto.timestamp import verify_timestamp

    anchors = _anchors(run)
    tsa_anchors = run.opt.tsa_trust if run.opt.tsa_trust is not None else anchors
    layout = seal_layout_of(facts)
    manifest_bytes, signature = facts[layout.signed_manifest].data or b"", facts[layout.signature].data or b""
    # The timestamp first: its time is the trusted one, at which the signer's whole chain must be valid.
    ts = verify_timestamp(signature, facts[layout.timestamp].data or b"", tsa_anchors)
    trusted_time = ts.gen_time if not ts.errors and not ts.chain_errors else None
    sig, not_der = None, None
    try:
        sig = verify_signed_data(acms.ContentInfo.load(signature), anchors, content=manifest_bytes, at=trusted_time)
    except (ValueError, TypeError) as exc:
        not_der = str(exc)
    identity = run.opt.seal_identity or SealIdentity.development()
    who = identity.problems(sig.signer_cert) if sig is not None and sig.signer_cert is not None else []
    if sig is not None and layout.profile == "guomi" and sig.algorithm and sig.algorithm != "sm2_sm3/sm3":
        who.append(f"{layout.signature} is the 国密 seal's name, but it is signed with {sig.algorithm}, not SM2/SM3 / 国密封装的签名不是 SM2")
    evidence = SealEvidence(sig, not_der, ts, who, layout)
    run.crypto_profile = evidence.profile
    return evidence


def t_1_1_2_signature(run: Run, seal: SealEvidence) -> None:
    sig, name = seal.signature, seal.layout.signature
    if sig is None:
        run.add("1-1-2", FAIL, f"signature is not DER CMS: {seal.not_der}", [name])
    elif sig.errors or seal.identity:
        run.add("1-1-2", FAIL, "; ".join(sig.errors + seal.identity), [name])
    else:
        run.add("1-1-2", PASS, f"{seal.layout.label} seal over {seal.layout.signed_manifest}: {sig.algorithm} by {sig.signer_subject}, "
                               f"signed {sig.signing_time}; the seal identity ({(run.opt.seal_identity or SealIdentity.development()).describe()})")


def t_1_1_3_timestamp(run: Run, seal: SealEvidence) -> None:
    """The timestamp verifies, and the claimed signing time is not after it (5 minutes of clock skew allowed)."""
    sig, ts, name = seal.signature, seal.timestamp, seal.layout.timestamp
    if ts.errors:
        run.add("1-1-3", FAIL, "; ".join(ts.errors), [name])
    elif sig and sig.signing_time and ts.gen_time and sig.signing_time > ts.gen_time + dt.timedelta(minutes=5):
        run.add("1-1-3", FAIL, f"signing time {sig.signing_time} is after the timestamp {ts.gen_time}", [name])
    else:
        run.add("1-1-3", PASS, f"timestamp {ts.gen_time} by {ts.tsa_subject} ({ts.algorithm}), policy {ts.policy}")


def t_1_1_4_certificate_chain(run: Run, seal: SealEvidence) -> None:
    """Signer and TSA chain to the anchors, and the signer's certificate was valid when stamped."""
    sig, ts = seal.signature, seal.timestamp
    if sig is None or sig.signer_cert is None:  # nothing examined is never a pass
        run.add("1-1-4", FAIL, "no signer certificate to check: " + ("; ".join(sig.errors) if sig else "the signature is not DER CMS"),
                [seal.layout.signature])
        return
    chain = [f"signer: {e}" for e in sig.chain_errors] + [f"TSA: {e}" for e in ts.chain_errors]
    chain += [f"{who}: 证书链未检测 (the chain was not walked: {why})" for who, done, why in (
        ("signer", sig.chain_checked, "; ".join(sig.errors) or "the signature could not be read"),
        ("TSA", ts.chain_checked, "; ".join(ts.errors) or "the timestamp could not be read")) if not done]
    if sig.signer_cert is not None and ts.gen_time is not None:
        c = sig.signer_cert
        if not c.not_valid_before_utc <= ts.gen_time <= c.not_valid_after_utc:
            chain.append("signer: certificate not valid at the timestamp time")
    signer_anchors = ", ".join(run.opt.trust_label) or "the trust anchors"
    tsa_anchors = ", ".join(run.opt.tsa_trust_label) if run.opt.tsa_trust is not None else signer_anchors
    run.verdict("1-1-4", [("", e) for e in chain], f"signer chains to {signer_anchors}; TSA chains to {tsa_anchors}")


# --- 1-2 … 1-8: the metadata values -------------------------------------------------------

def _values(meta: md.ParsedMetadata) -> Iterator[tuple[str, str, FieldRule, str]]:
    """(name, value, rule, object) for every metadata value: case elements, file records, process steps."""
    for name, value in meta.fields.items():
        yield name, value, FIELD_RULES.get(name) or FieldRule(), METADATA_NAME
    for entry in meta.files:
        obj = entry.fields.get("computer_file_name") or f"file seq {entry.seq}"
        for name, value in entry.fields.items():
            yield name, value, FILE_FIELD_RULES.get(name) or FieldRule(), obj
    for i, step in enumerate(meta.process, 1):
        for name, value in step.items():
            yield name, value, FieldRule(2000 if name == "opinion" else 200, kind="datetime" if name == "time" else "text"), f"process {i}"


def t_1_2_value_length(run: Run, meta: md.ParsedMetadata) -> None:
    problems = [(where, f"{name} has {len(value)} characters, limit {rule.max_len}")
                for name, value, rule, where in _values(meta) if len(value) > rule.max_len]
    run.verdict("1-2", problems, f"{len(meta.fields)} case elements and {len(meta.files)} file records within length limits")


def t_1_3_value_format(run: Run, meta: md.ParsedMetadata) -> None:
    problems: Problems = []
    for name, value, rule, where in _values(meta):
        if not value:
            continue
        if rule.pattern and not rule.pattern.match(value):
            problems.append((where, f"{name}={value!r} does not match {rule.pattern.pattern}"))
        if rule.kind == "datetime" and not DATETIME_RE.match(value):
            problems.append((where, f"{name}={value!r} is not an ISO 8601 date-time with zone"))
        if rule.kind == "integer" and not value.isdigit():
            problems.append((where, f"{name}={value!r} is not a non-negative integer"))
    run.verdict("1-3", problems, "types and formats conform")


def t_1_4_value_domain(run: Run, meta: md.ParsedMetadata) -> None:
    problems = [(where, f"{name}={value!r} not in {{{', '.join(rule.domain)}}}")
                for name, value, rule, where in _values(meta) if value and rule.domain and value not in rule.domain]
    run.verdict("1-4", problems, "enumerated values within their domains")


def t_1_5_value_reasonable(run: Run, meta: md.ParsedMetadata) -> None:
    """Dates in range and in order, the year that of 办结 (Beijing time), identifier check digits."""
    f, where = meta.fields, METADATA_NAME
    reasons: Problems = []
    now = dt.datetime.now(dt.UTC)
    times = {k: parse_datetime(f.get(k, "")) for k in ("receive_time", "transact_time", "archive_time")}
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
        created = parse_datetime(entry.fields.get("computer_file_creation_time", ""))
        if created and created > now + dt.timedelta(days=1):
            reasons.append((entry.fields.get("computer_file_name", ""), "creation time is in the future"))
    run.verdict("1-5", reasons, "dates ordered and in range; identifier check digits correct")


def t_1_6_special_characters(run: Run, meta: md.ParsedMetadata) -> None:
    """Control, replacement (mojibake), private-use and zero-width characters; line breaks and tabs are fine."""
    problems: Problems = []
    for name, value, _rule, where in _values(meta):
        bad = BAD_CHARS.search(value.replace("\n", "").replace("\t", "").replace("\r", ""))
        if bad:
            problems.append((where, f"{name} contains U+{ord(bad.group()):04X} ({unicodedata.name(bad.group(), 'control')})"))
    run.verdict("1-6", problems, "no illegal or mojibake characters")


def t_1_7_record_code(run: Run, meta: md.ParsedMetadata, path: Path) -> None:
    """档号 / 电子文件号: well-formed, agrees with the elements it is built from and with the package name."""
    f, where = meta.fields, METADATA_NAME
    code = f.get("electronic_record_code", "")
    m = RECORD_CODE_RE.match(code)
    problems: Problems = []
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


def t_1_8_duplicates(run: Run, meta: md.ParsedMetadata) -> None:
    dups: Problems = []
    for key in ("seq", "computer_file_name"):
        seen: set[str] = set()
        for entry in meta.files:
            v = entry.fields.get(key, "")
            if v in seen:
                dups.append((entry.fields.get("computer_file_name", ""), f"{key} {v!r} repeated"))
            seen.add(v)
    run.verdict("1-8", dups, "sequence numbers and file names unique")


# --- 1-9 … 1-11: metadata against content -------------------------------------------------

def t_1_9_electronic_attributes(run: Run, meta: md.ParsedMetadata, facts: dict[str, MemberFacts]) -> None:
    """Size, original name and format of each readable declared file agree with its record."""
    problems: Problems = []
    for name, entry in declared_files(meta).items():
        f = facts.get(name)
        if f is None or f.read_error:
            continue  # 2-11 / 2-7 report it
        if entry.fields.get("computer_file_size") != str(f.size):
            problems.append((name, f"size {f.size} bytes, metadata says {entry.fields.get('computer_file_size')}"))
        actual_name = entry.fields.get("file_actual_name", "")
        if actual_name and not name.endswith(PurePosixPath(actual_name).name):
            problems.append((name, f"name does not carry the original file name {actual_name!r}"))
        ext = PurePosixPath(name).suffix.lower().lstrip(".")
        fmt_info = entry.fields.get("format_information", "")
        if ext and md.FORMAT_NAMES.get(ext) and fmt_info != md.FORMAT_NAMES[ext]:
            problems.append((name, f"format_information {fmt_info!r}, the file is {md.FORMAT_NAMES[ext]}"))
    run.verdict("1-9", problems, "names, sizes and formats agree with the metadata")


def t_1_10_content_digests(run: Run, meta: md.ParsedMetadata, facts: dict[str, MemberFacts]) -> None:
    """The digests in the metadata, and the platform's digest from collection, match the content."""
    problems: Problems = []
    for name, entry in declared_files(meta).items():
        f = facts.get(name)
        if f is None or f.read_error:
            continue
        for algo, attr in (("SM3", "sm3"), ("SHA-256", "sha256")):
            if entry.digests.get(algo) != getattr(f, attr):
                problems.append((name, f"{algo} {getattr(f, attr)} differs from the metadata ({entry.digests.get(algo)})"))
        if entry.source_digest:
            algo, value = entry.source_digest
            if algo in ("SM3", "SHA-256") and value != getattr(f, "sm3" if algo == "SM3" else "sha256"):
                problems.append((name, f"differs from the platform's {algo} recorded at collection"))
    run.verdict("1-10", problems, "SM3 and SHA-256 in the metadata match the content")


def t_1_11_metadata_content_link(run: Run, z: SafeZip, meta: md.ParsedMetadata, facts: dict[str, MemberFacts]) -> None:
    """Each record points to content in its own folder with a code of that folder, and each content file has a record."""
    problems: Problems = []
    declared = declared_files(meta)
    for name, entry in declared.items():
        if facts.get(name) is None:
            problems.append((name, "metadata points to no content"))
            continue
        folder = name.split("/", 1)[0]
        if folder != entry.folder:
            problems.append((name, f"in folder {folder}, metadata files it under {entry.folder}"))
        if FOLDER_IDS.get(entry.folder) and entry.fields.get("file_code") and entry.fields["file_code"][0] != FOLDER_IDS[entry.folder]:
            problems.append((name, f"file_code {entry.fields['file_code']} does not belong in {entry.folder}"))
    for name in content_members(z):
        if name not in declared:
            problems.append((name, "content with no metadata record"))
    run.verdict("1-11", problems, "metadata and content correspond one to one")


# --- 1-12 … 1-14: the package as a whole --------------------------------------------------

def t_1_12_description_files(run: Run, z: SafeZip, facts: dict[str, MemberFacts], meta: md.ParsedMetadata | None) -> None:
    """The metadata XML is valid against the XSD and the manifests are well-formed.

    Runs after 3-1, which parsed the metadata. When the metadata was there but could not be read,
    3-1 says why and 1-12 is left to be reported as not checked.
    """
    if METADATA_NAME not in z.members:
        run.add("1-12", FAIL, f"{METADATA_NAME} is missing", [METADATA_NAME])
        return
    if meta is None:
        f = facts[METADATA_NAME]
        if not (f.read_error or f.data is None):
            run.add("1-12", FAIL, "metadata XML does not parse", [METADATA_NAME])
        return
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


def t_1_13_package_structure(run: Run, z: SafeZip) -> None:
    """Only the metadata, the seal and the three category folders; safe names; public compression."""
    problems = [(p.file or "", f"{p.message} [{p.rule}]") for p in z.problems]
    allowed_top = {METADATA_NAME, *seal_layout_of(z.members).files}
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


def t_1_14_package_digest(run: Run, path: Path) -> None:
    """The digest of the whole package against the sender's.

    Without a sender digest there is nothing to compare: not applicable at archiving, a manual
    comparison with the transfer list at receiving. The orchestrator records that before it opens
    the package, so a package too broken to open still reports 1-14 that way.
    """
    opt = run.opt
    if opt.expected_digest is None:
        run.add("1-14", NA if opt.stage == "archiving" else MANUAL,
                "no sender digest given for the package (--package-digest)" if opt.stage == "archiving"
                else "no sender digest given: compare the package digest with the transfer list (--package-digest)")
        return
    algorithm, expected = opt.expected_digest
    actual = (opt.measured_digests or {}).get(algorithm)
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
