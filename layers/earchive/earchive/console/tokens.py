"""Identity tokens checked as API Gateway's JWT authorizer checks them, for issuers it cannot take (issue 22, F5). Pure.

API Gateway's JWT authorizer accepts RSA signatures only and fetches the issuer's discovery document and
JWKS from the public internet within 1.5 s. A province's 统一身份认证 platform often signs with SM2
(密评) or ES256, or sits on the government extranet: the Lambda authorizer verifies its tokens with this
module against a JWKS the operator stores (an SSM parameter), with the same claim checks (``iss``,
``aud`` or else ``client_id``, ``exp``, ``nbf``, ``iat``). Accepted: RS256 (RSA ≥ 2048 bits), ES256
(P-256) and SM2 (``alg`` ``SM2``, key ``{"kty": "EC", "crv": "SM2"}``, signature r‖s as JWS ES256 has
it, SM3 with the default ID 1234567812345678, GM/T 0009). The key is chosen by ``kid`` and must be of
the header's algorithm: no ``none``, no HMAC, no algorithm confusion.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

from ..errors import Denied

ALGORITHMS = ("RS256", "ES256", "SM2")
MAX_TOKEN = 16 * 1024  # API Gateway refuses larger headers anyway; nothing larger is parsed


def b64url(text: str) -> bytes:
    if not isinstance(text, str) or any(c in text for c in "+/= \n"):
        raise Denied("bad token: not base64url", 401)
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise Denied(f"bad token: {exc}", 401) from None


def _int(text: str) -> int:
    return int.from_bytes(b64url(text), "big")


def _key_fits(key: dict[str, Any], alg: str) -> bool:
    """A key is used only for the algorithm it is made for (no RSA key read as HMAC, no P-256 key as SM2)."""
    if key.get("alg") not in (None, alg) or key.get("use") not in (None, "sig"):
        return False
    if alg == "RS256":
        return key.get("kty") == "RSA"
    return key.get("kty") == "EC" and key.get("crv") == {"ES256": "P-256", "SM2": "SM2"}[alg]


def _verify(alg: str, key: dict[str, Any], signed: bytes, signature: bytes) -> bool:
    if alg == "RS256":
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa

        public = rsa.RSAPublicNumbers(_int(key["e"]), _int(key["n"])).public_key()
        if public.key_size < 2048:
            return False
        try:
            public.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
            return True
        except InvalidSignature:
            return False
    if len(signature) != 64:  # r‖s, 32 bytes each (RFC 7518 §3.4); a DER signature is not a JWS signature
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    x, y = b64url(key["x"]), b64url(key["y"])
    if len(x) != 32 or len(y) != 32:
        return False
    if alg == "SM2":
        from asn1crypto import algos

        from ..crypto import sm2

        if not (r and s):
            return False
        return sm2.verify((x + y).hex(), algos.DSASignature({"r": r, "s": s}).dump(), signed)
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    try:
        public = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1()).public_key()
        public.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError):
        return False


def verify(token: str, jwks: dict[str, Any], issuer: str, audience: list[str], now: float | None = None,
           leeway: int = 0) -> dict[str, Any]:
    """The token's claims if it is signed by a key of ``jwks`` and meant for this issuer and audience; else :class:`Denied` (401)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN or token.count(".") != 2:
        raise Denied("bad token: not a compact JWS", 401)
    head64, body64, sig64 = token.split(".")
    try:
        header = json.loads(b64url(head64))
        claims = json.loads(b64url(body64))
    except (ValueError, UnicodeDecodeError):
        raise Denied("bad token: header or claims are not JSON", 401) from None
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise Denied("bad token: header or claims are not objects", 401)
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise Denied(f"bad token: algorithm {alg!r} is not one of {', '.join(ALGORITHMS)}", 401)
    if header.get("crit") is not None:
        raise Denied("bad token: critical header parameters are not understood", 401)
    keys = [k for k in jwks.get("keys", []) if isinstance(k, dict) and k.get("kid") is not None and k.get("kid") == header.get("kid")]
    if not keys:
        raise Denied("bad token: kid not in the issuer's JWKS", 401)
    if not any(_key_fits(k, alg) and _verify(alg, k, f"{head64}.{body64}".encode("ascii"), b64url(sig64)) for k in keys):
        raise Denied("bad token: signature does not verify with the issuer's key", 401)
    now = time.time() if now is None else now
    if claims.get("iss") != issuer:
        raise Denied("iss is not the configured issuer", 401)
    aud = claims.get("aud")
    if aud is not None:  # as API Gateway: aud when the token has one, client_id only when it has none
        if not set(aud if isinstance(aud, list) else [aud]) & set(audience):
            raise Denied("aud is not an accepted audience", 401)
    elif claims.get("client_id") not in audience:
        raise Denied("client_id is not an accepted audience (and there is no aud)", 401)
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] + leeway < now:
        raise Denied("expired", 401)
    if isinstance(claims.get("nbf"), int | float) and claims["nbf"] - leeway > now:
        raise Denied("not yet valid", 401)
    if isinstance(claims.get("iat"), int | float) and claims["iat"] - leeway > now:
        raise Denied("issued in the future", 401)
    return claims


def flat(claims: dict[str, Any]) -> dict[str, str | int | float | bool]:
    """The claims as an authorizer's context carries them: scalars, arrays as one bracketed string (as the JWT authorizer passes them)."""
    out: dict[str, str | int | float | bool] = {}
    for k, v in claims.items():
        if isinstance(v, list):
            out[k] = f"[{' '.join(str(x) for x in v)}]"
        elif isinstance(v, str | int | float | bool):
            out[k] = v
        elif v is not None:
            out[k] = json.dumps(v, ensure_ascii=False)
    return out


__all__ = ["ALGORITHMS", "flat", "verify"]
