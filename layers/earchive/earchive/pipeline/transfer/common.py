"""What the transfer states share: where a batch lives in the transfer bucket."""

from __future__ import annotations

from typing import Any


def prefix(batch: dict[str, Any]) -> str:
    """Everything of a batch lives under its institution's prefix (the institution's role reads only that)."""
    return f"institutions/{batch['institution']}/batches/{batch['batch_id']}/"
