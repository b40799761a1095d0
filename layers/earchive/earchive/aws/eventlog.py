"""The event log table: appends (conditional on the next sequence number) and reads of one stream."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from ..domain.eventlog import GENESIS, entry_hash, opened_keys, verify_entries
from .pages import newest_page, query_all, scan_all


class EventLog:
    """A DynamoDB table with HASH ``stream`` and RANGE ``seq`` (number)."""

    def __init__(self, table):
        self.table = table

    def entries(self, stream: str) -> list[dict[str, Any]]:
        return query_all(self.table, KeyConditionExpression=Key("stream").eq(stream), ConsistentRead=True)

    def streams(self) -> list[str]:
        """Every stream in the table (a scan: for audits, not for the pipeline)."""
        return sorted({i["stream"] for i in scan_all(self.table, ProjectionExpression="#s", ExpressionAttributeNames={"#s": "stream"})})

    def append(self, stream: str, *, actor: str, action: str, result: str, detail: dict | None = None) -> dict[str, Any]:
        """Append one entry; retries on a concurrent append to the same stream."""
        for _ in range(50):
            last = self.table.query(KeyConditionExpression=Key("stream").eq(stream), ScanIndexForward=False,
                                    Limit=1, ConsistentRead=True)["Items"]
            seq = int(last[0]["seq"]) + 1 if last else 1
            entry = {
                "stream": stream, "seq": seq, "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
                "actor": actor, "action": action, "result": result,
                "detail": json.dumps(detail or {}, ensure_ascii=False, sort_keys=True, default=str),
                "prev_hash": last[0]["hash"] if last else GENESIS,
            }
            entry["hash"] = entry_hash(entry)
            try:
                item = {**entry, **(opened_keys(stream, entry["at"]) if seq == 1 else {})}  # a new stream joins the auditor's list
                self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(#s)", ExpressionAttributeNames={"#s": "seq"})
                return entry
            except ClientError as exc:
                if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                    raise
        raise RuntimeError(f"could not append to event stream {stream} (contention)")

    def opened(self, kind: str, day: str, limit: int = 50, cursor: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict | None]:
        """The streams of one kind opened on one Beijing day, newest first (index ``by_opened``: one query, no scan)."""
        return newest_page(self.table, "by_opened", Key("opened").eq(f"{kind}#{day}"), limit, cursor)

    def backfill_opened(self) -> int:
        """Give the first entry of every older stream the list's index keys (outside the hash: chains stay intact); safe to repeat."""
        done = 0
        for e in scan_all(self.table, FilterExpression=Attr("seq").eq(1) & Attr("opened").not_exists()):
            keys = opened_keys(e["stream"], e["at"])
            self.table.update_item(Key={"stream": e["stream"], "seq": 1}, UpdateExpression="SET opened = :o, opened_sk = :s",
                                   ExpressionAttributeValues={":o": keys["opened"], ":s": keys["opened_sk"]})
            done += 1
        return done

    def verify(self, stream: str, head: dict[str, Any] | None = None, entries: list[dict[str, Any]] | None = None) -> list[str]:
        """The stream's chain problems; ``entries`` when the caller has just read them (one read, not two)."""
        return verify_entries(sorted(self.entries(stream) if entries is None else entries, key=lambda e: int(e["seq"])), head)
