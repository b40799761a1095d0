"""国密 judged by implementations we did not write (issue 23, item 6), both ways.

OpenSSL 3.0 makes the keys and the SM3withSM2 certificates (an SM2 root, an SM2 intermediate, a seal leaf; and a second,
unrelated SM2 CA) and recomputes SM3 digests; Bouncy Castle 1.72 (tests/java) signs CMS with SM2 and verifies SM2 signatures,
chains and RFC 3161 tokens. OpenSSL 3.0 cannot verify an SM2 CMS or chain itself (`cms -verify` and `verify` do not pass the
distinguishing ID), so Bouncy Castle is the outside verifier of SM2 signatures. gmssl does not count: earchive uses it.

- earchive verifies what others made: Bouncy Castle's CMS over OpenSSL's chain; OpenSSL's key files (PKCS#8 and SEC1) as
  ``file:`` signers, packed and verified; bad key files are a SEAL-CONFIG rejection in Chinese.
- others verify what earchive made: the 国密 profile's seal and timestamp, its SM3 manifest, an SM2-signed JSON.
- the same refusals on both sides: a tampered manifest, a leaf of another SM2 CA, r or s out of range.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import algos
from asn1crypto import cms as acms
from cryptography import x509

from earchive.cli import main
from earchive.crypto import cms
from earchive.crypto.gm_pki import GmDevPKI
from earchive.crypto.pki import DevPKI
from earchive.domain.seal import manifest_text
from earchive_devtools.sample import sample_case
from tests.java_tools import java_command

N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123  # the order of the SM2 curve (GB/T 32918.5)
DISTID = "distid:1234567812345678"  # the default distinguishing ID (GM/T 0009) OpenSSL must be told to use
SEAL_POLICY = "2.25.101471566651411908864025593856675081773"  # the development seal policy (earchive.crypto.identity)
EXTENSIONS = f"""[req]
distinguished_name = dn
[dn]
[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[intermediate]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[seal]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
certificatePolicies = {SEAL_POLICY}
[tsa]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,nonRepudiation
extendedKeyUsage = critical,timeStamping
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""
CJK = re.compile(r"[\u4e00-\u9fff]")


def openssl(*args: str, cwd: Path) -> str:
    out = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, (args, out.stderr)
    return out.stdout


def sm2_certificate(d: Path, name: str, subject: str, section: str, issuer: str | None = None) -> None:
    """``name``.key (PKCS#8, `openssl genpkey`) and ``name``.pem, SM3withSM2 by ``issuer`` (self-signed without one)."""
    openssl("genpkey", "-algorithm", "SM2", "-out", f"{name}.key", cwd=d)
    if issuer is None:
        openssl("req", "-config", "ext.cnf", "-x509", "-new", "-key", f"{name}.key", "-sm3", "-sigopt", DISTID, "-subj", subject,
                "-days", "3650", "-extensions", section, "-out", f"{name}.pem", cwd=d)
        return
    openssl("req", "-config", "ext.cnf", "-new", "-key", f"{name}.key", "-sm3", "-sigopt", DISTID, "-subj", subject, "-out", f"{name}.csr",
            cwd=d)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{issuer}.pem", "-CAkey", f"{issuer}.key", "-set_serial", str(secrets.randbits(63)),
            "-sm3", "-sigopt", DISTID, "-vfyopt", DISTID, "-extfile", "ext.cnf", "-extensions", section, "-days", "1825",
            "-out", f"{name}.pem", cwd=d)


