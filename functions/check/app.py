"""Lambda function for the archive pipeline's check state; the logic is earchive.pipeline.archive.check.run."""

from earchive.pipeline.handler import make_handler

handler = make_handler("check")
