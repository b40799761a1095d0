"""A CMS signature made where the key is (a UKey, the receiver's browser): the server lays out the signed attributes,
the key signs them, the server assembles the SignedData. Groundwork for the receiver's reply in the console (issue 11)."""

from __future__ import annotations

import subprocess

import pytest
from asn1crypto import cms as acms
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from earchive.crypto.cms import assemble, ecdsa_der, signed_attributes, verify_signed_data
from earchive.receive import Desk


def raw_signature(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """What WebCrypto's ECDSA P-256 / SHA-256 returns: r‖s, 32 bytes each."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def test_a_signature_made_elsewhere_verifies_here_and_with_openssl(tmp_path):
    desk = Desk("430102001", tmp_path / "pc")
    desk.init("长沙市芙蓉区行政审批服务局")
    key = serialization.load_pem_private_key(desk.key_path.read_bytes(), None)  # PKCS#8: what WebCrypto imports
    cert = x509.load_pem_x509_certificate(desk.cert_path.read_bytes())
    body = b'{"batch_id":"202612010001","decision":"accept"}'
    attrs = signed_attributes(cert, "sha256", body)
    info = assemble(cert, [], "sha256", "sha256_ecdsa", attrs, ecdsa_der(raw_signature(key, attrs)), content=body)
    check = verify_signed_data(info, [cert], content=body)
    assert check.ok, (check.errors, check.chain_errors)
    (tmp_path / "sig.p7s").write_bytes(info.dump())
    (tmp_path / "body.json").write_bytes(body)
    out = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "sig.p7s"), "-binary",
                          "-content", str(tmp_path / "body.json"), "-CAfile", str(desk.cert_path), "-purpose", "any", "-out", "/dev/null"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and "Verification successful" in out.stderr, out.stderr
    other = assemble(cert, [], "sha256", "sha256_ecdsa", attrs, ecdsa_der(raw_signature(key, attrs + b"x")), content=body)
    assert not verify_signed_data(other, [cert], content=body).ok, "a signature over anything else is refused"
    changed = assemble(cert, [], "sha256", "sha256_ecdsa", attrs, ecdsa_der(raw_signature(key, attrs)), content=body + b" ")
    assert not verify_signed_data(changed, [cert], content=body + b" ").ok, "the attributes name the content's digest"
    kept = acms.ContentInfo.load(info.dump())["content"]["signer_infos"][0]["signed_attrs"]
    assert kept.contents == acms.CMSAttributes.load(attrs).contents, "the attributes signed are kept as signed ([0] IMPLICIT of that SET)"


@pytest.mark.parametrize("raw", [b"", b"\x01" * 63])
def test_a_malformed_raw_signature_is_refused(raw):
    with pytest.raises(ValueError, match="even"):
        ecdsa_der(raw)
