"""Lambda function for the transfer state machine's decide state; the logic is earchive.transfer_steps.decide_step."""

from earchive.handlers import make_handler

handler = make_handler("transfer.decide")
