"""Lambda function for the transfer state machine's await_decision state; the logic is earchive.transfer_steps.await_decision_step."""

from earchive.handlers import make_handler

handler = make_handler("transfer.await_decision")
