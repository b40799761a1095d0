"""The 归档配置 registry (DynamoDB, HASH ``task_code`` RANGE ``version``): versions are only added, never changed.

Every change writes the next version of one 事项 (or of the deployment's modes, ``#deployment``)
conditionally — two administrators saving at once cannot both make version n — and appends one
entry to the event log stream ``archiving-config`` with who, why and what changed; an import of a
事项目录 is one entry for all the 事项 it changed. A case records the versions it was checked
against (``config`` in its catalogue item), so a later change never rewrites what was archived.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from ..domain.archiving_config import CONFIG_FIELDS, DEFAULT_MODES, DEPLOYMENT, deployment_modes, same_config, task_config
from ..errors import ConflictError, UsageError
from .eventlog import EventLog
from .pages import query_all, scan_all

STREAM = "archiving-config"


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _plain(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """An item with its version as an int (DynamoDB gives Decimals)."""
    return None if item is None else {**item, "version": int(item["version"])}


class ArchivingConfigs:
    """The versioned 归档配置 of one deployment."""

    def __init__(self, table: Any, events: EventLog):
        self.table, self.events = table, events

    # -- reads
    def current(self, task_code: str) -> dict[str, Any] | None:
        """The newest version of a 事项's configuration (or of ``#deployment``); None if there is none."""
        items = self.table.query(KeyConditionExpression=Key("task_code").eq(task_code), ScanIndexForward=False, Limit=1,
                                 ConsistentRead=True)["Items"]
        return _plain(items[0]) if items else None

    def version(self, task_code: str, version: int) -> dict[str, Any] | None:
        return _plain(self.table.get_item(Key={"task_code": task_code, "version": int(version)}, ConsistentRead=True).get("Item"))

    def versions(self, task_code: str) -> list[dict[str, Any]]:
        """Every version of one 事项, newest first (the history a console page shows)."""
        items = query_all(self.table, KeyConditionExpression=Key("task_code").eq(task_code), ScanIndexForward=False, ConsistentRead=True)
        return [_plain(i) for i in items]  # type: ignore[misc]

    def all(self) -> list[dict[str, Any]]:
        """The newest version of every configured 事项 (a scan: for the administrator's list, not for the pipeline)."""
        newest: dict[str, dict[str, Any]] = {}
        for item in scan_all(self.table):
            if item["task_code"] != DEPLOYMENT and int(item["version"]) > int(newest.get(item["task_code"], {}).get("version", 0)):
                newest[item["task_code"]] = item
        return [_plain(newest[k]) for k in sorted(newest)]  # type: ignore[misc]

    def deployment(self) -> dict[str, Any] | None:
        """The deployment's modes; None when nothing was ever configured (the pipeline then works as without 归档配置)."""
        return self.current(DEPLOYMENT)

    # -- changes
    def save(self, values: dict[str, Any], *, actor: str, reason: str, source: str = "cli") -> dict[str, Any]:
        """A new version of one 事项 (an unchanged one makes none); the event log says who and why."""
        config = task_config(values)
        _need(actor, reason)
        current = self.current(config["task_code"])
        if same_config(current, config):
            return current  # type: ignore[return-value]
        self._ensure_deployment(actor)
        item = self._write(config, current, actor=actor, reason=reason, source=source)
        self.events.append(STREAM, actor=actor, action="change", result=f"{config['task_code']} v{item['version']}",
                           detail={"task_code": config["task_code"], "version": item["version"], "reason": reason, "source": source,
                                   "changed": _changed(current, config)})
        return item

    def set_modes(self, values: dict[str, Any], *, actor: str, reason: str) -> dict[str, Any]:
        """A new version of the deployment's modes (retention mismatch: refuse/apply; unknown 事项: refuse/accept)."""
        _need(actor, reason)
        current = self.deployment()
        modes = deployment_modes({**(current or {}), **{k: v for k, v in values.items() if v}})
        if current and all(current.get(k) == v for k, v in modes.items()):
            return current
        item = self._write({"task_code": DEPLOYMENT, **modes}, current, actor=actor, reason=reason, source="modes")
        self.events.append(STREAM, actor=actor, action="modes", result=f"v{item['version']}",
                           detail={"version": item["version"], "reason": reason, **modes})
        return item

    def import_catalogue(self, configs: list[dict[str, Any]], *, actor: str, reason: str, source: str, content: bytes) -> dict[str, Any]:
        """Each 事项 of an imported 事项目录 that differs from its current version gets a new one; one event-log entry for all."""
        _need(actor, reason)
        sha = hashlib.sha256(content).hexdigest()
        changed: dict[str, int] = {}
        unchanged = 0
        for values in configs:
            config = task_config(values)
            current = self.current(config["task_code"])
            if same_config(current, config):
                unchanged += 1
                continue
            self._ensure_deployment(actor)
            changed[config["task_code"]] = self._write(config, current, actor=actor, reason=reason, source=f"import:{sha[:16]}")["version"]
        summary = {"file": source, "sha256": sha, "rows": len(configs), "changed": changed, "unchanged": unchanged, "reason": reason}
        self.events.append(STREAM, actor=actor, action="import", result=f"{len(changed)} changed", detail=summary)
        return summary

    def _ensure_deployment(self, actor: str) -> None:
        """The first 事项 configured makes the deployment configured: its modes at their defaults, as version 1."""
        if self.deployment() is not None:
            return
        try:
            self._write({"task_code": DEPLOYMENT, **DEFAULT_MODES}, None, actor=actor, reason="首次配置：默认方式", source="modes")
        except ConflictError:
            return  # another administrator's first change made it
        self.events.append(STREAM, actor=actor, action="modes", result="v1", detail={"version": 1, "reason": "首次配置：默认方式", **DEFAULT_MODES})

    def _write(self, config: dict[str, Any], current: dict[str, Any] | None, *, actor: str, reason: str, source: str) -> dict[str, Any]:
        version = int(current["version"]) + 1 if current else 1
        item = {**config, "version": version, "changed_at": _now(), "changed_by": actor, "reason": reason, "source": source}
        try:
            self.table.put_item(Item=item, ConditionExpression="attribute_not_exists(task_code)")
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            raise ConflictError(f"{config['task_code']}：第 {version} 版刚由他人保存，请刷新后重试 / changed meanwhile, reload and retry") from None
        return item


def _need(actor: str, reason: str) -> None:
    if not (actor or "").strip():
        raise UsageError("请注明操作人（姓名）/ who makes the change")
    if not (reason or "").strip():
        raise UsageError("请填写变更原因 / a reason is required for every change")


def _changed(current: dict[str, Any] | None, config: dict[str, Any]) -> dict[str, Any]:
    """What a new version changed: field → [before, after] (everything, for a first version)."""
    return {k: [(current or {}).get(k), config.get(k)] for k in CONFIG_FIELDS if (current or {}).get(k) != config.get(k)}
