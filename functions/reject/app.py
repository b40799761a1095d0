"""Lambda function for the archive pipeline's reject state; the logic is earchive.steps.reject_step."""

from earchive.handlers import make_handler

handler = make_handler("reject")
