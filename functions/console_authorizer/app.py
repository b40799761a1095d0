"""Lambda function of the console API's Lambda authorizer (Authorizer=lambda); the logic is earchive.console.authorizer."""

from earchive.console.authorizer import handler

__all__ = ["handler"]
