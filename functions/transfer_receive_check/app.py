"""Lambda function for the transfer state machine's receive_check state; the logic is earchive.pipeline.transfer.receive_check.run."""

from earchive.pipeline.handler import make_handler

handler = make_handler("transfer.receive_check")
