"""A 国密 stack (issue 23 item 3): CryptoProfile=guomi with an SM2 seal key, run as in cn-north-1 on the local cloud.

The seal is KMS SM2 (the local cloud's KMS signs SM2DSA as KMS does: earchive_devtools.kms_sm2), certified by the SM2
development intermediate; the timestamp comes from the SM2 development TSA with an SM3 imprint; the check names the profile.
"""

from __future__ import annotations

import json
import zipfile

import pytest
from asn1crypto import cms, tsp

from earchive.check import check_package
from earchive.domain.layout import GM_SIGNATURE, GM_TIMESTAMP, SIGNATURE
from earchive_devtools.localcloud import LocalCloud
from earchive_devtools.sample import sample_case, zip_case
from earchive_devtools.template import Resolver, RuleFailed, load_template
from tests.contract.test_partitions import ROOT

pytestmark = pytest.mark.slow

GUOMI = {"SealKeySpec": "SM2", "CryptoProfile": "guomi", "RegionCode": "430000"}


@pytest.fixture(scope="module")
def cloud(earchive_home):
    with LocalCloud(mode="china", parameters=GUOMI) as c:
        yield c


def test_a_guomi_stack_needs_an_sm2_seal_key():
    template = load_template(ROOT / "template.yaml")
    with pytest.raises(RuleFailed, match="GuomiNeedsAnSm2Seal"):
        Resolver(template, params={"CryptoProfile": "guomi", "OidcIssuer": "https://idp.example.cn", "OidcAudience": "x"},
                 mode="china").check_rules()


def test_a_case_archived_by_a_guomi_stack_is_sm2_and_sm3_from_file_to_root(cloud, tmp_path):
    case = sample_case(tmp_path / "cases", seed=123)
    cloud.upload(zip_case(case.folder, tmp_path / f"{case.project_id}.zip"))
    (result,) = cloud.wait(cloud.dispatch(wait=0.5), timeout=240).values()
    assert result["status"] == "SUCCEEDED", result.get("cause")
    loc = json.loads(result["output"])["archive"]
    package = tmp_path / loc["key"].rsplit("/", 1)[-1]
    package.write_bytes(cloud.client("s3").get_object(Bucket=loc["bucket"], Key=loc["key"], VersionId=loc["version_id"])["Body"].read())
    with zipfile.ZipFile(package) as zf:
        names = set(zf.namelist())
        signature, token = zf.read(GM_SIGNATURE), zf.read(GM_TIMESTAMP)
    assert SIGNATURE not in names, "one seal: the SM3 manifest's"
    si = cms.ContentInfo.load(signature)["content"]["signer_infos"][0]
    assert (si["signature_algorithm"]["algorithm"].native, si["digest_algorithm"]["algorithm"].native) == ("sm2_sm3", "sm3")
    certs = cms.ContentInfo.load(signature)["content"]["certificates"]
    assert [c.chosen["signature_algorithm"]["algorithm"].native for c in certs] == ["sm2_sm3"] * len(certs) and len(certs) == 3
    info = tsp.TimeStampResp.load(token)["time_stamp_token"]["content"]["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hash_algorithm"]["algorithm"].native == "sm3"
    report = check_package(package)
    assert report.passed, [r.as_dict() for r in report.failures]
    assert report.crypto_profile == "guomi"
