"""Lambda function for the archive pipeline's collect state; the logic is earchive.pipeline.archive.collect.run."""

from earchive.pipeline.handler import make_handler

handler = make_handler("collect")
