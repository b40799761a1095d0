"""One S3 Access Point per institution on the transfer bucket (ADR 0012): its policy is the institution's whole grant.

``open`` creates (or updates) the access point and puts the policy that
:func:`earchive.domain.institution.access_point_policy` writes; ``close`` deletes the access point, so a
revoked institution's principals reach nothing from that moment. The bucket policy (template.yaml)
delegates access control to this account's access points and grants nothing itself.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from ..domain.institution import access_point_name, access_point_policy
from ..errors import UsageError


class AccessPoints:
    """The institutions' access points of one stack's transfer bucket."""

    def __init__(self, s3control: Any, account_id: str, bucket: str, stack_prefix: str, partition: str = "aws", region: str = "us-east-1"):
        self.s3control, self.account_id, self.bucket, self.prefix = s3control, account_id, bucket, stack_prefix
        self.partition, self.region = partition, region

    def arn(self, code: str) -> str:
        return f"arn:{self.partition}:s3:{self.region}:{self.account_id}:accesspoint/{access_point_name(self.prefix, code)}"

    def open(self, code: str, principals: list[str]) -> str:
        """The institution's access point with its policy (created when missing); its ARN, which the institution uses as the bucket."""
        name = access_point_name(self.prefix, code)
        try:
            self.s3control.create_access_point(AccountId=self.account_id, Name=name, Bucket=self.bucket,
                                               PublicAccessBlockConfiguration={"BlockPublicAcls": True, "IgnorePublicAcls": True,
                                                                               "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("AccessPointAlreadyOwnedByYou", "AccessPointAlreadyExists"):
                raise
            existing = self.s3control.get_access_point(AccountId=self.account_id, Name=name)
            if existing.get("Bucket") != self.bucket:
                raise UsageError(f"access point {name} exists on bucket {existing.get('Bucket')}, not on {self.bucket}: nothing was changed") from None
        policy = access_point_policy(self.arn(code), code, principals)
        self.s3control.put_access_point_policy(AccountId=self.account_id, Name=name, Policy=json.dumps(policy))
        return self.arn(code)

    def policy(self, code: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.s3control.get_access_point_policy(AccountId=self.account_id, Name=access_point_name(self.prefix, code))["Policy"])
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("NoSuchAccessPoint", "NoSuchAccessPointPolicy", "NoSuchEntity"):
                return None
            raise

    def close(self, code: str) -> None:
        """No access from now on: the access point is deleted (its name may be opened again for the same institution only)."""
        try:
            self.s3control.delete_access_point(AccountId=self.account_id, Name=access_point_name(self.prefix, code))
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "NoSuchAccessPoint":
                raise
