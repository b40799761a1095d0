"""Lambda function for the archive pipeline's seal state; the logic is earchive.steps.seal_step."""

from earchive.handlers import make_handler

handler = make_handler("seal")
