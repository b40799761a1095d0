"""The institution's reply key (issue 23 item 2, audit D14): an SM2 key and CSR a 国密 CA signs, the CA's certificate installed,
and development certificates that NSS (pdfsig) trusts once their issuer is trusted — judged by OpenSSL, certutil and pdfsig."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms as acms
from cryptography import x509

from earchive.cli import main
from earchive.crypto import institution_keys, sm2
from earchive.crypto.cms import signed_data, verify_signed_data
from earchive.receive import Desk

DISTID = "distid:1234567812345678"
LEAF_EXTENSIONS = """[leaf]
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,nonRepudiation
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
"""


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=60, cwd=cwd)


@pytest.fixture(scope="module")
def gm_ca(tmp_path_factory) -> Path:
    """An SM2 CA made by OpenSSL (SM3withSM2, default distinguishing ID): the institution's 国密 CA stand-in."""
    folder = tmp_path_factory.mktemp("gm-ca")
    (folder / "ext.cnf").write_text(LEAF_EXTENSIONS)
    assert run("openssl", "genpkey", "-algorithm", "SM2", "-out", "ca.key", cwd=folder).returncode == 0
    made = run("openssl", "req", "-x509", "-new", "-key", "ca.key", "-sm3", "-sigopt", DISTID, "-subj", "/C=CN/O=测试国密CA/CN=Test SM2 CA",
               "-days", "365", "-config", "ext.cnf", "-extensions", "ca", "-utf8", "-out", "ca.pem", cwd=folder)
    assert made.returncode == 0, made.stderr
    return folder


def ca_signs(gm_ca: Path, csr: Path, out: Path) -> None:
    """`openssl x509 -req`: the SM2 CA verifies the request's SM3withSM2 signature and issues the leaf."""
    made = run("openssl", "x509", "-req", "-in", str(csr), "-CA", "ca.pem", "-CAkey", "ca.key", "-sm3", "-sigopt", DISTID, "-vfyopt", DISTID,
               "-extfile", "ext.cnf", "-extensions", "leaf", "-days", "30", "-out", str(out), cwd=gm_ca)
    assert made.returncode == 0, made.stderr


def test_an_sm2_key_and_csr_that_openssl_verifies_and_a_gm_ca_certificate_installed_for_it(gm_ca, tmp_path, capsys):
    csr = tmp_path / "request.csr"
    assert main(["receive", "init", "--institution", "430102011", "--name", "芙蓉区行政审批服务局", "--sm2", "--csr", str(csr)]) == 0
    desk = Desk("430102011")
    shown = run("openssl", "pkey", "-in", str(desk.key_path), "-noout", "-text")
    assert shown.returncode == 0 and "ASN1 OID: SM2" in shown.stdout, "a standard PKCS#8 SM2 key, as openssl genpkey writes it"
    assert desk.key_path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----") and oct(desk.key_path.stat().st_mode)[-3:] == "600"
    assert csr.read_bytes() == (desk.folder / "reply-signer.csr").read_bytes()
    checked = run("openssl", "req", "-in", str(csr), "-verify", "-sm3", "-vfyopt", DISTID, "-noout", "-text")
    assert checked.returncode == 0 and "verify OK" in checked.stdout + checked.stderr, checked.stderr
    assert "SM2-with-SM3" in checked.stdout and "Digital Signature, Non Repudiation" in checked.stdout

    issued = tmp_path / "issued.pem"
    ca_signs(gm_ca, csr, issued)
    assert main(["receive", "init", "--institution", "430102011", "--cert", str(issued), "--chain", str(gm_ca / "ca.pem")]) == 0
    assert "证书已安装" in capsys.readouterr().err
    installed = x509.load_pem_x509_certificates(desk.cert_path.read_bytes())
    assert [c.fingerprint(_sha256()) for c in installed] == [x509.load_pem_x509_certificate(p.read_bytes()).fingerprint(_sha256())
                                                             for p in (issued, gm_ca / "ca.pem")], "the leaf, then the CA's chain"
    assert (desk.folder / "reply-signer.previous.pem").exists(), "the development certificate it replaced is kept"

    signer = desk.signer()  # the key file read by the GM core's file: signer
    assert signer.signature_algorithm == "sm2_sm3"
    found = verify_signed_data(acms.ContentInfo.load(signed_data(signer, content=b"reply").dump()), [installed[-1]], content=b"reply")
    assert found.ok, (found.errors, found.chain_errors)  # SM3withSM2 chain: the OpenSSL CA's signature on the leaf verifies

    other = tmp_path / "other.pem"  # a certificate the CA issued for another key is never installed
    assert run("openssl", "genpkey", "-algorithm", "SM2", "-out", str(tmp_path / "other.key")).returncode == 0
    assert run("openssl", "req", "-new", "-key", str(tmp_path / "other.key"), "-sm3", "-sigopt", DISTID, "-subj", "/CN=other",
               "-out", str(tmp_path / "other.csr")).returncode == 0
    ca_signs(gm_ca, tmp_path / "other.csr", other)
    before = desk.cert_path.read_bytes()
    assert main(["receive", "init", "--institution", "430102011", "--cert", str(other)]) == 2
    assert "不匹配" in capsys.readouterr().err and desk.cert_path.read_bytes() == before


