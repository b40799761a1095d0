"""SSM parameters holding certificates (the seal's chain, the trust anchors), read once per container."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any


def parameter_to_file(client: Any, name: str) -> Path:
    """Write an SSM parameter (a PEM bundle) to /tmp once per container; the signer and the check read files."""
    target = Path(tempfile.gettempdir()) / f"ssm-{hashlib.sha256(name.encode()).hexdigest()[:12]}.pem"
    if not target.exists():
        # boto3 directly (not Powertools' SSMProvider): a throttled or failed read stays a ClientError,
        # which the handler classifies as transient and the state machine retries.
        value = client.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        target.write_text(value, "utf-8")
    return target


def parameter_text(name: str) -> str:
    """One SSM parameter's value (the Lambda authorizer's JWKS: stored by the operator, never fetched from the issuer)."""
    from .clients import _session

    return _session(False).client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
