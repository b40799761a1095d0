"""An institution's competence as a DynamoDB filter: a batch's candidates are narrowed by the index query, never a scan."""

from __future__ import annotations

from functools import reduce
from operator import and_, or_
from typing import Any

from boto3.dynamodb.conditions import Attr


def scope_condition(scope: Any) -> Any:
    """The filter for a :class:`~earchive.domain.institution.Scope`: its kinds ANDed, each kind's values ORed; None for none."""
    from ..domain.institution import region_prefix

    parts = []
    if scope.regions:
        parts.append(reduce(or_, [Attr("region_code").begins_with(region_prefix(r)) for r in scope.regions]))
    for attr, values in (("hall", scope.halls), ("task_code", scope.task_codes), ("task_type", scope.task_types)):
        if values:
            parts.append(Attr(attr).is_in(list(values)))
    return reduce(and_, parts) if parts else None
