"""What a state receives besides its input: the container's settings and AWS adapters."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ..aws.clients import Aws
from ..check.model import CheckOptions, Scanner
from ..check.virus import make_scanner
from ..config import Settings
from ..crypto.identity import SealIdentity
from ..crypto.pki import load_trust_anchors
from ..crypto.signers import make_signer, make_tsa, require_profile
from ..crypto.timestamp import TimestampAuthority


@dataclass
class Runtime:
    """Settings and AWS adapters of one Lambda container, made once and passed to every invocation."""

    settings: Settings
    aws: Aws

    @classmethod
    def from_env(cls, settings: Settings | None = None) -> Runtime:
        """Read the environment once, make the clients, and resolve the SSM parameters it names into files."""
        settings = settings or Settings.from_env()
        aws = Aws(settings)
        # Production: the seal key's certificate chain and the trust anchors live in SSM parameters.
        if settings.signer_cert_parameter and not settings.signer_cert:
            settings = settings.with_(signer_cert=aws.parameter_file(settings.signer_cert_parameter))
        if settings.pdf_signer_cert_parameter and not settings.pdf_signer_cert:
            settings = settings.with_(pdf_signer_cert=aws.parameter_file(settings.pdf_signer_cert_parameter))
        if settings.trust_parameter and not settings.trust:
            settings = settings.with_(trust=aws.parameter_file(settings.trust_parameter))
        if settings.tsa_trust_parameter and not settings.tsa_trust:
            settings = settings.with_(tsa_trust=aws.parameter_file(settings.tsa_trust_parameter))
        if settings.seal_certs_parameter and not settings.seal_certs:
            settings = settings.with_(seal_certs=aws.parameter_file(settings.seal_certs_parameter))
        aws.settings = settings
        return cls(settings, aws)

    # The plug-ins the settings name, made on first use and kept for the container's life.
    def announce(self, stream: str, details: list[dict[str, Any]]) -> None:
        """Publish outcome events to the platform (:mod:`earchive.domain.outcome`) after the outcome is recorded.

        An event that cannot be published loses nothing (the catalogue, the notice and the event log
        hold the outcome): it is logged, and an ``announce`` entry in the case's event stream says so.
        """
        import logging

        try:
            failed = self.aws.outcomes.publish(details)
        except Exception as exc:  # noqa: BLE001 - an EventBridge outage must not undo an archived case
            failed = [f"{type(exc).__name__}: {exc}"]
        if failed:
            logging.getLogger(__name__).error("outcome events not published (%s): %s", stream, "; ".join(failed)[:1000])
            self.aws.events.append(stream, actor="earchive", action="announce", result="failed", detail={"failed": failed[:20]})

    @cached_property
    def signer(self) -> Any:
        """The window's seal key (KMS in production): signs packages and transfer lists."""
        kms = self.aws.kms if (self.settings.signer or "").startswith("kms:") else None
        return require_profile(make_signer(self.settings.signer, kms_client=kms, cert_path=self.settings.signer_cert))

    @cached_property
    def pdf_signer(self) -> Any:
        """Who certifies the printed transfer list: its own spec, else the seal's key (pyHanko signs no SM2: ADR 0012)."""
        spec = self.settings.pdf_signer
        if not spec:
            return self.signer
        kms = self.aws.kms if spec.startswith("kms:") else None
        cert = self.settings.signer_cert if spec == self.settings.signer else self.settings.pdf_signer_cert
        return make_signer(spec, kms_client=kms, cert_path=cert)

    @cached_property
    def institution_signer(self) -> Any:
        """The receiving institution's key (its receipt); never the window's."""
        return make_signer(self.settings.institution_signer or "dev:institution")

    @cached_property
    def tsa(self) -> TimestampAuthority:
        return make_tsa(self.settings.tsa)

    @cached_property
    def scanner(self) -> Scanner | None:
        return make_scanner(self.settings.scanner)

    def trust(self, *, institution: bool = False) -> tuple[list[Any], list[str]] | None:
        """(anchors, label) the check trusts: the deployment's, or the institution's own; None for the default."""
        return self._anchors_of((self.settings.institution_trust or self.settings.trust) if institution else self.settings.trust)

    def tsa_trust(self) -> tuple[list[Any], list[str]] | None:
        """(anchors, label) for the TSA's chain, when configured apart from the signer's."""
        return self._anchors_of(self.settings.tsa_trust)

    def _anchors_of(self, path: str | None) -> tuple[list[Any], list[str]] | None:
        """The certificates of a PEM file, loaded once per container, with the file as their label."""
        if not path:
            return None
        if path not in self._anchors:
            self._anchors[path] = load_trust_anchors(path)
        return self._anchors[path], [path]

    @cached_property
    def seal_identity(self) -> SealIdentity:
        """Who may seal: the pinned seal certificates or policy configured, else the development seal policy."""
        policies = [p for p in (self.settings.seal_policy or "").split(",") if p]
        if self.settings.seal_certs or policies:
            return SealIdentity.from_files([self.settings.seal_certs] if self.settings.seal_certs else [], policies)
        return SealIdentity.development()

    def check_options(self, stage: str, *, institution: bool = False, **kwargs: Any) -> CheckOptions:
        """The check's options in this deployment: scanner, whom to trust for the signer and the TSA, who may seal."""
        options = CheckOptions(stage=stage, scanner=self.scanner, seal_identity=self.seal_identity, **kwargs)
        trust = self.trust(institution=institution)
        if trust:
            options.trust, options.trust_label = trust
        tsa = self.tsa_trust()
        if tsa:
            options.tsa_trust, options.tsa_trust_label = tsa
        if self.settings.allowed_formats:
            options.allowed_formats = self.settings.allowed_formats
        return options

    @cached_property
    def _anchors(self) -> dict[str, list[Any]]:
        return {}


@contextlib.contextmanager
def workdir(settings: Settings, name: str) -> Iterator[Path]:
    """A private folder in /tmp for one state's package, removed whatever happens."""
    d = Path(tempfile.mkdtemp(prefix=f"earchive-{name}-", dir=settings.work_dir))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def streamed(settings: Settings, size: int) -> bool:
    """Whether a package of ``size`` bytes bypasses /tmp (ADR 0015): it would not fit, or is over ``EARCHIVE_STREAM_ABOVE``."""
    return size + 64 * 1024**2 > shutil.disk_usage(settings.work_dir).free or 0 < settings.stream_above < size


def check_in_s3(rt: Runtime, bucket: str, key: str, name: str, options: CheckOptions,
                version_id: str | None = None) -> tuple[int, dict[str, str], Any]:
    """(size, digests, report) of the package ``name`` (``<record code>.zip``) checked where it is in S3 (ADR 0015).

    One pass for the package's digests, then the check's own readers; every reader must see the
    bytes the digests were made of (the ETag of the first look), or the step is retried.
    """
    from dataclasses import replace

    from ..check import check_package
    from ..errors import TransientError

    etag = rt.aws.s3.reader(bucket, key, version_id).etag
    size, digests = rt.aws.s3.digests(bucket, key, version_id, etag=etag)

    def source() -> Any:
        reader = rt.aws.s3.reader(bucket, key, version_id)
        if reader.etag != etag:
            raise TransientError(f"{key} changed while it was being checked (ETag {reader.etag}, was {etag})")
        return reader

    return size, digests, check_package(Path(name), replace(options, measured_digests=digests), source=source)
