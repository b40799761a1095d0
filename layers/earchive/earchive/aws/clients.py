"""One container's AWS: clients made once, the repositories over them, and which errors are worth a retry."""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from ..config import Settings, aws_region
from .anchors import Anchors
from .archiving_config import ArchivingConfigs
from .catalogue import Catalogue, FileMap
from .eventlog import EventLog
from .executions import Executions
from .institutions import Institutions
from .outcomes import Outcomes
from .s3 import Objects
from .transfers import Transfers

TRANSIENT_CODES = {"Throttling", "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
                   "SlowDown", "ServiceUnavailable", "InternalError", "InternalServerError", "TransactionConflictException",
                   "RequestTimeout", "503", "500"}


def transient(exc: BaseException) -> bool:
    """True for an AWS error worth retrying with back-off (throttling, a 5xx, a network blip)."""
    if isinstance(exc, ClientError):
        return exc.response.get("Error", {}).get("Code", "") in TRANSIENT_CODES
    return isinstance(exc, BotoCoreError) and not isinstance(exc, ParamValidationError)  # a bad call never heals


def aws_error(exc: BaseException) -> bool:
    """True for an error of AWS itself (a refusal, an outage, a network fault), as opposed to one of the data being handled."""
    return isinstance(exc, ClientError | BotoCoreError)


def invalid_request(exc: BaseException) -> bool:
    """True when AWS refused the request itself (DynamoDB's ValidationException, e.g. a key over its size limits): the caller's
    input is wrong, not the system (the console answers 400, not 500). Only a key over its size limits: any other
    ValidationException is a request earchive built wrong, a bug that answers 500 with its request id."""
    if not isinstance(exc, ClientError) or exc.response.get("Error", {}).get("Code", "") != "ValidationException":
        return False
    message = exc.response.get("Error", {}).get("Message", "")
    return "exceeded the" in message and "size limit" in message and "key" in message


_CREATE = threading.Lock()  # boto3 sessions are not thread safe: clients and resources are made one at a time


def local_region() -> str:
    """The region the running `earchive local up` serves, as its state file says (cn-north-1 in China mode), else the usual one:
    moto keeps each region's resources apart, so a command must ask the region the local cloud was made in."""
    import json

    from ..config import earchive_home

    try:
        return str(json.loads((earchive_home() / "local-cloud.json").read_text("utf-8")).get("region") or aws_region())
    except (OSError, ValueError):
        return aws_region()


def _session(local: bool) -> boto3.session.Session:
    """boto3's default session (its loaded service models are shared), or one with dummy keys for the local cloud."""
    if local:  # the local cloud (moto) takes any credentials; a newcomer's machine may have none configured
        return boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=local_region())  # noqa: S106 - moto
    if boto3.DEFAULT_SESSION is None:
        boto3.setup_default_session()
    return boto3.DEFAULT_SESSION  # type: ignore[return-value]


