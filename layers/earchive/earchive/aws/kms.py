"""AWS KMS as the seal's signer: the private key never leaves KMS."""

from __future__ import annotations

from cryptography import x509

from ..errors import reject


class KmsSigner:
    """An AWS KMS asymmetric key (the private key never leaves KMS).

    RAW signing of the DER signed attributes (a few hundred bytes, well under
    KMS's 4096-byte message limit). ECC_NIST_P256/P384 and RSA keys everywhere;
    SM2 keys in the AWS China regions (SM2DSA).
    """

    _ALGS = {
        "ECC_NIST_P256": ("ECDSA_SHA_256", "sha256", "sha256_ecdsa"),
        "ECC_NIST_P384": ("ECDSA_SHA_384", "sha384", "sha384_ecdsa"),
        "RSA_2048": ("RSASSA_PKCS1_V1_5_SHA_256", "sha256", "sha256_rsa"),
        "RSA_3072": ("RSASSA_PKCS1_V1_5_SHA_256", "sha256", "sha256_rsa"),
        "RSA_4096": ("RSASSA_PKCS1_V1_5_SHA_256", "sha256", "sha256_rsa"),
        "SM2": ("SM2DSA", "sm3", "sm2_sm3"),
    }

    def __init__(self, key_id: str, certificate: x509.Certificate, chain: list[x509.Certificate], client=None):
        if client is None:
            import boto3

            client = boto3.client("kms")
        self._kms = client
        self.key_id, self.certificate, self.chain = key_id, certificate, chain
        spec = self._kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeySpec"]
        if spec not in self._ALGS:
            raise reject("SEAL-CONFIG", f"KMS key {key_id} has key spec {spec}, not a signing spec earchive supports")
        self._kms_alg, self.digest_algorithm, self.signature_algorithm = self._ALGS[spec]
        self.description = f"AWS KMS key {key_id} ({spec})"

    def sign(self, data: bytes) -> bytes:
        return self._kms.sign(KeyId=self.key_id, Message=data, MessageType="RAW", SigningAlgorithm=self._kms_alg)["Signature"]

    def public_key_der(self) -> bytes:
        return self._kms.get_public_key(KeyId=self.key_id)["PublicKey"]
