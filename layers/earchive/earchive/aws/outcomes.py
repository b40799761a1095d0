"""Publishing outcome events to EventBridge (:mod:`earchive.domain.outcome`): every PutEvents of earchive is here."""

from __future__ import annotations

from typing import Any

from ..domain.outcome import entry


class Outcomes:
    def __init__(self, client: Any, bus: str):
        self.client, self.bus = client, bus

    def publish(self, details: list[dict[str, Any]]) -> list[str]:
        """Put the events (10 per call, as PutEvents allows); returns a line for each one EventBridge did not take."""
        failed: list[str] = []
        if not self.bus:
            return failed
        for i in range(0, len(details), 10):
            chunk = [entry(d, self.bus) for d in details[i:i + 10]]
            out = self.client.put_events(Entries=chunk)
            for d, result in zip(details[i:i + 10], out.get("Entries", [])):
                if result.get("ErrorCode"):
                    failed.append(f"{d.get('record_code') or d.get('project_id')}: {result['ErrorCode']} {result.get('ErrorMessage', '')}")
        return failed


__all__ = ["Outcomes"]
