"""The console API's Lambda authorizer (HTTP API, payload 2.0, simple responses): the alternative to the JWT authorizer (F5).

For an identity platform API Gateway's JWT authorizer cannot take: SM2 or ES256 signatures, or a JWKS
on the government extranet. The operator stores the issuer's JWKS in an SSM parameter
(``EARCHIVE_AUTHORIZER_JWKS``); it is read once per container and again after five minutes, so a
rotated key takes effect without a deployment. The claims reach the console function as the JWT
authorizer's would (arrays as one bracketed string), under ``requestContext.authorizer.lambda``.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from ..config import Settings
from ..errors import Denied
from . import tokens

TTL = 300.0
_CACHE: dict[str, tuple[float, dict[str, Any]]] = {}
_LOCK = threading.Lock()


def jwks(name: str, now: float | None = None) -> dict[str, Any]:
    """The stored JWKS, at most :data:`TTL` seconds old."""
    now = time.monotonic() if now is None else now
    with _LOCK:
        hit = _CACHE.get(name)
        if hit and now - hit[0] < TTL:
            return hit[1]
    from ..aws.ssm import parameter_text

    keys = json.loads(parameter_text(name))
    with _LOCK:
        _CACHE[name] = (now, keys)
    return keys


def decide(event: dict[str, Any], settings: Settings, keys: dict[str, Any]) -> dict[str, Any]:
    """``{"isAuthorized": …, "context": claims}`` for this request's bearer token."""
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    header = str(headers.get("authorization") or "")
    if not header.lower().startswith("bearer "):
        return {"isAuthorized": False}
    try:
        claims = tokens.verify(header[7:].strip(), keys, settings.oidc_issuer, [settings.oidc_client_id])
    except Denied:
        return {"isAuthorized": False}
    return {"isAuthorized": True, "context": tokens.flat(claims)}


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    return decide(event, settings, jwks(settings.authorizer_jwks_parameter))


__all__ = ["decide", "handler", "jwks"]