def test_an_openssl_sm2_key_file_is_read_and_a_made_key_is_openssls_key(tmp_path):
    assert run("openssl", "genpkey", "-algorithm", "SM2", "-out", str(tmp_path / "k.pem")).returncode == 0
    text = run("openssl", "pkey", "-in", str(tmp_path / "k.pem"), "-noout", "-text").stdout
    priv = "".join(text.split("priv:")[1].split("pub:")[0].split()).replace(":", "")
    assert institution_keys.load_sm2_key((tmp_path / "k.pem").read_bytes()) == priv[-64:].rjust(64, "0")
    key, _, _ = institution_keys.ec_key_and_certificates("x", "1")
    assert institution_keys.load_sm2_key(key) is None, "an ECDSA key is not an SM2 key"


def test_development_certificates_carry_the_signer_extensions_from_a_one_use_issuer():
    """basicConstraints (critical, CA:FALSE), keyUsage (critical), SKI, AKI = the issuer's SKI; the issuer CA:TRUE pathLen 0."""
    for make in (institution_keys.ec_key_and_certificates, institution_keys.sm2_key_and_certificates):
        key, _, pems = make("长沙市芙蓉区行政审批服务局", "430102001")
        leaf, issuer = x509.load_pem_x509_certificates(pems)
        ext = leaf.extensions
        bc, ku = ext.get_extension_for_class(x509.BasicConstraints), ext.get_extension_for_class(x509.KeyUsage)
        assert bc.critical and not bc.value.ca and ku.critical and ku.value.digital_signature and ku.value.content_commitment
        assert not ku.value.key_cert_sign
        issuer_ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
        assert ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier == issuer_ski
        assert ext.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest != issuer_ski
        ibc = issuer.extensions.get_extension_for_class(x509.BasicConstraints)
        assert ibc.critical and ibc.value.ca and ibc.value.path_length == 0
        assert issuer.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
        assert "开发用" in leaf.subject.rfc4514_string() and leaf.issuer == issuer.subject != leaf.subject
        assert institution_keys.installation_problems(key, [leaf]) == []
        if make is institution_keys.sm2_key_and_certificates:
            assert sm2.certificate_signature_problem(leaf, issuer) is None and sm2.certificate_signature_problem(issuer, issuer) is None


def nss_db(folder: Path, trusted: list[Path]) -> str:
    if not shutil.which("certutil"):
        pytest.fail("certutil (libnss3-tools) is missing: `make system-deps` installs it")
    folder.mkdir()
    assert run("certutil", "-N", "-d", f"sql:{folder}", "--empty-password").returncode == 0
    for n, pem in enumerate(trusted):
        added = run("certutil", "-A", "-d", f"sql:{folder}", "-n", f"trusted-{n}", "-t", "C,C,C", "-i", str(pem))
        assert added.returncode == 0, added.stderr
    return f"sql:{folder}"


def receiver_validation(pdfsig_out: str) -> str:
    block = pdfsig_out.split("Signature Field Name: ReceiverSig", 1)[1].split("Signature #", 1)[0]
    return block.split("Certificate Validation:", 1)[1].splitlines()[0].strip()


def test_pdfsig_trusts_the_institutions_approval_once_its_certificate_file_is_trusted_in_nss(tmp_path):
    """pdfsig with an NSS database trusting the certificate file `receive init` made (its one-use issuer): ReceiverSig trusted."""
    from earchive.crypto import pdf_sign
    from earchive.crypto.signers import make_signer, make_tsa
    from earchive.domain.transfer_form import render
    from tests.unit.test_two_signatures import document

    if not shutil.which("pdfsig"):
        pytest.fail("pdfsig (poppler-utils) is missing: `make system-deps` installs it")
    desk = Desk("430102012", tmp_path / "pc")
    desk.init("芙蓉区行政审批服务局")
    tsa = make_tsa("local")
    form = render(document())
    certified = pdf_sign.certify(form.pdf, form.boxes, make_signer("local-ec"), tsa, note="共 3 件")
    path = tmp_path / "approved.pdf"
    path.write_bytes(pdf_sign.approve(certified, desk.signer(), tsa, note="接收 3 件，退回 0 件"))
    issuer = tmp_path / "issuer.pem"
    issuer.write_bytes(x509.load_pem_x509_certificates(desk.cert_path.read_bytes())[1].public_bytes(_pem()))

    untrusted = run("pdfsig", "-nssdir", nss_db(tmp_path / "empty", []), str(path)).stdout
    assert receiver_validation(untrusted) != "Certificate is Trusted.", "the control: nothing trusted, nothing trusted"
    trusted = run("pdfsig", "-nssdir", nss_db(tmp_path / "nss", [issuer]), str(path)).stdout
    assert receiver_validation(trusted) == "Certificate is Trusted.", trusted
    assert "Signature is Valid." in trusted.split("ReceiverSig", 1)[1]
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(x509.load_pem_x509_certificates(desk.cert_path.read_bytes())[0].public_bytes(_pem()))
    assert run("certutil", "-A", "-d", f"sql:{tmp_path / 'nss'}", "-n", "leaf", "-t", ",,", "-i", str(leaf)).returncode == 0
    checked = run("certutil", "-V", "-d", f"sql:{tmp_path / 'nss'}", "-n", "leaf", "-u", "S")
    assert "certificate is valid" in checked.stdout + checked.stderr, checked.stdout + checked.stderr


def _sha256():
    from cryptography.hazmat.primitives import hashes

    return hashes.SHA256()


def _pem():
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.PEM
