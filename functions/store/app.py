"""Lambda function for the archive pipeline's store state; the logic is earchive.steps.store_step."""

from earchive.handlers import make_handler

handler = make_handler("store")
