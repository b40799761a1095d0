"""The local cloud: the real template.yaml and ASL running on moto, no Docker, no AWS account.

Resources are created from what ``template.yaml`` declares (buckets with
versioning, Object Lock and EventBridge notifications; tables with their keys
and indexes; the KMS seal key; the functions with their environment; the state
machine from its ASL file with its substitutions), so the two cannot drift.
Where moto falls short, the gap is bridged the way AWS would behave and said
so here:

* moto's Lambda would need Docker: invocations are routed to the handler in
  ``functions/<step>/app.py``, imported in process.
* moto's EventBridge cannot target Step Functions: the rule targets an SQS
  queue and :meth:`LocalCloud.dispatch` starts one execution per message,
  named by upload and attempt, as the rule would.
* Step Functions' retry back-off sleeps are shortened so tests stay fast.
* China mode (``LocalCloud(mode="china")``, ``earchive local up --china``): the template resolves with partition
  ``aws-cn``, region ``cn-north-1`` and URL suffix ``amazonaws.com.cn``, so every ARN is ``arn:aws-cn:…`` (moto 5
  accepts cn-north-1 and makes aws-cn ARNs for S3, DynamoDB, Lambda, Step Functions, KMS, SQS, SNS, EventBridge, SSM
  and IAM by itself); no Cognito (the template's China rule needs OidcIssuer: the local stand-in issuer is given).
* A Task naming a resource in another partition than its execution fails with ``States.Runtime``, which
  ``States.ALL`` does not catch (moto ran it, and its States.ALL caught everything): see :func:`_partition_bound_tasks`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import json
import os
import re
import threading
import time
import traceback
import types
import uuid
import zipfile
from pathlib import Path
from typing import Any

from .iam import statements as iam_statements
from .template import ACCOUNT, MODES, REGION, Resolver, load_template

REPO = Path(__file__).resolve().parents[2]

ROLE = f"arn:aws:iam::{ACCOUNT}:role/earchive-local"  # the global mode's; a cloud uses its own partition's (LocalCloud.role)

# China mode has no Cognito (not offered in the China regions), and the template's rule ChinaNeedsAnIssuer refuses a China
# stack without OidcIssuer: the local cloud names a stand-in issuer (https, as the parameter's pattern asks). Tokens from a
# real provider: pass ``parameters={"OidcIssuer": ..., "OidcAudience": ...}``.
LOCAL_OIDC_ISSUER = "https://login.earchive.local/oidc"
LOCAL_OIDC_AUDIENCE = "earchive-console-local"


def repo_root() -> Path:
    """The checkout holding template.yaml: ``EARCHIVE_REPO``, this source tree, or the working directory."""
    for candidate in (os.environ.get("EARCHIVE_REPO"), REPO, Path.cwd()):
        if candidate and (Path(candidate) / "template.yaml").exists():
            return Path(candidate)
    raise FileNotFoundError("template.yaml not found: run from the earchive checkout or set EARCHIVE_REPO")


# ---------------------------------------------------------------- in-process Lambda

_FUNCTIONS: dict[str, Path] = {}  # function name -> code dir
_MODULES: dict[str, types.ModuleType] = {}  # function name -> its imported app.py: one per function, as a deployment
_DEPLOYED: dict[str, Any] = {}  # function name -> a handler deployed in its place (LocalCloud.deploy)
_IMPORT_LOCK = threading.Lock()


def _handler_for(name: str, handler: str):
    if name in _DEPLOYED:
        return _DEPLOYED[name]
    code = _FUNCTIONS[name]
    module_file, func = handler.rsplit(".", 1)
    key = f"earchive_fn_{name.replace('-', '_')}"
    with _IMPORT_LOCK:
        if key not in _MODULES:
            spec = importlib.util.spec_from_file_location(key, code / f"{module_file}.py")
            module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
            spec.loader.exec_module(module)  # type: ignore[union-attr]
            _MODULES[key] = module
    return getattr(_MODULES[key], func)


_CALLER = threading.local()  # the function whose invocation this thread runs (for the record of AWS calls)
_CALLS: list[tuple[str, str, str, dict[str, Any]]] = []  # (function name, service, operation, parameters), every call
_CALLS_LOCK = threading.Lock()


_KEEP = ("Bucket", "Key", "VersionId", "TableName", "TransactItems",
         "IndexName", "KeyId", "Name", "executionArn", "stateMachineArn", "CopySource", "UserPoolId",
         "ObjectLockMode", "ObjectLockLegalHoldStatus", "Delete")


def _record_calls() -> None:
    """Stamp each botocore client with the function whose invocation made it, and record its every call.

    By client, not by thread: boto3's transfer manager calls from worker threads of its own.
    """
    from botocore.client import BaseClient

    if getattr(BaseClient, "_earchive_recording", False):
        return
    init, call = BaseClient.__init__, BaseClient._make_api_call

    def stamped_init(self, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._earchive_caller = getattr(_CALLER, "name", None)

    def recorded_call(self, operation_name: str, api_params: dict[str, Any]) -> Any:
        name = getattr(self, "_earchive_caller", None)
        if name:
            with _CALLS_LOCK:
                _CALLS.append((name, self.meta.service_model.service_name, operation_name,
                               {k: api_params.get(k) for k in _KEEP if k in api_params}))
        return call(self, operation_name, api_params)

    BaseClient.__init__, BaseClient._make_api_call = stamped_init, recorded_call
    BaseClient._earchive_recording = True


def recorded_calls() -> list[tuple[str, str, str, dict[str, Any]]]:
    """Every AWS call a function made in this process since the first local cloud started."""
    with _CALLS_LOCK:
        return list(_CALLS)


def _invoke_in_process(self, event=None):  # replaces moto's LambdaFunction._invoke_lambda
    if isinstance(event, (str, bytes)):
        event = json.loads(event or "{}")
    _CALLER.name = self.function_name
    context = types.SimpleNamespace(
        function_name=self.function_name, function_version="$LATEST", invoked_function_arn=self.function_arn,
        memory_limit_in_mb=self.memory_size, aws_request_id=str(uuid.uuid4()), log_group_name=f"/aws/lambda/{self.function_name}",
        log_stream_name="local", get_remaining_time_in_millis=lambda: 900_000,
    )
    try:
        fn = _handler_for(self.function_name, self.handler)
        out = io.StringIO()
        return json.dumps(fn(event, context), ensure_ascii=False, default=str), False, out.getvalue()
    except Exception as exc:  # noqa: BLE001 - becomes the Lambda FunctionError, as on AWS
        tb = traceback.format_exc()
        return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc), "stackTrace": tb.splitlines()[-8:]}), True, tb
    finally:
        _CALLER.name = None


_CLIENTS_LOCK = threading.Lock()
_INDEX = threading.local()  # the index partition a query on this thread reads (see _index_dynamodb)
_INDEX_LOCK = threading.RLock()


def _index_dynamodb() -> None:
    """moto answers every query by sorting and walking the whole table; DynamoDB reads one partition of one index.

    Locally that made a console list over 100,000 items take seconds. The table's items are kept
    sorted once per change (put, delete, update) instead of once per call, and a query on a global
    index with one equality on its hash key walks only the items with that value: the results and
    their order are moto's own (the same loop runs over fewer items).
    """
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    if getattr(Table, "_earchive_indexed", False):
        return
    all_items, put_item, delete_item, query, sorted_items = Table.all_items, Table.put_item, Table.delete_item, Table.query, Table.sorted_items

    def bump(table: Any) -> None:
        table._earchive_version = getattr(table, "_earchive_version", 0) + 1

    def snapshot(self: Any) -> tuple[Any, ...]:
        version = getattr(self, "_earchive_version", 0)
        cache = getattr(self, "_earchive_all", None)
        if cache is None or cache[0] != version:
            cache = self._earchive_all = (version, all_items(self), {}, {})
        return cache

    def cached_all_items(self: Any) -> list[Any]:
        partition = getattr(_INDEX, "partition", None)
        if partition is not None and partition[0] is self:
            return list(partition[1])
        with _INDEX_LOCK:
            return list(snapshot(self)[1])

    def buckets(self: Any, attr: str) -> dict[Any, list[Any]]:
        by_attr = snapshot(self)[2]
        if attr not in by_attr:
            groups: dict[Any, list[Any]] = {}
            for item in self._earchive_all[1]:
                value = item.attrs.get(attr)
                if value is not None:
                    groups.setdefault(value, []).append(item)
            by_attr[attr] = groups
        return by_attr[attr]

    def in_range(items: list[Any], conditions: list[Any]) -> list[Any]:
        """Only the items a single string range condition (BETWEEN, begins_with) can match; moto still applies it."""
        if len(conditions) != 1:
            return items
        attr, comparison, values = conditions[0]
        raw = [getattr(v, "value", None) for v in values]
        if not all(isinstance(r, str) for r in raw):
            return items
        if comparison == "BETWEEN" and len(raw) == 2:
            return [i for i in items if isinstance(getattr(i.attrs.get(attr), "value", None), str) and raw[0] <= i.attrs[attr].value <= raw[1]]
        if comparison == "BEGINS_WITH" and len(raw) == 1:
            return [i for i in items if isinstance(getattr(i.attrs.get(attr), "value", None), str) and i.attrs[attr].value.startswith(raw[0])]
        return items

    def indexed_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        conditions = kwargs.get("hash_key_conditions") or []
        index_name = kwargs.get("index_name") or (args[6] if len(args) > 6 else None)  # moto's backend passes it eighth, by position
        if index_name and len(conditions) == 1:
            attr, value = conditions[0]
            with _INDEX_LOCK:  # one consistent snapshot: the version's items, groups and sorted lists together
                partition = buckets(self, attr).get(value, [])
                snapshot = self._earchive_all
            ranges = kwargs.get("range_key_conditions") or []
            key = (snapshot[0], index_name, attr, value, repr(ranges))  # the version and the range narrowing are part of what was sorted
            _INDEX.partition = (self, in_range(partition, ranges), key, snapshot[3])
            try:
                return query(self, hash_key, *args, **kwargs)
            finally:
                _INDEX.partition = None
        if not index_name and hash_key is not None:  # the table's own key: moto walks every item for it; its own map has them
            with _INDEX_LOCK:
                found = self.items.get(hash_key)  # keyed by DynamoType, as moto stores them (a defaultdict: .get adds nothing)
                own = list(found.values()) if self.range_key_attr and found else ([found] if found else [])
            _INDEX.partition = (self, own, None, None)
            try:
                return query(self, hash_key, *args, **kwargs)
            finally:
                _INDEX.partition = None
        return query(self, hash_key, *args, **kwargs)

    def cached_sorted_items(self: Any, hash_attrs: list[str], range_attrs: list[Any], items: list[Any]) -> list[Any]:
        partition = getattr(_INDEX, "partition", None)
        if partition is None or partition[0] is not self or partition[2] is None or len(items) != len(partition[1]):
            return sorted_items(self, hash_attrs, range_attrs, items)
        key = (partition[2], len(items), tuple(hash_attrs), tuple(range_attrs))
        cache = partition[3]  # the snapshot's own: a write meanwhile starts a new one, never mixes into it
        if key not in cache:
            cache[key] = sorted_items(self, hash_attrs, range_attrs, items)
        return list(cache[key])

    def bumping(fn: Any) -> Any:
        def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            finally:
                bump(self)
        return wrapped

    def bumping_backend(fn: Any, one_table: bool = False) -> Any:  # an update changes an item in place (its index keys may change)
        def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(self, *args, **kwargs)
            finally:
                name = (args[0] if args else kwargs.get("table_name")) if one_table else None
                for table in ([self.tables[name]] if isinstance(name, str) and name in self.tables else self.tables.values()):
                    bump(table)
        return wrapped

    Table.all_items, Table.query, Table.sorted_items = cached_all_items, indexed_query, cached_sorted_items
    Table.put_item, Table.delete_item = bumping(put_item), bumping(delete_item)
    DynamoDBBackend.update_item = bumping_backend(DynamoDBBackend.update_item, one_table=True)
    for name in ("transact_write_items", "execute_statement", "execute_transaction", "batch_execute_statement"):
        if hasattr(DynamoDBBackend, name):
            setattr(DynamoDBBackend, name, bumping_backend(getattr(DynamoDBBackend, name)))
    Table._earchive_indexed = True


def _unlocked_backends() -> None:
    """moto takes one process-wide lock on every request to see whether an account's backend exists (twice: the
    service's, then IAM's to mark the key used). With dozens of executions in threads, that lock convoys them; once
    the account's backend exists, the answer cannot change, so look without the lock."""
    from moto.core.base_backend import BackendDict

    if getattr(BackendDict, "_earchive_unlocked", False):
        return
    create = BackendDict._create_account_specific_backend

    def lookup(self: Any, account_id: str) -> None:
        if dict.__contains__(self, account_id) and getattr(self, "_earchive_listed", False):
            return
        create(self, account_id)
        self._earchive_listed = True

    BackendDict._create_account_specific_backend = lookup
    BackendDict._earchive_unlocked = True


