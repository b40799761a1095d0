"""Strict and differential (issue 21): earchive accepts exactly the signed-attribute encodings Bouncy Castle accepts, and never
one `openssl cms -verify` refuses (OpenSSL 3 alone also takes an unsorted SET, which DER and Bouncy Castle do not).

Each variant is signed for real over its exact bytes — attributes repeated (first or last), reordered, with extra values, or
with BER lengths — so only the encoding rules decide. OpenSSL re-encodes the attributes in DER and reads messageDigest as
"exactly one, single-valued"; earchive refuses the same (crypto.cms.attribute_problems).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess

import pytest
from asn1crypto import cms, core
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from earchive.crypto.cms import assemble, verify_signed_data
from earchive.crypto.pki import DevPKI
from tests.java_tools import java_command

CONTENT = b'{"batch_id":"202612060001","decision":"RETURNED"}'
GOOD, OTHER = hashlib.sha256(CONTENT).digest(), hashlib.sha256(b"ACCEPTED").digest()
SIGNED_AT = dt.datetime.now(dt.UTC).replace(microsecond=0)  # within the development signer's validity (Bouncy Castle checks it)


def attribute(kind: str, *values) -> bytes:
    return cms.CMSAttribute({"type": kind, "values": list(values)}).dump()


def length(n: int, ber: bool) -> bytes:
    if ber:  # long form where the short one would do, or one octet more than needed: BER, not DER
        return b"\x82" + n.to_bytes(2, "big")
    return bytes([n]) if n < 128 else (b"\x81" + bytes([n]) if n < 256 else b"\x82" + n.to_bytes(2, "big"))


VARIANTS = st.fixed_dictionaries({
    "order": st.permutations(range(3)),
    "extra_digest": st.sampled_from([None, "good-first", "good-last", "other-first", "other-last"]),
    "digest_values": st.sampled_from([[GOOD], [GOOD, OTHER], [OTHER, GOOD], [GOOD, GOOD]]),
    "ber_outer": st.booleans(),
})


def build(v: dict) -> bytes:
    """The SET of signed attributes the variant describes, as the bytes that are signed."""
    base = [attribute("content_type", "data"),
            attribute("signing_time", cms.Time({"utc_time": core.UTCTime(SIGNED_AT)})),
            cms.CMSAttribute({"type": "message_digest", "values": v["digest_values"]}).dump(force=True)]
    # asn1crypto sorts a SET OF's values when it encodes: put them back in the variant's order
    if len(v["digest_values"]) > 1:
        values = b"".join(core.OctetString(d).dump() for d in v["digest_values"])
        oid = core.ObjectIdentifier("1.2.840.113549.1.9.4").dump()
        inner = oid + b"\x31" + length(len(values), False) + values
        base[2] = b"\x30" + length(len(inner), False) + inner
    items = [base[i] for i in v["order"]]
    if v["extra_digest"]:
        extra = attribute("message_digest", GOOD if v["extra_digest"].startswith("good") else OTHER)
        items = [extra, *items] if v["extra_digest"].endswith("first") else [*items, extra]
    body = b"".join(items)
    return b"\x31" + length(len(body), v["ber_outer"]) + body


@pytest.fixture(scope="session")
def bouncy_castle(tmp_path_factory) -> list[str]:
    """The command that runs tests/java/BcVerify.java on Bouncy Castle (compiled once; `make system-deps` installs both)."""
    return java_command(tmp_path_factory, "BcVerify")


def bc_accepts(command: list[str], tmp_path, signature: bytes) -> bool:
    (tmp_path / "s.p7s").write_bytes(signature)
    (tmp_path / "c.json").write_bytes(CONTENT)
    out = subprocess.run([*command, str(tmp_path / "s.p7s"), str(tmp_path / "c.json"), str(DevPKI().ca_path)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode in (0, 1), out.stderr
    return out.returncode == 0


def openssl_accepts(tmp_path, signature: bytes) -> bool:
    (tmp_path / "s.p7s").write_bytes(signature)
    (tmp_path / "c.json").write_bytes(CONTENT)
    out = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "s.p7s"), "-content",
                          str(tmp_path / "c.json"), "-CAfile", str(DevPKI().ca_path), "-purpose", "any", "-out", "/dev/null"],
                         capture_output=True, text=True, timeout=60, check=False)
    return out.returncode == 0


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(VARIANTS)
def test_earchive_accepts_exactly_what_bouncy_castle_accepts_and_never_what_openssl_refuses(tmp_path, signer, bouncy_castle, v):
    attrs = build(v)
    info = assemble(signer.certificate, signer.chain, signer.digest_algorithm, signer.signature_algorithm, attrs, signer.sign(attrs),
                    content=CONTENT)
    der = info.dump()
    assert attrs[2:] in der or attrs[4:] in der, "the variant's own bytes are what the SignedData carries"
    ours = verify_signed_data(cms.ContentInfo.load(der), [DevPKI().ca_cert()], content=CONTENT)
    theirs = openssl_accepts(tmp_path, der)
    assert (not ours.errors) == bc_accepts(bouncy_castle, tmp_path, der), ("Bouncy Castle decides otherwise", v, ours.errors)
    if not ours.errors:
        assert theirs, ("earchive accepted what OpenSSL refuses", v)
    elif theirs:  # the one place earchive is stricter, on purpose: DER (sorted SET, minimal lengths), which OpenSSL does not demand
        assert all("DER" in e for e in ours.errors), (v, ours.errors)
        assert v["ber_outer"] or list(v["order"]) != sorted_order() or v["digest_values"] != sorted(v["digest_values"]), v
    else:  # both refuse: a repeated or multi-valued attribute, or a digest that does not match
        assert ours.errors


def sorted_order() -> list[int]:
    """The permutation of the three base attributes that DER (a sorted SET OF) requires."""
    encodings = [attribute("content_type", "data"),
                 attribute("signing_time", cms.Time({"utc_time": core.UTCTime(SIGNED_AT)})),
                 attribute("message_digest", GOOD)]
    return sorted(range(3), key=lambda i: encodings[i])


def test_both_verdicts_occur_der_accepted_and_a_repeated_digest_refused(tmp_path, signer, bouncy_castle):
    """The property is not vacuous: the DER-sorted single-digest SET is accepted by both, a repeated messageDigest by neither."""
    order = tuple(sorted_order())
    for v, expected in (({"order": order, "extra_digest": None, "digest_values": [GOOD], "ber_outer": False}, True),
                        ({"order": order, "extra_digest": "other-last", "digest_values": [GOOD], "ber_outer": False}, False),
                        ({"order": order, "extra_digest": None, "digest_values": [GOOD, OTHER], "ber_outer": False}, False)):
        attrs = build(v)
        der = assemble(signer.certificate, signer.chain, signer.digest_algorithm, signer.signature_algorithm, attrs, signer.sign(attrs),
                       content=CONTENT).dump()
        ours = verify_signed_data(cms.ContentInfo.load(der), [DevPKI().ca_cert()], content=CONTENT)
        assert (not ours.errors, openssl_accepts(tmp_path, der), bc_accepts(bouncy_castle, tmp_path, der)) == (expected,) * 3, (v, ours.errors)
    unsorted = build({"order": order[::-1], "extra_digest": None, "digest_values": [GOOD], "ber_outer": False})
    der = assemble(signer.certificate, signer.chain, signer.digest_algorithm, signer.signature_algorithm, unsorted, signer.sign(unsorted),
                   content=CONTENT).dump()
    assert openssl_accepts(tmp_path, der), "OpenSSL 3 does not insist on DER order"
    assert not bc_accepts(bouncy_castle, tmp_path, der), "Bouncy Castle does"
    assert verify_signed_data(cms.ContentInfo.load(der), [DevPKI().ca_cert()], content=CONTENT).errors, "earchive does (issue 21)"


def test_a_missing_or_wrong_content_type_attribute_is_refused_by_all_three(tmp_path, signer, bouncy_castle):
    """Review of issue 21: signed attributes without contentType (OpenSSL and Bouncy Castle refuse), or naming another type than
    the content's (Bouncy Castle refuses), are refused by earchive too (RFC 5652 §5.3)."""
    time_attr = attribute("signing_time", cms.Time({"utc_time": core.UTCTime(SIGNED_AT)}))
    for items, expect_openssl in (([time_attr, attribute("message_digest", GOOD)], False),
                                  ([attribute("content_type", "signed_data"), time_attr, attribute("message_digest", GOOD)], True)):
        body = b"".join(sorted(items))
        attrs = b"\x31" + length(len(body), False) + body
        der = assemble(signer.certificate, signer.chain, signer.digest_algorithm, signer.signature_algorithm, attrs, signer.sign(attrs),
                       content=CONTENT).dump()
        ours = verify_signed_data(cms.ContentInfo.load(der), [DevPKI().ca_cert()], content=CONTENT)
        assert ours.errors and "contentType" in ours.errors[0]
        assert not bc_accepts(bouncy_castle, tmp_path, der)
        assert openssl_accepts(tmp_path, der) == expect_openssl
