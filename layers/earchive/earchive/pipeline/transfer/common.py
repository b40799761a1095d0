"""What the transfer states share: where a batch lives in the transfer bucket."""

from __future__ import annotations

from typing import Any


def prefix(batch: dict[str, Any]) -> str:
    """What the institution receives of a batch lives under its prefix (the institution's role reads only that)."""
    return f"institutions/{batch['institution']}/batches/{batch['batch_id']}/"


INTERNAL = "internal/batches/"  # the machine's own files (the Map's items): never under an institution's prefix (issue 20)
