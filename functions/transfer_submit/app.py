"""Lambda function for the transfer state machine's submit state; the logic is earchive.transfer_steps.submit_step."""

from earchive.handlers import make_handler

handler = make_handler("transfer.submit")
