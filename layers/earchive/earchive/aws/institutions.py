"""The institution registry (DynamoDB, HASH ``code``): every write conditional, every change in the event log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from botocore.exceptions import ClientError

from ..domain.institution import certificate_record, check_code, check_principal
from ..errors import TransferError, UsageError
from .eventlog import EventLog
from .pages import scan_all


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class Institutions:
    """Receiving institutions: code, name, reply-signing certificates, the AWS principals that may pull, status."""

    def __init__(self, table: Any, events: EventLog):
        self.table, self.events = table, events

    def get(self, code: str) -> dict[str, Any] | None:
        return self.table.get_item(Key={"code": code}, ConsistentRead=True).get("Item")

    def require(self, code: str) -> dict[str, Any]:
        item = self.get(code)
        if item is None:
            raise UsageError(f"no institution {code} (`earchive institution list` shows them)")
        return item

    def all(self) -> list[dict[str, Any]]:
        return sorted(scan_all(self.table), key=lambda i: i["code"])

    def add(self, code: str, name: str, *, certificates: list[bytes], principals: list[str], actor: str, access: Any = None) -> dict[str, Any]:
        """Register a new institution (a code is never reused: a revoked one stays revoked).

        With ``access`` (:class:`~earchive.aws.access_points.AccessPoints`) and principals, its access point is opened:
        the only way those principals reach the transfer bucket (ADR 0012).
        """
        item = {"code": check_code(code), "name": name.strip(), "status": "ACTIVE", "created_at": _now(), "created_by": actor,
                "certificates": [certificate_record(pem) for pem in certificates], "principals": [check_principal(p) for p in principals]}
        if not item["name"]:
            raise UsageError("an institution needs its name (政务服务实施机构名称)")
        if self.get(code) is None and access is not None and item["principals"]:
            item["access_point"] = access.open(code, item["principals"])
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(code)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise TransferError(f"institution {code} exists already (`earchive institution show {code}`)") from None
        self.events.append(f"institution#{code}", actor=actor, action="add", result="ACTIVE",
                           detail={"name": item["name"], "certificates": [c["sha256"] for c in item["certificates"]],
                                   "principals": item["principals"]})
        return item

    def add_certificate(self, code: str, pem: bytes, *, actor: str) -> dict[str, Any]:
        """A further (e.g. renewed) reply-signing certificate; earlier ones stay for replies they signed."""
        record = certificate_record(pem)
        current = self.require(code)
        if any(c["sha256"] == record["sha256"] for c in current.get("certificates", [])):
            return current
        out = self.table.update_item(Key={"code": code}, UpdateExpression="SET certificates = list_append(certificates, :c)",
                                     ConditionExpression="#st = :a", ExpressionAttributeNames={"#st": "status"},
                                     ExpressionAttributeValues={":c": [record], ":a": "ACTIVE"}, ReturnValues="ALL_NEW")["Attributes"]
        self.events.append(f"institution#{code}", actor=actor, action="add-certificate", result="ACTIVE", detail={"sha256": record["sha256"]})
        return out

    def revoke(self, code: str, *, reason: str, actor: str, access: Any = None) -> dict[str, Any]:
        """No reply of this institution is accepted from now on (its earlier decisions stand); its access point is closed."""
        current = self.require(code)
        if access is not None and current.get("access_point"):
            access.close(code)
        if current["status"] == "REVOKED":
            return current  # revoked once: its date and reason stay
        try:
            out = self.table.update_item(Key={"code": code}, UpdateExpression="SET #st = :r, revoked_at = :t, revoke_reason = :why, revoked_by = :by",
                                         ConditionExpression="#st = :a", ExpressionAttributeNames={"#st": "status"},
                                         ExpressionAttributeValues={":r": "REVOKED", ":a": "ACTIVE", ":t": _now(), ":why": reason, ":by": actor},
                                         ReturnValues="ALL_NEW")["Attributes"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            return self.require(code)
        self.events.append(f"institution#{code}", actor=actor, action="revoke", result="REVOKED", detail={"reason": reason})
        return out
