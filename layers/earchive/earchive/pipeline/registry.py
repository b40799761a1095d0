"""Every state of both machines: its name (as in functions/<name>/ and the handler), its code, its idempotency key.

The name is the ASL state's name in snake_case; transfer and reply states carry their machine's
prefix (``transfer.``, ``reply.``; their folders are ``functions/transfer_<name>/``, ``functions/reply_<name>/``).
tests/contract/test_names.py checks this table against the ASL, template.yaml and functions/.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .archive import check, collect, organise, pack, register, reject, seal, store
from .reply import verify
from .runtime import Runtime
from .transfer import await_decision, copy, decide, receive_check, submit

# What makes two invocations "the same" for each state: the upload version and the execution.
# Collect sees the raw EventBridge event; Reject may see it too (when Collect rejected).
DEFAULT_KEY = "[upload.bucket, upload.key, upload.version, execution]"


@dataclass(frozen=True)
class Step:
    """One state: the function that runs it and the JMESPath of its Powertools idempotency key."""

    run: Callable[[Any, Runtime], Any]
    idempotency_key: str = DEFAULT_KEY


STEPS: dict[str, Step] = {
    "collect": Step(collect.run, '[event.detail.bucket.name, event.detail.object.key, event.detail.object."version-id", execution]'),
    "organise": Step(organise.run),
    "pack": Step(pack.run),
    "seal": Step(seal.run),
    "check": Step(check.run),
    "register": Step(register.run),
    "store": Step(store.run),
    "reject": Step(reject.run, '[upload.key || detail.object.key, upload.version || detail.object."version-id", error.Error, check.report]'),
    "transfer.submit": Step(submit.run, "[batch_id, execution]"),
    "transfer.copy": Step(copy.run, "[batch_id, package_id, attempt]"),
    "transfer.receive_check": Step(receive_check.run, "[batch_id, package_id, attempt]"),
    "transfer.await_decision": Step(await_decision.run, "[batch_id, token]"),
    "transfer.decide": Step(decide.run, "[batch_id, receiver, returns]"),
    "reply.verify": Step(verify.run, '[detail.bucket.name, detail.object.key, detail.object."version-id"]'),
}
