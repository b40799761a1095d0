"""Every page of a DynamoDB scan or query (the LastEvaluatedKey loop, written once)."""

from __future__ import annotations

from typing import Any


def _all(call: Any, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = call(**kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def scan_all(table: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item a scan returns (for audits and command-line listings, not for the pipeline)."""
    return _all(table.scan, kwargs)


def query_all(table: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item a query returns, page after page."""
    return _all(table.query, kwargs)
