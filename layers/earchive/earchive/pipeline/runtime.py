"""What a state receives besides its input: the container's settings and AWS adapters."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..aws.clients import Aws
from ..config import Settings


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
        if settings.trust_parameter and not settings.trust:
            settings = settings.with_(trust=aws.parameter_file(settings.trust_parameter))
        aws.settings = settings
        return cls(settings, aws)


@contextlib.contextmanager
def workdir(settings: Settings, name: str) -> Iterator[Path]:
    """A private folder in /tmp for one state's package, removed whatever happens."""
    d = Path(tempfile.mkdtemp(prefix=f"earchive-{name}-", dir=settings.work_dir))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)
