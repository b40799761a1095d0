"""Step Functions: start a transfer, hand back a decision, and ask how an execution ended."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


class Executions:
    """The Step Functions calls of the states and of the transfer client."""

    def __init__(self, client: Any):
        self.client = client

    def status(self, arn: str) -> str:
        """RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, or GONE when Step Functions no longer knows it.

        Step Functions forgets closed executions after 90 days; a running one is always known, so GONE
        means "not running". Any other error (throttling, an outage) is raised for the caller to retry.
        """
        try:
            return self.client.describe_execution(executionArn=arn)["status"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code in ("ExecutionDoesNotExist", "StateMachineDoesNotExist"):
                return "GONE"
            if code == "InvalidArn":  # not an execution of ours (a hand-made claim): nobody can say it ended
                return "UNKNOWN"
            raise

    def describe(self, arn: str) -> dict[str, Any]:
        """Status, error and cause of one execution."""
        d = self.client.describe_execution(executionArn=arn)
        return {"status": d["status"], "error": d.get("error"), "cause": d.get("cause", "")}

    def stop(self, arn: str, cause: str) -> None:
        """Stop a running execution (a batch cancelled by its clerk)."""
        self.client.stop_execution(executionArn=arn, error="Cancelled", cause=cause[:256])

    def count(self, state_machine: str, prefix: str) -> int:
        """How many executions of ``state_machine`` are named ``prefix…`` (attempts of one batch)."""
        pages = self.client.get_paginator("list_executions").paginate(stateMachineArn=state_machine)
        return sum(1 for page in pages for e in page["executions"] if e["name"].startswith(prefix))

    def start(self, state_machine: str, name: str, document: dict[str, Any]) -> str:
        """Start an execution; returns its ARN."""
        return self.client.start_execution(stateMachineArn=state_machine, name=name,
                                           input=json.dumps(document, ensure_ascii=False))["executionArn"]

    def send_success(self, token: str, document: dict[str, Any]) -> None:
        """Resume a task waiting for its token with ``document`` as its output."""
        self.client.send_task_success(taskToken=token, output=json.dumps(document, ensure_ascii=False))

    def resume_if_waiting(self, token: str, document: dict[str, Any]) -> str | None:
        """Like :meth:`send_success`, but a task already resumed, timed out or gone is not an error: its code is returned."""
        from botocore.exceptions import ClientError

        try:
            self.send_success(token, document)
        except ClientError as exc:
            code = exc.response["Error"]["Code"]
            if code not in ("TaskDoesNotExist", "InvalidToken", "TaskTimedOut"):
                raise
            return code
        return None

    def failures(self, state_machine: str, prefix: str) -> list[dict[str, Any]]:
        """Executions named ``prefix…`` that failed, timed out or were aborted, with error and cause."""
        out = []
        for e in self.client.list_executions(stateMachineArn=state_machine)["executions"]:
            if e["name"].startswith(prefix) and e["status"] in ("FAILED", "ABORTED", "TIMED_OUT"):
                d = self.client.describe_execution(executionArn=e["executionArn"])
                out.append({"name": e["name"], "status": e["status"], "error": d.get("error"), "cause": d.get("cause", "")})
        return out
