"""The institution registry (DynamoDB, HASH ``code``): every write conditional, every change in the event log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from botocore.exceptions import ClientError

from ..domain.institution import CODE, Scope, certificate_record, check_code, check_principal, competence_problem
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
            raise UsageError(f"接收单位 {code} 未登记 / no institution {code} (`earchive institution list` shows them)")
        return item

    def for_batch(self, code: str, name: str | None = None) -> tuple[dict[str, Any], Scope]:
        """The institution a new batch may go to, and its scope; a :class:`TransferError` (Chinese first) when none may:
        unregistered, revoked, no scope recorded, or a name other than the registered one (the registry's name is what
        the signed list prints, N8)."""
        item = self.get(code) if CODE.match(code or "") else None
        problem = competence_problem(code, item)
        if problem:
            raise TransferError(problem)
        assert item is not None
        if name and name.strip() and name.strip() != item["name"]:
            raise TransferError(f"接收单位 {code} 登记的名称是「{item['name']}」，不是「{name.strip()}」：名称以登记为准（不必再给 --institution-name）"
                                f" / institution {code} is registered as {item['name']}")
        return item, Scope.of(item)  # type: ignore[return-value]

    def all(self) -> list[dict[str, Any]]:
        return sorted(scan_all(self.table), key=lambda i: i["code"])

    def add(self, code: str, name: str, *, certificates: list[bytes], principals: list[str], actor: str, access: Any = None,
            scope: Scope | None = None, chain: bytes | None = None) -> dict[str, Any]:
        """Register a new institution (a code is never reused: a revoked one stays revoked).

        ``chain`` (PEM) is the CA chain of the certificates given (an SM2 国密 CA's too): checked, then kept beside each.
        ``scope`` is its competence (受理范围); without one no batch can be made for it until `institution scope` records one.

        With ``access`` (:class:`~earchive.aws.access_points.AccessPoints`) and principals, its access point is opened:
        the only way those principals reach the transfer bucket (ADR 0012).
        """
        item = {"code": check_code(code), "name": name.strip(), "status": "ACTIVE", "created_at": _now(), "created_by": actor,
                "certificates": [certificate_record(pem, chain) for pem in certificates], "principals": [check_principal(p) for p in principals],
                **({"scope": scope.as_item()} if scope else {})}
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
                                   "principals": item["principals"], **({"scope": scope.as_item()} if scope else {})})
        return item

    def set_scope(self, code: str, scope: Scope, *, actor: str) -> dict[str, Any]:
        """Record (or change) what the institution receives; the event log keeps the scope before and after, and who changed it.
        Batches made earlier keep what they hold: competence is checked when a batch is made."""
        current = self.require(code)
        before = current.get("scope")
        if before == scope.as_item():
            return current
        try:
            out = self.table.update_item(Key={"code": code}, UpdateExpression="SET #sc = :s, scope_changed_at = :t, scope_changed_by = :by",
                                         ConditionExpression="#st = :a", ExpressionAttributeNames={"#st": "status", "#sc": "scope"},
                                         ExpressionAttributeValues={":s": scope.as_item(), ":t": _now(), ":by": actor, ":a": "ACTIVE"},
                                         ReturnValues="ALL_NEW")["Attributes"]
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise TransferError(f"接收单位 {code} 已撤销，不能再修改受理范围 / institution {code} is revoked") from None
        self.events.append(f"institution#{code}", actor=actor, action="scope", result="ACTIVE",
                           detail={"before": before, "after": scope.as_item()})
        return out

    def add_certificate(self, code: str, pem: bytes, *, actor: str, chain: bytes | None = None) -> dict[str, Any]:
        """A further (e.g. renewed, or SM2 from a 国密 CA) reply-signing certificate; earlier ones stay for replies they signed."""
        record = certificate_record(pem, chain)
        current = self.require(code)
        if any(c["sha256"] == record["sha256"] for c in current.get("certificates", [])):
            return current
        out = self.table.update_item(Key={"code": code}, UpdateExpression="SET certificates = list_append(certificates, :c)",
                                     ConditionExpression="#st = :a", ExpressionAttributeNames={"#st": "status"},
                                     ExpressionAttributeValues={":c": [record], ":a": "ACTIVE"}, ReturnValues="ALL_NEW")["Attributes"]
        self.events.append(f"institution#{code}", actor=actor, action="add-certificate", result="ACTIVE",
                           detail={"sha256": record["sha256"], "key": record["key"]})
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
