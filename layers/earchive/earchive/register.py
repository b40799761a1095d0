"""Register (归档登记): the archive catalogue, serials, retention and the file mapping.

DynamoDB holds one catalogue item per package (status, digests, retention,
counts, location and version), the per-file mapping (platform file → package
entry → S3 key and version, queryable both ways), and archive serials. Every
status move is a conditional write, so retries and duplicates cannot skip or
repeat a state.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

RETENTION_YEARS = {"D10": 10, "D30": 30}
PERMANENT_YEARS = 100  # Y: a legal hold plus the longest retention we set


@dataclass(frozen=True)
class Retention:
    """How S3 Object Lock keeps one package."""

    period: str
    retain_until: dt.datetime
    legal_hold: bool
    mode: str = "COMPLIANCE"


def retention_for(period: str, year: int, archived_at: dt.datetime) -> Retention:
    """D10/D30 count from 1 January after the archiving year (次年1月1日起算); Y is permanent."""
    if period == "Y":
        return Retention(period, archived_at.replace(year=archived_at.year + PERMANENT_YEARS), legal_hold=True)
    if period not in RETENTION_YEARS:
        raise ValueError(f"unknown retention period {period!r}")
    until = dt.datetime(year + 1 + RETENTION_YEARS[period], 1, 1, tzinfo=dt.UTC)
    return Retention(period, max(until, archived_at + dt.timedelta(days=1)), legal_hold=False)


class ConflictError(Exception):
    """A conditional write lost: the item is not in the state the caller expected."""


class Catalogue:
    """The catalogue table: HASH ``package_id`` (the 电子文件号, or ``upload#…`` for rejected uploads)."""

    def __init__(self, table):
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

    def __init__(self, table):
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
        from boto3.dynamodb.conditions import Key

        for item in self.table.query(KeyConditionExpression=Key("package_id").eq(package_id))["Items"]:
            self.table.update_item(
                Key={"package_id": package_id, "member": item["member"]},
                UpdateExpression="SET s3_bucket = :b, s3_key = :k, s3_version = :v",
                ExpressionAttributeValues={":b": location["bucket"], ":k": location["key"], ":v": location["version_id"]},
            )

    def of_package(self, package_id: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Key

        return self.table.query(KeyConditionExpression=Key("package_id").eq(package_id))["Items"]

    def of_source(self, bucket: str, key: str, file_name: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Key

        return self.table.query(IndexName="by_source", KeyConditionExpression=Key("source_key").eq(f"{bucket}/{key}!{file_name}"))["Items"]
