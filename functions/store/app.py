"""Lambda function for the archive pipeline's store state; the logic is earchive.pipeline.archive.store.run."""

from earchive.pipeline.handler import make_handler

handler = make_handler("store")
