"""Every page of a DynamoDB scan or query (the LastEvaluatedKey loop, written once)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def pages(call: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Each response page of ``call`` (a table's ``scan`` or ``query``), following LastEvaluatedKey."""
    while True:
        page = call(**kwargs)
        yield page
        if "LastEvaluatedKey" not in page:
            return
        kwargs = {**kwargs, "ExclusiveStartKey": page["LastEvaluatedKey"]}


def newest_page(table: Any, index: str, cond: Any, limit: int, cursor: dict[str, Any] | None) -> tuple[list[dict[str, Any]], dict | None]:
    """One page of an index, newest first, from ``cursor`` (its LastEvaluatedKey): the console's lists."""
    kwargs: dict[str, Any] = {"IndexName": index, "KeyConditionExpression": cond, "ScanIndexForward": False, "Limit": limit}
    if cursor:
        kwargs["ExclusiveStartKey"] = cursor
    page = table.query(**kwargs)
    return page["Items"], page.get("LastEvaluatedKey")


def scan_all(table: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item a scan returns (for audits and command-line listings, not for the pipeline)."""
    return [item for page in pages(table.scan, **kwargs) for item in page["Items"]]


def query_all(table: Any, **kwargs: Any) -> list[dict[str, Any]]:
    """Every item a query returns, page after page."""
    return [item for page in pages(table.query, **kwargs) for item in page["Items"]]


def count_all(table: Any, **kwargs: Any) -> int:
    """How many items a query matches (``Select=COUNT``: no item is read back)."""
    return sum(int(page["Count"]) for page in pages(table.query, Select="COUNT", **kwargs))