def _shared_interpreter_clients() -> None:
    """moto's state machine interpreter makes a new boto3 client for every task it runs (a Lambda invoke each time), which
    loads the service's model again; the clients are thread safe, so make one per service and endpoint, once."""
    try:
        import moto.stepfunctions.parser.asl.utils.boto_client as interpreter
    except ImportError:
        return
    if isinstance(interpreter.boto3, types.SimpleNamespace):
        return
    real, made, lock = interpreter.boto3, {}, threading.Lock()

    def client(**kwargs: Any) -> Any:
        key = (kwargs.get("service_name"), kwargs.get("region_name"), kwargs.get("endpoint_url"))
        with lock:
            if key not in made:
                made[key] = real.client(**kwargs)
            return made[key]

    interpreter.boto3 = types.SimpleNamespace(client=client)


def _iterative_map_workers() -> None:
    """moto's Map workers evaluate each next item by recursing into themselves, one frame per item: a Distributed Map
    over more than ~1,000 items per worker dies of RecursionError (found with a 10,000-package batch, issue 12). The
    same steps in a loop: one item at a time, the frames and the pool handled as moto does."""
    try:
        from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
            distributed_item_processor_worker as distributed,
        )
    except ImportError:
        return
    worker = distributed.DistributedItemProcessorWorker
    if getattr(worker, "_earchive_iterative", False):
        return

    def eval_pool(self: Any, job: Any, worker_frame: Any) -> None:
        while job is not None:
            job_frame = worker_frame.open_inner_frame()
            self._eval_job(env=job_frame, job=job)
            worker_frame.delete_frame(job_frame)
            if isinstance(job.job_output, Exception) or self.stopped():
                break
            next_job = self._job_pool.next_job()
            if next_job is None:
                break
            self._job_pool.close_job(job)
            job = next_job
        self._env.delete_frame(worker_frame)  # as moto: the frame is closed before the job
        if job is not None:
            self._job_pool.close_job(job)

    worker._eval_pool = eval_pool
    worker._earchive_iterative = True


