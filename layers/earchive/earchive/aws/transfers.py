"""The transfer table: batches (``BATCH``), their packages (``PKG#<id>``) and Table A.1 rows (``ROW#NNN``).

Every DynamoDB expression on the transfer table is here; the rules and the
documents are :mod:`earchive.domain.transfer`. Every state move is a
conditional write and goes to the event log.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from ..domain.institution import Scope, competence_refusal
from ..domain.listing import hall_of_item
from ..domain.transfer import DECIDED, FINAL_PACKAGE_STATES, Selection, decisions, next_batch_day, now, outcome, refused, table_a1_rows
from ..errors import ConflictError, TransferError, TransientError, UnknownBatch
from .anchors import Anchors
from .catalogue import Catalogue, FileMap, conflict_as
from .eventlog import EventLog
from .pages import count_all, newest_page, query_all, scan_all

ACTOR = "earchive-transfer"

log = logging.getLogger(__name__)


LISTED_FACTS = ("retention_period", "total_number", "archived_at", "check_summary", "check_passed")


class Transfers:
    """Transfer batches in DynamoDB (HASH ``batch_id``, RANGE ``item``)."""

    def __init__(self, table: Any, catalogue: Catalogue, events: EventLog, filemap: FileMap | None = None,
                 anchors: Anchors | None = None, anchor_days: int = 3650):
        self.table, self.catalogue, self.events, self.filemap = table, catalogue, events, filemap
        self.anchors, self.anchor_days = anchors, anchor_days  # a batch's stream is locked when it is decided or cancelled (F19)

    # -- reading
    def batch(self, batch_id: str) -> dict[str, Any]:
        item = self.table.get_item(Key={"batch_id": batch_id, "item": "BATCH"}, ConsistentRead=True).get("Item")
        if not item:
            raise UnknownBatch(f"no transfer batch {batch_id} (`earchive transfer list` shows the batches)")
        return item

    def package(self, batch_id: str, package_id: str) -> dict[str, Any]:
        """One package of a batch (a single read: the Map's branches must not scan the batch)."""
        item = self.table.get_item(Key={"batch_id": batch_id, "item": f"PKG#{package_id}"}, ConsistentRead=True).get("Item")
        if not item:
            raise TransferError(f"{package_id} is not in batch {batch_id}")
        return item

    def packages(self, batch_id: str) -> list[dict[str, Any]]:
        items = query_all(self.table, KeyConditionExpression=Key("batch_id").eq(batch_id) & Key("item").begins_with("PKG#"),
                          ConsistentRead=True)
        return sorted(items, key=lambda i: (i.get("task_name", ""), i["package_id"]))

    def used_replies(self, batch_id: str) -> set[str]:
        """The reply ids already taken for this batch (a reply is applied once: no replay)."""
        items = query_all(self.table, KeyConditionExpression=Key("batch_id").eq(batch_id) & Key("item").begins_with("REPLY#"),
                          ConsistentRead=True)
        return {i["item"].removeprefix("REPLY#") for i in items}

    def reply_taken_from(self, batch_id: str, reply_id: str) -> dict[str, Any] | None:
        """The record of the reply taken under this id ({"key", "sha256", …}), if one was (the same reply examined twice is not a replay)."""
        return self.table.get_item(Key={"batch_id": batch_id, "item": f"REPLY#{reply_id}"}, ConsistentRead=True).get("Item")

    def use_reply(self, batch_id: str, reply_id: str, key: str, *, actor: str, sha256: dict[str, str] | None = None) -> None:
        """Take a verified reply, once, and one reply per decision (issue 21): one transaction of two conditional writes, the
        batch (waiting, no reply taken) and the reply's record (its id never used before), with the SHA-256 of the bytes verified.

        Two valid replies racing: one takes the batch; the other is refused, naming it. Both writes happen, or neither.
        """
        batch_key = {"batch_id": batch_id, "item": "BATCH"}
        try:
            self.table.meta.client.transact_write_items(TransactItems=[
                {"Update": {"TableName": self.table.name, "Key": batch_key, "UpdateExpression": "SET reply_taken = :r",
                            "ConditionExpression": "#st = :w AND attribute_not_exists(reply_taken)",
                            "ExpressionAttributeNames": {"#st": "status"}, "ExpressionAttributeValues": {":r": reply_id, ":w": "RECEIVING"}}},
                {"Put": {"TableName": self.table.name, "ConditionExpression": "attribute_not_exists(#i)", "ExpressionAttributeNames": {"#i": "item"},
                         "Item": {"batch_id": batch_id, "item": f"REPLY#{reply_id}", "key": key, "taken_at": now(), "taken_by": actor,
                                  "sha256": sha256 or {}}}},
            ])
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons") or []]
            if "ConditionalCheckFailed" not in reasons:  # another transaction on these items in flight: AWS says retry
                raise TransientError(f"reply {reply_id} of batch {batch_id} not taken yet: {reasons}") from exc
            current = self.batch(batch_id)
            if current.get("reply_taken") and current["reply_taken"] != reply_id:
                raise TransferError(f"another reply decided this batch ({current['reply_taken']}) / 本批次已由另一份回执决定") from None
            if current.get("reply_taken") == reply_id or reasons[1:2] == ["ConditionalCheckFailed"]:
                raise TransferError(f"reply {reply_id} of batch {batch_id} was taken already (a replay)") from None
            raise TransferError(f"batch {batch_id} is {current['status']}: it is not waiting for a decision") from None
        self.events.append(f"batch#{batch_id}", actor=actor, action="reply-taken", result="ok", detail={"reply_id": reply_id, "key": key})

    def release_reply(self, batch_id: str, reply_id: str) -> None:
        """A reply that held the batch but decided nothing (refused after all: re-examined, or refused by Decide) lets go of it,
        so the batch waits for another; only that reply's hold is removed (a conditional write)."""
        try:
            self.table.update_item(Key={"batch_id": batch_id, "item": "BATCH"}, UpdateExpression="REMOVE reply_taken",
                                   ConditionExpression="reply_taken = :r", ExpressionAttributeValues={":r": reply_id})
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    def browser_reply(self, batch_id: str) -> dict[str, Any] | None:
        """The reply a receiver signed in the console for this batch, if one was sent (``{"reply_id", "user", "sent_at"}``)."""
        return self.table.get_item(Key={"batch_id": batch_id, "item": "CONSOLE-REPLY"}, ConsistentRead=True).get("Item")

    def claim_browser_reply(self, batch_id: str, reply_id: str, user: str, replacing: str | None = None) -> None:
        """One reply per batch from the console (two tabs, two receivers): a conditional write; the same reply again is a retry,
        and ``replacing`` names a reply the reply machine refused, which a new one may take the place of."""
        values = {":r": reply_id, ":old": replacing or reply_id}
        with conflict_as(f"batch {batch_id}: another reply was signed in the console meanwhile (本批次已有回执)"):
            self.table.put_item(Item={"batch_id": batch_id, "item": "CONSOLE-REPLY", "reply_id": reply_id, "user": user, "sent_at": now()},
                                ConditionExpression="attribute_not_exists(#i) OR reply_id IN (:r, :old)",
                                ExpressionAttributeNames={"#i": "item"}, ExpressionAttributeValues=values)

    def count_checked(self, batch_id: str) -> int:
        """How many of the batch's packages have a receiving-check result (for progress while waiting)."""
        return count_all(self.table, KeyConditionExpression=Key("batch_id").eq(batch_id) & Key("item").begins_with("PKG#"),
                         FilterExpression=Attr("receipt").exists())

    def save_rows(self, batch_id: str, rows: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """Store the batch's Table A.1 rows (``ROW#NNN``): as the window signs them at submission, and as the decided list
        (``rows``, from the two signed documents: domain.final) once the receipt is published."""
        rows = rows if rows is not None else table_a1_rows(self.batch(batch_id), self.packages(batch_id))
        for row in rows:  # one PutItem each: BatchWriteItem would need a grant that deletes too (review F7)
            self.table.put_item(Item={"batch_id": batch_id, "item": f"ROW#{row['序号']:03d}", **row})
        return rows

    def rows(self, batch_id: str) -> list[dict[str, Any]]:
        items = self.table.query(KeyConditionExpression=Key("batch_id").eq(batch_id) & Key("item").begins_with("ROW#"),
                                 ConsistentRead=True)["Items"]
        return [{k: (int(v) if k in ("序号", "归档信息包数量") else v) for k, v in i.items() if k not in ("batch_id", "item")}
                for i in sorted(items, key=lambda i: i["item"])]

    def batches(self) -> list[dict[str, Any]]:
        return sorted((i for i in scan_all(self.table) if i["item"] == "BATCH"), key=lambda i: i["batch_id"])

    def backfill_halls(self) -> int:
        """Batch headers of an older deployment get their hall (when all their packages share one); safe to repeat."""
        done = 0
        for header in (i for i in scan_all(self.table) if i["item"] == "BATCH" and "hall" not in i):
            halls = {hall_of_item(self.catalogue.get(p["package_id"]) or {}) for p in self.packages(header["batch_id"])}
            if len(halls) == 1 and None not in halls:
                self.table.update_item(Key={"batch_id": header["batch_id"], "item": "BATCH"}, UpdateExpression="SET hall = :h",
                                       ExpressionAttributeValues={":h": next(iter(halls))})
                done += 1
        return done

    def outbox(self, hall: str, limit: int = 50, cursor: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict | None]:
        """A hall's batches, newest first (index ``by_hall`` on batch headers)."""
        return newest_page(self.table, "by_hall", Key("hall").eq(hall), limit, cursor)

    def inbox(self, institution: str, limit: int = 50, cursor: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict | None]:
        """The batches addressed to an institution, newest first (index ``by_institution``)."""
        return newest_page(self.table, "by_institution", Key("institution").eq(institution), limit, cursor)

    # -- creating
    def next_batch_id(self, day: dt.date | None = None) -> str:
        """YYYYMMDD + 4-digit sequence: unique, and sorting by id sorts by date."""
        day = day or next_batch_day()
        n = self.table.update_item(Key={"batch_id": f"counter#{day:%Y%m%d}", "item": "COUNTER"},
                                   UpdateExpression="ADD next_seq :one", ExpressionAttributeValues={":one": 1},
                                   ReturnValues="UPDATED_NEW")["Attributes"]["next_seq"]
        return f"{day:%Y%m%d}{int(n):04d}"

    def create(self, selection: Selection, *, institution: str, institution_name: str, transferor: str,
               note: str = "", resubmits: str | None = None, hall: str | None = None, actor: str | None = None,
               registered: dict[str, Any] | None = None) -> dict[str, Any]:
        """A DRAFT batch with every ARCHIVED package the selection matches that is in no other batch.

        ``hall`` (行政区划#全宗号) narrows the selection to one hall's packages, as the console always does;
        a batch of one hall is listed in that hall's outbox (index ``by_hall``). ``registered`` (the institution's
        registry item, :meth:`Institutions.for_batch`) confines the batch to its competence (受理范围): chosen by criteria,
        a package outside it is not offered (DynamoDB filters it in the index query); named, it is refused by name.
        """
        scope = Scope.of(registered) if registered else None
        if selection.package_ids:  # named: read each (10,000 reads at most, never a scan)
            found = (self.catalogue.get(pid) for pid in dict.fromkeys(selection.package_ids))
            pool = (i for i in found if i and i.get("status") == "ARCHIVED")
        else:  # by criteria: the packages still to transfer (the hall's partition of by_hall, or by_ready for every hall)
            pool = self.catalogue.ready(selection.archived_from, selection.archived_to, hall=hall, task_code=selection.task_code,
                                        task_type=selection.task_type, scope=scope)
        candidates = [i for i in pool if not i.get("transfer_batch") and selection.matches(i) and (hall is None or hall_of_item(i) == hall)
                      and (scope is None or not scope.outside(i))]
        halls = {hall_of_item(i) for i in candidates}  # one hall: the batch is in its outbox (a command-line batch may span several)
        if selection.package_ids:
            missing = set(selection.package_ids) - {i["package_id"] for i in candidates}
            problems = []
            for pid in sorted(missing):
                item = self.catalogue.get(pid)
                if item is not None and hall is not None and hall_of_item(item) != hall:
                    item = None  # another hall's package: the caller learns nothing about it
                if item is None:
                    problems.append(f"{pid}: 目录中没有该档案 / no such package in the catalogue")
                elif item.get("transfer_batch"):
                    problems.append(f"{pid}: 已在移交批次 {item['transfer_batch']} 中 / already in transfer batch {item['transfer_batch']} "
                                    f"(a package goes in one batch only)")
                elif item.get("status") != "ARCHIVED":
                    problems.append(f"{pid}: status {item.get('status')}, only ARCHIVED packages can be transferred")
                elif scope is not None and scope.outside(item):
                    problems.append(competence_refusal(item, registered or {}, scope.outside(item)))
            if problems:
                raise TransferError("；".join(problems))
        if not candidates:
            raise TransferError("没有符合条件、尚未移交的已归档档案" + (f"（接收单位 {institution} 的受理范围：{scope.describe()}）" if scope else "")
                                + " / no archived package matches the selection (or all are in batches already)")
        batch_id = self.next_batch_id()
        header = {"batch_id": batch_id, "item": "BATCH", "status": "DRAFT", "institution": institution,
                  "institution_name": institution_name, "transferor": transferor, "note": note, "created_at": now(),
                  "selection": json.dumps(selection.__dict__, ensure_ascii=False, default=list), "package_count": 0,
                  **({"hall": next(iter(halls))} if halls and None not in halls else {})}
        if resubmits:
            header["resubmits"] = resubmits
        if actor:
            header["transferor_id"] = actor  # who, as the identity provider knows them (the console)
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
        self.events.append(f"batch#{batch_id}", actor=actor or transferor, action="create", result="DRAFT",
                           detail={"packages": added, "institution": institution, "resubmits": resubmits})
        return self.batch(batch_id)

    def _add(self, batch_id: str, item: dict[str, Any]) -> None:
        """Claim the package for this batch on its catalogue item, then list it in the batch.

        The conditional write on the catalogue item is what makes a package join
        one batch only; repeating it for the same batch (a retry) is allowed.
        """
        try:
            self.catalogue.claim_for_batch(item["package_id"], batch_id)
        except ConflictError:
            current = self.catalogue.get(item["package_id"]) or {}
            raise TransferError(f"{item['package_id']}: already in transfer batch {current.get('transfer_batch')} "
                                f"(a package goes in one batch only)") from None
        self.table.put_item(Item={
            "batch_id": batch_id, "item": f"PKG#{item['package_id']}", "package_id": item["package_id"],
            "record_code": item.get("record_code", item["package_id"]), "project_id": item.get("project_id", ""),
            "task_code": item.get("task_code", ""), "task_name": item.get("task_name", ""), "task_type": item.get("task_type", ""),
            "archive": item["archive"], "package_sha256": item["package_sha256"], "package_sm3": item["package_sm3"],
            "size": item.get("package_size", 0), "package_version": item.get("package_version", 1), "state": "LISTED",
            **({"retain_until": item["retain_until"]} if item.get("retain_until") else {}),
            # what the batch's 归档目录清单 and 登记表 state of this version, as it was when listed (never today's catalogue)
            **{k: item[k] for k in LISTED_FACTS if item.get(k) is not None},
        })

    # -- moving
    def move(self, batch_id: str, to: str, *, allowed_from: tuple[str, ...], actor: str, **attrs: Any) -> dict[str, Any]:
        """Move the batch to ``to`` only from ``allowed_from``: two clerks or two retries cannot skip a state."""
        names = {"#st": "status"}
        values: dict[str, Any] = {":to": to}
        sets = ["#st = :to"]
        clear = " REMOVE reply_taken" if to == "DRAFT" else ""  # a batch sent again waits for a new decision
        for i, (k, v) in enumerate(attrs.items()):
            names[f"#a{i}"], values[f":v{i}"] = k, v
            sets.append(f"#a{i} = :v{i}")
        values.update({f":f{i}": s for i, s in enumerate(allowed_from)})
        try:
            out = self.table.update_item(
                Key={"batch_id": batch_id, "item": "BATCH"}, UpdateExpression="SET " + ", ".join(sets) + clear,
                ConditionExpression="#st IN (" + ", ".join(f":f{i}" for i in range(len(allowed_from))) + ")",
                ExpressionAttributeNames=names, ExpressionAttributeValues=values, ReturnValues="ALL_NEW")["Attributes"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                current = self.batch(batch_id)["status"]
                raise TransferError(f"batch {batch_id} is {current}; it cannot move to {to} (allowed from {', '.join(allowed_from)})") from None
            raise
        entry = self.events.append(f"batch#{batch_id}", actor=actor, action=f"move:{to}", result=to,
                                   detail={k: v for k, v in attrs.items() if k != "task_token"})
        if to in DECIDED:
            self.anchor(batch_id, entry)  # the Decide function: a failure is retried
        elif to == "CANCELLED":  # an operator's command: the move stands; a head it may not write is listed by `log verify`
            try:
                self.anchor(batch_id, entry)
            except ClientError as exc:
                log.warning("batch %s cancelled; its event head could not be locked in the archive bucket (%s): "
                            "`earchive log verify` lists it as unanchored", batch_id, exc.response.get("Error", {}).get("Code"))
        return out

    def countersign(self, batch_id: str, *, reviewer: str, actor: str) -> dict[str, Any]:
        """The 审核人 countersigns a DRAFT batch's 登记表 (named on it at submit); never the one who made the batch."""
        batch = self.batch(batch_id)
        if actor and actor in (batch.get("transferor_id"), batch.get("transferor")):
            raise TransferError(f"batch {batch_id}: 审核人 must be another person than the 填表人 who made it")
        with conflict_as(f"batch {batch_id} is {batch['status']}: only a DRAFT batch is countersigned", TransferError):
            self.table.update_item(Key={"batch_id": batch_id, "item": "BATCH"}, ConditionExpression="#st = :d",
                                   UpdateExpression="SET reviewer = :r, reviewer_id = :a, reviewed_at = :t",
                                   ExpressionAttributeNames={"#st": "status"},
                                   ExpressionAttributeValues={":d": "DRAFT", ":r": reviewer, ":a": actor, ":t": now()})
        self.events.append(f"batch#{batch_id}", actor=actor, action="countersign", result="DRAFT", detail={"reviewer": reviewer})
        return self.batch(batch_id)

    def anchor(self, batch_id: str, entry: dict[str, Any] | None = None) -> None:
        """Lock the batch stream's head (``entry``, or its last entry) as long as its longest-kept package (F19)."""
        if self.anchors is None:
            return
        stream = f"batch#{batch_id}"
        entry = entry or max(self.events.entries(stream), key=lambda e: int(e["seq"]))
        until = dt.datetime.now(dt.UTC) + dt.timedelta(days=self.anchor_days)
        for p in self.packages(batch_id):  # listed with the package; a batch listed before it was, from the catalogue
            kept = str(p.get("retain_until") or (self.catalogue.get(p["package_id"]) or {}).get("retain_until") or "")
            if kept:
                until = max(until, dt.datetime.fromisoformat(kept.replace("Z", "+00:00")))
        self.anchors.anchor(stream, entry, until)

    def refresh_token(self, batch_id: str, token: str) -> None:
        """A retried AwaitDecision brings a new task token: keep the newest while the batch is RECEIVING."""
        self.table.update_item(Key={"batch_id": batch_id, "item": "BATCH"}, UpdateExpression="SET task_token = :t",
                               ConditionExpression="#st = :r", ExpressionAttributeNames={"#st": "status"},
                               ExpressionAttributeValues={":t": token, ":r": "RECEIVING"})

    def set_package(self, batch_id: str, package_id: str, **attrs: Any) -> None:
        names, values, sets = {}, {}, []
        for i, (k, v) in enumerate(attrs.items()):
            names[f"#a{i}"], values[f":v{i}"] = k, v
            sets.append(f"#a{i} = :v{i}")
        self.table.update_item(Key={"batch_id": batch_id, "item": f"PKG#{package_id}"}, UpdateExpression="SET " + ", ".join(sets),
                               ConditionExpression="attribute_exists(batch_id)", ExpressionAttributeNames=names,
                               ExpressionAttributeValues=values)

    # -- decisions
    def decide(self, batch_id: str, returns: dict[str, str], *, receiver: str, receiver_signature_key: str = "",
               by_reply: bool = False) -> dict[str, Any]:
        """Accept every package not in ``returns`` (package_id → reasons); return the others.

        A package whose receiving check failed cannot be accepted: it is returned
        with its failed tests even if the institution gave no reason.
        """
        packages = self.packages(batch_id)
        problems = refused(packages, returns, receiver)
        if problems:
            raise TransferError(f"decision on batch {batch_id} refused: {'; '.join(problems)}")
        decided = decisions(packages, returns, precheck_binds=not by_reply)
        for verdict, p, reason, failed in decided:
            if p.get("state") in FINAL_PACKAGE_STATES:  # recorded by an earlier attempt of this decision
                continue
            if verdict == "RETURNED":
                self._return_package(batch_id, p, reason or "", failed, receiver)
            elif verdict == "WITHDRAWN":
                self._withdraw_package(batch_id, p, reason or "")
            else:
                self._accept_package(batch_id, p, receiver)
        status, accepted, returned, withdrawn = outcome(decided)
        self.save_rows(batch_id)
        return self.move(batch_id, status, allowed_from=("RECEIVING",), actor=receiver, receiver=receiver,
                         decided_at=now(), accepted_count=accepted, returned_count=returned, withdrawn_count=withdrawn,
                         receiver_signature_key=receiver_signature_key, decided_by_reply=by_reply)

    def _withdraw_package(self, batch_id: str, p: dict[str, Any], reason: str) -> None:
        """Never received: out of the batch, still ARCHIVED, free for the next one (no correction needed)."""
        self.catalogue.release_from_batch(p["package_id"], batch_id)
        self.set_package(batch_id, p["package_id"], state="WITHDRAWN", return_reason=reason, decided_at=now())

    # The catalogue is written first and the batch's package state last: a retry skips packages whose state is final,
    # so a crash between the writes must leave the package not final (its catalogue move is then found done).
    def _accept_package(self, batch_id: str, p: dict[str, Any], receiver: str) -> None:
        item = self.catalogue.get(p["package_id"]) or {}
        if not (item.get("status") == "ACCEPTED" and item.get("accepted_batch") == batch_id):
            self.catalogue.move(p["package_id"], "ACCEPTED", allowed_from=("ARCHIVED",), accepted_by=receiver, accepted_at=now(),
                                accepted_batch=batch_id, accepted_copy=p.get("transfer_copy", {}))
        if self.filemap is not None and p.get("transfer_copy"):  # every electronic file → the copy the institution received
            self.filemap.mark_accepted(p["package_id"], p["transfer_copy"], batch_id)
        self.set_package(batch_id, p["package_id"], state="ACCEPTED", decided_at=now())

    def _return_package(self, batch_id: str, p: dict[str, Any], reason: str, failed: list[str], receiver: str) -> None:
        item = self.catalogue.get(p["package_id"]) or {}
        if not (item.get("status") == "RETURNED" and item.get("returned_batch") == batch_id):
            self.catalogue.move(p["package_id"], "RETURNED", allowed_from=("ARCHIVED",), returned_by=receiver, returned_at=now(),
                                return_reason=reason, return_failed_tests=failed, returned_batch=batch_id)
        # out of the batch: the corrected version may travel in a new one
        self.catalogue.release_from_batch(p["package_id"], batch_id)
        self.set_package(batch_id, p["package_id"], state="RETURNED", return_reason=reason, failed_tests=failed, decided_at=now())

    def note_execution(self, batch_id: str, arn: str) -> None:
        """The execution now working on the batch (so a wait watches that one, not every attempt)."""
        self.table.update_item(Key={"batch_id": batch_id, "item": "BATCH"}, UpdateExpression="SET execution_arn = :a",
                               ExpressionAttributeValues={":a": arn})

    def cancel(self, batch_id: str, *, actor: str) -> dict[str, Any]:
        """Back to DRAFT after a failed or stuck run (SUBMITTED or RECEIVING): submit it again, or discard it."""
        batch = self.move(batch_id, "DRAFT", allowed_from=("SUBMITTED", "RECEIVING"), actor=actor, cancelled_at=now())
        self.table.update_item(Key={"batch_id": batch_id, "item": "BATCH"}, UpdateExpression="REMOVE task_token")
        for p in self.packages(batch_id):
            self.set_package(batch_id, p["package_id"], state="LISTED")
        return batch

    def discard(self, batch_id: str, *, actor: str) -> dict[str, Any]:
        """A DRAFT batch given up: CANCELLED, and its packages free to join another batch."""
        batch = self.move(batch_id, "CANCELLED", allowed_from=("DRAFT",), actor=actor, cancelled_at=now())
        for p in self.packages(batch_id):
            self.catalogue.release_from_batch(p["package_id"], batch_id)
        return batch

    def resubmit(self, old_batch_id: str, *, transferor: str, ready_only: bool = False, actor: str | None = None,
                 registry: Any = None) -> dict[str, Any]:
        """A new batch with the corrected (re-archived) versions of the packages returned in ``old_batch_id``.

        ``ready_only`` sends those already re-archived and leaves the rest for a later resubmission. With the institution
        ``registry``, the new batch passes the same checks as any: the institution still registered and active, each package
        within its scope as it stands now.
        """
        old = self.batch(old_batch_id)
        if old["status"] not in ("PARTLY_RETURNED", "RETURNED"):
            raise TransferError(f"batch {old_batch_id} is {old['status']}: nothing was returned")
        packages = self.packages(old_batch_id)
        returned = [p["package_id"] for p in packages if p.get("state") == "RETURNED"]
        not_ready = [pid for pid in returned if (self.catalogue.get(pid) or {}).get("status") != "ARCHIVED"]
        # withdrawn ones (never received) go as they are, unless they have travelled in another batch since
        returned += [p["package_id"] for p in packages if p.get("state") == "WITHDRAWN"
                     and (lambda i: i.get("status") == "ARCHIVED" and not i.get("transfer_batch"))(self.catalogue.get(p["package_id"]) or {})]
        if ready_only:
            returned = [pid for pid in returned if pid not in not_ready]
            if not returned:
                raise TransferError(f"none of the packages returned in {old_batch_id} is re-archived yet")
        elif not_ready:
            raise TransferError(f"not corrected and re-archived yet: {', '.join(not_ready)} (upload the corrected case first)")
        registered = registry.for_batch(old["institution"])[0] if registry is not None else None
        return self.create(Selection(package_ids=tuple(returned)), institution=old["institution"],
                           institution_name=(registered or {}).get("name") or old["institution_name"], transferor=transferor,
                           note=f"resubmission of batch {old_batch_id}", resubmits=old_batch_id, actor=actor, registered=registered)
