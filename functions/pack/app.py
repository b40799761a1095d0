"""Lambda function for the archive pipeline's pack state; the logic is earchive.pipeline.archive.pack.run."""

from earchive.pipeline.handler import make_handler

handler = make_handler("pack")
