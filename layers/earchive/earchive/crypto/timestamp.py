"""Trusted timestamps (RFC 3161): a small TSA, an HTTP client, and verification.

No maintained PyPI package acts as a TSA server, so the project ships its own
(about 60 lines over asn1crypto + cryptography). It serves the local default
and the ``earchive tsa serve`` HTTP endpoint; production points
``EARCHIVE_TSA`` at a real TSA (a 国家授时中心-backed service, or any RFC 3161
TSA over HTTP). Tokens verify with ``openssl ts -verify``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.server
import secrets
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Protocol

from asn1crypto import cms, tsp
from cryptography import x509

from ..errors import reject
from .cms import SignatureCheck, digest, signed_data, verify_signed_data

TIMESTAMPING_EKU = "1.3.6.1.5.5.7.3.8"
# The development TSA's policy: an OID under 2.25 made from a UUID (ITU-T X.667), ours without registration (audit D14;
# the earlier 1.3.6.1.4.1.59999.1.1 sat under an enterprise number the project does not hold).
POLICY_OID = "2.25.334125619284076728668468627560098537846"
IMPRINTS = ("sha256", "sha384", "sha512", "sm3")  # what a token's message imprint may use (SM3: GB/T 20520 with 国密)


class TimestampAuthority(Protocol):
    description: str

    def request(self, query_der: bytes) -> bytes:
        """Send a TimeStampReq (DER); return the TimeStampResp (DER)."""
        ...


class LocalTSA:
    """An in-process TSA signing with a key whose certificate carries timeStamping."""

    def __init__(self, signer, description: str = "local development TSA"):
        self.signer = signer  # a cms.Signer
        self.description = description
        self.imprint_algorithm = "sm3" if signer.digest_algorithm == "sm3" else "sha256"  # an SM2 TSA is asked in SM3

    def request(self, query_der: bytes) -> bytes:
        try:
            req = tsp.TimeStampReq.load(query_der)
            imprint = req["message_imprint"]
            imprint["hash_algorithm"]["algorithm"].native  # noqa: B018 - forces parsing
        except (ValueError, TypeError, KeyError):
            return tsp.TimeStampResp({"status": {"status": "rejection", "fail_info": {"bad_data_format"}}}).dump()
        now = dt.datetime.now(dt.UTC)
        tst: dict[str, object] = {
            "version": "v1",
            "policy": req["req_policy"].native or POLICY_OID,
            "message_imprint": imprint,
            "serial_number": secrets.randbits(63),
            "gen_time": now,
            "accuracy": {"seconds": 1},
            "ordering": False,
        }
        if req["nonce"].native is not None:
            tst["nonce"] = req["nonce"].native
        tst_der = tsp.TSTInfo(tst).dump()
        token = signed_data(
            self.signer,
            content=tst_der,
            content_type="tst_info",
            detached=False,
            signing_time=now,
            include_chain=bool(req["cert_req"].native),
        )
        if not req["cert_req"].native:
            token["content"]["certificates"] = []
        return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token}).dump()


class HttpTSA:
    """An RFC 3161 TSA reached over HTTP(S) (``application/timestamp-query``)."""

    def __init__(self, url: str, timeout: float = 15.0):
        self.url = url
        self.timeout = timeout
        self.description = f"TSA at {url}"

    def request(self, query_der: bytes) -> bytes:
        req = urllib.request.Request(  # noqa: S310 - scheme checked in make_tsa (http/https only)
            self.url, data=query_der, method="POST", headers={"Content-Type": "application/timestamp-query"}
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - URL is operator config
                return resp.read(1 << 20)
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            raise reject("SEAL-TSA", f"{self.url} did not answer: {exc}") from None


def build_query(data: bytes, nonce: int | None = None, algorithm: str = "sha256") -> tuple[bytes, int]:
    """A TimeStampReq over ``data`` (imprint ``algorithm``: sha256 or sm3) asking for the TSA certificate."""
    nonce = nonce if nonce is not None else secrets.randbits(63)
    req = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {"hash_algorithm": {"algorithm": algorithm}, "hashed_message": digest(algorithm, data)},
            "nonce": nonce,
            "cert_req": True,
        }
    )
    return req.dump(), nonce


def timestamp(data: bytes, tsa: TimestampAuthority) -> bytes:
    """Get a TimeStampResp over ``data``; checks the answer belongs to our query.

    The imprint is SM3 when the TSA is an SM2 one or the deployment is 国密 (GB/T 20520), else SHA-256;
    under the 国密 profile a token not signed with SM2 is refused here, before it is kept.
    """
    from .signers import profile

    guomi = profile() == "guomi"
    algorithm = getattr(tsa, "imprint_algorithm", None) or ("sm3" if guomi else "sha256")
    query, nonce = build_query(data, algorithm=algorithm)
    resp_der = tsa.request(query)
    try:
        resp = tsp.TimeStampResp.load(resp_der)
        status = resp["status"]["status"].native
        if status not in ("granted", "granted_with_mods"):
            raise reject("SEAL-TSA", f"{tsa.description} refused: {status} {resp['status']['fail_info'].native}")
        info = resp["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
        if info["nonce"].native != nonce or info["message_imprint"]["hashed_message"].native != digest(algorithm, data):
            raise reject("SEAL-TSA", f"{tsa.description} answered for another request (nonce or imprint differs)")
        signed_with = resp["time_stamp_token"]["content"]["signer_infos"][0]["signature_algorithm"]["algorithm"].native
        if guomi and signed_with != "sm2_sm3":
            raise reject("SEAL-TSA", f"国密配置要求 SM2 时间戳服务，{tsa.description} 的时间戳以 {signed_with} 签名 / "
                                     "the 国密 profile requires a TSA that signs with SM2 (GB/T 20520)")
    except (ValueError, TypeError, KeyError) as exc:
        raise reject("SEAL-TSA", f"{tsa.description} sent a malformed reply: {exc}") from None
    return resp_der


@dataclass
class TimestampCheck:
    """What verifying a timestamp reply found; ``errors`` empty means valid."""

    errors: list[str]
    chain_errors: list[str] = dataclasses.field(default_factory=list)
    gen_time: dt.datetime | None = None
    tsa_subject: str = ""
    policy: str = ""
    algorithm: str = ""  # "<signature>/<imprint>", e.g. "sm2_sm3/sm3"
    chain_checked: bool = False  # the TSA's chain was walked (its verdict: chain_errors)
    path: list[x509.Certificate] = dataclasses.field(default_factory=list)  # the TSA's certificates walked, leaf first

    @property
    def ok(self) -> bool:
        return not self.errors and not self.chain_errors


def verify_timestamp(data: bytes, resp_der: bytes, anchors: list[x509.Certificate]) -> TimestampCheck:
    """Check the token is over ``data``, signed by a timeStamping cert chaining to ``anchors``."""
    try:
        resp = tsp.TimeStampResp.load(resp_der)
        token: cms.ContentInfo = resp["time_stamp_token"]
        sd = token["content"]
        info = sd["encap_content_info"]["content"].parsed
        hash_alg = info["message_imprint"]["hash_algorithm"]["algorithm"].native
        if hash_alg not in IMPRINTS:
            return TimestampCheck([f"message imprint algorithm {hash_alg} not accepted"])
        errors = []
        if info["message_imprint"]["hashed_message"].native != digest(hash_alg, data):
            errors.append("the timestamp was issued for other data (message imprint differs)")
        check: SignatureCheck = verify_signed_data(token, anchors, require_eku=TIMESTAMPING_EKU)
        errors += check.errors
        return TimestampCheck(errors, check.chain_errors, info["gen_time"].native, check.signer_subject, info["policy"].native,
                              f"{check.algorithm.split('/')[0]}/{hash_alg}", check.chain_checked, check.path)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return TimestampCheck([f"malformed timestamp reply: {exc}"])


def serve(tsa: LocalTSA, host: str = "127.0.0.1", port: int = 3161) -> http.server.ThreadingHTTPServer:
    """An HTTP front for a TSA (RFC 3161 §3.4); returns the started server."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            if self.headers.get("Content-Type") != "application/timestamp-query" or not 0 < length < 65536:
                self.send_error(400, "expected application/timestamp-query")
                return
            body = tsa.request(self.rfile.read(length))
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, fmt: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="tsa").start()
    return server
