"""Lambda function for the transfer state machine's submit state; the logic is earchive.pipeline.transfer.submit.run."""

from earchive.pipeline.handler import make_handler

handler = make_handler("transfer.submit")
