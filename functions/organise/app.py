"""Lambda function for the archive pipeline's organise state; the logic is earchive.steps.organise_step."""

from earchive.handlers import make_handler

handler = make_handler("organise")
