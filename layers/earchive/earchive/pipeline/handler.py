"""Lambda handlers: Powertools around the states (one per state, one per function).

Every handler gets a structured Logger (case, record code and execution in
each line), a Tracer, EMF Metrics (StepSeconds, StepFailures) and Powertools
Idempotency on DynamoDB keyed by the state's key in :mod:`.registry`, so a
retried invocation with the same input returns the saved result. AWS errors
worth retrying become ``TransientError``, which the state machine retries.

Settings and AWS clients are made once per container (on the first
invocation) and passed to the state; a container serves one invocation at a
time, so the local cloud, which runs invocations in threads, gets a container
per concurrent invocation, as Lambda would.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from ..aws.clients import transient
from ..errors import BundleRejected, DuplicateDelivery, TransientError
from .registry import STEPS, Step
from .runtime import Runtime
from .state import upload_from_event


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


class _Containers:
    """Warm containers of one function: each holds a Runtime (settings + clients) and serves one invocation at a time.

    At most ``Settings.local_containers`` of them live in one process: on Lambda a process is one container, so the
    bound is never reached; in the local cloud, where invocations run in threads of one process (and one GIL), more
    would only add cold starts and memory, so further invocations wait for a container as throttled ones would.
    """

    def __init__(self, make: Callable[[], Runtime]):
        self._make, self._free, self._lock = make, [], threading.Lock()
        self._slots: threading.BoundedSemaphore | None = None

    def take(self) -> Runtime:
        """A warm container's Runtime, or a new one (a cold start) when all are busy and the bound allows."""
        with self._lock:
            if self._slots is None:
                from ..config import Settings

                self._slots = threading.BoundedSemaphore(max(1, Settings.from_env().local_containers))
        self._slots.acquire()
        try:
            with self._lock:
                if self._free:
                    return self._free.pop()
            return self._make()
        except BaseException:
            self._slots.release()
            raise

    def give_back(self, rt: Runtime) -> None:
        with self._lock:
            self._free.append(rt)
        if self._slots is not None:
            self._slots.release()


def _idempotent(name: str, step: Step, table: str, body: Callable[[dict, Any], dict]) -> Callable[[dict, Any], dict]:
    """``body`` behind Powertools Idempotency on ``table``."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function

    persistence = DynamoDBPersistenceLayer(table_name=table)
    config = IdempotencyConfig(event_key_jmespath=step.idempotency_key, expires_after_seconds=3600)

    @idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=config, key_prefix=f"earchive-{name}")
    def run(event: dict, context: Any = None) -> dict:
        return body(event, context)

    def call(event: dict, context: Any) -> dict:
        config.register_lambda_context(context)
        return run(event=event, context=context)

    return call


def make_handler(name: str, step: Step | None = None, runtime: Callable[[], Runtime] = Runtime.from_env) -> Callable[[dict, Any], dict]:
    """The Lambda handler for one state (``step`` defaults to the registry's; tests pass a faulty one)."""
    step = step or STEPS[name]  # an unknown state fails at import
    containers = _Containers(runtime)
    guarded: dict[str, Callable[[dict, Any], dict]] = {}

    def invoke(event: dict, context: Any) -> dict:
        rt = containers.take()
        try:
            table = rt.settings.idempotency_table
            if not table:
                return step.run(event, rt)
            if table not in guarded:
                guarded[table] = _idempotent(name, step, table, lambda e, c: step.run(e, c.rt))
            return guarded[table](event, _WithRuntime(context, rt))
        finally:
            containers.give_back(rt)

    @logger.inject_lambda_context(clear_state=True)
    @tracer.capture_lambda_handler(capture_response=False)
    @metrics.log_metrics
    def handler(event: dict, context: Any) -> dict:
        upload = upload_from_event(event.get("event", event)) if isinstance(event, dict) else {}
        logger.append_keys(step=name, upload_key=upload.get("key"), record_code=event.get("record_code"),
                           execution=event.get("execution"), batch_id=event.get("batch_id"), package_id=event.get("package_id"))
        started = time.monotonic()
        try:
            result = invoke(event, context)
        except (BundleRejected, DuplicateDelivery) as exc:
            logger.warning("%s: %s", type(exc).__name__, str(exc)[:500])
            metrics.add_metric(name="Rejections" if isinstance(exc, BundleRejected) else "Duplicates", unit=MetricUnit.Count, value=1)
            raise
        except Exception as exc:
            metrics.add_metric(name="StepFailures", unit=MetricUnit.Count, value=1)
            if transient(exc):
                logger.warning("transient AWS error, will be retried: %s", exc)
                raise TransientError(str(exc)) from exc
            logger.exception("step %s failed", name)
            raise
        metrics.add_metric(name="StepSeconds", unit=MetricUnit.Seconds, value=round(time.monotonic() - started, 3))
        logger.info("step %s done", name, extra={"status": result.get("status"), "seconds": round(time.monotonic() - started, 3)})
        return result

    return handler


class _WithRuntime:
    """The Lambda context, carrying the invocation's Runtime through Powertools' idempotent wrapper."""

    def __init__(self, context: Any, rt: Runtime):
        self._context, self.rt = context, rt

    def __getattr__(self, item: str) -> Any:
        return getattr(self._context, item)
