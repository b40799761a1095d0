"""Lambda function for the transfer state machine's decide state; the logic is earchive.pipeline.transfer.decide.run."""

from earchive.pipeline.handler import make_handler

handler = make_handler("transfer.decide")
