"""Event-stream heads locked in the archive bucket (review F19).

The functions that append to the event log can also rewrite it (DynamoDB has no
append-only grant). A head written as a new COMPLIANCE-locked version cannot be
changed or removed by anyone, so a stream rewritten consistently (every hash
recomputed) still disagrees with every head locked before. Streams are anchored
when they end a chapter: an upload archived or rejected, a transfer batch decided
or cancelled. ``earchive log verify`` reads them back.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from .eventlog import EventLog
from .s3 import Objects

PREFIX = "anchors/"


def anchor_prefix(stream: str) -> str:
    """``upload#<hash>`` → ``anchors/<hash>/`` (the layout of the first anchors); ``batch#<id>`` → ``anchors/batch/<id>/``."""
    kind, _, name = stream.partition("#")
    return f"{PREFIX}{name}/" if kind == "upload" else f"{PREFIX}{kind}/{name}/"


class Anchors:
    """Locked heads of event streams in ``bucket`` (the archive bucket)."""

    def __init__(self, s3: Objects, events: EventLog, bucket: str):
        self.s3, self.events, self.bucket = s3, events, bucket

    def anchor(self, stream: str, entry: dict[str, Any], until: dt.datetime) -> str:
        """Lock the head ``entry`` (seq, hash) of ``stream`` until ``until``; returns the version written."""
        body = json.dumps({"stream": stream, "seq": int(entry["seq"]), "hash": entry["hash"], "at": entry["at"]}).encode()
        return self.s3.put_locked(self.bucket, f"{anchor_prefix(stream)}{int(entry['seq']):08d}.json", body, until)

    def heads(self, stream: str) -> list[dict[str, Any]]:
        """Every head ever locked for ``stream`` (all versions, as the lock kept them)."""
        return [json.loads(b) for b in self.s3.all_versions(self.bucket, anchor_prefix(stream))]

    def streams(self) -> list[str]:
        """Every stream with at least one locked head (from the object keys: one listing, no reads)."""
        names = set()
        for key in self.s3.keys(self.bucket, PREFIX):
            parts = key.removeprefix(PREFIX).split("/")
            if len(parts) == 2:
                names.add(f"upload#{parts[0]}")
            elif len(parts) == 3:
                names.add(f"{parts[0]}#{parts[1]}")
        return sorted(names)

    def verify(self, stream: str) -> list[str]:
        """Problems of ``stream``'s chain against each of its locked heads (empty: intact)."""
        heads = self.heads(stream)
        if not heads:
            return ["no locked head for this stream"]
        return sorted({p for head in heads for p in self.events.verify(stream, head)})