class Aws:
    """The AWS side of one container (or one command): clients made once, repositories over them.

    Clients are thread safe and shared; the DynamoDB resource is not, so each
    Aws has its own and serves one invocation at a time (the local cloud, which
    runs invocations in threads, gives each concurrent one its own container).
    """

    def __init__(self, settings: Settings, *, endpoint: str | None = None, region: str | None = None, local: bool = False):
        self.settings = settings
        self._session = _session(local)
        self._endpoint, self._region = endpoint, region or (local_region() if local else aws_region())
        self._clients: dict[str, Any] = {}
        self.s3 = Objects(self.client("s3"), lock_mode=settings.lock_mode)
        with _CREATE:
            ddb = self._session.resource("dynamodb", endpoint_url=endpoint, region_name=region)
        self.catalogue = Catalogue(ddb.Table(settings.catalogue_table or "unset-catalogue"), default_hall=settings.default_hall)
        self.filemap = FileMap(ddb.Table(settings.filemap_table or "unset-filemap"))
        self.events = EventLog(ddb.Table(settings.eventlog_table or "unset-eventlog"))
        self.anchors = Anchors(self.s3, self.events, settings.archive_bucket)
        self.institutions = Institutions(ddb.Table(settings.institution_table or "unset-institutions"), self.events)
        # 归档配置: None where the deployment has no table for it (a stack from before ADR 0017): no configuration
        self.archiving_config = (ArchivingConfigs(ddb.Table(settings.archiving_config_table), self.events)
                                 if settings.archiving_config_table else None)
        self.transfers = Transfers(ddb.Table(settings.transfer_table or "unset-transfers"), self.catalogue, self.events, self.filemap,
                                   self.anchors if settings.archive_bucket else None, settings.min_retention_days)

    def client(self, service: str) -> Any:
        """The boto3 client for ``service``, made on first use."""
        with _CREATE:
            if service not in self._clients:
                # S3 with SigV4 always: a presigned PUT then signs its Content-Length (S3 refuses any other size), as AWS China requires
                config = Config(signature_version="s3v4") if service == "s3" else None
                self._clients[service] = self._session.client(service, endpoint_url=self._endpoint, region_name=self._region, config=config)
            return self._clients[service]

    @property
    def executions(self) -> Executions:
        return Executions(self.client("stepfunctions"))

    @property
    def outcomes(self) -> Outcomes:
        return Outcomes(self.client("events"), self.settings.outcome_bus)

    @property
    def kms(self) -> Any:
        return self.client("kms")

    def parameter_file(self, name: str) -> str:
        """An SSM parameter (a PEM bundle) as a file in /tmp, fetched once per container."""
        from .ssm import parameter_to_file

        return str(parameter_to_file(self.client("ssm"), name))


def aws_problem(exc: BaseException) -> str | None:
    """One line for an AWS situation a user meets (P4); None when ``exc`` is not one (a bug stays a traceback)."""
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, NoRegionError

    if isinstance(exc, NoCredentialsError):
        return ("no AWS credentials: for --stack/--table set AWS_PROFILE (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY); "
                "the local cloud needs none")
    if isinstance(exc, NoRegionError):
        return "no AWS region: set AWS_REGION (e.g. cn-north-1 or us-east-1) or AWS_DEFAULT_REGION"
    if isinstance(exc, EndpointConnectionError):
        return (f"nothing answers at {getattr(exc, 'kwargs', {}).get('endpoint_url', 'the endpoint')}: "
                "is `earchive local up` still running? Start it again, or pass --stack for AWS")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"AWS refused {exc.operation_name}: {err.get('Code', '?')}: {err.get('Message', '')}"
    if isinstance(exc, BotoCoreError):
        return f"AWS: {exc}"
    from boto3.exceptions import Boto3Error

    if isinstance(exc, Boto3Error):  # e.g. S3UploadFailedError wrapping an AccessDenied
        return f"AWS: {exc}"
    return None


def stack_outputs(stack: str) -> dict[str, str]:
    """The outputs of a deployed CloudFormation stack (``earchive … --stack NAME``)."""
    cfn = boto3.client("cloudformation", region_name=aws_region())
    return {o["OutputKey"]: o["OutputValue"] for o in cfn.describe_stacks(StackName=stack)["Stacks"][0]["Outputs"]}


def stack_parameters(stack: str) -> dict[str, str]:
    """The parameter values a deployed stack was made with (the smoke test makes its sample case within RegionCode/FondsIdentifier)."""
    cfn = boto3.client("cloudformation", region_name=aws_region())
    return {p["ParameterKey"]: p.get("ParameterValue", "") for p in cfn.describe_stacks(StackName=stack)["Stacks"][0].get("Parameters", [])}


def stack_resources(stack: str) -> dict[str, str]:
    """Logical id → physical id of a deployed stack's resources (a queue's URL, an alarm's name): the smoke test reads them."""
    cfn = boto3.client("cloudformation", region_name=aws_region())
    found: dict[str, str] = {}
    for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
        found.update({r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in page["StackResourceSummaries"]})
    return found
