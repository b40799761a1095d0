"""Transfer and receipt (申请移交, 接收检测, 接收入库): batches, the 移交清单, decisions.

A transfer batch (批次) gathers archived packages chosen by the window
(综合受理窗口). Its list follows the seed's Table A.1 — one row per service
item: 序号, 批次编号, 办理事项名称, 事项类型, 归档信息包数量, 检测意见, 备注 — with
移交人 / 接收人 / 移交日期. DynamoDB holds the batch (``BATCH``) and one item per
package (``PKG#<id>``); every state move is a conditional write and goes to
the event log, and a package joins a batch in the same transaction that
marks its catalogue item, so it can never be in two batches.

States: DRAFT → SUBMITTED → RECEIVING → ACCEPTED | PARTLY_RETURNED | RETURNED.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .collect import CHINA_TZ
from .eventlog import EventLog
from .register import Catalogue, ConflictError

TABLE_A1 = ("序号", "批次编号", "办理事项名称", "事项类型", "归档信息包数量", "检测意见", "备注")
ACTOR = "earchive-transfer"


class TransferError(Exception):
    """A transfer operation that breaks a rule (named in the message)."""


@dataclass(frozen=True)
class Selection:
    """Which archived packages a batch gathers; all given criteria must hold."""

    archived_from: str | None = None  # ISO date, inclusive
    archived_to: str | None = None  # ISO date, inclusive
    task_code: str | None = None
    task_type: str | None = None  # 行政权力事项 / 公共服务事项
    package_ids: tuple[str, ...] = ()

    def matches(self, item: dict[str, Any]) -> bool:
        day = str(item.get("archived_at", ""))[:10]
        return all([
            not self.package_ids or item["package_id"] in self.package_ids,
            not self.archived_from or day >= self.archived_from,
            not self.archived_to or day <= self.archived_to,
            not self.task_code or item.get("task_code") == self.task_code,
            not self.task_type or item.get("task_type") == self.task_type,
        ])


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Transfers:
    """Transfer batches in DynamoDB (HASH ``batch_id``, RANGE ``item``)."""

    def __init__(self, table, catalogue: Catalogue, events: EventLog, filemap=None):
        self.table, self.catalogue, self.events, self.filemap = table, catalogue, events, filemap

    # -- reading
    def batch(self, batch_id: str) -> dict[str, Any]:
        item = self.table.get_item(Key={"batch_id": batch_id, "item": "BATCH"}, ConsistentRead=True).get("Item")
        if not item:
            raise TransferError(f"no transfer batch {batch_id}")
        return item

    def package(self, batch_id: str, package_id: str) -> dict[str, Any]:
        """One package of a batch (a single read: the Map's branches must not scan the batch)."""
        item = self.table.get_item(Key={"batch_id": batch_id, "item": f"PKG#{package_id}"}, ConsistentRead=True).get("Item")
        if not item:
            raise TransferError(f"{package_id} is not in batch {batch_id}")
        return item

    def packages(self, batch_id: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Key

        items, kwargs = [], {"KeyConditionExpression": Key("batch_id").eq(batch_id) & Key("item").begins_with("PKG#"),
                             "ConsistentRead": True}
        while True:
            page = self.table.query(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                return sorted(items, key=lambda i: (i.get("task_name", ""), i["package_id"]))
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def save_rows(self, batch_id: str) -> list[dict[str, Any]]:
        """Store the batch's Table A.1 rows (``ROW#NNN``) as they stand now: at submission and at the decision."""
        rows = table_a1_rows(self.batch(batch_id), self.packages(batch_id))
        with self.table.batch_writer() as batch:
            for row in rows:
                batch.put_item(Item={"batch_id": batch_id, "item": f"ROW#{row['序号']:03d}", **row})
        return rows

    def rows(self, batch_id: str) -> list[dict[str, Any]]:
        from boto3.dynamodb.conditions import Key

        items = self.table.query(KeyConditionExpression=Key("batch_id").eq(batch_id) & Key("item").begins_with("ROW#"),
                                 ConsistentRead=True)["Items"]
        return [{k: (int(v) if k in ("序号", "归档信息包数量") else v) for k, v in i.items() if k not in ("batch_id", "item")}
                for i in sorted(items, key=lambda i: i["item"])]

    def batches(self) -> list[dict[str, Any]]:
        items, kwargs = [], {}
        while True:
            page = self.table.scan(**kwargs)
            items += [i for i in page["Items"] if i["item"] == "BATCH"]
            if "LastEvaluatedKey" not in page:
                return sorted(items, key=lambda i: i["batch_id"])
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- creating
    def next_batch_id(self, day: dt.date | None = None) -> str:
        """YYYYMMDD + 4-digit sequence: unique, and sorting by id sorts by date."""
        day = day or dt.datetime.now(CHINA_TZ).date()
        n = self.table.update_item(Key={"batch_id": f"counter#{day:%Y%m%d}", "item": "COUNTER"},
                                   UpdateExpression="ADD next_seq :one", ExpressionAttributeValues={":one": 1},
                                   ReturnValues="UPDATED_NEW")["Attributes"]["next_seq"]
        return f"{day:%Y%m%d}{int(n):04d}"

    def create(self, selection: Selection, *, institution: str, institution_name: str, transferor: str,
               note: str = "", resubmits: str | None = None) -> dict[str, Any]:
        """A DRAFT batch with every ARCHIVED package the selection matches that is in no other batch."""
        candidates = [i for i in self.catalogue.by_status("ARCHIVED") if not i.get("transfer_batch") and selection.matches(i)]
        if selection.package_ids:
            missing = set(selection.package_ids) - {i["package_id"] for i in candidates}
            for pid in sorted(missing):
                item = self.catalogue.get(pid)
                if item is None:
                    raise TransferError(f"{pid}: no such package in the catalogue")
                if item.get("transfer_batch"):
                    raise TransferError(f"{pid}: already in transfer batch {item['transfer_batch']} (a package goes in one batch only)")
                raise TransferError(f"{pid}: status {item.get('status')}, only ARCHIVED packages can be transferred")
        if not candidates:
            raise TransferError("no archived package matches the selection (or all are in batches already)")
        batch_id = self.next_batch_id()
        header = {"batch_id": batch_id, "item": "BATCH", "status": "DRAFT", "institution": institution,
                  "institution_name": institution_name, "transferor": transferor, "note": note, "created_at": _now(),
                  "selection": json.dumps(selection.__dict__, ensure_ascii=False, default=list), "package_count": 0}
        if resubmits:
            header["resubmits"] = resubmits
        self.table.put_item(Item=header, ConditionExpression="attribute_not_exists(batch_id)")
        added = 0
        for item in candidates:
            try:
                self._add(batch_id, item)
                added += 1
            except TransferError:
                if selection.package_ids:  # named explicitly: the clerk must hear about it
                    raise
                # chosen by criteria and claimed by another batch meanwhile: leave it to that batch
        self.table.update_item(Key={"batch_id": batch_id, "item": "BATCH"}, UpdateExpression="SET package_count = :n",
                               ExpressionAttributeValues={":n": added})
        self.events.append(f"batch#{batch_id}", actor=transferor, action="create", result="DRAFT",
                           detail={"packages": added, "institution": institution, "resubmits": resubmits})
        return self.batch(batch_id)

    def _add(self, batch_id: str, item: dict[str, Any]) -> None:
        """Claim the package for this batch on its catalogue item, then list it in the batch.

        The conditional write on the catalogue item is what makes a package join
        one batch only; repeating it for the same batch (a retry) is allowed.
        """
        try:
            self.catalogue.table.update_item(
                Key={"package_id": item["package_id"]}, UpdateExpression="SET transfer_batch = :b",
                ConditionExpression="#st = :archived AND (attribute_not_exists(transfer_batch) OR transfer_batch = :b)",
                ExpressionAttributeNames={"#st": "status"}, ExpressionAttributeValues={":b": batch_id, ":archived": "ARCHIVED"})
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            current = self.catalogue.get(item["package_id"]) or {}
            raise TransferError(f"{item['package_id']}: already in transfer batch {current.get('transfer_batch')} "
                                f"(a package goes in one batch only)") from None
        self.table.put_item(Item={
            "batch_id": batch_id, "item": f"PKG#{item['package_id']}", "package_id": item["package_id"],
            "record_code": item.get("record_code", item["package_id"]), "project_id": item.get("project_id", ""),
            "task_code": item.get("task_code", ""), "task_name": item.get("task_name", ""), "task_type": item.get("task_type", ""),
            "archive": item["archive"], "package_sha256": item["package_sha256"], "package_sm3": item["package_sm3"],
            "size": item.get("package_size", 0), "package_version": item.get("package_version", 1), "state": "LISTED",
        })

    # -- moving
    def move(self, batch_id: str, to: str, *, allowed_from: tuple[str, ...], actor: str, **attrs: Any) -> dict[str, Any]:
        """Move the batch to ``to`` only from ``allowed_from``: two clerks or two retries cannot skip a state."""
        names = {"#st": "status"}
        values: dict[str, Any] = {":to": to}
        sets = ["#st = :to"]
        for i, (k, v) in enumerate(attrs.items()):
            names[f"#a{i}"], values[f":v{i}"] = k, v
            sets.append(f"#a{i} = :v{i}")
        values.update({f":f{i}": s for i, s in enumerate(allowed_from)})
        try:
            out = self.table.update_item(
                Key={"batch_id": batch_id, "item": "BATCH"}, UpdateExpression="SET " + ", ".join(sets),
                ConditionExpression="#st IN (" + ", ".join(f":f{i}" for i in range(len(allowed_from))) + ")",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values, ReturnValues="ALL_NEW")["Attributes"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                current = self.batch(batch_id)["status"]
                raise TransferError(f"batch {batch_id} is {current}; it cannot move to {to} (allowed from {', '.join(allowed_from)})") from None
            raise
        self.events.append(f"batch#{batch_id}", actor=actor, action=f"move:{to}", result=to,
                           detail={k: v for k, v in attrs.items() if k != "task_token"})
        return out

    def set_package(self, batch_id: str, package_id: str, **attrs: Any) -> None:
        names, values, sets = {}, {}, []
        for i, (k, v) in enumerate(attrs.items()):
            names[f"#a{i}"], values[f":v{i}"] = k, v
            sets.append(f"#a{i} = :v{i}")
        self.table.update_item(Key={"batch_id": batch_id, "item": f"PKG#{package_id}"}, UpdateExpression="SET " + ", ".join(sets),
                               ConditionExpression="attribute_exists(batch_id)", ExpressionAttributeNames=names,
                               ExpressionAttributeValues=values)

    # -- decisions
    def decide(self, batch_id: str, returns: dict[str, str], *, receiver: str, receiver_signature_key: str = "") -> dict[str, Any]:
        """Accept every package not in ``returns`` (package_id → reasons); return the others.

        A package whose receiving check failed cannot be accepted: it is returned
        with its failed tests even if the institution gave no reason.
        """
        packages = self.packages(batch_id)
        known = {p["package_id"] for p in packages}
        unknown = set(returns) - known
        if unknown:
            raise TransferError(f"not in batch {batch_id}: {', '.join(sorted(unknown))}")
        decided = []
        for p in packages:
            failed = [f"{f['id']} {f['name']}: {f['detail']}" for f in (p.get("receipt") or {}).get("failed", [])]
            reason = returns.get(p["package_id"])
            if reason is None and failed:
                reason = "接收检测不合格 / failed the receiving check"
            if reason is not None:
                self._return_package(batch_id, p, reason, failed, receiver)
                decided.append(("RETURNED", p))
            else:
                self._accept_package(batch_id, p, receiver)
                decided.append(("ACCEPTED", p))
        returned = sum(1 for d, _ in decided if d == "RETURNED")
        outcome = "ACCEPTED" if returned == 0 else "RETURNED" if returned == len(decided) else "PARTLY_RETURNED"
        self.save_rows(batch_id)
        return self.move(batch_id, outcome, allowed_from=("RECEIVING",), actor=receiver, receiver=receiver,
                         decided_at=_now(), accepted_count=len(decided) - returned, returned_count=returned,
                         receiver_signature_key=receiver_signature_key)

    def _accept_package(self, batch_id: str, p: dict[str, Any], receiver: str) -> None:
        self.set_package(batch_id, p["package_id"], state="ACCEPTED", decided_at=_now())
        self.catalogue.move(p["package_id"], "ACCEPTED", allowed_from=("ARCHIVED",), accepted_by=receiver, accepted_at=_now(),
                            accepted_batch=batch_id, accepted_copy=p.get("transfer_copy", {}))
        if self.filemap is not None and p.get("transfer_copy"):  # every electronic file → the copy the institution received
            for f in self.filemap.of_package(p["package_id"]):
                self.filemap.table.update_item(
                    Key={"package_id": f["package_id"], "member": f["member"]},
                    UpdateExpression="SET accepted_copy = :c, accepted_batch = :b",
                    ExpressionAttributeValues={":c": p["transfer_copy"], ":b": batch_id})

    def _return_package(self, batch_id: str, p: dict[str, Any], reason: str, failed: list[str], receiver: str) -> None:
        self.set_package(batch_id, p["package_id"], state="RETURNED", return_reason=reason, failed_tests=failed, decided_at=_now())
        self.catalogue.move(p["package_id"], "RETURNED", allowed_from=("ARCHIVED",), returned_by=receiver, returned_at=_now(),
                            return_reason=reason, return_failed_tests=failed, returned_batch=batch_id)
        # out of the batch: the corrected version may travel in a new one
        self.catalogue.table.update_item(Key={"package_id": p["package_id"]}, UpdateExpression="REMOVE transfer_batch")

    def resubmit(self, old_batch_id: str, *, transferor: str, ready_only: bool = False) -> dict[str, Any]:
        """A new batch with the corrected (re-archived) versions of the packages returned in ``old_batch_id``.

        ``ready_only`` sends those already re-archived and leaves the rest for a later resubmission.
        """
        old = self.batch(old_batch_id)
        if old["status"] not in ("PARTLY_RETURNED", "RETURNED"):
            raise TransferError(f"batch {old_batch_id} is {old['status']}: nothing was returned")
        returned = [p["package_id"] for p in self.packages(old_batch_id) if p.get("state") == "RETURNED"]
        not_ready = [pid for pid in returned if (self.catalogue.get(pid) or {}).get("status") != "ARCHIVED"]
        if ready_only:
            returned = [pid for pid in returned if pid not in not_ready]
            if not returned:
                raise TransferError(f"none of the packages returned in {old_batch_id} is re-archived yet")
        elif not_ready:
            raise TransferError(f"not corrected and re-archived yet: {', '.join(not_ready)} (upload the corrected case first)")
        return self.create(Selection(package_ids=tuple(returned)), institution=old["institution"],
                           institution_name=old["institution_name"], transferor=transferor,
                           note=f"resubmission of batch {old_batch_id}", resubmits=old_batch_id)


def table_a1_rows(batch: dict[str, Any], packages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of Table A.1: one per service item (办理事项), in a stable order."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for p in packages:
        groups.setdefault((p.get("task_name", ""), p.get("task_type", "")), []).append(p)
    rows = []
    for n, ((task_name, task_type), items) in enumerate(sorted(groups.items()), 1):
        checked = [i for i in items if i.get("receipt")]
        passed = sum(1 for i in checked if i["receipt"].get("passed"))
        if not checked:
            opinion = "待检测"
        elif passed == len(items):
            opinion = "合格"
        else:
            opinion = f"合格 {passed} 件，不合格 {len(checked) - passed} 件"
        returned = [i for i in items if i.get("state") == "RETURNED"]
        note = f"退回 {len(returned)} 件：" + "、".join(i["record_code"] for i in returned) if returned else ""
        if batch.get("resubmits") and not note:
            note = f"补交（原批次 {batch['resubmits']}）"
        rows.append({"序号": n, "批次编号": batch["batch_id"], "办理事项名称": task_name, "事项类型": task_type,
                     "归档信息包数量": len(items), "检测意见": opinion, "备注": note})
    return rows


def transfer_list(batch: dict[str, Any], packages: list[dict[str, Any]]) -> dict[str, Any]:
    """The transfer list document both parties sign (canonical JSON of this)."""
    return {
        "title": "政务服务电子档案移交清单",
        "batch_id": batch["batch_id"], "institution": batch["institution"], "institution_name": batch["institution_name"],
        "transferor": batch["transferor"], "transfer_date": str(batch.get("submitted_at") or batch["created_at"])[:10],
        "resubmits": batch.get("resubmits"),
        "rows": table_a1_rows(batch, packages),
        "packages": [{"record_code": p["record_code"], "project_id": p["project_id"], "task_name": p["task_name"],
                      "digest": {"algorithm": "SM3", "value": p["package_sm3"]}, "sha256": p["package_sha256"],
                      "size": int(p.get("size", 0)), "version": int(p.get("package_version", 1)),
                      "key": (p.get("transfer_copy") or {}).get("key")} for p in packages],
    }


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str).encode("utf-8")


__all__ = ["TABLE_A1", "ConflictError", "Selection", "TransferError", "Transfers", "canonical", "table_a1_rows", "transfer_list"]
