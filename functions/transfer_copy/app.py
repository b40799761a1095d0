"""Lambda function for the transfer state machine's copy state; the logic is earchive.transfer_steps.copy_step."""

from earchive.handlers import make_handler

handler = make_handler("transfer.copy")
