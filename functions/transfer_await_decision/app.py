"""Lambda function for the transfer state machine's await_decision state; the logic is earchive.pipeline.transfer.await_decision.run."""

from earchive.pipeline.handler import make_handler

handler = make_handler("transfer.await_decision")
