"""Lambda function for the archive pipeline's register state; the logic is earchive.pipeline.archive.register.run."""

from earchive.pipeline.handler import make_handler

handler = make_handler("register")
