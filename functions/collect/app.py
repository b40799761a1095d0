"""Lambda function for the archive pipeline's collect state; the logic is earchive.steps.collect_step."""

from earchive.handlers import make_handler

handler = make_handler("collect")
