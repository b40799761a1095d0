"""SSM parameters holding certificates (the seal's chain, the trust anchors), read once per container."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import Any

from aws_lambda_powertools.utilities.parameters import SSMProvider


def parameter_to_file(client: Any, name: str) -> Path:
    """Write an SSM parameter (a PEM bundle) to /tmp once per container; the signer and the check read files."""
    target = Path(tempfile.gettempdir()) / f"ssm-{hashlib.sha256(name.encode()).hexdigest()[:12]}.pem"
    if not target.exists():
        value = SSMProvider(boto3_client=client).get(name, decrypt=True)
        target.write_text(str(value), "utf-8")
    return target
