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

    def start(self, state_machine: str, name: str, document: dict[str, Any]) -> str:
        """Start an execution; returns its ARN."""
        return self.client.start_execution(stateMachineArn=state_machine, name=name,
                                           input=json.dumps(document, ensure_ascii=False))["executionArn"]

    def send_success(self, token: str, document: dict[str, Any]) -> None:
        """Resume a task waiting for its token with ``document`` as its output."""
        self.client.send_task_success(taskToken=token, output=json.dumps(document, ensure_ascii=False))

    def failures(self, state_machine: str, prefix: str) -> list[dict[str, Any]]:
        """Executions named ``prefix…`` that failed, timed out or were aborted, with error and cause."""
        out = []
        for e in self.client.list_executions(stateMachineArn=state_machine)["executions"]:
            if e["name"].startswith(prefix) and e["status"] in ("FAILED", "ABORTED", "TIMED_OUT"):
                d = self.client.describe_execution(executionArn=e["executionArn"])
                out.append({"name": e["name"], "status": e["status"], "error": d.get("error"), "cause": d.get("cause", "")})
        return out
