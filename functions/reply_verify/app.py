"""Lambda function for the reply state machine's verify state; the logic is earchive.pipeline.reply.verify.run."""

from earchive.pipeline.handler import make_handler

handler = make_handler("reply.verify")
