"""The second copy on the local cloud (ADR 0018): S3 replication as S3 documents it, replica.yaml, and the tables' backup.

moto stores a bucket's replication configuration and does nothing with it. The local cloud replicates here, in one
place, driven by the configuration the template's ArchiveBucket gives (``put_bucket_replication``), as S3 does
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/replication-what-is-isnot-replicated.html,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html#object-lock-managing-replication):

- every new version whose key matches an enabled rule is copied to the destination bucket with the SAME version id,
  ETag, metadata, tags and storage class, and its Object Lock mode, retain-until date and legal hold;
- a version without a lock of its own gets the destination bucket's default retention;
- SSE-KMS objects only when the rule opts in (``SourceSelectionCriteria.SseKmsEncryptedObjects``), re-encrypted
  with the rule's ``ReplicaKmsKeyID``;
- the source version then reads ``ReplicationStatus: COMPLETED`` and the replica ``REPLICA``; a destination that is
  missing, unversioned, or without Object Lock for a locked version leaves the source ``FAILED``;
- deletes are not replicated (the template disables delete-marker replication; versions are never deleted).

S3 replicates asynchronously (most versions within 15 minutes); here it happens as the write returns. A lock set or
extended on the source version after the write (``ensure_lock``) is carried to its replica as well.

AWS Backup runs no jobs on moto: :func:`back_up_tables` stands in for one run of the plan (a DynamoDB on-demand
backup of each table the template's ``TablesBackupSelection`` names), and :func:`restore_tables` for the restore
job of ADR 0018's procedure. The cross-region copy and Vault Lock themselves are not exercised locally.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .template import ACCOUNT, REGION, Resolver, load_template

OTHER_REGION = {"cn-north-1": "cn-northwest-1", "cn-northwest-1": "cn-north-1", "us-east-1": "us-west-2", "us-west-2": "us-east-1"}
_INSTALLED: list[bool] = []


# ---------------------------------------------------------------- S3 replication inside moto

def _rules(bucket: Any) -> list[dict[str, Any]]:
    config = getattr(bucket, "replication", None) or {}
    rules = config.get("Rule") or []
    return [r for r in (rules if isinstance(rules, list) else [rules]) if r.get("Status") == "Enabled"]


def _prefix(rule: dict[str, Any]) -> str:
    flt = rule.get("Filter") or {}
    return (flt.get("Prefix") if isinstance(flt, dict) else None) or rule.get("Prefix") or ""


def _kms_opted_in(rule: dict[str, Any]) -> bool:
    crit = (rule.get("SourceSelectionCriteria") or {}).get("SseKmsEncryptedObjects") or {}
    return crit.get("Status") == "Enabled"


def replicate(backend: Any, key: Any) -> None:
    """Replicate one source version (``key``, a moto FakeKey) by its bucket's rules; set both replication statuses."""
    from moto.s3.models import FakeKey

    source = backend.buckets.get(key.bucket_name)
    if source is None or getattr(key, "replication_status", None) == "REPLICA":
        return
    for rule in sorted(_rules(source), key=lambda r: -int(r.get("Priority") or 0)):
        if not key.name.startswith(_prefix(rule)):
            continue
        if key.encryption == "aws:kms" and not _kms_opted_in(rule):
            return  # S3 leaves SSE-KMS objects out unless the rule opts in: no status at all
        dest_name = str(rule["Destination"]["Bucket"]).split(":::")[-1]
        dest = backend.buckets.get(dest_name)
        locked = bool(key.lock_mode or key.lock_legal_status == "ON")
        if dest is None or not dest.is_versioned or (locked and not dest.object_lock_enabled):
            key.replication_status = "FAILED"
            return
        mode, until = key.lock_mode, key.lock_until
        if not mode and dest.default_lock_mode:
            mode, until = dest.default_lock_mode, dest.default_retention()
        replica_key_id = ((rule["Destination"].get("EncryptionConfiguration") or {}).get("ReplicaKmsKeyID"))
        existing = [k for k in dest.keys.getlist(key.name, []) if k.version_id == key.version_id]
        if existing:  # the same version again (its lock set after the write): carry the lock, keep the replica
            replica = existing[0]
            replica.lock_mode, replica.lock_until, replica.lock_legal_status = mode, until, key.lock_legal_status
        else:
            replica = FakeKey(name=key.name, bucket_name=dest.name, value=key.value, account_id=dest.account_id, region_name=dest.region_name,
                              storage=key.storage_class, etag=key.etag.strip('"'), is_versioned=True, version_id=key.version_id,
                              multipart=key.multipart, encryption="aws:kms" if replica_key_id else key.encryption,
                              kms_key_id=replica_key_id or key.kms_key_id, bucket_key_enabled=key.bucket_key_enabled,
                              lock_mode=mode, lock_legal_status=key.lock_legal_status, lock_until=until, checksum_value=key.checksum_value,
                              checksum_type=key.checksum_type, checksum_parts=key.checksum_parts)
            replica.set_metadata(dict(key.metadata))
            replica.checksum_algorithm = key.checksum_algorithm
            replica.replication_status = "REPLICA"
            dest.keys.setlist(key.name, [*dest.keys.getlist(key.name, []), replica])
            tags = backend.tagger.get_tag_dict_for_resource(key.arn)
            if tags:
                backend.put_object_tagging(replica, tags)
        key.replication_status = "COMPLETED"
        return


