"""The 国密 half of the development PKI: an SM2 root, an SM2 intermediate, and SM2 leaves, all SM3withSM2.

A real 国密 CA (every Chinese CA signs with SM3withSM2) has a root and at least one intermediate, so the
development one does too: a chain the check walks the way it will walk a production one, and which
Bouncy Castle verifies in the tests (``tests/unit/test_guomi_interop.py``). Keys are PKCS#8 PEM, as
``openssl genpkey -algorithm SM2`` writes them, so ``openssl`` and other 国密 tools read them.
Created on first use under ``$EARCHIVE_HOME/dev-pki-2/gm``; every subject says 开发用 / development only.
"""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from . import sm2
from .pki import DevPKI, locked, write_atomic

ROOT_CN = "earchive 开发用国密根 CA (dev SM2 root)"  # ≤ 64 bytes: X.520 ub-common-name
INTERMEDIATE_CN = "earchive 开发用国密中级 CA (dev SM2 sub-CA)"


class GmDevPKI:
    """The SM2 root, intermediate and leaves of the development PKI, created once and reused."""

    def __init__(self, pki: DevPKI | None = None):
        self.dir = (pki or DevPKI()).dir / "gm"
        if not (self.dir / "intermediate.pem").exists():
            with locked(self.dir):
                if not (self.dir / "intermediate.pem").exists():
                    self._create()

    def _create(self) -> None:
        root_key = sm2.generate_private_key()
        root = sm2.issue_certificate(sm2.public_key_hex(root_key), ROOT_CN, root_key, None, is_ca=True, path_length=1)
        key = sm2.generate_private_key()
        intermediate = sm2.issue_certificate(sm2.public_key_hex(key), INTERMEDIATE_CN, root_key, root, is_ca=True, path_length=0)
        write_atomic(self.dir / "root.key.pem", sm2.private_key_pem(root_key), 0o600)
        write_atomic(self.dir / "root.pem", _pem(root))
        write_atomic(self.dir / "intermediate.key.pem", sm2.private_key_pem(key), 0o600)
        write_atomic(self.dir / "intermediate.pem", _pem(intermediate))  # last: its presence means "complete"

    @property
    def root_path(self) -> Path:
        return self.dir / "root.pem"

    def root_cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.root_path.read_bytes())

    def intermediate_cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate((self.dir / "intermediate.pem").read_bytes())

    def chain(self) -> list[x509.Certificate]:
        """What a leaf's signature carries besides the leaf: the intermediate and the root."""
        return [self.intermediate_cert(), self.root_cert()]

    def leaf(self, name: str, cn: str, *, policy: str | None = None, timestamping: bool = False) -> tuple[str, x509.Certificate]:
        """(private key hex, certificate) of the SM2 leaf ``name``, issued by the intermediate on first use."""
        key_file, cert_file = self.dir / f"{name}.key.pem", self.dir / f"{name}.pem"
        if not cert_file.exists():
            with locked(self.dir):
                if not cert_file.exists():
                    key = sm2.generate_private_key()
                    ca_key = sm2.load_private_key((self.dir / "intermediate.key.pem").read_bytes())
                    cert = sm2.issue_certificate(sm2.public_key_hex(key), cn, ca_key, self.intermediate_cert(),
                                                 policy=policy, timestamping=timestamping)
                    write_atomic(key_file, sm2.private_key_pem(key), 0o600)
                    write_atomic(cert_file, _pem(cert))
        key = sm2.load_private_key(key_file.read_bytes())
        assert key is not None  # written above as an SM2 key
        return key, x509.load_pem_x509_certificate(cert_file.read_bytes())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def trust_bundle(pki: DevPKI | None = None) -> Path:
    """One PEM file with both development roots (ECDSA and SM2): what ``verify`` trusts by default."""
    pki = pki or DevPKI()
    path = pki.dir / "trust-anchors.pem"
    if not path.exists():
        gm = GmDevPKI(pki)
        with locked(pki.dir):
            if not path.exists():
                write_atomic(path, pki.ca_path.read_bytes() + gm.root_path.read_bytes())
    return path
