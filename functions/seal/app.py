"""Lambda function for the archive pipeline's seal state; the logic is earchive.pipeline.archive.seal.run."""

from earchive.pipeline.handler import make_handler

handler = make_handler("seal")
