"""KMS's SM2 keys in the local cloud: moto makes an RSA-2048 key for ``KeySpec=SM2`` and cannot sign SM2DSA.

AWS KMS in the China regions holds SM2 keys (KeySpec ``SM2``, SigningAlgorithm ``SM2DSA``). For a
``MessageType=RAW`` message KMS computes the SM2 digest itself, Z included with the default
distinguishing ID ``1234567812345678`` (KMS developer guide, "SM2 key spec (China Regions only)",
offline verification with SM2 key pairs), which is what :func:`earchive.crypto.sm2.sign` does;
``GetPublicKey`` returns the SubjectPublicKeyInfo DER on the SM2 curve. Here an SM2 key is made
for such a key and signs and verifies that way, so a 国密 stack (``CryptoProfile=guomi``) runs its
seal on the local cloud as it would in cn-north-1. DIGEST messages are refused, as earchive never
sends them (KmsSigner signs RAW). Installed by :func:`earchive_devtools.localcloud.install_patches`.
"""

from __future__ import annotations

from earchive.crypto import sm2


class Sm2KmsKey:
    """The private half of a KMS SM2 key (moto's AbstractPrivateKey interface: sign, verify, public_key)."""

    def __init__(self) -> None:
        self._d = sm2.generate_private_key()
        self._public = sm2.public_key_hex(self._d)

    def sign(self, message: bytes, signing_algorithm: str) -> bytes:
        if signing_algorithm != "SM2DSA":
            raise ValueError(f"an SM2 key signs with SM2DSA, not {signing_algorithm}")
        return sm2.sign(self._d, message)

    def verify(self, message: bytes, signature: bytes, signing_algorithm: str) -> bool:
        return signing_algorithm == "SM2DSA" and sm2.verify(self._public, signature, message)

    def public_key(self) -> bytes:
        return sm2.public_key_der(self._public)


def install() -> None:
    """Give moto's KMS keys of spec SM2 a real SM2 key (once per process)."""
    from moto.kms import models

    if getattr(models.generate_private_key, "earchive_sm2", False):
        return
    original = models.generate_private_key

    def generate_private_key(key_spec: str):
        return Sm2KmsKey() if key_spec == "SM2" else original(key_spec)

    generate_private_key.earchive_sm2 = True  # type: ignore[attr-defined]
    models.generate_private_key = generate_private_key