@dataclass(frozen=True)
class Pki:
    """An SM2 PKI made by OpenSSL: root → intermediate → seal leaf and TSA; and another SM2 CA with a seal leaf of its own."""

    dir: Path

    def __getattr__(self, name: str) -> Path:
        return self.dir / {"root": "root.pem", "intermediate": "intermediate.pem", "key": "seal.key", "sec1": "seal.sec1.key",
                           "leaf": "seal.pem", "leaf_chain": "seal-chain.pem", "other_root": "other-root.pem",
                           "other_key": "other-seal.key", "other_leaf": "other-seal.pem", "other_chain": "other-seal-chain.pem",
                           "tsa_key": "tsa.key", "tsa": "tsa.pem"}[name]

    def cert(self, name: str) -> x509.Certificate:
        return x509.load_pem_x509_certificate(getattr(self, name).read_bytes())


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("sm2-pki")
    (d / "ext.cnf").write_text(EXTENSIONS)
    sm2_certificate(d, "root", "/C=CN/O=Test SM2 CA/CN=Test SM2 Root", "root")
    sm2_certificate(d, "intermediate", "/C=CN/O=Test SM2 CA/CN=Test SM2 Intermediate", "intermediate", "root")
    sm2_certificate(d, "seal", "/C=CN/O=长沙市政务服务中心/CN=Test SM2 Seal", "seal", "intermediate")
    sm2_certificate(d, "tsa", "/C=CN/O=Test SM2 CA/CN=Test SM2 TSA", "tsa", "intermediate")
    openssl("ec", "-in", "seal.key", "-out", "seal.sec1.key", cwd=d)  # SEC1: "-----BEGIN SM2 PRIVATE KEY-----"
    (d / "seal-chain.pem").write_text((d / "seal.pem").read_text() + (d / "intermediate.pem").read_text())
    sm2_certificate(d, "other-root", "/C=CN/O=Other SM2 CA/CN=Other SM2 Root", "root")
    sm2_certificate(d, "other-seal", "/C=CN/O=长沙市政务服务中心/CN=Test SM2 Seal", "seal", "other-root")  # the same name, another CA
    (d / "other-seal-chain.pem").write_text((d / "other-seal.pem").read_text() + (d / "other-root.pem").read_text())
    assert "SM2 PRIVATE KEY" in (d / "seal.sec1.key").read_text() and "BEGIN PRIVATE KEY" in (d / "seal.key").read_text()
    return Pki(d)


