"""The local development PKI: one root CA, a package signer and a TSA.

Created on first use under ``$EARCHIVE_HOME/dev-pki`` so that a laptop can
seal and verify packages with nothing downloaded. Every subject says
"开发用 / development only": production deployments bring their own CA
(a 国密 CA or a commercial one) and a real TSA; see docs/adr/0003-seal.md.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..config import earchive_home
from ..locks import exclusive
from .identity import DEV_SEAL_POLICY

PKI_DIRNAME = "dev-pki-2"  # 2: seal certificates carry the development seal policy (ADR 0003)
_VALID_YEARS = 20


@contextlib.contextmanager
def locked(folder: Path):
    """An exclusive lock on ``folder`` across threads and processes (for lazily created keys)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a") as f, exclusive(f):
        yield


def write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Readers see the old file or the whole new one, never half of it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(mode)
    os.replace(tmp, path)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "earchive 开发用 (development only)"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def issue_certificate(
    subject_cn: str,
    public_key,
    ca_key,
    ca_cert: x509.Certificate | None,
    *,
    is_ca: bool = False,
    timestamping: bool = False,
    policy: str | None = None,
    years: int = _VALID_YEARS,
) -> x509.Certificate:
    """Issue a certificate for ``public_key`` (self-signed when ``ca_cert`` is None)."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    subject = _name(subject_cn)
    issuer = ca_cert.subject if ca_cert else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365 * years))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if ca_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), critical=False
        )
    key_usage = dict.fromkeys(
        [
            "digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
            "key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only",
        ],
        False,
    )
    if is_ca:
        key_usage.update(key_cert_sign=True, crl_sign=True, digital_signature=True)
    else:
        key_usage.update(digital_signature=True, content_commitment=True)
    builder = builder.add_extension(x509.KeyUsage(**key_usage), critical=True)
    if timestamping:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    if policy:  # the seal policy: what makes a certificate of this CA a seal certificate
        builder = builder.add_extension(x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier(policy), None)]),
                                        critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class KeyPair:
    key: object
    cert: x509.Certificate


class DevPKI:
    """The development CA and its leaf keys, created once and reused."""

    FILES = ("ca", "signer-ec", "signer-rsa", "tsa")

    def __init__(self, home: Path | None = None):
        self.dir = (home or earchive_home()) / PKI_DIRNAME
        if not (self.dir / "ca.pem").exists():
            self._create()

    def _create(self) -> None:
        self.dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".dev-pki-", dir=self.dir.parent))
        try:
            ca_key = ec.generate_private_key(ec.SECP256R1())
            ca = issue_certificate("earchive 开发用根证书 Development Root CA", ca_key.public_key(), ca_key, None, is_ca=True)
            leaves = {
                "signer-ec": (ec.generate_private_key(ec.SECP256R1()), "earchive 开发用签名证书 Package Signer (ECDSA)", False),
                "signer-rsa": (rsa.generate_private_key(65537, 3072), "earchive 开发用签名证书 Package Signer (RSA)", False),
                "tsa": (ec.generate_private_key(ec.SECP256R1()), "earchive 开发用时间戳服务 Development TSA", True),
            }
            (tmp / "ca.key.pem").write_bytes(_pem_key(ca_key))
            (tmp / "ca.pem").write_bytes(_pem_cert(ca))
            for name, (key, cn, tsa) in leaves.items():
                cert = issue_certificate(cn, key.public_key(), ca_key, ca, timestamping=tsa, policy=None if tsa else DEV_SEAL_POLICY)
                (tmp / f"{name}.key.pem").write_bytes(_pem_key(key))
                (tmp / f"{name}.pem").write_bytes(_pem_cert(cert))
            for f in tmp.iterdir():
                f.chmod(0o600 if f.name.endswith(".key.pem") else 0o644)
            try:
                tmp.rename(self.dir)  # atomic: a concurrent creator wins or loses whole
            except OSError:
                if not (self.dir / "ca.pem").exists():
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    @property
    def ca_path(self) -> Path:
        return self.dir / "ca.pem"

    def ca_cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.ca_path.read_bytes())

    def ca_key(self):
        return serialization.load_pem_private_key((self.dir / "ca.key.pem").read_bytes(), None)

    def pair(self, name: str) -> KeyPair:
        """A development key and certificate; names beyond the built-in ones are issued on first use."""
        if not (self.dir / f"{name}.pem").exists():
            with locked(self.dir):
                if not (self.dir / f"{name}.pem").exists():  # another thread or process may have made it meanwhile
                    key = ec.generate_private_key(ec.SECP256R1())
                    cert = issue_certificate(f"earchive 开发用证书 {name}", key.public_key(), self.ca_key(), self.ca_cert())
                    write_atomic(self.dir / f"{name}.key.pem", _pem_key(key), 0o600)
                    write_atomic(self.dir / f"{name}.pem", _pem_cert(cert))  # last: its presence means "complete"
        key = serialization.load_pem_private_key((self.dir / f"{name}.key.pem").read_bytes(), None)
        cert = x509.load_pem_x509_certificate((self.dir / f"{name}.pem").read_bytes())
        return KeyPair(key=key, cert=cert)


def load_trust_anchors(path: Path | str) -> list[x509.Certificate]:
    """All certificates of a PEM bundle (the anchors a verifier trusts)."""
    data = Path(path).read_bytes()
    certs = x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data else [x509.load_der_x509_certificate(data)]
    if not certs:
        raise ValueError(f"no certificate in {path}")
    return certs
