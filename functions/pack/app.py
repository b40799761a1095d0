"""Lambda function for the archive pipeline's pack state; the logic is earchive.steps.pack_step."""

from earchive.handlers import make_handler

handler = make_handler("pack")