def _dynamodb_key_limits() -> None:
    """AWS refuses a key over its size limits on every read and delete (ValidationException: 2,048 bytes for a partition key,
    1,024 for a sort key); moto checks them only on writes, so a long id would read as "not found" locally and fail on AWS."""
    from moto.dynamodb.exceptions import HashKeyTooLong, RangeKeyTooLong
    from moto.dynamodb.limits import HASH_KEY_MAX_LENGTH, RANGE_KEY_MAX_LENGTH
    from moto.dynamodb.models.table import Table

    def check(hash_key: Any, range_key: Any = None) -> None:
        if hash_key is not None and hash_key.size() > HASH_KEY_MAX_LENGTH:
            raise HashKeyTooLong
        if range_key is not None and range_key.size() > RANGE_KEY_MAX_LENGTH:
            raise RangeKeyTooLong

    def limited(fn: Any) -> Any:
        def wrapped(self: Any, hash_key: Any, range_key: Any = None, *args: Any, **kwargs: Any) -> Any:
            check(hash_key, range_key if not isinstance(range_key, str) else None)
            return fn(self, hash_key, range_key, *args, **kwargs)
        return wrapped

    Table.get_item = limited(Table.get_item)
    Table.delete_item = limited(Table.delete_item)
    query = Table.query

    def limited_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        check(hash_key)
        return query(self, hash_key, *args, **kwargs)

    Table.query = limited_query


_WRITE_LOCK = threading.RLock()


def _atomic_dynamodb_writes() -> None:
    """DynamoDB applies each conditional write and each transaction atomically (serializable, ACID for TransactWriteItems);
    moto checks a condition and then writes, and a transaction that fails puts back a copy of every table it named, taken
    when it began. With executions in threads, two writes could both pass one condition, and a failed transaction could undo
    another thread's write. Every write on the local cloud now holds one lock, as a single item (or transaction) is on AWS."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, "_earchive_atomic", False):
        return

    def atomic(fn: Any) -> Any:
        def wrapped(self: Any, *args: Any, **kwargs: Any) -> Any:
            with _WRITE_LOCK:
                return fn(self, *args, **kwargs)
        return wrapped

    for name in ("put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item", "execute_statement",
                 "execute_transaction", "batch_execute_statement"):
        if hasattr(DynamoDBBackend, name):
            setattr(DynamoDBBackend, name, atomic(getattr(DynamoDBBackend, name)))
    DynamoDBBackend._earchive_atomic = True


def signing_jwk() -> dict[str, Any]:
    """The local cloud's own token-signing key (RSA 2048, JWK), made once per EARCHIVE_HOME and kept there (0600).

    moto's Cognito signs every token with a private key shipped inside its package, which anyone can read: a token signed
    with it would pass any gateway trusting moto's public key (issue 21). The local cloud signs with its own instead.
    """
    from earchive.config import earchive_home

    path = earchive_home() / "local-cloud" / "token-signing-key.jwk.json"
    if not path.exists():
        from joserfc.jwk import RSAKey

        key = RSAKey.generate_key(2048, {"kid": "dummy", "alg": "RS256", "use": "sig"}, private=True)  # moto's tokens name kid "dummy"
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_suffix(f".{os.getpid()}.part")
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(key.as_dict(private=True), f)
        os.replace(part, path)
    return json.loads(path.read_text())


def _own_token_key() -> None:
    from joserfc import jwk
    from moto.cognitoidp.models import CognitoIdpUserPool

    init = CognitoIdpUserPool.__init__

    def with_own_key(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.json_web_key = jwk.RSAKey.import_key(signing_jwk())

    CognitoIdpUserPool.__init__ = with_own_key


def _stop_wakes_waiting_tasks() -> None:
    """StopExecution on AWS aborts an execution at once, also one waiting for a task token (a batch waiting for the institution);
    moto's stop leaves a task-token wait asleep (RUNNING until a callback comes). The stop now wakes every waiting task."""
    try:
        from moto.stepfunctions.parser.asl.eval.environment import Environment
        from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
    except ImportError:
        return
    set_stop, set_error = Environment.set_stop, Environment.set_error

    def stopped_stays_stopped(self: Any, error: Any) -> None:  # the woken task's "no answer" is not the execution's failure
        if not isinstance(self._program_state, ProgramStopped):
            set_error(self, error=error)

    def waking(self: Any, stop_date: Any, cause: Any, error: Any) -> None:
        set_stop(self, stop_date=stop_date, cause=cause, error=error)
        for endpoint in list(getattr(self.callback_pool_manager, "_pool", {}).values()):
            endpoint.interrupt_all()

    Environment.set_stop, Environment.set_error = waking, stopped_stays_stopped


def _strict_s3_cors() -> None:
    """S3 answers a browser's CORS preflight from the bucket's CORS configuration alone; moto's server does not (issue 22, F4).

    https://docs.aws.amazon.com/AmazonS3/latest/userguide/cors.html ("How does Amazon S3 evaluate the CORS configuration on a
    bucket?"): S3 takes the first rule whose AllowedOrigins match ``Origin``, whose AllowedMethods hold
    ``Access-Control-Request-Method`` and whose AllowedHeaders cover every header of ``Access-Control-Request-Headers``; with no
    such rule, or no configuration ("CORSResponse: CORS is not enabled for this bucket"), the preflight is 403 and the browser
    sends nothing. moto answers 200 for a bucket without a configuration, whatever the origin, ignores the method and headers,
    and its server's global flask-cors echoes any ``Origin`` on every answer: a console whose bucket lacks CORS would pass
    locally and fail on AWS. Here the preflight is S3's, and the global echo is off (answers to the real request carry
    Access-Control headers only for a matching rule, as moto's S3 already does).
    """
    from fnmatch import fnmatchcase

    from moto.moto_server import werkzeug_app
    from moto.s3.exceptions import MissingBucket
    from moto.s3.responses import S3Response
    from moto.s3.utils import cors_matches_origin

    werkzeug_app.DISABLE_GLOBAL_CORS = True

    def listed(value: Any) -> list[str]:
        return [value] if isinstance(value, str) else list(value or [])

    def preflight(self: Any, headers: Any, bucket_name: str) -> Any:
        self._authenticate_and_authorize_s3_action(bucket_name=bucket_name)
        try:
            bucket = self.backend.head_bucket(bucket_name)
        except MissingBucket:
            return 403, {}, ""
        origin, method = headers.get("Origin"), headers.get("Access-Control-Request-Method")
        if not origin or not method:
            return 400, {}, "<Error><Code>BadRequest</Code><Message>Insufficient information. Origin request header needed.</Message></Error>"
        wanted = [h.strip().lower() for h in (headers.get("Access-Control-Request-Headers") or "").split(",") if h.strip()]
        for rule in bucket.cors:
            allowed = [h.lower() for h in listed(rule.allowed_headers)]
            if (cors_matches_origin(origin, listed(rule.allowed_origins)) and method in listed(rule.allowed_methods)
                    and all(any(fnmatchcase(h, a) for a in allowed) for h in wanted)):
                out = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": ", ".join(listed(rule.allowed_methods)),
                       "Vary": "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"}
                if wanted:
                    out["Access-Control-Allow-Headers"] = ", ".join(wanted)
                if rule.max_age_seconds:
                    out["Access-Control-Max-Age"] = str(rule.max_age_seconds)
                return 200, out, ""
        why = "This CORS request is not allowed." if bucket.cors else "CORS is not enabled for this bucket."
        return 403, {"Content-Type": "application/xml"}, f"<Error><Code>AccessForbidden</Code><Message>CORSResponse: {why}</Message></Error>"

    S3Response._response_options = preflight


PAYLOAD_LIMIT = 262_144  # Step Functions' quota: 256 KiB of data as a UTF-8 encoded string


