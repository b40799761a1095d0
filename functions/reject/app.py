"""Lambda function for the archive pipeline's reject state; the logic is earchive.pipeline.archive.reject.run."""

from earchive.pipeline.handler import make_handler

handler = make_handler("reject")
