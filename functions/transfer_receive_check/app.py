"""Lambda function for the transfer state machine's receive_check state; the logic is earchive.transfer_steps.receive_check_step."""

from earchive.handlers import make_handler

handler = make_handler("transfer.receive_check")
