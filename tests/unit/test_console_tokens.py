"""The Lambda authorizer's token check (issue 22, F5): RS256, ES256 and SM2 tokens verify against the stored JWKS; hostile ones never do.

Tokens are made here with cryptography (RSA, P-256) and gmssl (SM2, via earchive.crypto.sm2), as an
identity platform would sign them; every refusal is the check's own, never an exception that escapes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from earchive.console import authorizer, tokens
from earchive.crypto import sm2
from earchive.errors import Denied

ISSUER, CLIENT = "https://sso.hunan.gov.cn/oidc", "earchive-console"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def num(n: int, size: int | None = None) -> str:
    return b64(n.to_bytes(size or (n.bit_length() + 7) // 8, "big"))


class Keys:
    """One key per algorithm, and the JWKS an operator would store for them."""

    def __init__(self) -> None:
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.sm2 = sm2.generate_private_key()
        pub = self.rsa.public_key().public_numbers()
        ecp = self.ec.public_key().public_numbers()
        sm2_pub = bytes.fromhex(sm2.public_key_hex(self.sm2))
        self.jwks = {"keys": [
            {"kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256", "n": num(pub.n), "e": num(pub.e)},
            {"kty": "EC", "kid": "ec-1", "crv": "P-256", "x": num(ecp.x, 32), "y": num(ecp.y, 32)},
            {"kty": "EC", "kid": "sm2-1", "crv": "SM2", "x": b64(sm2_pub[:32]), "y": b64(sm2_pub[32:])},
        ]}

    def sign(self, alg: str, data: bytes) -> bytes:
        if alg == "RS256":
            return self.rsa.sign(data, padding.PKCS1v15(), hashes.SHA256())
        if alg == "ES256":
            r, s = decode_dss_signature(self.ec.sign(data, ec.ECDSA(hashes.SHA256())))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")
        from asn1crypto import algos

        sig = algos.DSASignature.load(sm2.sign(self.sm2, data))
        return sig["r"].native.to_bytes(32, "big") + sig["s"].native.to_bytes(32, "big")


KID = {"RS256": "rsa-1", "ES256": "ec-1", "SM2": "sm2-1"}


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


def claims(**over) -> dict:
    now = int(time.time())
    return {"iss": ISSUER, "aud": CLIENT, "sub": "u-1", "exp": now + 600, "iat": now - 5, "groups": ["window_clerk"],
            "earchive_scopes": ["hall:430102:0102"], **over}


def token(keys: Keys, alg: str, body: dict | None = None, *, sign_as: str | None = None, **header) -> str:
    head = {"alg": alg, "typ": "JWT", "kid": KID.get(alg, "rsa-1"), **header}
    signed = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(body or claims()).encode())}"
    return f"{signed}.{b64(keys.sign(sign_as or alg, signed.encode()))}"


def check(keys: Keys, tok: str) -> dict:
    return tokens.verify(tok, keys.jwks, ISSUER, [CLIENT])


@pytest.mark.parametrize("alg", ["RS256", "ES256", "SM2"])
def test_a_token_of_each_algorithm_verifies_against_the_stored_keys(keys, alg):
    got = check(keys, token(keys, alg))
    assert got["sub"] == "u-1" and got["groups"] == ["window_clerk"]
    assert tokens.flat(got)["groups"] == "[window_clerk]"  # as the JWT authorizer passes arrays: the console reads both


def test_the_console_reads_the_lambda_authorizers_claims_as_the_jwt_authorizers(keys):
    from earchive.console.auth import principal

    who = principal(tokens.flat(check(keys, token(keys, "SM2"))))
    assert who.roles == {"window_clerk"} and who.halls() == {("430102", "0102")}


def test_alg_none_and_hmac_are_refused_even_with_a_valid_looking_token(keys):
    head = b64(json.dumps({"alg": "none", "kid": "rsa-1"}).encode())
    with pytest.raises(Denied, match="algorithm"):
        check(keys, f"{head}.{b64(json.dumps(claims()).encode())}.")
    # alg confusion: HS256 keyed with the RSA public key's bytes, which an attacker knows
    pem = keys.rsa.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    head = b64(json.dumps({"alg": "HS256", "kid": "rsa-1"}).encode())
    body = b64(json.dumps(claims()).encode())
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    with pytest.raises(Denied, match="algorithm"):
        check(keys, f"{head}.{body}.{b64(mac)}")


@pytest.mark.parametrize("alg,kid,sign_as", [("ES256", "rsa-1", "ES256"),   # an EC signature under the RSA key's kid
                                             ("SM2", "ec-1", "SM2"),        # SM2 claimed for the P-256 key
                                             ("ES256", "sm2-1", "SM2"),     # an SM2 key passed off as P-256
                                             ("RS256", "rsa-1", "ES256")])  # the right kid, another key's signature
def test_a_key_is_used_only_for_its_own_algorithm_and_only_its_own_signature_verifies(keys, alg, kid, sign_as):
    with pytest.raises(Denied, match="signature"):
        check(keys, token(keys, alg, kid=kid, sign_as=sign_as))


def test_a_key_of_another_issuer_is_refused(keys):
    other = Keys()
    with pytest.raises(Denied, match="signature"):
        check(keys, token(other, "SM2"))  # same kid, another platform's key
    with pytest.raises(Denied, match="kid"):
        check(keys, token(keys, "RS256", kid="rsa-2"))


# times are offsets from the moment the test runs (a suite runs for half an hour after it collected the cases)
@pytest.mark.parametrize("over,why", [({"exp": -1}, "expired"), ({"exp": None}, "expired"),
                                      ({"aud": "another-app"}, "aud"), ({"aud": None, "client_id": "another-app"}, "client_id"),
                                      ({"iss": "https://evil.example/oidc"}, "iss"), ({"nbf": 600}, "not yet"),
                                      ({"iat": 600}, "future")])
def test_claims_are_checked_as_api_gateway_checks_them(keys, over, why):
    now = int(time.time())
    over = {k: now + v if k in ("exp", "nbf", "iat") and isinstance(v, int) else v for k, v in over.items()}
    body = {k: v for k, v in claims(**over).items() if v is not None}
    with pytest.raises(Denied, match=why):
        check(keys, token(keys, "SM2", body))


def test_without_aud_the_client_id_is_the_audience_as_api_gateway_takes_it(keys):
    body = {k: v for k, v in claims(client_id=CLIENT).items() if k != "aud"}
    assert check(keys, token(keys, "ES256", body))["client_id"] == CLIENT


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_change_to_a_signed_token_is_refused(keys, data):
    alg = data.draw(st.sampled_from(["RS256", "ES256", "SM2"]))
    good = token(keys, alg)
    i = data.draw(st.integers(0, len(good) - 1))
    c = data.draw(st.sampled_from("ABCDEFabcdef0123456789-_."))
    bad = good[:i] + c + good[i + 1:]
    if bad == good:
        return
    try:
        got = check(keys, bad)
    except Denied:
        return
    # base64url's last character may carry unused bits: a change there decodes to the same bytes, and must give the same claims
    assert got == check(keys, good)


@settings(max_examples=60, deadline=None)
@given(junk=st.text(max_size=200) | st.binary(max_size=200).map(lambda b: b64(b)))
def test_junk_is_refused_never_raised(keys, junk):
    with pytest.raises(Denied):
        check(keys, junk)


def test_the_authorizer_answers_api_gateway_with_a_simple_response(keys):
    from earchive.config import Settings

    s = Settings.from_env({"EARCHIVE_OIDC_ISSUER": ISSUER, "EARCHIVE_OIDC_CLIENT_ID": CLIENT})
    yes = authorizer.decide({"headers": {"authorization": f"Bearer {token(keys, 'SM2')}"}}, s, keys.jwks)
    assert yes["isAuthorized"] is True and yes["context"]["sub"] == "u-1" and yes["context"]["groups"] == "[window_clerk]"
    assert authorizer.decide({"headers": {"authorization": "Bearer x.y.z"}}, s, keys.jwks) == {"isAuthorized": False}
    assert authorizer.decide({"headers": {}}, s, keys.jwks) == {"isAuthorized": False}


def test_the_authorizer_reads_the_jwks_the_operator_stored_in_ssm(keys, monkeypatch):
    from moto import mock_aws

    with mock_aws():
        import boto3

        boto3.client("ssm", region_name="cn-north-1").put_parameter(Name="/earchive/idp-jwks", Value=json.dumps(keys.jwks), Type="String")
        for k, v in {"AWS_DEFAULT_REGION": "cn-north-1", "EARCHIVE_OIDC_ISSUER": ISSUER, "EARCHIVE_OIDC_CLIENT_ID": CLIENT,
                     "EARCHIVE_AUTHORIZER_JWKS": "/earchive/idp-jwks"}.items():
            monkeypatch.setenv(k, v)
        authorizer._CACHE.clear()
        out = authorizer.handler({"headers": {"Authorization": f"Bearer {token(keys, 'ES256')}"}}, None)
        assert out["isAuthorized"] is True and out["context"]["iss"] == ISSUER