def payload_size(value: Any) -> int:
    """The bytes Step Functions counts for a payload: its JSON as UTF-8 (compact; Chinese text 3 bytes a character)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(text.encode("utf-8"))


def _payload_limits() -> None:
    """Step Functions' 256 KiB limit, as AWS applies it (issue 22, F7).

    AWS: "Maximum input or output size for a task, state, or execution: 256 KiB of data as a UTF-8 encoded string"
    (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html); a larger one fails with
    ``States.DataLimitExceeded``, which "States.ALL" does not catch or retry
    (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-error-handling.html). moto checks a task's result and a
    state's output, one byte short of the limit and by ASCII-escaped JSON, lets a Retry or Catch on States.ALL take the
    error, and never checks a state's input or the results a Map state collects (a Distributed Map without ResultWriter
    hands every child's output to its state). Here: all four, at the limit, by UTF-8 (that States.ALL does not take the
    error is ``_states_all_spares_terminal_errors``'s); and SendTaskSuccess refuses a larger output (InvalidOutput), as its API
    reference bounds it (https://docs.aws.amazon.com/step-functions/latest/apireference/API_SendTaskSuccess.html).
    """
    try:
        import moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service as service
        import moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda as task_lambda
        import moto.stepfunctions.parser.asl.component.state.state as state
        import moto.stepfunctions.parser.quotas as quotas
        from moto.stepfunctions.parser.asl.component.state.exec.state_map.state_map import StateMap
    except ImportError:
        return
    if getattr(state.CommonStateField, "_earchive_payload_limits", False):
        return

    def within(value: Any) -> bool:
        return payload_size(value) <= PAYLOAD_LIMIT

    for module in (quotas, state, task_lambda, service):
        module.is_within_size_quota = within

    body = state.CommonStateField._eval_body

    def input_checked(self: Any, env: Any) -> None:
        self._verify_size_quota(env=env, value=env.states.get_input())
        body(self, env)

    map_execution = StateMap._eval_execution

    def map_results_checked(self: Any, env: Any) -> None:
        map_execution(self, env)
        if self.result_writer is None and env.stack:  # with ResultWriter the results went to S3; the state holds their address
            self._verify_size_quota(env=env, value=env.stack[-1])

    from moto.stepfunctions.parser.api import InvalidOutput
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    send = StepFunctionsParserBackend.send_task_success

    def output_checked(self: Any, task_token: Any, outcome: str) -> Any:  # SendTaskSuccess: output at most 262,144 (API reference)
        if payload_size(outcome) > PAYLOAD_LIMIT:
            raise InvalidOutput(f"output is {payload_size(outcome):,} bytes; Step Functions takes at most {PAYLOAD_LIMIT:,}")
        return send(self, task_token, outcome)

    state.CommonStateField._eval_body = input_checked
    StateMap._eval_execution = map_results_checked
    StepFunctionsParserBackend.send_task_success = output_checked
    state.CommonStateField._earchive_payload_limits = True


def _result_writer_as_aws() -> None:
    """A Distributed Map's ResultWriter as AWS runs it (issue 22, F7).

    AWS evaluates its Parameters against the Map state's input and writes the children's results to
    ``<Prefix>/<map run id>/SUCCEEDED_0.json`` (FAILED_, PENDING_ likewise), listed in ``manifest.json`` beside them
    (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html). moto evaluates the Parameters
    against the collected results (``"Bucket.$": "$.results.bucket"`` then fails with States.Runtime) and writes a manifest
    listing no file, dropping the results. Here: the Parameters read the state's input, and every child's output is written
    (the fields moto knows: Output and Status; a child that fails fails this Map, there is no FAILED file).
    """
    try:
        from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.result_writer_decl import ResultWriter
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.credentials import StateCredentials
        from moto.stepfunctions.parser.asl.utils.boto_client import boto_client_for
    except ImportError:
        return
    if getattr(ResultWriter, "_earchive_as_aws", False):
        return

    def write(self: Any, env: Any) -> None:
        results = env.stack[-1]
        env.stack.append(env.states.get_input())
        self.parargs.eval(env=env)
        parameters = env.stack.pop()
        env.stack.pop()  # the input the Parameters read
        env.stack.append(parameters)
        self.resource_eval.eval_resource(env=env)  # moto's: the manifest, and the Map's result {MapRunArn, ResultWriterDetails}
        written = env.stack[-1]
        bucket, manifest_key = written["ResultWriterDetails"]["Bucket"], written["ResultWriterDetails"]["Key"]
        s3 = boto_client_for(service="s3", region=written["MapRunArn"].split(":")[3],
                             state_credentials=StateCredentials(role_arn=env.aws_execution_details.role_arn))
        body = json.dumps([{"Output": json.dumps(r, ensure_ascii=False), "OutputDetails": {"Included": True}, "Status": "SUCCEEDED"}
                           for r in results], ensure_ascii=False).encode("utf-8")
        key = manifest_key.rsplit("/", 1)[0] + "/SUCCEEDED_0.json"
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        manifest = {"DestinationBucket": bucket, "MapRunArn": written["MapRunArn"],
                    "ResultFiles": {"FAILED": [], "PENDING": [], "SUCCEEDED": [{"Key": key, "Size": len(body)}]}}
        s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest, indent=2).encode("utf-8"))

    ResultWriter._eval_body = write
    ResultWriter._earchive_as_aws = True


_ROLES: dict[str, Any] = {}  # function name -> its statements as deployed (made on first use), for S3's answers
_BUCKET_ARNS: dict[str, str] = {}  # bucket name -> its ARN (in the stack's partition)


def _role_of(name: str) -> list[dict[str, Any]] | None:
    role = _ROLES.get(name)
    if callable(role):
        role = _ROLES[name] = role()
    return role


def _s3_answers_as_iam() -> None:
    """S3 answers a function's read as it would its role (issue 22, F10); moto answers every read as the bucket's owner.

    AWS (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html, API_HeadObject.html): without the permission to
    read the object, 403 whether or not it exists; reading a key that does not exist answers 404 only "if you have the
    s3:ListBucket permission on the bucket", else 403. A GET or HEAD carries no ``s3:prefix``, so a ListBucket grant
    conditioned on it does not count (a ``…IfExists`` condition does:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_IfExists).
    Here every GetObject and HeadObject a function makes is judged against its statements in template.yaml
    (``earchive_devtools.iam``); calls made outside a function (tests, the CLI as an operator) are the owner's, as before.
    """
    from botocore.client import BaseClient
    from botocore.exceptions import ClientError

    from .iam import allows

    if getattr(BaseClient, "_earchive_s3_iam", False):
        return
    call = BaseClient._make_api_call

    def forbidden(operation: str) -> ClientError:
        code, message = ("AccessDenied", "Access Denied") if operation == "GetObject" else ("403", "Forbidden")  # HEAD has no body
        return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 403}}, operation)

    def answered(self: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
        role = _role_of(getattr(self, "_earchive_caller", None) or "") if operation_name in ("GetObject", "HeadObject") else None
        if role is None or self.meta.service_model.service_name != "s3":
            return call(self, operation_name, api_params)
        bucket = _BUCKET_ARNS.get(api_params.get("Bucket", ""), f"arn:aws:s3:::{api_params.get('Bucket')}")
        action = "s3:GetObjectVersion" if api_params.get("VersionId") else "s3:GetObject"
        if not allows(role, action, f"{bucket}/{api_params.get('Key')}"):
            raise forbidden(operation_name)
        try:
            return call(self, operation_name, api_params)
        except ClientError as exc:
            missing = exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")
            if missing and not allows(role, "s3:ListBucket", bucket):  # no s3:prefix in this request's context
                raise forbidden(operation_name) from None
            raise

    BaseClient._make_api_call = answered
    BaseClient._earchive_s3_iam = True


def _s3_replication() -> None:
    """moto keeps a bucket's replication configuration and replicates nothing: S3's replication (with Object Lock) is in
    earchive_devtools.replication, driven by the template's ReplicationConfiguration (ADR 0018)."""
    from . import replication

    replication.install()


def _kms_sm2_keys() -> None:
    """moto makes an RSA key for KeySpec SM2 and signs no SM2DSA: a real SM2 key signs as KMS's does (earchive_devtools.kms_sm2)."""
    from . import kms_sm2

    kms_sm2.install()


def _key_policy_denies() -> None:
    """moto evaluates no key policy: the denies that keep a key from being deleted, disabled or re-policied are
    evaluated in earchive_devtools.keyguard (ADR 0018)."""
    from . import keyguard

    keyguard.install()
_RESOURCE_PARAMETERS = ("FunctionName", "StateMachineArn", "TopicArn", "QueueUrl", "Resource")  # a Task's parameters that name what it calls
_ARN_PARTITION = re.compile(r"^arn:([^:]+):")


def _runtime_failure(env: Any, cause: str) -> Any:
    """A States.Runtime failure event, as Step Functions records one (moto's own classes, imported late: moto is a dev tool)."""
    from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
    from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent, FailureEventException
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
    from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
    from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails

    runtime = StatesErrorNameType.StatesRuntime
    return FailureEventException(failure_event=FailureEvent(
        env=env, error_name=StatesErrorName(typ=runtime), event_type=HistoryEventType.TaskFailed,
        event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(error=runtime.to_name(), cause=cause))))


