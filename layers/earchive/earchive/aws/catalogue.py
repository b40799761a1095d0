"""The catalogue and the file map in DynamoDB (归档登记's records).

DynamoDB holds one catalogue item per package (status, digests, retention,
counts, location and version), upload claims, archive serials, and the
per-file mapping (platform file → package entry → S3 key and version,
queryable both ways). Every status move is a conditional write, so retries
and duplicates cannot skip or repeat a state. Every DynamoDB expression on
these two tables is in this module.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from ..errors import ConflictError


class Catalogue:
    """The catalogue table: HASH ``package_id`` (the 电子文件号, or ``upload#…`` for rejected uploads)."""

    def __init__(self, table: Any):
        self.table = table

    def get(self, package_id: str) -> dict[str, Any] | None:
        return self.table.get_item(Key={"package_id": package_id}, ConsistentRead=True).get("Item")

    def put_new(self, item: dict[str, Any], *, replace_statuses: tuple[str, ...] = ()) -> None:
        """Create an item, or replace one only when its status is in ``replace_statuses``."""
        cond = "attribute_not_exists(package_id)"
        values: dict[str, Any] = {}
        if replace_statuses:
            cond += " OR #st IN (" + ", ".join(f":s{i}" for i in range(len(replace_statuses))) + ")"
            values = {f":s{i}": s for i, s in enumerate(replace_statuses)}
        kwargs: dict[str, Any] = {"Item": item, "ConditionExpression": cond}
        if values:
            kwargs["ExpressionAttributeValues"] = values
            kwargs["ExpressionAttributeNames"] = {"#st": "status"}
        try:
            self.table.put_item(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConflictError(f"{item['package_id']} exists in another state") from None
            raise

    def move(self, package_id: str, to: str, *, allowed_from: tuple[str, ...], **attrs: Any) -> dict[str, Any]:
        """Move ``package_id`` to status ``to`` if it is in one of ``allowed_from`` (or already ``to``)."""
        names = {"#st": "status"}
        values: dict[str, Any] = {":to": to, ":at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
        sets = ["#st = :to", "updated_at = :at"]
        for i, (k, v) in enumerate(attrs.items()):
            names[f"#a{i}"] = k
            values[f":v{i}"] = v
            sets.append(f"#a{i} = :v{i}")
        froms = (*allowed_from, to)
        values.update({f":f{i}": s for i, s in enumerate(froms)})
        try:
            return self.table.update_item(
                Key={"package_id": package_id}, UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="#st IN (" + ", ".join(f":f{i}" for i in range(len(froms))) + ")",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values, ReturnValues="ALL_NEW",
            )["Attributes"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                current = (self.get(package_id) or {}).get("status", "absent")
                raise ConflictError(f"{package_id} is {current}, not one of {allowed_from}; cannot move to {to}") from None
            raise

    # -- upload claims (one per upload version: ``claim#bucket/key#version``)
    def finish_claim(self, claim_key: str, outcome: str) -> None:
        """A finished upload is never taken over again, whatever its execution's status."""
        self.table.update_item(Key={"package_id": claim_key}, UpdateExpression="SET #st = :d, outcome = :o",
                               ExpressionAttributeNames={"#st": "status"}, ExpressionAttributeValues={":d": "DONE", ":o": outcome})

    def take_over_claim(self, claim_key: str, previous: str, execution: str) -> None:
        """Hand the claim of a crashed execution to ``execution`` (only if ``previous`` still holds it)."""
        self.table.update_item(Key={"package_id": claim_key}, UpdateExpression="SET execution = :e", ConditionExpression="execution = :p",
                               ExpressionAttributeValues={":e": execution, ":p": previous})

    # -- package items
    def open_package(self, item: dict[str, Any]) -> None:
        """Write the RECEIVED item of a package being organised (its previous state is checked by the caller)."""
        self.table.put_item(Item=item)

    def keep_version(self, item: dict[str, Any], version: int) -> None:
        """Keep a returned package's item as ``<code>#v<version>``, superseded by the next version."""
        self.table.put_item(Item={**item, "package_id": f"{item['package_id']}#v{version}", "superseded_by": version + 1})

    def mark_rejected(self, item: dict[str, Any]) -> None:
        """Write the REJECTED item of an upload (the reject state refuses to overwrite an ARCHIVED one first)."""
        self.table.put_item(Item=item)

    def claim_for_batch(self, package_id: str, batch_id: str) -> None:
        """Put an ARCHIVED package in one transfer batch; repeating it for the same batch (a retry) is allowed."""
        try:
            self.table.update_item(
                Key={"package_id": package_id}, UpdateExpression="SET transfer_batch = :b",
                ConditionExpression="#st = :archived AND (attribute_not_exists(transfer_batch) OR transfer_batch = :b)",
                ExpressionAttributeNames={"#st": "status"}, ExpressionAttributeValues={":b": batch_id, ":archived": "ARCHIVED"})
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConflictError(f"{package_id} is in another batch or not ARCHIVED") from None
            raise

    def release_from_batch(self, package_id: str) -> None:
        """Out of its batch (returned): the corrected version may travel in a new one."""
        self.table.update_item(Key={"package_id": package_id}, UpdateExpression="REMOVE transfer_batch")

    def allocate_serial(self, prefix: str, project_id: str) -> int:
        """The archive serial of a case within its code prefix; the same case always gets the same one."""
        key = {"package_id": f"serial#{prefix}#{project_id}"}
        existing = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
        if existing:
            return int(existing["serial"])
        counter = self.table.update_item(
            Key={"package_id": f"serial#{prefix}"}, UpdateExpression="ADD next_serial :one",
            ExpressionAttributeValues={":one": 1}, ReturnValues="UPDATED_NEW",
        )["Attributes"]["next_serial"]
        try:
            self.table.put_item(Item={**key, "serial": int(counter)}, ConditionExpression="attribute_not_exists(package_id)")
            return int(counter)
        except ClientError as exc:  # a concurrent duplicate assigned it first: use theirs
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return int(self.table.get_item(Key=key, ConsistentRead=True)["Item"]["serial"])

    def by_status(self, status: str | None = None) -> list[dict[str, Any]]:
        items, kwargs = [], {}
        while True:
            page = self.table.scan(**kwargs)
            items += [i for i in page["Items"] if not str(i["package_id"]).startswith(("serial#", "claim#"))
                      and (status is None or i.get("status") == status)]
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


class FileMap:
    """Platform file → package entry → S3 object; HASH ``package_id``, RANGE ``member``, GSI ``by_source``."""

    def __init__(self, table: Any):
        self.table = table

    def put(self, package_id: str, files: list[dict[str, Any]], upload: dict[str, str], location: dict[str, str] | None = None) -> None:
        with self.table.batch_writer() as batch:
            for f in files:
                batch.put_item(Item={
                    "package_id": package_id, "member": f["member"], "source_file": f["source"],
                    "source_key": f"{upload['bucket']}/{upload['key']}!{f['source']}", "seq": f["seq"],
                    "category": f["category"], "size": f["size"], "sm3": f["sm3"], "sha256": f["sha256"],
                    **({"s3_bucket": location["bucket"], "s3_key": location["key"], "s3_version": location["version_id"]}
                       if location else {}),
                })

    def locate(self, package_id: str, location: dict[str, str]) -> None:
        for item in self.table.query(KeyConditionExpression=Key("package_id").eq(package_id))["Items"]:
            self.table.update_item(
                Key={"package_id": package_id, "member": item["member"]},
                UpdateExpression="SET s3_bucket = :b, s3_key = :k, s3_version = :v",
                ExpressionAttributeValues={":b": location["bucket"], ":k": location["key"], ":v": location["version_id"]},
            )

    def copy_to(self, package_id: str, target: str) -> None:
        """Copy a package's file records to ``target`` (a superseded version keeps its mapping)."""
        files = self.of_package(package_id)
        with self.table.batch_writer() as batch:
            for f in files:
                batch.put_item(Item={**f, "package_id": target})

    def mark_accepted(self, package_id: str, copy: dict[str, Any], batch_id: str) -> None:
        """Every electronic file of the package → the copy the institution received."""
        for f in self.of_package(package_id):
            self.table.update_item(Key={"package_id": f["package_id"], "member": f["member"]},
                                   UpdateExpression="SET accepted_copy = :c, accepted_batch = :b",
                                   ExpressionAttributeValues={":c": copy, ":b": batch_id})

    def of_package(self, package_id: str) -> list[dict[str, Any]]:
        return self.table.query(KeyConditionExpression=Key("package_id").eq(package_id))["Items"]

    def of_source(self, bucket: str, key: str, file_name: str) -> list[dict[str, Any]]:
        return self.table.query(IndexName="by_source", KeyConditionExpression=Key("source_key").eq(f"{bucket}/{key}!{file_name}"))["Items"]
