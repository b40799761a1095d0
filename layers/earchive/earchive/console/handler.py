"""The console function's handler: one :class:`~earchive.console.desk.Desk` and app per container, made on first use.

A Lambda container serves one request at a time, so a Desk's DynamoDB resource is never shared
between threads; where requests arrive in threads (the local gateway), each concurrent one gets
an app of its own, kept for the next.
"""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools import Logger

from ..config import Settings

logger = Logger(service="earchive-console")
_FREE: dict[tuple[str, ...], list[Any]] = {}  # apps not serving a request now, by the deployment they serve (one per container on Lambda)
_LOCK = threading.Lock()


def _make() -> Any:
    from .api import make_app
    from .desk import Desk

    settings = Settings.from_env()
    return make_app(Desk(settings), settings)


def _deployment() -> tuple[str, ...]:
    """Which deployment this process serves now: on Lambda always the same; locally, one local cloud after another."""
    settings = Settings.from_env()
    return (settings.catalogue_table, settings.transfer_table, settings.intake_bucket)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = authorizer.get("jwt", {}).get("claims") or authorizer.get("lambda") or {}
    logger.append_keys(user=claims.get("sub"), route=event.get("routeKey"))
    key = _deployment()
    with _LOCK:
        free = _FREE.setdefault(key, [])
        app = free.pop() if free else None
    app = app or _make()
    try:
        return app.resolve(event, context)
    finally:
        with _LOCK:
            _FREE.setdefault(key, []).append(app)
