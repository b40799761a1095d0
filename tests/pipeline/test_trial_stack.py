"""A trial stack on the local cloud (issue 22, F18): LockMode=GOVERNANCE locks what it archives so it can be removed again."""

from __future__ import annotations

from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from earchive_devtools.localcloud import LocalCloud
from earchive_devtools.sample import sample_case, zip_case

pytestmark = pytest.mark.slow  # end to end: the real ASL on the local cloud


def test_a_trial_stack_locks_in_governance_mode_and_can_be_emptied(earchive_home, tmp_path: Path):
    cloud = LocalCloud()
    cloud.resolver.params.update(AllowDevelopmentKeys="true", LockMode="GOVERNANCE", DefaultRetentionDays="1")
    with cloud:
        s3 = cloud.client("s3")
        archive = cloud.name("ArchiveBucket")
        rule = s3.get_object_lock_configuration(Bucket=archive)["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
        assert (rule["Mode"], rule["Days"]) == ("GOVERNANCE", 1)
        case = sample_case(tmp_path / "cases", seed=303)
        cloud.upload(zip_case(case.folder, tmp_path / f"{case.project_id}.zip"))
        (result,) = cloud.wait(cloud.dispatch(wait=0.5), timeout=240).values()
        assert result["status"] == "SUCCEEDED", result.get("cause")
        locked = [(v["Key"], v["VersionId"]) for v in s3.list_object_versions(Bucket=archive).get("Versions", [])]
        assert any(k.startswith("packages/") for k, _ in locked) and any(k.startswith("anchors/") for k, _ in locked)
        for key, version in locked:  # the package and the event-log anchors, all in the stack's mode
            head = s3.head_object(Bucket=archive, Key=key, VersionId=version)
            assert head["ObjectLockMode"] == "GOVERNANCE", key
        item = next(i for i in cloud.catalogue().table.scan()["Items"] if i.get("status") == "ARCHIVED")
        assert item["retention_mode"] == "GOVERNANCE"
        key, version = next((k, v) for k, v in locked if k.startswith("packages/"))
        with pytest.raises(ClientError):  # still locked against an ordinary delete
            s3.delete_object(Bucket=archive, Key=key, VersionId=version)
        for key, version in locked:  # whoever may bypass governance retention empties the trial's bucket
            s3.delete_object(Bucket=archive, Key=key, VersionId=version, BypassGovernanceRetention=True)
        assert not s3.list_object_versions(Bucket=archive).get("Versions")


def test_the_local_cloud_refuses_a_trial_stack_in_compliance_mode(earchive_home):
    """CloudFormation refuses a stack whose parameters break a template Rule before it creates anything; so does the local cloud."""
    cloud = LocalCloud()
    cloud.resolver.params.update(AllowDevelopmentKeys="true", LockMode="COMPLIANCE")
    with pytest.raises(ValueError, match="TrialsLockInGovernanceMode"):
        cloud.start()
    cloud.stop()