def install() -> None:
    """Patch moto's S3 backend once: writes, completed multipart uploads and lock changes replicate (see the module doc)."""
    if _INSTALLED:
        return
    _INSTALLED.append(True)
    from moto.s3.models import FakeKey, S3Backend

    put, complete = S3Backend.put_object, S3Backend.complete_multipart_upload
    retention, hold = S3Backend.put_object_retention, S3Backend.put_object_legal_hold

    def put_object(self: Any, *args: Any, **kwargs: Any) -> Any:
        key = put(self, *args, **kwargs)
        if kwargs.get("multipart") is None:  # a multipart upload replicates once complete (its metadata set)
            replicate(self, key)
        return key

    def complete_multipart_upload(self: Any, *args: Any, **kwargs: Any) -> Any:
        key = complete(self, *args, **kwargs)
        if key is not None:
            replicate(self, key)
        return key

    def lock_changed(fn: Any) -> Any:
        def wrapped(self: Any, bucket_name: str, key_name: str, version_id: str | None, *args: Any, **kwargs: Any) -> Any:
            out = fn(self, bucket_name, key_name, version_id, *args, **kwargs)
            replicate(self, self.get_object(bucket_name, key_name, version_id=version_id))
            return out
        return wrapped

    S3Backend.put_object, S3Backend.complete_multipart_upload = put_object, complete_multipart_upload
    S3Backend.put_object_retention, S3Backend.put_object_legal_hold = lock_changed(retention), lock_changed(hold)
    headers = FakeKey.response_dict.fget

    def response_dict(self: Any) -> dict[str, Any]:  # HEAD/GET say x-amz-replication-status, as S3 does
        res = headers(self)
        if getattr(self, "replication_status", None):
            res["x-amz-replication-status"] = self.replication_status
        return res

    FakeKey.response_dict = property(response_dict)


def replication_configuration(props: dict[str, Any]) -> dict[str, Any]:
    """The template's (resolved) ReplicationConfiguration as the PutBucketReplication API takes it."""
    rules = []
    for rule in props["Rules"]:
        api = {("ID" if k == "Id" else k): v for k, v in rule.items()}
        api["Priority"] = int(api.get("Priority", 1))
        metrics = api.get("Destination", {}).get("Metrics", {})
        if "EventThreshold" in metrics:  # a number in the API, a string once resolved from the template
            api["Destination"] = {**api["Destination"], "Metrics": {**metrics, "EventThreshold": {"Minutes": int(metrics["EventThreshold"]["Minutes"])}}}
        rules.append(api)
    return {"Role": props["Role"], "Rules": rules}


# ---------------------------------------------------------------- replica.yaml, deployed in the other region

def deploy_replica(repo: Path, client: Any, suffix: str, region: str = REGION, partition: str = "aws") -> dict[str, str]:
    """Provision replica.yaml's key, bucket and vault in the other region (``client(service, region)`` makes clients)."""
    other = OTHER_REGION[region]
    template = load_template(repo / "replica.yaml")
    r = Resolver(template)
    r.params.update({"AWS::Region": other, "AWS::Partition": partition, "SourceAccountId": ACCOUNT, "SourceRegion": region,
                     "SourceStackName": "earchive-local"})
    res = template["Resources"]
    key = client("kms", other).create_key(Description=r.value(res["ReplicaKey"]["Properties"])["Description"])["KeyMetadata"]
    r.names["ReplicaKey"], r.arns["ReplicaKey"] = key["KeyId"], key["Arn"]
    name = f"earchive-replica-{suffix}"
    r.names["ReplicaBucket"], r.arns["ReplicaBucket"] = name, f"arn:{partition}:s3:::{name}"
    props = r.value(res["ReplicaBucket"]["Properties"])
    s3 = client("s3", other)
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=bool(props["ObjectLockEnabled"]),
                     CreateBucketConfiguration={"LocationConstraint": other})
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
    rule = props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": rule["Mode"], "Days": int(rule["Days"])}}})
    default = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": default["ServerSideEncryptionByDefault"], "BucketKeyEnabled": bool(default["BucketKeyEnabled"])}]})
    vault = r.value(res["BackupCopyVault"]["Properties"])
    made = client("backup", other).create_backup_vault(BackupVaultName=vault["BackupVaultName"])
    return {"ReplicaBucketArn": r.arns["ReplicaBucket"], "ReplicaKmsKeyArn": key["Arn"], "BackupCopyVaultArn": made["BackupVaultArn"],
            "ReplicaBucketName": name, "ReplicaRegion": other}


# ---------------------------------------------------------------- the tables' backup (a stand-in for AWS Backup's job)

def backed_up_tables(template: dict[str, Any]) -> list[str]:
    """The logical ids of the tables the template's backup selection names."""
    return [x["Fn::GetAtt"][0] for x in template["Resources"]["TablesBackupSelection"]["Properties"]["BackupSelection"]["Resources"]]


def back_up_tables(template: dict[str, Any], names: dict[str, str], dynamodb: Any, label: str = "daily") -> dict[str, str]:
    """One run of the plan: an on-demand backup of each selected table; logical id -> backup ARN."""
    return {logical: dynamodb.create_backup(TableName=names[logical], BackupName=f"{label}-{logical}")["BackupDetails"]["BackupArn"]
            for logical in backed_up_tables(template)}


def restore_tables(backups: dict[str, str], names: dict[str, str], dynamodb: Any) -> None:
    """The restore job: each table from its backup, under the name the (new) stack uses."""
    for logical, arn in backups.items():
        dynamodb.restore_table_from_backup(TargetTableName=names[logical], BackupArn=arn)
