"""Lambda function for the archive pipeline's register state; the logic is earchive.steps.register_step."""

from earchive.handlers import make_handler

handler = make_handler("register")
