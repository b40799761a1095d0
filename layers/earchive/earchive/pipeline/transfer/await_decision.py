"""AwaitDecision: SUBMITTED → RECEIVING, keeping the task token; the machine sleeps until the institution decides.

Input :class:`~earchive.pipeline.state.AwaitInput`; output :class:`~earchive.pipeline.state.Waiting`
(the state's result is the decision sent back with the token, :class:`~earchive.pipeline.state.Decision`).
"""

from __future__ import annotations

from ..runtime import Runtime
from ..state import AwaitInput, Waiting


def run(state: AwaitInput, rt: Runtime) -> Waiting:
    """SUBMITTED → RECEIVING, keeping the task token: the machine sleeps until the institution decides."""
    transfers = rt.aws.transfers
    if transfers.batch(state["batch_id"])["status"] == "RECEIVING":  # a retried task brings a new token
        transfers.refresh_token(state["batch_id"], state["token"])
    else:
        transfers.move(state["batch_id"], "RECEIVING", allowed_from=("SUBMITTED",), actor="earchive-transfer", task_token=state["token"])
    return {"batch_id": state["batch_id"], "waiting": True}