@pytest.fixture(scope="module")
def bc_verify(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return java_command(tmp_path_factory, "BcVerify")


@pytest.fixture(scope="module")
def sm2_sign(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return java_command(tmp_path_factory, "Sm2Sign")


def java(command: list[str], *args: str | Path) -> subprocess.CompletedProcess:
    """Run a Bouncy Castle tool: exit 0 (done) or 1 (refused, reason on stderr); anything else is a broken test."""
    out = subprocess.run([*command, *map(str, args)], capture_output=True, text=True, timeout=120)
    assert out.returncode in (0, 1), out.stdout + out.stderr
    return out


def bc_signed(sm2_sign: list[str], tmp_path: Path, key: Path, leaf: Path, chain: Path, content: bytes) -> bytes:
    """A detached SignedData Bouncy Castle made over ``content``."""
    (tmp_path / "content").write_bytes(content)
    done = java(sm2_sign, key, leaf, chain, tmp_path / "content", tmp_path / "bc.p7s")
    assert done.returncode == 0 and "1.2.156.10197.1.501" in done.stdout, done.stderr
    return (tmp_path / "bc.p7s").read_bytes()


def bc_chain(bc_verify: list[str], tmp_path: Path, signature: bytes, content: bytes, root: Path) -> subprocess.CompletedProcess:
    (tmp_path / "judged.p7s").write_bytes(signature)
    (tmp_path / "judged").write_bytes(content)
    return java(bc_verify, "chain", tmp_path / "judged.p7s", tmp_path / "judged", root)


MANIFEST = manifest_text([("66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0", "基本信息元数据.xml"),
                          ("debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732", "申报文件/001-申请表.pdf")])


def with_signature(der: bytes, r: int, s: int) -> bytes:
    """The same SignedData with its SignerInfo's signature replaced by the DER of (r, s): nothing else changes."""
    info = acms.ContentInfo.load(der)
    info["content"]["signer_infos"][0]["signature"] = algos.DSASignature({"r": r, "s": s}).dump()
    return info.dump()


def rs(der: bytes) -> tuple[int, int]:
    sig = algos.DSASignature.load(acms.ContentInfo.load(der)["content"]["signer_infos"][0]["signature"].native)
    return sig["r"].native, sig["s"].native


OUT_OF_RANGE = {"r = 0": lambda r, s: (0, s), "s = n": lambda r, s: (r, N), "s + n (the same s mod n)": lambda r, s: (r, s + N)}


# --- the outside tools agree with each other (so what follows tests earchive, not the fixture) ---------------------------

def test_bouncy_castle_verifies_openssls_sm2_chain_and_its_own_signature_over_it(pki, sm2_sign, bc_verify, tmp_path):
    for key in (pki.sec1, pki.key):
        signature = bc_signed(sm2_sign, tmp_path, key, pki.leaf, pki.intermediate, MANIFEST)
        ok = bc_chain(bc_verify, tmp_path, signature, MANIFEST, pki.root)
        assert ok.returncode == 0 and "1.2.156.10197.1.501/1.2.156.10197.1.401" in ok.stdout, ok.stderr
    assert bc_chain(bc_verify, tmp_path, signature, MANIFEST, pki.other_root).returncode == 1
    assert bc_chain(bc_verify, tmp_path, signature, MANIFEST + b"\n", pki.root).returncode == 1
    signed = acms.ContentInfo.load(signature)["content"]["signer_infos"][0]["signed_attrs"]
    assert [a["type"].native for a in signed] == ["content_type", "signing_time", "message_digest"]


def test_bouncy_castle_verifies_the_default_profiles_seal_and_timestamp(packed, bc_verify, tmp_path):
    """The modes BcVerify gained (chain, ts) on the default profile's package (ECDSA, SHA-256), then on tampered bytes."""
    _, result = packed
    with zipfile.ZipFile(result.path) as zf:
        zf.extractall(tmp_path)
    manifest, signature, token = (tmp_path / n for n in seal_members(result.path))
    ca = DevPKI().ca_path
    seal = java(bc_verify, "chain", signature, manifest, ca)
    stamp = java(bc_verify, "ts", token, signature, ca)
    assert seal.returncode == 0 and "1.2.840.10045.4.3.2/2.16.840.1.101.3.4.2.1" in seal.stdout, seal.stderr
    assert stamp.returncode == 0 and "imprint 2.16.840.1.101.3.4.2.1" in stamp.stdout, stamp.stderr
    assert "the imprint is not DATA's" in java(bc_verify, "ts", token, manifest, ca).stderr
    manifest.write_bytes(manifest.read_bytes() + b"\n")
    assert java(bc_verify, "chain", signature, manifest, ca).returncode == 1


# --- earchive verifies what others made ------------------------------------------------------------------------------------

@pytest.mark.parametrize("form", ["key", "sec1"])
def test_earchive_verifies_a_bouncy_castle_cms_over_an_openssl_sm2_chain(pki, sm2_sign, tmp_path, form):
    signature = bc_signed(sm2_sign, tmp_path, getattr(pki, form), pki.leaf, pki.intermediate, MANIFEST)
    check = cms.verify_signed_data(acms.ContentInfo.load(signature), [pki.cert("root")], content=MANIFEST)
    assert check.ok, (check.errors, check.chain_errors)
    assert check.algorithm == "sm2_sm3/sm3" and "Test SM2 Seal" in check.signer_subject
    altered = cms.verify_signed_data(acms.ContentInfo.load(signature), [pki.cert("root")], content=MANIFEST.replace(b"66c7", b"66c8"))
    assert any("message digest" in e for e in altered.errors)


def test_a_leaf_of_another_sm2_ca_is_refused_by_earchive_and_bouncy_castle(pki, sm2_sign, bc_verify, tmp_path):
    signature = bc_signed(sm2_sign, tmp_path, pki.other_key, pki.other_leaf, pki.other_root, MANIFEST)
    theirs = bc_chain(bc_verify, tmp_path, signature, MANIFEST, pki.root)
    ours = cms.verify_signed_data(acms.ContentInfo.load(signature), [pki.cert("root")], content=MANIFEST)
    assert theirs.returncode == 1 and "no issuer" in theirs.stderr
    assert not ours.errors and any("no trusted issuer" in e for e in ours.chain_errors), ours.chain_errors
    # not vacuous: the other CA's own root accepts it, on both sides
    assert bc_chain(bc_verify, tmp_path, signature, MANIFEST, pki.other_root).returncode == 0
    assert cms.verify_signed_data(acms.ContentInfo.load(signature), [pki.cert("other_root")], content=MANIFEST).ok


@pytest.mark.parametrize("variant", OUT_OF_RANGE)
def test_an_sm2_signature_with_r_or_s_out_of_range_is_refused_by_earchive_and_bouncy_castle(pki, sm2_sign, bc_verify, tmp_path,
                                                                                            variant):
    """GB/T 32918.2 §7.1 B1–B2: r, s ∈ [1, n-1]. s + n is the malleable case: a verifier reducing s mod n would accept it."""
    signature = bc_signed(sm2_sign, tmp_path, pki.key, pki.leaf, pki.intermediate, MANIFEST)
    r, s = rs(signature)
    same = with_signature(signature, r, s)
    assert same == signature, "re-encoding alone changes nothing"
    crafted = with_signature(signature, *OUT_OF_RANGE[variant](r, s))
    theirs = bc_chain(bc_verify, tmp_path, crafted, MANIFEST, pki.root)
    assert theirs.returncode == 1, theirs.stdout
    ours = cms.verify_signed_data(acms.ContentInfo.load(crafted), [pki.cert("root")], content=MANIFEST)
    assert any(e.startswith("signature does not verify") for e in ours.errors), ours.errors


def sample(tmp_path: Path, seed: int) -> Path:
    return sample_case(tmp_path / "cases", seed=seed, files=3).folder


def verify(capsys, package: Path, *options: str | Path) -> tuple[int, dict[str, tuple[str, str]]]:
    """`earchive verify PACKAGE --json OPTIONS`: its exit code and {test code: (status, detail)} (and "profile": the profile found)."""
    capsys.readouterr()
    code = main(["verify", str(package), "--json", *map(str, options)])
    report = json.loads(capsys.readouterr().out)
    return code, {**{r["id"]: (r["status"], r["detail"]) for r in report["results"]}, "profile": (report.get("crypto_profile"), "")}


def trusting(pki: Pki, leaf: Path | None = None) -> list[str | Path]:
    """Trust the OpenSSL root for the seal, pin the seal leaf, and trust the development CA for the (default) TSA."""
    return ["--trust", pki.root, "--seal-cert", leaf or pki.leaf, "--tsa-trust", DevPKI().ca_path]


@pytest.mark.parametrize("form", ["key", "sec1"])
def test_an_openssl_sm2_key_file_seals_a_package_that_verifies(pki, tmp_path, capsys, form):
    """`earchive pack --signer file:KEY,CHAIN` with OpenSSL's PKCS#8 and SEC1 SM2 keys; `earchive verify` to the OpenSSL root."""
    capsys.readouterr()
    code = main(["pack", str(sample(tmp_path, 31)), "--out", str(tmp_path / "out"), "--signer", f"file:{getattr(pki, form)},{pki.leaf_chain}"])
    out, err = capsys.readouterr()
    assert code == 0, err
    package = Path(out.strip().splitlines()[-1])
    code, results = verify(capsys, package, *trusting(pki))
    assert code == 0, {k: v for k, v in results.items() if v[0] == "fail"}
    assert results["GD-1-1-2"][0] == results["GD-1-1-4"][0] == "pass"
    assert "sm2_sm3" in results["GD-1-1-2"][1]


@pytest.mark.parametrize("bad", ["garbage", "an RSA key", "another SM2 key"])
def test_a_bad_key_file_is_a_seal_config_rejection_in_chinese(pki, tmp_path, capsys, bad):
    key = tmp_path / "bad.key"
    if bad == "garbage":
        key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    else:
        openssl("genpkey", *(["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"] if bad == "an RSA key" else ["-algorithm", "SM2"]),
                "-out", str(key), cwd=tmp_path)
    capsys.readouterr()
    code = main(["pack", str(sample(tmp_path, 32)), "--out", str(tmp_path / "out"), "--signer", f"file:{key},{pki.leaf_chain}"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "[SEAL-CONFIG]" in line]
    assert lines and all(CJK.search(line) for line in lines), err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.zip")), "nothing sealed with a bad key"


def test_earchive_stamps_and_verifies_with_an_openssl_sm2_tsa_certificate(pki, bc_verify, tmp_path):
    """A TSA certificate from the outside 国密 CA (critical timeStamping) with earchive's TSA code: SM3 imprint, SM2 signature;
    earchive and Bouncy Castle both verify the token to the OpenSSL root, and both refuse it over other data."""
    from earchive.crypto import sm2
    from earchive.crypto.signers import Sm2Signer
    from earchive.crypto.timestamp import LocalTSA, timestamp, verify_timestamp

    key = sm2.load_private_key(pki.tsa_key.read_bytes())
    tsa = LocalTSA(Sm2Signer(key, pki.cert("tsa"), [pki.cert("intermediate")], "OpenSSL-certified SM2 TSA"))
    token = timestamp(MANIFEST, tsa)
    ours = verify_timestamp(MANIFEST, token, [pki.cert("root")])
    assert ours.ok and ours.algorithm == "sm2_sm3/sm3", (ours.errors, ours.chain_errors)
    assert not verify_timestamp(MANIFEST + b"x", token, [pki.cert("root")]).ok
    (tmp_path / "t.tsr").write_bytes(token)
    (tmp_path / "data").write_bytes(MANIFEST)
    theirs = java(bc_verify, "ts", tmp_path / "t.tsr", tmp_path / "data", pki.root)
    assert theirs.returncode == 0 and "imprint 1.2.156.10197.1.401" in theirs.stdout and "1.2.156.10197.1.501 at" in theirs.stdout, theirs.stderr
    (tmp_path / "data").write_bytes(MANIFEST + b"x")
    assert java(bc_verify, "ts", tmp_path / "t.tsr", tmp_path / "data", pki.root).returncode == 1


# --- others verify what earchive made: the 国密 profile ------------------------------------------------------------------------

@contextmanager
def guomi_profile():
    """EARCHIVE_CRYPTO_PROFILE=guomi while packing or stamping (the variable is read when needed: earchive.config.current)."""
    old = os.environ.get("EARCHIVE_CRYPTO_PROFILE")
    os.environ["EARCHIVE_CRYPTO_PROFILE"] = "guomi"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("EARCHIVE_CRYPTO_PROFILE", None)
        else:
            os.environ["EARCHIVE_CRYPTO_PROFILE"] = old


@dataclass(frozen=True)
class Sealed:
    """A package, what sealed it, and the `earchive verify` options that trust its CAs."""

    package: Path
    signer: object
    tsa: object
    trust: list
    guomi: bool


def extracted(package: Path, into: Path) -> tuple[Path, Path, Path]:
    """Unzip ``package``; (the sealed manifest, its signature, the signature's timestamp) as files."""
    with zipfile.ZipFile(package) as zf:
        zf.extractall(into)
    return tuple(into / n for n in seal_members(package))  # type: ignore[return-value]


@pytest.fixture(scope="module")
def guomi_sealed(tmp_path_factory) -> Sealed:
    """A package packed under the 国密 profile: the development SM2 seal (SM2 root → SM2 intermediate → leaf) and SM2 TSA."""
    from earchive.crypto.signers import make_signer, make_tsa
    from earchive.domain.pack import pack

    root = tmp_path_factory.mktemp("guomi-sealed")
    with guomi_profile():
        signer, tsa = make_signer("local-sm2"), make_tsa("local-sm2")
        package = pack(sample(root, 35), root / "out", signer=signer, tsa=tsa).path
    gm_root = GmDevPKI().root_path
    return Sealed(package, signer, tsa, ["--trust", gm_root, "--tsa-trust", gm_root], True)


def test_the_guomi_development_root_is_sm3withsm2_and_not_the_ecdsa_one(guomi_sealed):
    text = openssl("x509", "-in", str(GmDevPKI().root_path), "-noout", "-text", cwd=guomi_sealed.package.parent)
    assert text.count("Signature Algorithm: SM2-with-SM3") == 2 and "ASN1 OID: SM2" in text and "CA:TRUE" in text


def test_bouncy_castle_verifies_the_guomi_seal_its_whole_sm2_chain_and_its_sm2_timestamp(guomi_sealed, bc_verify, tmp_path, capsys):
    manifest, signature, token = extracted(guomi_sealed.package, tmp_path)
    assert (manifest.name, signature.name, token.name) == ("manifest-sm3.txt", "manifest-sm3.txt.p7s", "manifest-sm3.txt.p7s.tsr")
    gm_root = GmDevPKI().root_path
    seal = java(bc_verify, "chain", signature, manifest, gm_root)
    assert seal.returncode == 0 and "1.2.156.10197.1.501/1.2.156.10197.1.401" in seal.stdout, seal.stderr
    stamp = java(bc_verify, "ts", token, signature, gm_root)
    assert stamp.returncode == 0 and "imprint 1.2.156.10197.1.401" in stamp.stdout and "1.2.156.10197.1.501 at" in stamp.stdout, stamp.stderr
    # not vacuous: the ECDSA development root is not this chain's, for Bouncy Castle either
    assert java(bc_verify, "chain", signature, manifest, DevPKI().ca_path).returncode == 1
    assert java(bc_verify, "ts", token, signature, DevPKI().ca_path).returncode == 1
    code, results = verify(capsys, guomi_sealed.package, *guomi_sealed.trust)
    assert code == 0 and results["profile"][0] == "guomi", {k: v for k, v in results.items() if v[0] == "fail"}


def test_openssl_recomputes_every_line_of_the_guomi_sm3_manifest(guomi_sealed, tmp_path):
    manifest, _, _ = extracted(guomi_sealed.package, tmp_path)
    listed = [line.split("  ", 1) for line in manifest.read_text("utf-8").splitlines()]
    with zipfile.ZipFile(guomi_sealed.package) as zf:
        members = [n for n in zf.namelist() if not n.endswith("/")]
    assert sorted(p for _, p in listed) == sorted(set(members) - {"manifest-sm3.txt", "manifest-sm3.txt.p7s", "manifest-sm3.txt.p7s.tsr"})
    out = openssl("dgst", "-sm3", "-r", *(p for _, p in listed), cwd=tmp_path)
    theirs = [line.split(" *", 1) for line in out.splitlines()]
    assert theirs == [[h, p] for h, p in listed]


def test_bouncy_castle_verifies_an_sm2_signed_json_with_its_chain(guomi_sealed, bc_verify, tmp_path):
    """What the transfer list and the reply carry: cms.signed_data by the 国密 development signer over JSON bytes."""
    from earchive.crypto.signers import make_signer

    content = json.dumps({"batch_id": "202612060001", "packages": 3, "机构": "长沙市档案馆"}, ensure_ascii=False).encode()
    with guomi_profile():
        signature = cms.signed_data(make_signer("local-sm2"), content=content).dump()
    ok = bc_chain(bc_verify, tmp_path, signature, content, GmDevPKI().root_path)
    assert ok.returncode == 0 and "1.2.156.10197.1.501/1.2.156.10197.1.401" in ok.stdout, ok.stderr
    assert bc_chain(bc_verify, tmp_path, signature, content + b" ", GmDevPKI().root_path).returncode == 1


# --- the same refusals in `earchive verify`'s report (DA/T 70 test codes) --------------------------------------------------

def rezip(package: Path, target: Path, replace: dict[str, bytes]) -> Path:
    """A copy of ``package`` with some members' bytes replaced, every member in its order and with its compression kept."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(package) as zin, zipfile.ZipFile(target, "w") as zout:
        assert set(replace) <= set(zin.namelist())
        for info in zin.infolist():
            copy = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            copy.compress_type, copy.external_attr, copy.create_system = info.compress_type, info.external_attr, info.create_system
            zout.writestr(copy, replace.get(info.filename, zin.read(info)))
    return target


def seal_members(package: Path) -> tuple[str, str, str]:
    """(the sealed manifest, its signature, the signature's timestamp) as the package names them, whichever the profile."""
    with zipfile.ZipFile(package) as zf:
        (signature,) = [n for n in zf.namelist() if n.endswith(".p7s")]
    return signature[:-4], signature, signature + ".tsr"


@pytest.fixture(scope="module")
def file_sealed(pki, tmp_path_factory) -> Sealed:
    """A package sealed (default profile, development ECDSA TSA) by the OpenSSL leaf's key file."""
    from earchive.crypto.signers import make_signer, make_tsa
    from earchive.domain.pack import pack

    root = tmp_path_factory.mktemp("file-sealed")
    signer, tsa = make_signer(f"file:{pki.key},{pki.leaf_chain}"), make_tsa("local")
    return Sealed(pack(sample(root, 33), root / "out", signer=signer, tsa=tsa).path, signer, tsa, trusting(pki), False)


def test_a_seal_by_a_leaf_of_another_sm2_ca_fails_1_1_4_only(pki, tmp_path, capsys):
    capsys.readouterr()
    code = main(["pack", str(sample(tmp_path, 34)), "--out", str(tmp_path / "out"), "--signer", f"file:{pki.other_key},{pki.other_chain}"])
    out, err = capsys.readouterr()
    assert code == 0, err
    package = Path(out.strip().splitlines()[-1])
    code, results = verify(capsys, package, *trusting(pki, pki.other_leaf))
    assert code == 1 and results["GD-1-1-4"][0] == "fail" and "no trusted issuer" in results["GD-1-1-4"][1], results["GD-1-1-4"]
    assert results["GD-1-1-2"][0] == results["GD-1-1-3"][0] == "pass", "the signature itself is sound; only its CA is not trusted"
    assert verify(capsys, package, "--trust", pki.other_root, "--seal-cert", pki.other_leaf, "--tsa-trust", DevPKI().ca_path)[0] == 0


def resealed(sealed: Sealed, target: Path, signature_of=lambda r, s: (r, s)) -> Path:
    """The package sealed again over the same manifest (two steps: signed attributes, then the signature), the signature's
    (r, s) replaced by ``signature_of(r, s)``, and timestamped anew: only the signature value differs from a sound seal."""
    from earchive.crypto.timestamp import timestamp

    manifest, signature, token = seal_members(sealed.package)
    with zipfile.ZipFile(sealed.package) as zf:
        content = zf.read(manifest)
    signer = sealed.signer
    attrs = cms.signed_attributes(signer.certificate, signer.digest_algorithm, content)
    sig = algos.DSASignature.load(signer.sign(attrs))
    r, s = signature_of(sig["r"].native, sig["s"].native)
    p7s = cms.assemble(signer.certificate, signer.chain, signer.digest_algorithm, signer.signature_algorithm, attrs,
                       algos.DSASignature({"r": r, "s": s}).dump(), content=content).dump()
    if sealed.guomi:
        with guomi_profile():
            stamp = timestamp(p7s, sealed.tsa)
    else:
        stamp = timestamp(p7s, sealed.tsa)
    return rezip(sealed.package, target, {signature: p7s, token: stamp})


@pytest.mark.parametrize("which", ["file_sealed", "guomi_sealed"])
@pytest.mark.parametrize("variant", OUT_OF_RANGE)
def test_an_sm2_seal_with_r_or_s_out_of_range_fails_1_1_2(request, bc_verify, tmp_path, capsys, variant, which):
    sealed: Sealed = request.getfixturevalue(which)
    name = sealed.package.name
    sound = resealed(sealed, tmp_path / "sound" / name)
    assert verify(capsys, sound, *sealed.trust)[0] == 0, "sealed again soundly, the copy verifies: only the crafted value fails"
    bad = resealed(sealed, tmp_path / "bad" / name, OUT_OF_RANGE[variant])
    code, results = verify(capsys, bad, *sealed.trust)
    assert code == 1 and results["GD-1-1-2"][0] == "fail" and "signature does not verify" in results["GD-1-1-2"][1], results["GD-1-1-2"]
    assert results["GD-1-1-1"][0] == results["GD-1-1-3"][0] == "pass"
    if sealed.guomi:  # Bouncy Castle refuses the same seal, and accepts the sound one
        root = GmDevPKI().root_path
        assert java(bc_verify, "chain", *extracted(sound, tmp_path / "sound-x")[1::-1], root).returncode == 0
        assert java(bc_verify, "chain", *extracted(bad, tmp_path / "bad-x")[1::-1], root).returncode == 1


def tampered_manifest(package: Path, target: Path) -> Path:
    """``manifest-sm3.txt`` with one digest changed (its last hex digit), re-zipped."""
    with zipfile.ZipFile(package) as zf:
        text = zf.read("manifest-sm3.txt").decode()
    first = text.splitlines()[0]
    changed = first[:63] + ("0" if first[63] != "0" else "1") + first[64:]
    return rezip(package, target, {"manifest-sm3.txt": text.replace(first, changed, 1).encode()})


@pytest.mark.parametrize("which", ["file_sealed", "guomi_sealed"])
def test_a_tampered_sm3_manifest_fails_1_1_1_and_1_1_2(request, bc_verify, tmp_path, capsys, which):
    """An SM2 key signs manifest-sm3.txt itself (ADR 0020): a changed line breaks the fixity and the signature alike."""
    sealed: Sealed = request.getfixturevalue(which)
    tampered = tampered_manifest(sealed.package, tmp_path / sealed.package.name)
    code, results = verify(capsys, tampered, *sealed.trust)
    assert code == 1 and results["GD-1-1-1"][0] == "fail" and "manifest-sm3.txt" in results["GD-1-1-1"][1], results["GD-1-1-1"]
    assert results["GD-1-1-2"][0] == "fail" and "message digest" in results["GD-1-1-2"][1], results["GD-1-1-2"]
    if sealed.guomi:
        manifest, signature, _ = extracted(tampered, tmp_path / "x")
        assert java(bc_verify, "chain", signature, manifest, GmDevPKI().root_path).returncode == 1
