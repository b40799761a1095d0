"""The catalogue and the file map in DynamoDB (归档登记's records).

DynamoDB holds one catalogue item per package (status, digests, retention,
counts, location and version), upload claims, archive serials, and the
per-file mapping (platform file → package entry → S3 key and version,
queryable both ways). Every status move is a conditional write, so retries
and duplicates cannot skip or repeat a state. Every DynamoDB expression on
these two tables is in this module.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from ..domain.listing import HALL_INDEX, READY, READY_INDEX, READY_KEYS, VERSION, CaseQuery, encode_cursor, indexed, ready_keys, sort_key
from ..errors import ConflictError, UsageError
from .pages import pages, scan_all
from .scope_filter import scope_condition


def _lost(exc: ClientError) -> bool:
    """A conditional write that lost: the item is not in the state the caller expected."""
    return exc.response["Error"]["Code"] == "ConditionalCheckFailedException"


@contextlib.contextmanager
def conflict_as(message: str, error: type[Exception] = ConflictError) -> Iterator[None]:
    """Turn a lost conditional write into ``error(message)`` (ConflictError by default); any other error passes through."""
    try:
        yield
    except ClientError as exc:
        if _lost(exc):
            raise error(message) from None
        raise


@contextlib.contextmanager
def _unless_lost() -> Iterator[None]:
    """Ignore a lost conditional write (someone else did it, or the caller no longer holds the item)."""
    try:
        yield
    except ClientError as exc:
        if not _lost(exc):
            raise


class Catalogue:
    """The catalogue table: HASH ``package_id`` (the 电子文件号, or ``upload#…`` for rejected uploads)."""

    def __init__(self, table: Any, default_hall: str | None = None):
        self.table = table
        self.default_hall = default_hall  # where an upload whose case.json was unreadable is listed (the stack's own hall)

    def get(self, package_id: str) -> dict[str, Any] | None:
        return self.table.get_item(Key={"package_id": package_id}, ConsistentRead=True).get("Item")

    def put_new(self, item: dict[str, Any], *, replace_statuses: tuple[str, ...] = ()) -> None:
        """Create an item, or replace one only when its status is in ``replace_statuses``."""
        cond = "attribute_not_exists(package_id)"
        values: dict[str, Any] = {}
        if replace_statuses:
            cond += " OR #st IN (" + ", ".join(f":s{i}" for i in range(len(replace_statuses))) + ")"
            values = {f":s{i}": s for i, s in enumerate(replace_statuses)}
        kwargs: dict[str, Any] = {"Item": indexed(item, self.default_hall), "ConditionExpression": cond}
        if values:
            kwargs["ExpressionAttributeValues"] = values
            kwargs["ExpressionAttributeNames"] = {"#st": "status"}
        with conflict_as(f"{item['package_id']} exists in another state"):
            self.table.put_item(**kwargs)

    def move(self, package_id: str, to: str, *, allowed_from: tuple[str, ...], owner: str | None = None, **attrs: Any) -> dict[str, Any]:
        """Move ``package_id`` to status ``to`` if it is in one of ``allowed_from`` (or already ``to``).

        With ``owner`` the item must also belong to that execution: another upload of the same case
        that took the item over can never be moved by this one (review F2).
        """
        names = {"#st": "status"}
        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        values: dict[str, Any] = {":to": to, ":at": at, ":hsk": sort_key(to, at)}
        sets = ["#st = :to", "updated_at = :at", "hall_sk = :hsk", "changed_at = :at"]  # the hall's list follows the status (index by_hall)
        ready = "REMOVE ready, ready_sk"  # 申请移交's list (by_ready) holds ARCHIVED packages only
        if to == READY and "transfer_batch" not in attrs:
            sets += ["ready = :ready", "ready_sk = :rsk"]
            values.update({":ready": READY, ":rsk": f"{attrs.get('archived_at') or at}#{package_id}"})
            ready = ""
        for i, (k, v) in enumerate(attrs.items()):
            names[f"#a{i}"] = k
            values[f":v{i}"] = v
            sets.append(f"#a{i} = :v{i}")
        froms = (*allowed_from, to)
        values.update({f":f{i}": s for i, s in enumerate(froms)})
        condition = "#st IN (" + ", ".join(f":f{i}" for i in range(len(froms))) + ")"
        if owner is not None:
            condition += " AND execution = :owner"
            values[":owner"] = owner
        try:
            moved = self.table.update_item(
                Key={"package_id": package_id}, UpdateExpression="SET " + ", ".join(sets) + (" " + ready if ready else ""),
                ConditionExpression=condition,
                ExpressionAttributeNames=names, ExpressionAttributeValues=values, ReturnValues="ALL_NEW",
            )["Attributes"]
            if "ready" in moved and moved.get("transfer_batch"):  # ARCHIVED again by a retry, but already in a batch
                with _unless_lost():
                    self.table.update_item(Key={"package_id": package_id}, UpdateExpression="REMOVE ready, ready_sk",
                                           ConditionExpression="attribute_exists(transfer_batch)")
                moved = {k: v for k, v in moved.items() if k not in READY_KEYS}
            return moved
        except ClientError as exc:
            if _lost(exc):
                item = self.get(package_id) or {}
                current = item.get("status", "absent")
                if owner is not None and current in froms and item.get("execution") != owner:
                    raise ConflictError(f"{package_id} now belongs to execution {item.get('execution')}; {owner} cannot move it to {to}") from None
                raise ConflictError(f"{package_id} is {current}, not one of {allowed_from}; cannot move to {to}") from None
            raise

    # -- upload claims (one per upload version: ``claim#bucket/key#version``)
    def finish_claim(self, claim_key: str, outcome: str, package: str = "") -> None:
        """A finished upload is never taken over again, whatever its execution's status; ``package`` is what it became."""
        self.table.update_item(Key={"package_id": claim_key}, UpdateExpression="SET #st = :d, outcome = :o, package = :p",
                               ExpressionAttributeNames={"#st": "status"},
                               ExpressionAttributeValues={":d": "DONE", ":o": outcome, ":p": package})

    def fail_claim(self, claim_key: str, execution: str) -> None:
        """The system failed this upload: the claim stays open (FAILED) for a re-run, if ``execution`` still holds it."""
        with _unless_lost():
            self.table.update_item(Key={"package_id": claim_key}, UpdateExpression="SET #st = :f, outcome = :f",
                                   ConditionExpression="execution = :e", ExpressionAttributeNames={"#st": "status"},
                                   ExpressionAttributeValues={":f": "FAILED", ":e": execution})

    def take_over_claim(self, claim_key: str, previous: str, execution: str) -> None:
        """Hand the claim of a crashed execution to ``execution`` (only if ``previous`` still holds it)."""
        self.table.update_item(Key={"package_id": claim_key}, UpdateExpression="SET execution = :e, #st = :c",
                               ConditionExpression="execution = :p", ExpressionAttributeNames={"#st": "status"},
                               ExpressionAttributeValues={":e": execution, ":p": previous, ":c": "CLAIMED"})

    # -- package items
    def open_package(self, item: dict[str, Any], *, previous: dict[str, Any] | None) -> None:
        """Write the RECEIVED item of a package being organised, owned by ``item["execution"]``.

        Conditional on the item being what the caller read (``previous``: absent, or the same status
        and owner), so two uploads deciding at the same moment cannot both take it (review F2).
        """
        if previous is None:
            cond, values = "attribute_not_exists(package_id)", {}
        else:
            owner = previous.get("execution")
            cond = "#st = :s AND project_id = :p AND " + ("execution = :e" if owner is not None else "attribute_not_exists(execution)")
            values = {":s": previous.get("status"), ":p": previous.get("project_id"), **({":e": owner} if owner is not None else {})}
        kwargs: dict[str, Any] = {"Item": indexed(item, self.default_hall), "ConditionExpression": cond}
        if values:
            kwargs.update(ExpressionAttributeValues=values, ExpressionAttributeNames={"#st": "status"})
        with conflict_as(f"{item['package_id']} was taken by another upload meanwhile"):
            self.table.put_item(**kwargs)

    def keep_version(self, item: dict[str, Any], version: int) -> None:
        """Keep a returned package's item as ``<code>#v<version>``, superseded by the next version."""
        kept = {k: v for k, v in item.items() if k not in ("hall", "hall_sk", *READY_KEYS)}  # history, not a row of any list
        self.table.put_item(Item={**kept, "package_id": f"{item['package_id']}#v{version}", "superseded_by": version + 1})

    def mark_rejected(self, item: dict[str, Any], *, owner: str | None = None) -> None:
        """Write the REJECTED item of an upload; with ``owner``, only while that execution still owns it and it is not ARCHIVED."""
        kwargs: dict[str, Any] = {"Item": indexed(item, self.default_hall)}
        if owner is not None:
            kwargs.update(ConditionExpression="attribute_not_exists(package_id) OR (execution = :o AND NOT #st IN (:a, :c))",
                          ExpressionAttributeValues={":o": owner, ":a": "ARCHIVED", ":c": "ACCEPTED"},
                          ExpressionAttributeNames={"#st": "status"})
        with conflict_as(f"{item['package_id']} belongs to another upload now"):
            self.table.put_item(**kwargs)

    def claim_for_batch(self, package_id: str, batch_id: str) -> None:
        """Put an ARCHIVED package in one transfer batch; repeating it for the same batch (a retry) is allowed."""
        with conflict_as(f"{package_id} is in another batch or not ARCHIVED"):
            self.table.update_item(
                Key={"package_id": package_id}, UpdateExpression="SET transfer_batch = :b REMOVE ready, ready_sk",
                ConditionExpression="#st = :archived AND (attribute_not_exists(transfer_batch) OR transfer_batch = :b)",
                ExpressionAttributeNames={"#st": "status"}, ExpressionAttributeValues={":b": batch_id, ":archived": "ARCHIVED"})

    def release_from_batch(self, package_id: str, batch_id: str) -> None:
        """Out of ``batch_id`` (returned, or withdrawn: then still ARCHIVED and back in 申请移交's list). Only while the
        package is still that batch's: a retry after it joined another batch changes nothing."""
        item = self.get(package_id) or {}
        keys = ready_keys({**item, "transfer_batch": None})
        with _unless_lost():
            if keys:
                self.table.update_item(Key={"package_id": package_id}, UpdateExpression="REMOVE transfer_batch SET ready = :r, ready_sk = :k",
                                       ConditionExpression="transfer_batch = :b AND #st = :r", ExpressionAttributeNames={"#st": "status"},
                                       ExpressionAttributeValues={":r": keys["ready"], ":k": keys["ready_sk"], ":b": batch_id})
            else:
                self.table.update_item(Key={"package_id": package_id}, UpdateExpression="REMOVE transfer_batch",
                                       ConditionExpression="transfer_batch = :b", ExpressionAttributeValues={":b": batch_id})

    def serial_of(self, prefix: str, project_id: str) -> int | None:
        """The serial a case already holds within its code prefix, if any."""
        item = self.table.get_item(Key={"package_id": f"serial#{prefix}#{project_id}"}, ConsistentRead=True).get("Item")
        return int(item["serial"]) if item else None

    def reserve_serial(self, prefix: str, serial: int, project_id: str) -> str | None:
        """Reserve ``serial`` for ``project_id``; None when done (or already its own), else the case that holds it.

        One item per serial (``serialno#prefix#n``) is the only owner of a number: the counter and
        platform-supplied serials meet there, so no serial is ever handed out twice (review F3).
        """
        try:
            self.table.put_item(Item={"package_id": f"serialno#{prefix}#{serial}", "project_id": project_id},
                                ConditionExpression="attribute_not_exists(package_id) OR project_id = :p",
                                ExpressionAttributeValues={":p": project_id})
        except ClientError as exc:
            if not _lost(exc):
                raise
            holder = self.table.get_item(Key={"package_id": f"serialno#{prefix}#{serial}"}, ConsistentRead=True).get("Item") or {}
            return str(holder.get("project_id", "?"))
        with _unless_lost():
            self.table.put_item(Item={"package_id": f"serial#{prefix}#{project_id}", "serial": serial},
                                ConditionExpression="attribute_not_exists(package_id) OR serial = :n", ExpressionAttributeValues={":n": serial})
        return None

    def allocate_serial(self, prefix: str, project_id: str) -> int:
        """The archive serial of a case within its code prefix; the same case always gets the same one.

        The counter skips serials reserved by platform-supplied ``archive_serial`` values.
        """
        existing = self.serial_of(prefix, project_id)
        if existing is not None:
            return existing
        for _ in range(10_000):
            counter = int(self.table.update_item(
                Key={"package_id": f"serial#{prefix}"}, UpdateExpression="ADD next_serial :one",
                ExpressionAttributeValues={":one": 1}, ReturnValues="UPDATED_NEW",
            )["Attributes"]["next_serial"])
            if self.reserve_serial(prefix, counter, project_id) is None:
                mine = self.serial_of(prefix, project_id)  # a concurrent duplicate of this case may have won with another number
                if mine is not None and mine != counter:
                    self.release_serial(prefix, counter, project_id)
                    return mine
                return counter
        raise ConflictError(f"no free archive serial in {prefix}")

    def release_serial(self, prefix: str, serial: int, project_id: str) -> None:
        """Give back a serial reserved but not used (only by the case that holds it)."""
        with _unless_lost():
            self.table.delete_item(Key={"package_id": f"serialno#{prefix}#{serial}"}, ConditionExpression="project_id = :p",
                                   ExpressionAttributeValues={":p": project_id})

    def backfill_serials(self) -> dict[str, Any]:
        """Reserve (``serialno#``) every serial an older deployment issued (`earchive migrate serials`; safe to repeat).

        Before review F3 only the case → serial items (``serial#prefix#project``) and the packages
        themselves recorded a number; the counter could hand out a platform-supplied one again.
        """
        reserved = already = 0
        conflicts: list[dict[str, Any]] = []
        # (prefix, serial) → {project: source}; a package (the 电子文件号 in use) outranks a bare serial# holding
        claims: dict[tuple[str, int], dict[str, tuple[int, str]]] = {}
        for item in self._scan():
            pid = str(item["package_id"])
            if pid.startswith("serial#") and "serial" in item and pid.count("#") >= 2:
                _, prefix, project = pid.split("#", 2)
                claims.setdefault((prefix, int(item["serial"])), {}).setdefault(project, (1, pid))
            elif "#" not in pid and item.get("project_id") and item.get("record_code") == pid and "-" in pid:
                prefix, _, n = pid.rpartition("-")
                if n.isdigit():
                    claims.setdefault((prefix, int(n)), {})[str(item["project_id"])] = (0, pid)
        for (prefix, serial), by_project in sorted(claims.items()):
            ranked = sorted(by_project.items(), key=lambda kv: kv[1])
            project, (_, source) = ranked[0]
            for other, (_, other_source) in ranked[1:]:  # two cases claim one number: a person must decide
                conflicts.append({"prefix": prefix, "serial": serial, "holder": project, "project_id": other, "package_id": other_source})
            existing = self.get(f"serialno#{prefix}#{serial}")
            holder = self.reserve_serial(prefix, serial, project)
            if holder is not None:
                conflicts.append({"prefix": prefix, "serial": serial, "holder": holder, "project_id": project, "package_id": source})
            elif existing:
                already += 1
            else:
                reserved += 1
        return {"reserved": reserved, "already": already, "conflicts": conflicts}

    # -- the console's lists (index by_hall; see earchive.domain.listing)
    def page(self, query: CaseQuery) -> tuple[list[dict[str, Any]], str | None]:
        """One page of a hall's cases, newest change first: one index query, filtered by 事项 and 事项类型."""
        cond = Key("hall").eq(query.hall)
        span = query.key_range()
        if span:
            cond = cond & Key("hall_sk").between(*span)
        kwargs: dict[str, Any] = {"IndexName": HALL_INDEX, "KeyConditionExpression": cond, "ScanIndexForward": False, "Limit": query.limit}
        filters = []
        if query.task_code:
            filters.append(Attr("task_code").eq(query.task_code))
        if query.task_type:
            filters.append(Attr("task_type").eq(query.task_type))
        if query.status is None and (query.since or query.until):
            filters.append(Attr("changed_at").between(*query.times()))
        if query.untransferred:
            filters.append(Attr("transfer_batch").not_exists())
        if query.scope is not None and scope_condition(query.scope) is not None:
            filters.append(scope_condition(query.scope))
        if filters:
            expr = filters[0]
            for f in filters[1:]:
                expr = expr & f
            kwargs["FilterExpression"] = expr
        if query.cursor:
            if query.cursor.get("hall") != query.hall:
                raise UsageError("cursor: 属于另一个窗口的列表（请从第一页重新开始）")
            kwargs["ExclusiveStartKey"] = query.cursor
        try:
            page = self.table.query(**kwargs)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ValidationException" and query.cursor:
                raise UsageError("cursor: 无法识别（请从第一页重新开始）") from None
            raise
        return page["Items"], encode_cursor(page.get("LastEvaluatedKey"))

    def backfill_hall_index(self) -> int:
        """Give every package item of an older deployment its ``hall``/``hall_sk``, and its ``by_ready`` keys while it may join a
        batch (`earchive migrate hall-index`; safe to repeat). Returns how many items changed."""
        done = 0
        for item in self._scan():
            changed = False
            keys = ready_keys(item)
            if keys and "ready" not in item and not VERSION.search(str(item["package_id"])):  # 申请移交's list, for items before by_ready
                with _unless_lost():  # claimed meanwhile on a live stack: it is in a batch, not in the list
                    self.table.update_item(Key={"package_id": item["package_id"]}, UpdateExpression="SET ready = :r, ready_sk = :k",
                                           ConditionExpression="#st = :r AND attribute_not_exists(transfer_batch)",
                                           ExpressionAttributeNames={"#st": "status"},
                                           ExpressionAttributeValues={":r": keys["ready"], ":k": keys["ready_sk"]})
                changed = True
            new = indexed(item, self.default_hall) if "hall" not in item else {}
            if "hall" in new:
                self.table.update_item(Key={"package_id": item["package_id"]}, UpdateExpression="SET hall = :h, hall_sk = :k, changed_at = :c",
                                       ExpressionAttributeValues={":h": new["hall"], ":k": new["hall_sk"], ":c": new["changed_at"]})
                changed = True
            done += changed
        return done

    def ready(self, archived_from: str | None = None, archived_to: str | None = None, *, hall: str | None = None,
              task_code: str | None = None, task_type: str | None = None, scope: Any = None) -> Iterator[dict[str, Any]]:
        """Packages that may join a batch (ARCHIVED, in none), archived within the UTC days given (inclusive), page by page.

        With ``hall`` (the console: a clerk's own hall), that hall's partition of ``by_hall`` (ARCHIVED first in its sort key);
        without (the command line, every hall), ``by_ready``. 事项, 事项类型 and the receiving institution's ``scope``
        (:class:`~earchive.domain.institution.Scope`) are filtered by DynamoDB, not here.
        """
        if archived_from and archived_to and archived_from > archived_to:
            raise UsageError(f"archived_from {archived_from} is after archived_to {archived_to}")
        filters = [Attr("transfer_batch").not_exists()]
        if task_code:
            filters.append(Attr("task_code").eq(task_code))
        if task_type:
            filters.append(Attr("task_type").eq(task_type))
        if scope is not None and scope_condition(scope) is not None:
            filters.append(scope_condition(scope))
        if hall is not None:
            cond = Key("hall").eq(hall) & Key("hall_sk").begins_with(f"{READY}#")
            index = HALL_INDEX
        else:
            cond, index = Key("ready").eq(READY), READY_INDEX
            high = (archived_to or "") + "~"
            if archived_from and archived_to:
                cond = cond & Key("ready_sk").between(archived_from, high)
            elif archived_from:
                cond = cond & Key("ready_sk").gte(archived_from)
            elif archived_to:
                cond = cond & Key("ready_sk").lte(high)
        expr = filters[0]
        for f in filters[1:]:
            expr = expr & f
        for page in pages(self.table.query, IndexName=index, KeyConditionExpression=cond, FilterExpression=expr):
            yield from page["Items"]

    def by_project(self, project_id: str) -> list[dict[str, Any]]:
        """The items of one 办件编号 (index ``by_project``)."""
        return self.table.query(IndexName="by_project", KeyConditionExpression=Key("project_id").eq(project_id), Limit=50)["Items"]

    def note_correction(self, package_id: str, upload_key: str) -> None:
        """A rejected item's corrected bundle was sent (the console's 补录): the list says so; the verdict stays."""
        self.table.update_item(Key={"package_id": package_id}, UpdateExpression="SET corrected_by = :k",
                               ExpressionAttributeValues={":k": upload_key})

    def _scan(self) -> list[dict[str, Any]]:
        return scan_all(self.table)

    def by_status(self, status: str | None = None) -> list[dict[str, Any]]:
        return [i for i in self._scan() if not str(i["package_id"]).startswith(("serial#", "serialno#", "claim#"))
                and (status is None or i.get("status") == status)]


class FileMap:
    """Platform file → package entry → S3 object; HASH ``package_id``, RANGE ``member``, GSI ``by_source``."""

    def __init__(self, table: Any):
        self.table = table

    def put(self, package_id: str, files: list[dict[str, Any]], upload: dict[str, str], location: dict[str, str] | None = None) -> None:
        for f in files:  # one PutItem each: BatchWriteItem would need a grant that deletes too (review F7)
            self.table.put_item(Item={
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
        for f in files:
            self.table.put_item(Item={**f, "package_id": target})

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
