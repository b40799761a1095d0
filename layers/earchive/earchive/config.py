"""Configuration: one typed object, read from the environment in one place.

Every environment variable earchive reads is a field below, with the name
``template.yaml`` gives it and a line saying what it is for; the README's
table is generated from these fields (tests/contract checks that it is, and
that no other module reads ``os.environ``). A Lambda container reads its
``Settings`` once, when its first invocation arrives, and passes them to every
state (:mod:`earchive.pipeline.handler`). On the command line, the defaults of
the signer, TSA, scanner, home folder and PDF font are read through
:func:`current` when they are needed. Nothing here talks to AWS: SSM
parameters named here are resolved by the AWS adapters (:mod:`earchive.aws.ssm`).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path


def _env(name: str, doc: str, *, where: str = "Lambda") -> dict[str, str]:
    return {"env": name, "doc": doc, "where": where}


@dataclass(frozen=True)
class Settings:
    """Names and options of one deployment (set by template.yaml) or one command-line run."""

    intake_bucket: str = field(default="", metadata=_env("INTAKE_BUCKET", "bucket the platforms upload finished cases to"))
    staging_bucket: str = field(default="", metadata=_env("STAGING_BUCKET", "bucket for packages between pack and store"))
    archive_bucket: str = field(default="", metadata=_env("ARCHIVE_BUCKET", "the archive: versioned, Object Lock (LockMode)"))
    reports_bucket: str = field(default="", metadata=_env("REPORTS_BUCKET", "bucket for the check reports (JSON and HTML)"))
    catalogue_table: str = field(default="", metadata=_env("CATALOGUE_TABLE", "DynamoDB catalogue (one item per package, claims, serials)"))
    filemap_table: str = field(default="", metadata=_env("FILEMAP_TABLE", "DynamoDB file map (platform file ↔ package member ↔ S3)"))
    eventlog_table: str = field(default="", metadata=_env("EVENTLOG_TABLE", "DynamoDB hash-chained event log"))
    transfer_table: str = field(default="", metadata=_env("TRANSFER_TABLE", "DynamoDB transfer batches, their packages and Table A.1 rows"))
    institution_table: str = field(default="", metadata=_env("INSTITUTION_TABLE", "the registry of receiving institutions"))
    archiving_config_table: str = field(default="", metadata=_env(
        "ARCHIVING_CONFIG_TABLE", "归档配置 per 事项编码, versioned (ADR 0017); unset or empty table: no 归档配置, retention as the platform gives it"))
    transfer_bucket: str = field(default="", metadata=_env("TRANSFER_BUCKET", "bucket institutions pull their batches from"))
    outcome_bus: str = field(default="default", metadata=_env(
        "EARCHIVE_OUTCOME_BUS", "EventBridge bus the platform's outcome events go to (archived, rejected, returned, accepted); empty: none"))
    transfer_state_machine: str = field(default="", metadata=_env("TRANSFER_STATE_MACHINE", "the transfer state machine the console starts (申请移交)"))
    console_max_upload: int = field(default=2 * 1024**3, metadata=_env(
        "EARCHIVE_CONSOLE_MAX_UPLOAD", "largest material file (bytes) a clerk may upload through the console (default 2 GiB)"))
    user_pool: str = field(default="", metadata=_env(
        "EARCHIVE_USER_POOL", "the console's Cognito user pool, where the admin page manages users (empty: another OIDC issuer does)"))
    oidc_issuer: str = field(default="", metadata=_env("EARCHIVE_OIDC_ISSUER", "the identity provider (OIDC issuer URL) the console signs in with"))
    oidc_client_id: str = field(default="", metadata=_env("EARCHIVE_OIDC_CLIENT_ID", "the console's OIDC client id (the JWT authorizer's audience)"))
    oidc_authorize_url: str = field(default="", metadata=_env(
        "EARCHIVE_OIDC_AUTHORIZE_URL", "the issuer's authorization endpoint (sign-in page); empty: from the issuer's discovery document"))
    oidc_token_url: str = field(default="", metadata=_env("EARCHIVE_OIDC_TOKEN_URL", "the issuer's token endpoint; empty: from discovery"))
    console_origin: str = field(default="", metadata=_env(
        "EARCHIVE_CONSOLE_ORIGIN", "origin of the web server that serves the console's static pages (ICP, `earchive console export-static`); "
        "empty: the API serves them"))
    authorizer_jwks_parameter: str = field(default="", metadata=_env(
        "EARCHIVE_AUTHORIZER_JWKS", "SSM parameter holding the issuer's JWKS (RS256, ES256, SM2 keys) the Lambda authorizer verifies tokens with"))
    idempotency_table: str = field(default="", metadata=_env("IDEMPOTENCY_TABLE", "DynamoDB table of Powertools Idempotency (unset: off)"))
    signer: str | None = field(default=None, metadata=_env(
        "EARCHIVE_SIGNER", "the seal's signer: local-ec, local-rsa, local-sm2, dev:NAME, kms:KEY, file:KEY,CERT (default local-ec)",
        where="Lambda, CLI"))
    signer_cert: str | None = field(default=None, metadata=_env(
        "EARCHIVE_SIGNER_CERT", "PEM file: certificate (and chain) of a kms: signer", where="Lambda, CLI"))
    signer_cert_parameter: str | None = field(default=None, metadata=_env(
        "EARCHIVE_SIGNER_CERT_PARAMETER", "SSM parameter holding that PEM (production; read once per container)"))
    pdf_signer: str | None = field(default=None, metadata=_env(
        "EARCHIVE_PDF_SIGNER", "certifies the printed transfer list (PAdES): a signer spec as above, not SM2 (default: the seal's signer)",
        where="Lambda, CLI"))
    pdf_signer_cert: str | None = field(default=None, metadata=_env(
        "EARCHIVE_PDF_SIGNER_CERT", "PEM file: certificate (and chain) of a kms: PDF signer", where="Lambda, CLI"))
    pdf_signer_cert_parameter: str | None = field(default=None, metadata=_env(
        "EARCHIVE_PDF_SIGNER_CERT_PARAMETER", "SSM parameter holding that PEM (production, where the seal is SM2)"))
    crypto_profile: str = field(default="standard", metadata=_env(
        "EARCHIVE_CRYPTO_PROFILE", "guomi: every signature is 国密 (SM2 seal over the SM3 manifest, SM3 timestamps from an SM2 TSA, "
        "SM2 list signer; the printed lists' PAdES stays ECDSA/RSA); standard (default): any key", where="Lambda, CLI"))
    pdf_tsa: str | None = field(default=None, metadata=_env(
        "EARCHIVE_PDF_TSA", "TSA for the printed lists' PDF timestamps, an RSA/ECDSA one (pyHanko validates no SM2 token): an http(s) URL; "
        "default the TSA when it is not SM2, else (development only) the ECDSA development TSA", where="Lambda, CLI"))
    tsa: str | None = field(default=None, metadata=_env("EARCHIVE_TSA", "timestamp authority: local or an http(s) URL (default local)",
                                                        where="Lambda, CLI"))
    scanner: str | None = field(default=None, metadata=_env("EARCHIVE_SCANNER", "virus scanner: builtin[:DB.ndb], clamav[:DB] or none (default builtin)",
                                                            where="Lambda, CLI"))
    trust: str | None = field(default=None, metadata=_env("EARCHIVE_TRUST", "PEM file of trust anchors for the checks (default: development CA)"))
    trust_parameter: str | None = field(default=None, metadata=_env("EARCHIVE_TRUST_PARAMETER", "SSM parameter holding those anchors (production)"))
    tsa_trust: str | None = field(default=None, metadata=_env("EARCHIVE_TSA_TRUST", "PEM file of the TSA's trust anchors (default: EARCHIVE_TRUST)",
                                                               where="Lambda, CLI"))
    tsa_trust_parameter: str | None = field(default=None, metadata=_env("EARCHIVE_TSA_TRUST_PARAMETER", "SSM parameter holding those anchors"))
    seal_certs: str | None = field(default=None, metadata=_env(
        "EARCHIVE_SEAL_CERTS", "PEM file of the seal certificate(s) a package must be signed with (pinned)", where="Lambda, CLI"))
    seal_certs_parameter: str | None = field(default=None, metadata=_env(
        "EARCHIVE_SEAL_CERTS_PARAMETER", "SSM parameter holding them (production: the seal's own certificate)"))
    seal_policy: str | None = field(default=None, metadata=_env(
        "EARCHIVE_SEAL_POLICY", "certificate policy OID(s) every seal certificate carries, comma-separated", where="Lambda, CLI"))
    institution_signer: str | None = field(default=None, metadata=_env(
        "EARCHIVE_INSTITUTION_SIGNER", "signs the receipt only in the development shortcut `transfer accept|return` (default dev:institution); "
        "a decision by the institution's reply carries its own signature"))
    institution_trust: str | None = field(default=None, metadata=_env(
        "EARCHIVE_INSTITUTION_TRUST", "the institution's own trust anchors for the receiving check (default EARCHIVE_TRUST)"))
    region_code: str = field(default="", metadata=_env("EARCHIVE_REGION_CODE", "行政区划 this deployment archives (empty: any)"))
    fonds: str = field(default="", metadata=_env("EARCHIVE_FONDS", "全宗号s this deployment keeps, comma-separated (empty: any)"))
    lock_mode: str = field(default="COMPLIANCE", metadata=_env(
        "EARCHIVE_LOCK_MODE", "Object Lock mode of every locked write (LockMode): COMPLIANCE in production, GOVERNANCE in a trial stack"))
    min_retention_days: int = field(default=3650, metadata=_env(
        "EARCHIVE_MIN_RETENTION_DAYS", "no package is locked for less (the archive bucket's default retention, DefaultRetentionDays)"))
    allowed_formats: tuple[str, ...] = field(default=(), metadata=_env("ALLOWED_FORMATS", "archival formats allowed, comma-separated (empty: defaults)"))
    home: str | None = field(default=None, metadata=_env(
        "EARCHIVE_HOME", "folder of the development PKI, serial counters and the local cloud's state (default ~/.local/share/earchive)",
        where="Lambda, CLI"))
    pdf_font: str | None = field(default=None, metadata=_env("EARCHIVE_PDF_FONT", "a CJK font file for the printed lists (default Noto Sans CJK)",
                                                             where="Lambda, CLI"))
    lambda_function: str | None = field(default=None, metadata=_env(
        "AWS_LAMBDA_FUNCTION_NAME", "set by Lambda itself: where it is set, development keys never sign (unless allowed below)"))
    allow_development_keys: bool = field(default=False, metadata=_env(
        "EARCHIVE_ALLOW_DEVELOPMENT_KEYS", "true: a stack on AWS may sign with the development CA and TSA (trying it out only)"))
    local_port: int = field(default=4566, metadata=_env("EARCHIVE_LOCAL_PORT", "the port `earchive local up` serves on", where="CLI"))
    local_containers: int = field(default=3, metadata=_env(
        "EARCHIVE_LOCAL_CONTAINERS", "warm containers per function in one process (the local cloud; on Lambda a process serves one "
        "invocation at a time): more invocations wait, as Lambda throttles beyond reserved concurrency", where="CLI"))
    console_port: int = field(default=8080, metadata=_env("EARCHIVE_CONSOLE_PORT", "the port `earchive local up` serves the console on", where="CLI"))
    local_partition: str = field(default="aws", metadata=_env(
        "EARCHIVE_PARTITION", "aws-cn: `earchive local up` runs the stack as in the AWS China regions (as --china)", where="CLI"))
    errors_json: bool = field(default=False, metadata=_env("EARCHIVE_ERRORS_JSON", "set: the CLI also prints rejections as JSON on stdout", where="CLI"))
    stream_above: int = field(default=0, metadata=_env(
        "EARCHIVE_STREAM_ABOVE", "a case whose materials exceed this many bytes is packed, sealed and checked from and to S3, "
        "nothing in /tmp (0: only a case that would not fit in the function's /tmp)"))
    work_dir: str = field(default_factory=tempfile.gettempdir)  # Lambda: /tmp (not an environment variable)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment gives (``os.environ`` unless another mapping is passed)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            name = f.metadata.get("env")
            if not name or name not in env:
                continue
            raw = env[name]
            if f.name == "allowed_formats":
                values[f.name] = tuple(x for x in raw.split(",") if x)
            elif f.name == "errors_json":
                values[f.name] = bool(raw)
            elif f.type in ("bool", bool):
                values[f.name] = raw.strip().lower() in ("1", "true", "yes")
            elif f.type in ("int", int):
                values[f.name] = int(raw) if raw.strip() else f.default
            elif f.type in ("str", str):
                values[f.name] = raw
            else:
                values[f.name] = raw or None
        return cls(**values)  # type: ignore[arg-type]

    @property
    def default_hall(self) -> str:
        """The hall (行政区划#全宗号) an unreadable upload is listed under: this stack's own, when it names one."""
        fonds = next((f.strip() for f in self.fonds.split(",") if f.strip()), "")
        return f"{self.region_code}#{fonds}" if self.region_code and fonds else "000000#unknown"

    def with_(self, **changes: object) -> Settings:
        """A copy with some fields changed (e.g. an SSM parameter resolved to a file)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def variables() -> list[tuple[str, str, str, str]]:
    """(variable, field, read by, what it is for) for every environment variable, in field order."""
    return [(f.metadata["env"], f.name, f.metadata["where"], f.metadata["doc"]) for f in fields(Settings) if "env" in f.metadata]


def environment_markdown() -> str:
    """The README's table of environment variables."""
    lines = ["| variable | read by | what it is for |", "|---|---|---|"]
    lines += [f"| `{var}` | {where} | {doc} |" for var, _, where, doc in variables()]
    return "\n".join(lines) + "\n"


def current() -> Settings:
    """The environment's settings now (command-line runs; a Lambda container keeps its own)."""
    return Settings.from_env()


def use_crypto_profile(value: str) -> None:
    """Set the crypto profile for this process (a command-line flag standing for EARCHIVE_CRYPTO_PROFILE)."""
    os.environ["EARCHIVE_CRYPTO_PROFILE"] = value


def earchive_home() -> Path:
    """Where earchive keeps local state (development PKI, serial counters): ``EARCHIVE_HOME`` or the XDG data folder."""
    home = current().home
    if home:
        return Path(home)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "earchive"


def aws_region(default: str = "us-east-1") -> str:
    """The AWS region every client uses: ``AWS_DEFAULT_REGION``, then ``AWS_REGION`` (Lambda sets both), then us-east-1."""
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or default
