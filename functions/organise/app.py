"""Lambda function for the archive pipeline's organise state; the logic is earchive.pipeline.archive.organise.run."""

from earchive.pipeline.handler import make_handler

handler = make_handler("organise")