def _execution_partition(env: Any) -> str | None:
    data = env.states.context_object.context_object_data
    arn = (data.get("Execution") or {}).get("Id") or (data.get("StateMachine") or {}).get("Id") or ""
    m = _ARN_PARTITION.match(str(arn))
    return m.group(1) if m else None


def _partition_bound_tasks() -> None:
    """Step Functions fails a Task whose resource is in another partition than the running execution with States.Runtime
    ("The resource belongs to a different partition from the running execution"): e.g. a China stack's ASL naming
    arn:aws:states:::lambda:invoke (F1). moto resolved any partition and ran the Task. Checked here, before the call:
    the Task's Resource, and the ARNs its Parameters name the target by (FunctionName, StateMachineArn, …)."""
    try:
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import StateTaskService
        from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import StateTaskLambda
    except ImportError:
        return
    if getattr(StateTaskService, "_earchive_partition_bound", False):
        return

    def check(self: Any, env: Any, parameters: dict[str, Any] | None) -> None:
        running = _execution_partition(env)
        named = [getattr(self.resource, "resource_arn", "")] + [v for k, v in (parameters or {}).items() if k in _RESOURCE_PARAMETERS]
        for arn in named:
            m = _ARN_PARTITION.match(arn) if isinstance(arn, str) else None
            if running and m and m.group(1) != running:
                raise _runtime_failure(env, f"The resource belongs to a different partition from the running execution: {arn} "
                                            f"(the execution runs in {running})")

    before = StateTaskService._before_eval_execution

    def service_checked(self: Any, env: Any, resource_runtime_part: Any, raw_parameters: dict, state_credentials: Any) -> None:
        check(self, env, raw_parameters)
        before(self, env, resource_runtime_part, raw_parameters, state_credentials)

    run_lambda = StateTaskLambda._eval_execution

    def lambda_checked(self: Any, env: Any) -> None:
        check(self, env, None)
        run_lambda(self, env)

    StateTaskService._before_eval_execution, StateTaskLambda._eval_execution = service_checked, lambda_checked
    StateTaskService._earchive_partition_bound = True


def _states_all_spares_terminal_errors() -> None:
    """AWS: "States.ALL ... cannot catch the States.DataLimitExceeded terminal error or Runtime error types", and a
    States.Runtime error "will always cause the execution to fail" (docs.aws.amazon.com/step-functions/latest/dg/
    concepts-error-handling.html). moto's States.ALL matched every error, States.Runtime included, so a Catch hid them.
    Now States.ALL matches neither; States.DataLimitExceeded is caught only by its own name, States.Runtime by none."""
    try:
        from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
        from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
        from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
    except ImportError:
        return
    if getattr(ErrorEqualsDecl, "_earchive_terminal", False):
        return
    terminal = {t for t in (getattr(StatesErrorNameType, "StatesRuntime", None), getattr(StatesErrorNameType, "StatesStatesDataLimitExceeded", None),
                            getattr(StatesErrorNameType, "StatesDataLimitExceeded", None)) if t is not None}
    runtime = StatesErrorNameType.StatesRuntime
    evaluate = ErrorEqualsDecl._eval_body

    def eval_body(self: Any, env: Any) -> None:
        error = env.stack[-1]
        if isinstance(error, StatesErrorName) and error.typ in terminal:
            env.stack.pop()
            env.stack.append(error.typ is not runtime and error in self.error_names)  # by its own name only; Runtime never
            return
        evaluate(self, env)

    ErrorEqualsDecl._eval_body = eval_body
    ErrorEqualsDecl._earchive_terminal = True


def install_patches() -> None:
    from moto.awslambda.models import LambdaFunction

    _record_calls()
    _s3_answers_as_iam()  # after _record_calls: a refused read is recorded too
    _index_dynamodb()
    _dynamodb_key_limits()
    _atomic_dynamodb_writes()
    _own_token_key()
    _stop_wakes_waiting_tasks()
    _unlocked_backends()
    _shared_interpreter_clients()
    _iterative_map_workers()
    _strict_s3_cors()
    _s3_replication()
    _key_policy_denies()
    _kms_sm2_keys()
    _partition_bound_tasks()
    _states_all_spares_terminal_errors()  # States.ALL takes neither States.Runtime nor States.DataLimitExceeded
    _payload_limits()
    _result_writer_as_aws()
    LambdaFunction._invoke_lambda = _invoke_in_process
    try:  # Locally no metrics are published. Powertools, with metrics disabled, never flushes
        # its (process-wide) metric set, and prints it anyway once it holds 100 values.
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

        AmazonCloudWatchEMFProvider.add_metric = lambda self, *args, **kwargs: None
        import warnings

        warnings.filterwarnings("ignore", message="No application metrics to publish")
    except ImportError:
        pass
    try:  # retries back off in real seconds inside moto's interpreter; keep them short locally
        import moto.stepfunctions.parser.asl.component.common.retry.retrier_decl as rd

        rd.time = types.SimpleNamespace(sleep=lambda s: time.sleep(min(s, 0.05)))
    except ImportError:
        pass


# ---------------------------------------------------------------- the cloud

def _dummy_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README", "code runs in process from functions/")
    return buf.getvalue()


def object_created(up: dict[str, Any], region: str = REGION) -> dict[str, Any]:
    """The EventBridge 'Object Created' event S3 sends for an upload (the fields the pipeline reads)."""
    return {"version": "0", "source": "aws.s3", "detail-type": "Object Created", "account": ACCOUNT, "region": region,
            "detail": {"bucket": {"name": up["bucket"]}, "object": {"key": up["key"], "version-id": up.get("version")}}}


def execution_name(upload: dict[str, Any], attempt: int = 1) -> str:
    """Unique per upload version and attempt: a duplicate delivery maps to the same name."""
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", Path(upload["key"]).stem)[:40] or "case"
    digest = hashlib.sha256(f"{upload['bucket']}/{upload['key']}#{upload.get('version')}".encode()).hexdigest()[:12]
    return f"{slug}-{digest}-a{attempt}"


GUOMI_PARAMETERS = {"SealKeySpec": "SM2", "CryptoProfile": "guomi"}  # a 国密 stack (ADR 0020): China mode only, as on AWS


def _parameters(mode: str, given: dict[str, str] | None) -> dict[str, str]:
    """The template parameter values a local stack gets: China mode names the stand-in OIDC issuer (no Cognito there)."""
    if mode not in MODES:
        raise ValueError(f"mode {mode!r}: one of {', '.join(MODES)}")
    values = {"OidcIssuer": LOCAL_OIDC_ISSUER, "OidcAudience": LOCAL_OIDC_AUDIENCE} if mode == "china" else {}
    return {**values, **(given or {})}


