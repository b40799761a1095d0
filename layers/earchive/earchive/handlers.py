"""Lambda handlers: Powertools around the pipeline steps (one per state, one per function).

Every handler gets a structured Logger (case, record code and execution in
each line), a Tracer, EMF Metrics (StepSeconds, StepFailures) and Powertools
Idempotency on DynamoDB keyed by the step and the upload version, so a
retried invocation with the same input returns the saved result. AWS errors
worth retrying become ``TransientError``, which the state machine retries.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from . import steps


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` is at the time (Lambda's stdout; a test's capture, not a stale one)."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


logger = Logger(service="earchive", logger_handler=_StdoutHandler())
tracer = Tracer(service="earchive")
metrics = Metrics(namespace="earchive", service="earchive")


# What makes two invocations "the same" for each step: the upload version and the execution.
# Collect sees the raw EventBridge event; Reject may see it too (when Collect rejected).
IDEMPOTENCY_KEYS = {
    "collect": '[event.detail.bucket.name, event.detail.object.key, event.detail.object."version-id", execution]',
    "reject": '[upload.key || detail.object.key, upload.version || detail.object."version-id", error.Error, check.report]',
}
DEFAULT_KEY = "[upload.bucket, upload.key, upload.version, execution]"
TRANSFER_KEYS = {
    "transfer.submit": "[batch_id]",
    "transfer.copy": "[batch_id, package_id]",
    "transfer.receive_check": "[batch_id, package_id]",
    "transfer.await_decision": "[batch_id, token]",
    "transfer.decide": "[batch_id, receiver, returns]",
}


def _step_function(step: str) -> Callable[..., dict]:
    """The step's function, looked up per call (tests inject faults in the registries)."""
    if step.startswith("transfer."):
        from . import transfer_steps

        return transfer_steps.STEPS[step.split(".", 1)[1]]
    return steps.STEPS[step]


@lru_cache(maxsize=64)
def _idempotent(step: str, table: str, fn: Callable[[dict, Any], dict]) -> Callable[[dict, Any], dict]:
    """``fn`` behind Powertools Idempotency on ``table`` (built on first use, per table)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function

    persistence = DynamoDBPersistenceLayer(table_name=table)
    config = IdempotencyConfig(event_key_jmespath=TRANSFER_KEYS.get(step) or IDEMPOTENCY_KEYS.get(step, DEFAULT_KEY),
                               expires_after_seconds=3600)

    @idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=config, key_prefix=f"earchive-{step}")
    def run(event: dict, context: Any = None) -> dict:
        return fn(event, context)

    def call(event: dict, context: Any) -> dict:
        config.register_lambda_context(context)
        return run(event=event, context=context)

    return call


def make_handler(step: str) -> Callable[[dict, Any], dict]:
    """The Lambda handler for one pipeline step."""
    _step_function(step)  # fail at import for an unknown step

    def body(event: dict, context: Any) -> dict:
        func = _step_function(step)
        settings = steps.Settings.from_env()
        if step == "collect":
            return func(event.get("event", event), settings, event.get("execution", ""))
        return func(event, settings)

    def guarded(event: dict, context: Any) -> dict:
        table = os.environ.get("IDEMPOTENCY_TABLE")
        if not table:
            return body(event, context)
        return _idempotent(step, table, body)(event, context)

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def handler(event: dict, context: Any) -> dict:
        upload = steps.upload_from_event(event.get("event", event)) if isinstance(event, dict) else {}
        logger.append_keys(step=step, upload_key=upload.get("key"), record_code=event.get("record_code"),
                           execution=event.get("execution"), batch_id=event.get("batch_id"), package_id=event.get("package_id"))
        started = time.monotonic()
        try:
            result = guarded(event, context)
        except (steps.BundleRejected, steps.DuplicateDelivery) as exc:
            logger.warning("%s: %s", type(exc).__name__, str(exc)[:500])
            metrics.add_metric(name="Rejections" if isinstance(exc, steps.BundleRejected) else "Duplicates", unit=MetricUnit.Count, value=1)
            raise
        except Exception as exc:
            metrics.add_metric(name="StepFailures", unit=MetricUnit.Count, value=1)
            if steps.transient(exc):
                logger.warning("transient AWS error, will be retried: %s", exc)
                raise steps.TransientError(str(exc)) from exc
            logger.exception("step %s failed", step)
            raise
        metrics.add_metric(name="StepSeconds", unit=MetricUnit.Seconds, value=round(time.monotonic() - started, 3))
        logger.info("step %s done", step, extra={"status": result.get("status"), "seconds": round(time.monotonic() - started, 3)})
        return result

    return handler
