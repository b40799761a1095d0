"""Lambda function of the console and its HTTP API; the logic is earchive.console (routes in earchive.console.api)."""

from earchive.console.handler import handler

__all__ = ["handler"]