class LocalCloud:
    """template.yaml on moto, in this process (tests) or behind a moto server (``earchive local up``)."""

    def __init__(self, *, repo: Path | None = None, home: Path | None = None, endpoint: str | None = None, log_level: str = "WARNING",
                 suffix: str | None = None, mode: str = "global", parameters: dict[str, str] | None = None, second_copy: bool = False):
        """``mode``: "global" (partition aws, us-east-1) or "china" (aws-cn, cn-north-1); ``parameters``: template parameter values;
        ``second_copy``: replica.yaml deployed in the other region first, its outputs as parameters (ADR 0018)."""
        self.repo = repo or repo_root()
        self.template = load_template(self.repo / "template.yaml")
        self.mode = mode
        self.resolver = Resolver(self.template, params=_parameters(mode, parameters), mode=mode)
        self.region, self.partition = self.resolver.region, self.resolver.partition
        self.role = f"arn:{self.partition}:iam::{ACCOUNT}:role/earchive-local"
        self.endpoint = endpoint
        self.suffix = suffix or uuid.uuid4().hex[:8]  # `local up` passes "local": names a README can print as they are
        self.home = home
        self._mock = None
        self.queue_url = ""
        self.state_machine_arn = ""
        self.state_machines: dict[str, str] = {}
        self.queues: dict[str, tuple[str, str]] = {}  # machine → (its rule's queue, its ARN)
        self.env: dict[str, str] = {}
        self.log_level = log_level
        self.second_copy = second_copy  # replica.yaml deployed in the other region first, its outputs as parameters (ADR 0018)
        self.replica: dict[str, str] = {}

    # -- lifecycle
    def __enter__(self) -> LocalCloud:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        # The functions' environment is process-wide while the cloud runs (see _create_statemachine);
        # stop() puts back what was there, so a test or command after it sees its own environment.
        self._saved_env = dict(os.environ)
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        os.environ["AWS_DEFAULT_REGION"] = self.region
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
        if self.endpoint:
            os.environ["AWS_ENDPOINT_URL"] = self.endpoint
        else:
            from moto import mock_aws

            self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": True}})
            self._mock.start()
        install_patches()
        import logging

        logging.getLogger("moto").setLevel(logging.CRITICAL)  # moto logs every Fail state as an error
        self.provision()
        os.environ["POWERTOOLS_LOG_LEVEL"] = self.log_level

    def stop(self) -> None:
        if self._mock is not None:
            self._mock.stop()
            self._mock = None
        with _IMPORT_LOCK:  # this cloud's functions and their containers go with it
            for name in [n for n in _FUNCTIONS if n.endswith(self.suffix)]:
                _MODULES.pop(f"earchive_fn_{name.replace('-', '_')}", None)
                _DEPLOYED.pop(name, None)
                _FUNCTIONS.pop(name, None)
                _ROLES.pop(name, None)
        if getattr(self, "_saved_env", None) is not None:
            os.environ.clear()
            os.environ.update(self._saved_env)
            self._saved_env = None

    def client(self, service: str):
        """One client per service for this cloud (clients are thread safe; making one loads its service model again)."""
        import boto3

        with _CLIENTS_LOCK:
            clients = self.__dict__.setdefault("_clients", {})
            if service not in clients:
                clients[service] = boto3.client(service, region_name=self.region, endpoint_url=self.endpoint)
            return clients[service]

    def _regional_client(self, service: str, region: str):
        """A client in another region (replica.yaml's): made when asked, not kept."""
        import boto3

        return boto3.client(service, region_name=region, endpoint_url=self.endpoint)

    # -- provisioning from the template
    def _physical(self, logical: str) -> str:
        return re.sub(r"[^a-z0-9-]", "-", f"earchive-{logical.lower()}-{self.suffix}")[:63]

    def provision(self) -> None:
        resources = self.template["Resources"]
        r = self.resolver
        if self.second_copy:
            from .replication import deploy_replica

            self.replica = deploy_replica(self.repo, self._regional_client, self.suffix, region=r.region, partition=r.partition)
            r.params.update({k: self.replica[k] for k in ("ReplicaBucketArn", "ReplicaKmsKeyArn", "BackupCopyVaultArn")})
        r.check_rules()  # as CloudFormation: a stack its Rules refuse creates nothing
        p, region, suffix = self.partition, self.region, r.url_suffix
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                 "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]}}]}
        try:
            self.client("iam").create_role(RoleName="earchive-local", AssumeRolePolicyDocument=json.dumps(trust))
        except self.client("iam").exceptions.EntityAlreadyExistsException:
            pass
        for logical, res in resources.items():  # names first, so every reference resolves
            kind = res["Type"]
            if kind == "AWS::S3::Bucket":
                r.names[logical] = self._physical(logical)
                r.arns[logical] = f"arn:{p}:s3:::{r.names[logical]}"
                _BUCKET_ARNS[r.names[logical]] = r.arns[logical]
            elif kind == "AWS::DynamoDB::Table":
                r.names[logical] = self._physical(logical)
                r.arns[logical] = f"arn:{p}:dynamodb:{region}:{ACCOUNT}:table/{r.names[logical]}"
            elif kind == "AWS::Serverless::Function":
                r.names[logical] = self._physical(logical)
                r.arns[logical] = f"arn:{p}:lambda:{region}:{ACCOUNT}:function:{r.names[logical]}"
            elif kind == "AWS::SQS::Queue":
                r.names[logical] = f"https://sqs.{region}.{suffix}/{ACCOUNT}/{self._physical(logical)}"
                r.arns[logical] = f"arn:{p}:sqs:{region}:{ACCOUNT}:{self._physical(logical)}"
            elif kind == "AWS::SNS::Topic":
                r.names[logical] = r.arns[logical] = f"arn:{p}:sns:{region}:{ACCOUNT}:{self._physical(logical)}"
            elif kind == "AWS::IAM::ManagedPolicy":  # a function's Policies name it; moto does not enforce IAM
                r.names[logical] = r.arns[logical] = f"arn:{p}:iam::{ACCOUNT}:policy/{self._physical(logical)}"
            elif kind == "AWS::Serverless::StateMachine":  # the ARN moto will give it: functions' environments name it
                r.names[logical] = r.arns[logical] = f"arn:{p}:states:{region}:{ACCOUNT}:stateMachine:{self._physical(logical)}"
            elif kind == "AWS::Serverless::HttpApi":  # moto runs no HTTP API: earchive_devtools.gateway serves it
                r.names[logical] = r.arns[logical] = f"local-{logical.lower()}"
            elif kind == "AWS::Cognito::UserPoolDomain":  # no hosted sign-in page locally: the local gateway's form stands in
                r.names[logical] = f"earchive-{self.suffix}"
            elif kind == "AWS::IAM::Role":  # a service's role (S3 replication, AWS Backup); moto enforces no IAM
                r.names[logical] = self._physical(logical)
                r.arns[logical] = f"arn:{p}:iam::{ACCOUNT}:role/{r.names[logical]}"
            elif kind == "AWS::Serverless::LayerVersion":
                r.names[logical] = r.arns[logical] = f"arn:{p}:lambda:{region}:{ACCOUNT}:layer:earchive:1"
            elif kind == "AWS::Logs::LogGroup":  # functions and state machines name their log group; nothing is logged to moto
                r.names[logical] = self._physical(logical)
                r.arns[logical] = f"arn:{p}:logs:{region}:{ACCOUNT}:log-group:{r.names[logical]}:*"
        for logical, res in resources.items():
            if res["Type"] == "AWS::KMS::Key":
                props = r.value(res["Properties"])
                key = self.client("kms").create_key(KeySpec=props.get("KeySpec", "SYMMETRIC_DEFAULT"), KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"),
                                                    Description=props.get("Description", ""))["KeyMetadata"]
                r.names[logical], r.arns[logical] = key["KeyId"], key["Arn"]
        for logical, res in resources.items():
            if "Condition" in res and not r.condition(res["Condition"]):
                continue
            handler = getattr(self, "_create_" + res["Type"].split("::")[-1].lower(), None)
            if handler and res["Type"] != "AWS::KMS::Key":
                handler(logical, res)
        os.environ.update(self.env)  # functions declared after the state machines (the console) have their environment too
        from .keyguard import apply_key_policies

        apply_key_policies(self.template, r, self.client("kms"))

    def _create_bucket(self, logical: str, res: dict[str, Any]) -> None:
        s3 = self.client("s3")
        name = self.resolver.names[logical]
        props = self.resolver.value(res.get("Properties", {}))
        where = {} if self.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}  # as S3 asks outside us-east-1
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=bool(props.get("ObjectLockEnabled")), **where)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        lock = props.get("ObjectLockConfiguration")
        if lock:
            rule = lock["Rule"]["DefaultRetention"]
            s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
                "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": rule["Mode"], "Days": int(rule["Days"])}}})
        if props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
            s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration={"EventBridgeConfiguration": {}})
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={k: bool(v) for k, v in props["PublicAccessBlockConfiguration"].items()})
        if "CorsConfiguration" in props:  # the origins the browser may PUT from (F4): enforced by _strict_s3_cors, as S3 does
            s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": [
                {k2: rule[k1] for k1, k2 in (("AllowedOrigins", "AllowedOrigins"), ("AllowedMethods", "AllowedMethods"), ("AllowedHeaders", "AllowedHeaders"),
                                             ("ExposedHeaders", "ExposeHeaders"), ("MaxAge", "MaxAgeSeconds"), ("Id", "ID")) if k1 in rule}
                for rule in props["CorsConfiguration"]["CorsRules"]]})
        if "BucketEncryption" in props:
            default = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": default["SSEAlgorithm"]}}]})
        if "ReplicationConfiguration" in props:  # present only with ReplicaBucketArn set (condition Replicates)
            from .replication import replication_configuration

            s3.put_bucket_replication(Bucket=name, ReplicationConfiguration=replication_configuration(props["ReplicationConfiguration"]))

    def _create_table(self, logical: str, res: dict[str, Any]) -> None:
        props = self.resolver.value(res["Properties"])
        args: dict[str, Any] = {"TableName": self.resolver.names[logical], "KeySchema": props["KeySchema"],
                                "AttributeDefinitions": props["AttributeDefinitions"], "BillingMode": "PAY_PER_REQUEST"}
        if props.get("GlobalSecondaryIndexes"):
            args["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        ddb = self.client("dynamodb")
        ddb.create_table(**args)
        if props.get("PointInTimeRecoverySpecification", {}).get("PointInTimeRecoveryEnabled"):
            ddb.update_continuous_backups(TableName=args["TableName"],
                                          PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})

    def _create_function(self, logical: str, res: dict[str, Any]) -> None:
        r = self.resolver
        glob = r.value(self.template.get("Globals", {}).get("Function", {}))
        props = r.value(res["Properties"])
        env = {**glob.get("Environment", {}).get("Variables", {}), **props.get("Environment", {}).get("Variables", {})}
        env = {k: str(v) for k, v in env.items()}
        # Lambda's /tmp home is replaced by the local one, so CLI and pipeline share the development PKI.
        env.pop("EARCHIVE_HOME", None)
        if self.home:
            env["EARCHIVE_HOME"] = str(self.home)
        self.env.update(env)
        name = r.names[logical]
        _FUNCTIONS[name] = self.repo / props["CodeUri"]
        _ROLES[name] = lambda: iam_statements(self.template, r, logical)  # resolved on first use: every name exists by then
        self.client("lambda").create_function(
            FunctionName=name, Runtime=props.get("Runtime", glob.get("Runtime", "python3.11")), Role=self.role,
            Handler=props["Handler"], Code={"ZipFile": _dummy_zip()}, Environment={"Variables": env},
            Timeout=int(props.get("Timeout", glob.get("Timeout", 900))), MemorySize=int(props.get("MemorySize", glob.get("MemorySize", 1024))))

    def _create_statemachine(self, logical: str, res: dict[str, Any]) -> None:
        r = self.resolver
        props = r.value(res["Properties"])
        definition = (self.repo / props["DefinitionUri"]).read_text("utf-8")
        for key, value in props.get("DefinitionSubstitutions", {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        sfn = self.client("stepfunctions")
        arn = sfn.create_state_machine(name=self._physical(logical), definition=definition, roleArn=self.role)["stateMachineArn"]
        r.names[logical] = r.arns[logical] = self.state_machines[logical] = arn
        if logical == "ArchiveStateMachine":  # the machine uploads start
            self.state_machine_arn = arn
        # The functions' environment applies process-wide: the handlers run in this process, in
        # threads, so a per-invocation environment would race. The template gives all of them the same one.
        os.environ.update(self.env)
        for event_name, event in props.get("Events", {}).items():
            if event["Type"] == "EventBridgeRule":
                self._rule_to_queue(logical, event_name, r.value(event["Properties"]["Pattern"]), arn)

    # -- the console's identity (moto's Cognito: users, groups, RS256 tokens, a JWKS)
    def _create_userpool(self, logical: str, res: dict[str, Any]) -> None:
        props = self.resolver.value(res["Properties"])
        schema = [{k: v for k, v in a.items() if k in ("Name", "AttributeDataType", "Mutable", "Required")} for a in props.get("Schema", [])]
        pool = self.client("cognito-idp").create_user_pool(PoolName=props.get("UserPoolName", logical), Schema=schema,
                                                           AdminCreateUserConfig=props.get("AdminCreateUserConfig", {}))["UserPool"]
        self.resolver.names[logical], self.resolver.arns[logical] = pool["Id"], pool["Arn"]

    def _create_userpoolclient(self, logical: str, res: dict[str, Any]) -> None:
        props = self.resolver.value(res["Properties"])
        client = self.client("cognito-idp").create_user_pool_client(
            UserPoolId=props["UserPoolId"], ClientName=props.get("ClientName", logical), GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],  # the local gateway's password form
            ReadAttributes=props.get("ReadAttributes", []))["UserPoolClient"]
        self.resolver.names[logical] = client["ClientId"]

    def _create_userpoolgroup(self, logical: str, res: dict[str, Any]) -> None:
        props = self.resolver.value(res["Properties"])
        self.client("cognito-idp").create_group(UserPoolId=props["UserPoolId"], GroupName=props["GroupName"],
                                                Description=props.get("Description", ""))
        self.resolver.names[logical] = props["GroupName"]

    def _create_queue(self, logical: str, res: dict[str, Any]) -> None:
        """The template's own queues (the alert queues the alarms watch), under the URL their names resolved to."""
        url = self.client("sqs").create_queue(QueueName=self.resolver.names[logical].rsplit("/", 1)[-1])["QueueUrl"]
        self.resolver.names[logical] = url

    def _status_change_rules(self) -> list[tuple[dict[str, Any], str]]:
        """The template's EventBridge rules on Step Functions status changes (source aws.states) with the queue each targets."""
        rules = []
        for res in self.template["Resources"].values():
            if res["Type"] != "AWS::Events::Rule":
                continue
            props = self.resolver.value(res["Properties"])
            pattern = props.get("EventPattern") or {}
            if pattern.get("source") != ["aws.states"]:
                continue
            for target in props.get("Targets", []):
                queue = next((q for q, arn in self.resolver.arns.items() if arn == target["Arn"]), None)
                if queue:
                    rules.append((pattern, self.resolver.names[queue]))
        return rules

    def _status_changed(self, d: dict[str, Any]) -> None:
        """An execution ended: the status-change rules deliver its event to their queues, as EventBridge would (the failed-
        executions alarm watches that queue). Matched on the pattern's fields: a list of values, or ``anything-but``."""
        reported = self.__dict__.setdefault("_reported", set())
        if d["executionArn"] in reported:  # one event per execution, however often it is waited for
            return
        reported.add(d["executionArn"])
        detail = {"status": d["status"], "stateMachineArn": d["stateMachineArn"], "error": d.get("error"), "executionArn": d["executionArn"]}

        def matches(value: Any, allowed: list[Any]) -> bool:
            return all(value not in a["anything-but"] if isinstance(a, dict) and "anything-but" in a else False for a in allowed) \
                if all(isinstance(a, dict) for a in allowed) else value in allowed

        if "_status_rules" not in self.__dict__:
            self._status_rules = self._status_change_rules()
        for pattern, url in self._status_rules:
            if all(matches(detail.get(k), v) for k, v in (pattern.get("detail") or {}).items()):
                self.client("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(
                    {"source": "aws.states", "detail-type": "Step Functions Execution Status Change", "detail": detail}, default=str))

    def _rule_to_queue(self, logical: str, event_name: str, pattern: dict[str, Any], machine_arn: str) -> None:
        """The machine's EventBridge rule, targeting a queue of its own (moto's rules cannot start executions)."""
        sqs, events = self.client("sqs"), self.client("events")
        queue = "earchive-dispatch" if logical == "ArchiveStateMachine" else f"earchive-dispatch-{event_name.lower()}"
        url = sqs.create_queue(QueueName=f"{queue}-{self.suffix}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rule = "earchive-case-uploaded" if logical == "ArchiveStateMachine" else f"earchive-{event_name.lower()}"
        events.put_rule(Name=f"{rule}-{self.suffix}", EventPattern=json.dumps(pattern))
        events.put_targets(Rule=f"{rule}-{self.suffix}", Targets=[{"Id": "dispatch", "Arn": arn}])
        self.queues[logical] = (url, machine_arn)
        if logical == "ArchiveStateMachine":
            self.queue_url = url

    # -- using it
    def name(self, logical: str) -> str:
        return self.resolver.names[logical]

    def upload(self, path: Path, key: str | None = None) -> dict[str, Any]:
        key = key or Path(path).name
        out = self.client("s3").put_object(Bucket=self.name("IntakeBucket"), Key=key, Body=Path(path).read_bytes())
        return {"bucket": self.name("IntakeBucket"), "key": key, "version": out.get("VersionId")}

    def dispatch(self, wait: float = 0.0, machine: str = "ArchiveStateMachine", max_in_flight: int | None = None) -> list[str]:
        """Start one execution per queued 'Object Created' event, as the EventBridge rule would (uploads: the archive machine;
        ``machine="ReplyStateMachine"``: the institutions' replies).

        ``max_in_flight``: start no more while that many of this machine's executions run; the rest wait in the queue, as a
        buffer between the events and the executions would hold them (memory then stays flat however many cases arrive).
        """
        from botocore.exceptions import ClientError

        sqs, sfn = self.client("sqs"), self.client("stepfunctions")
        queue_url, machine_arn = self.queues[machine]
        flying = self.__dict__.setdefault("_in_flight", {}).setdefault(machine, set())
        started = []
        deadline = time.monotonic() + wait
        while True:
            room = 10
            if max_in_flight is not None:
                flying &= self._running(flying) if flying else set()
                room = min(10, max_in_flight - len(flying))
            msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=room, WaitTimeSeconds=0).get("Messages", []) if room > 0 else []
            for m in msgs:
                event = json.loads(m["Body"])
                obj = event.get("detail", {}).get("object", {})
                up = {"bucket": event["detail"]["bucket"]["name"], "key": obj.get("key"), "version": obj.get("version-id")}
                try:
                    arn = sfn.start_execution(stateMachineArn=machine_arn, name=execution_name(up), input=json.dumps(event))["executionArn"]
                    started.append(arn)
                    flying.add(arn)
                except ClientError as exc:
                    if exc.response["Error"]["Code"] != "ExecutionAlreadyExists":
                        raise
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
            if not msgs and time.monotonic() >= deadline:
                return started
            if not msgs:
                time.sleep(0.05)

    def deliver_again(self, up: dict[str, Any]) -> None:
        """Send the same 'Object Created' event a second time (EventBridge is at-least-once)."""
        self.client("sqs").send_message(QueueUrl=self.queue_url, MessageBody=json.dumps(object_created(up, self.region)))

    def start_direct(self, up: dict[str, Any], attempt: int) -> str:
        """Start an execution for an upload without the queue (a re-run after a crash uses attempt 2, 3 …)."""
        return self.client("stepfunctions").start_execution(stateMachineArn=self.state_machine_arn, name=execution_name(up, attempt),
                                                            input=json.dumps(object_created(up, self.region)))["executionArn"]

    def wait(self, arns: list[str], timeout: float = 300, progress=None) -> dict[str, dict[str, Any]]:
        """Wait for the executions to end; ``progress(done)`` is called whenever one more has ended.

        In process, the interpreter's own record says which have ended (asking through the API for each, every round,
        made the waiting itself a large part of the local cloud's work with many in flight); only the ended ones are
        described. Against a moto server, ``list_executions`` per state machine and round does the same.
        """
        sfn = self.client("stepfunctions")
        deadline = time.monotonic() + timeout
        done: dict[str, dict[str, Any]] = {}
        pending = set(arns)
        while pending:
            running = self._running(pending)  # once a round
            ended = [arn for arn in pending if arn not in running]
            for arn in ended:
                d = sfn.describe_execution(executionArn=arn)
                if d["status"] != "RUNNING":
                    done[arn] = d
                    pending.discard(arn)
                    self._status_changed(d)
            if progress and ended:
                progress(done)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} executions still running after {timeout}s")
            time.sleep(0.1)
        return done

    def _running(self, arns: set[str]) -> set[str]:
        """Which of ``arns`` still run."""
        if self.endpoint is None:
            from moto.stepfunctions.parser.models import stepfunctions_parser_backends

            backend = stepfunctions_parser_backends[ACCOUNT][self.region]
            running = {e.exec_arn for e in backend._get_executions() if e.exec_arn in arns
                       and (e.exec_status is None or e.exec_status.value == "RUNNING")}  # not yet started counts as running
            return running  # an ARN this cloud does not know has ended: describing it says why
        sfn, running = self.client("stepfunctions"), set()
        for machine in {arn.replace(":execution:", ":stateMachine:").rsplit(":", 1)[0] for arn in arns}:
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine, statusFilter="RUNNING"):
                running |= {e["executionArn"] for e in page["executions"]}
        return running & arns

    def catalogue(self):
        import boto3

        from earchive.aws.catalogue import Catalogue

        return Catalogue(boto3.resource("dynamodb", region_name=self.region, endpoint_url=self.endpoint).Table(self.name("CatalogueTable")))

    def settings(self):
        from earchive.config import Settings

        return Settings.from_env()

    def update_environment(self, variables: dict[str, str | None]) -> None:
        """Change the functions' environment (None removes a variable); their containers start cold, as on AWS.

        A handler put in place with :meth:`deploy` keeps its own containers: deploy it again after this.
        """
        for k, v in variables.items():
            if v is None:
                os.environ.pop(k, None)
                self.env.pop(k, None)
            else:
                os.environ[k] = self.env[k] = v
        with _IMPORT_LOCK:
            for name in [n for n, path in _FUNCTIONS.items() if n.endswith(self.suffix)]:
                _MODULES.pop(f"earchive_fn_{name.replace('-', '_')}", None)

    def deploy(self, logical: str, handler) -> None:
        """Replace a function's code with ``handler`` (as a new deployment would); tests deploy a faulty state this way."""
        _DEPLOYED[self.name(logical)] = handler

    def undeploy(self, logical: str) -> None:
        """Back to the function's own code (functions/<state>/app.py)."""
        _DEPLOYED.pop(self.name(logical), None)
