"""Lambda function for the archive pipeline's check state; the logic is earchive.steps.check_step."""

from earchive.handlers import make_handler

handler = make_handler("check")
