"""Lambda function for the transfer state machine's copy state; the logic is earchive.pipeline.transfer.copy.run."""

from earchive.pipeline.handler import make_handler

handler = make_handler("transfer.copy")
