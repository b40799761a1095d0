"""Transfer operations as clerks and institutions drive them: the CLI, the demo and tests use this.

The work itself runs in the transfer state machine; this module starts it,
waits for the receiving checks, hands the institution's decision back through
the task token, and reads and exports what DynamoDB and the transfer bucket hold.
It talks to the running local cloud (``earchive local up``), to a LocalCloud in
this process, or to a deployed stack on AWS.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .aws.clients import Aws, stack_outputs
from .aws.transfers import Transfers
from .config import Settings, earchive_home
from .domain.exports import catalogue_csv, catalogue_xlsx, transfer_list_pdf, transfer_list_xlsx
from .domain.transfer import DECIDED, Selection, canonical, refused, table_a1_rows, transfer_list
from .errors import TransferError


def local_state_file() -> Path:
    """Where ``earchive local up`` writes the running local cloud's endpoint and resource names."""
    return earchive_home() / "local-cloud.json"


NOT_RUNNING = ("no local cloud is running: start one with `earchive local up --detach` (or `earchive local up` in another "
               "terminal), or pass --stack/--table for AWS")


def local_state() -> dict[str, Any]:
    """What the running `earchive local up` wrote; a file left by one that was killed is removed (P4)."""
    path = local_state_file()
    try:
        info = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise TransferError(NOT_RUNNING) from None
    except ValueError:
        path.unlink(missing_ok=True)
        raise TransferError(f"{NOT_RUNNING} (an unreadable {path} was removed)") from None
    if not _alive(int(info.get("pid") or 0), info.get("pid_start")):
        path.unlink(missing_ok=True)
        raise TransferError(f"{NOT_RUNNING} (the one that wrote {path} has stopped; its stale file was removed)")
    return info


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (Linux: /proc/<pid>/stat field 22), so a reused pid is not taken for it; None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def _alive(pid: int, started: str | None = None) -> bool:
    """Is the process that wrote the state file still running (not merely some process with its pid)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        pass
    now = process_start(pid)
    return started is None or now is None or now == started


def catalogue_rows(endpoint: str | None = None, table: str | None = None) -> list[dict[str, Any]]:
    """Catalogue items of the running local cloud (or of ``table`` on AWS), oldest change first (`earchive status`)."""
    local = table is None
    if local:
        info = local_state()
        endpoint, table = info["endpoint"], info["resources"]["CatalogueTable"]
    aws = Aws(Settings(catalogue_table=table or ""), endpoint=endpoint, local=local)
    return sorted(aws.catalogue.by_status(), key=lambda i: str(i.get("updated_at") or i.get("rejected_at") or ""))


def failure_cause(error: str | None, cause: str | None) -> str:
    """``TransferError: …`` from a failed execution's cause (a Lambda's JSON with its stack trace is not for people)."""
    try:
        body = json.loads(cause or "")
    except ValueError:
        body = None
    if isinstance(body, dict) and ("errorMessage" in body or "errorType" in body):
        return f"{body.get('errorType') or error}: {str(body.get('errorMessage', ''))[:300]}"
    return f"{error or 'error'}: {str(cause or '')[:300]}".rstrip(": ")


def verify_event_log(service: TransferService, streams: list[str] | None = None) -> dict[str, list[str]]:
    """Each stream's problems against its locked heads (`earchive log verify`); every anchored stream by default.

    A stream in the log with no locked head is reported too: it is still in progress, or it was
    written before heads were anchored, and nothing outside the functions' reach vouches for it.
    """
    aws = service.aws
    anchored = aws.anchors.streams()
    names = streams or sorted(set(anchored) | set(aws.events.streams()))
    return {name: (aws.anchors.verify(name) if name in anchored else ["no locked head for this stream (in progress, or older than anchoring)"])
            for name in names}


@dataclass
class TransferService:
    """The transfer loop as clerks and institutions drive it, against one stack (local or on AWS).

    One service holds one :class:`Aws` (its DynamoDB resource is not thread safe): use a service
    from one thread at a time.
    """

    names: dict[str, str]  # logical resource id -> physical name / ARN
    endpoint: str | None = None
    local: bool = False
    _aws: Aws | None = field(default=None, repr=False)

    @classmethod
    def for_stack(cls, stack: str | None) -> TransferService:
        """The client for `--stack` on AWS, or for the running local cloud when none is named."""
        return cls.from_stack(stack) if stack else cls.from_local_state()

    @classmethod
    def from_local_state(cls) -> TransferService:
        info = local_state()
        return cls(info["resources"], info["endpoint"], local=True)

    @classmethod
    def from_stack(cls, stack: str) -> TransferService:
        outputs = stack_outputs(stack)
        names = {"TransferTable": outputs["TransferTableName"], "CatalogueTable": outputs["CatalogueTableName"],
                 "EventLogTable": outputs["EventLogTableName"], "TransferBucket": outputs["TransferBucketName"],
                 "TransferStateMachine": outputs["TransferStateMachineArn"], "FileMapTable": outputs["FileMapTableName"],
                 "ArchiveBucket": outputs["ArchiveBucketName"], "InstitutionTable": outputs.get("InstitutionTableName", ""),
                 "IntakeBucket": outputs["IntakeBucketName"], "ArchivingConfigTable": outputs.get("ArchivingConfigTableName", ""),
                 "LockMode": outputs.get("LockMode", "COMPLIANCE")}  # a cancelled batch's head is locked as the stack locks
        from .aws.clients import stack_parameters

        params = stack_parameters(stack)  # whom the reply machine trusts for a reply's TSA: take-reply judges as it does
        names["ReplyTsaTrustParameter"] = params.get("TsaTrustAnchorsParameter") or params.get("TrustAnchorsParameter", "")
        svc = cls(names)
        svc.stack = stack
        return svc

    @classmethod
    def from_settings(cls, settings: Settings, aws: Aws | None = None) -> TransferService:
        """Inside the stack (the console's Lambda): the names its environment gives, over ``aws`` when the caller has one."""
        names = {"TransferTable": settings.transfer_table, "CatalogueTable": settings.catalogue_table, "EventLogTable": settings.eventlog_table,
                 "TransferBucket": settings.transfer_bucket, "TransferStateMachine": settings.transfer_state_machine,
                 "FileMapTable": settings.filemap_table, "ArchiveBucket": settings.archive_bucket,
                 "InstitutionTable": settings.institution_table, "IntakeBucket": settings.intake_bucket,
                 "ArchivingConfigTable": settings.archiving_config_table, "LockMode": settings.lock_mode}
        return cls(names, _aws=aws)

    def access_points(self) -> Any:
        """The institutions' access points on this deployment's transfer bucket (ADR 0012)."""
        from .aws.access_points import AccessPoints

        aws = self.aws
        identity = aws.client("sts").get_caller_identity()
        partition = identity["Arn"].split(":")[1]
        return AccessPoints(aws.client("s3control"), identity["Account"], self.names["TransferBucket"], getattr(self, "stack", "earchive-local"),
                            partition=partition, region=aws.client("s3").meta.region_name)

    @classmethod
    def from_cloud(cls, cloud: Any) -> TransferService:
        return cls({**cloud.resolver.names, **cloud.state_machines}, cloud.endpoint)

    # -- AWS (clients made once per service)
    @property
    def aws(self) -> Aws:
        if self._aws is None:
            n = self.names
            settings = Settings(transfer_table=n["TransferTable"], catalogue_table=n["CatalogueTable"], eventlog_table=n["EventLogTable"],
                                filemap_table=n.get("FileMapTable", ""), transfer_bucket=n.get("TransferBucket", ""),
                                archive_bucket=n.get("ArchiveBucket", ""), institution_table=n.get("InstitutionTable", ""),
                                archiving_config_table=n.get("ArchivingConfigTable", ""), lock_mode=n.get("LockMode", "COMPLIANCE"))
            self._aws = Aws(settings, endpoint=self.endpoint, local=self.local)
        return self._aws

    @property
    def transfers(self) -> Transfers:
        t = self.aws.transfers
        return t if "FileMapTable" in self.names else Transfers(t.table, t.catalogue, t.events, None)

    # -- the window (综合受理窗口)
    def create(self, selection: Selection, *, institution: str, institution_name: str | None = None, **kwargs: Any) -> dict[str, Any]:
        """A DRAFT batch for a registered, active institution, within its competence (受理范围); its name from the registry."""
        registered, _ = self.aws.institutions.for_batch(institution, institution_name)
        return self.transfers.create(selection, institution=institution, institution_name=registered["name"], registered=registered, **kwargs)

    def submit(self, batch_id: str, actor: str, attempt: int | None = None) -> str:
        """Start the transfer state machine for a DRAFT batch (a cancelled one again: the next attempt); returns the execution ARN."""
        batch = self.transfers.batch(batch_id)
        if batch["status"] != "DRAFT":
            raise TransferError(f"batch {batch_id} is {batch['status']}; only a DRAFT batch can be submitted")
        machine = self.names["TransferStateMachine"]
        attempt = attempt or self.aws.executions.count(machine, f"transfer-{batch_id}-a") + 1
        arn = self.aws.executions.start(machine, f"transfer-{batch_id}-a{attempt}", {"batch_id": batch_id, "actor": actor})
        self.transfers.note_execution(batch_id, arn)
        return arn

    def cancel(self, batch_id: str, actor: str) -> dict[str, Any]:
        """A stuck or failed batch back to DRAFT (its execution stopped if it still runs): submit it again or discard it."""
        batch = self.transfers.batch(batch_id)
        arn = batch.get("execution_arn")
        if arn and self.aws.executions.status(arn) == "RUNNING":
            self.aws.executions.stop(arn, f"batch {batch_id} cancelled by {actor}")
        return self.transfers.cancel(batch_id, actor=actor)

    def discard(self, batch_id: str, actor: str) -> dict[str, Any]:
        """A DRAFT batch given up; its packages can join another batch."""
        return self.transfers.discard(batch_id, actor=actor)

    def resubmit(self, batch_id: str, transferor: str, ready_only: bool = False, actor: str | None = None) -> dict[str, Any]:
        return self.transfers.resubmit(batch_id, transferor=transferor, ready_only=ready_only, actor=actor, registry=self.aws.institutions)

    # -- the institution (政务服务实施机构)
    def wait_for_decision(self, batch_id: str, timeout: float = 600, progress=None) -> dict[str, Any]:
        """Wait until every package is checked and the machine waits for the institution.

        ``progress(checked, total)`` is called as the receiving checks finish (1,000 packages take minutes).
        """
        seen, last = [-1], [0.0]

        def done(b: dict[str, Any]) -> bool:
            finished = b["status"] == "RECEIVING" and bool(b.get("task_token"))
            if progress is not None and (finished or time.monotonic() - last[0] > 2):  # a count is a query: not every poll
                last[0] = time.monotonic()
                checked = self.transfers.count_checked(batch_id)
                if checked != seen[0]:
                    seen[0] = checked
                    progress(checked, int(b.get("package_count", 0)))
            return finished

        return self._poll_batch(batch_id, done, timeout, "did not reach RECEIVING")

    def decide(self, batch_id: str, receiver: str, returns: dict[str, str] | None = None, timeout: float = 300) -> dict[str, Any]:
        """Accept the batch, returning ``returns`` (package → reason); the state machine finishes the job."""
        batch = self.transfers.batch(batch_id)
        if batch["status"] != "RECEIVING" or not batch.get("task_token"):
            raise TransferError(f"batch {batch_id} is {batch['status']}: it is not waiting for a decision")
        problems = refused(self.transfers.packages(batch_id), returns or {}, receiver)
        if problems:  # refused before anything is signed or sent: the batch keeps waiting (P1)
            raise TransferError(f"decision on batch {batch_id} refused: {'; '.join(problems)}; the batch still waits for a decision")
        decision = {"batch_id": batch_id, "receiver": receiver, "returns": returns or {}}
        self.aws.executions.send_success(batch["task_token"], decision)
        return self._wait_decided(batch_id, timeout)

    def take_reply(self, batch_id: str, actor: str = "earchive-window", timeout: float = 300) -> dict[str, Any]:
        """The institution's signed replies to a waiting batch, verified and the first good one applied (issue 10).

        The reply machine does this by itself when S3 announces a reply (:mod:`earchive.pipeline.reply.verify`);
        this looks again at replies no run has decided (no ``.refused.json``, not taken), with the same
        :func:`~earchive.pipeline.reply.verify.examine`, and waits for the decision. A batch a reply has decided
        already is returned as it is.
        """
        from .pipeline.reply.verify import examine

        batch = self.transfers.batch(batch_id)
        if batch["status"] in DECIDED and batch.get("decided_by_reply"):
            return self._wait_decided(batch_id, timeout)
        if batch["status"] == "RECEIVING" and batch.get("reply_taken"):  # the reply machine took one this round: its decision follows
            return self._wait_decided(batch_id, timeout)
        if batch["status"] != "RECEIVING" or not batch.get("task_token"):
            raise TransferError(f"batch {batch_id} is {batch['status']}: it is not waiting for a decision")
        s3, bucket, code = self.aws.s3, self.names["TransferBucket"], batch["institution"]
        refused = []
        for key in s3.keys(bucket, f"institutions/{code}/replies/{batch_id}/"):
            if not key.endswith(".json") or key.endswith(".refused.json"):
                continue
            if s3.get_bytes(bucket, key[:-5] + ".refused.json"):
                refused.append(f"{key}: refused before")
                continue
            verdict = examine(self.aws, bucket, code, batch_id, key, actor=actor, tsa_anchors=self._reply_tsa_anchors())
            if verdict["outcome"] == "taken":  # by this call, or by the reply machine meanwhile
                return self._wait_decided(batch_id, timeout)
            refused.append(f"{key}: {'; '.join((verdict.get('problems') or [verdict.get('why', '')])[:3])}")
        if self.transfers.batch(batch_id).get("reply_taken"):  # the reply machine took one while this looked: its decision follows
            return self._wait_decided(batch_id, timeout)
        raise TransferError(f"no acceptable reply to batch {batch_id} from institution {code}"
                            + (f"; refused: {' | '.join(refused)}" if refused else " yet"))

    def _reply_tsa_anchors(self) -> list[Any] | None:
        """The anchors a reply's signature timestamp must chain to, as the stack's reply machine takes them (its TSA anchors,
        else its trust anchors); None (the development roots) for the local cloud, which shares this machine's."""
        name = self.names.get("ReplyTsaTrustParameter")
        if not name:
            return None
        from .crypto.pki import load_trust_anchors

        return load_trust_anchors(self.aws.parameter_file(name))

    def _wait_decided(self, batch_id: str, timeout: float) -> dict[str, Any]:
        """Decided, and the run finished: the receipt and the locked head are written when this returns."""

        def over(b: dict[str, Any]) -> bool:
            arn = b.get("execution_arn")
            return b["status"] in DECIDED and (not arn or self.aws.executions.status(arn) != "RUNNING")

        return self._poll_batch(batch_id, over, timeout, "recorded no decision")

    def _poll_batch(self, batch_id: str, done, timeout: float, what: str) -> dict[str, Any]:
        """The batch once ``done(batch)`` holds; a failed transfer execution ends the wait with its cause."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = self.transfers.batch(batch_id)
            if done(batch):
                return batch
            self._raise_if_failed(batch)
            time.sleep(0.2)
        raise TimeoutError(f"batch {batch_id} {what} within {timeout}s")

    def _raise_if_failed(self, batch: dict[str, Any]) -> None:
        """A failed run of this batch's current execution ends the wait, saying how to go on."""
        arn = batch.get("execution_arn")
        if not arn:
            return
        d = self.aws.executions.describe(arn)
        if d["status"] in ("FAILED", "ABORTED", "TIMED_OUT"):
            raise TransferError(f"transfer of batch {batch['batch_id']} {d['status']}: {failure_cause(d['error'], d['cause'])} — "
                                f"`earchive transfer cancel {batch['batch_id']}` puts it back to DRAFT")

    # -- reading and printing
    def show(self, batch_id: str) -> dict[str, Any]:
        from .domain.final import final_list
        from .domain.wording import receipt_word

        t = self.transfers
        batch, packages = t.batch(batch_id), t.packages(batch_id)
        listing, receipt = self.signed_record(batch_id) if batch.get("status") not in ("DRAFT", "CANCELLED") else (None, None)
        rows = final_list(listing, receipt)["rows"] if listing else table_a1_rows(batch, packages)  # what was signed, never re-derived
        for p in packages:  # the page's words for each check (domain.wording): a manual result is never a plain 合格
            if p.get("receipt"):
                p["receipt"] = {**p["receipt"], "verdict_zh": receipt_word(p["receipt"])}
        return {"batch": {k: v for k, v in batch.items() if k != "task_token"}, "rows": rows, "packages": packages}

    def download(self, batch_id: str, out: Path) -> list[Path]:
        """Everything the institution's prefix holds for the batch (list, signatures, packages, reports), as `aws s3 sync` would.

        Locally this is how the receiving side gets a batch for `earchive verify-batch`; an institution
        on AWS uses any S3 client with its own role (issue "The institution decides" brings `receive pull`).
        """
        batch = self.transfers.batch(batch_id)
        bucket, base = self.names["TransferBucket"], f"institutions/{batch['institution']}/batches/{batch_id}/"
        paths = []
        for key in self.aws.s3.keys(bucket, base):
            target = out / key.removeprefix(base)
            target.parent.mkdir(parents=True, exist_ok=True)
            self.aws.s3.download(bucket, key, target)
            paths.append(target)
        return paths

    def signed_record(self, batch_id: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
        """The batch's two signed documents as stored: the list the window signed and the receipt (the institution's reply)."""
        import json

        base = f"institutions/{self.transfers.batch(batch_id)['institution']}/batches/{batch_id}/"
        found = [self.aws.s3.get_bytes(self.names["TransferBucket"], base + name) for name in ("transfer-list.json", "receipt.json")]
        return tuple(json.loads(b) if b else None for b in found)  # type: ignore[return-value]

    def export(self, batch_id: str, out: Path) -> list[Path]:
        """移交清单 (XLSX, the signed PDF, JSON) and 归档目录清单 (XLSX, CSV), all from the batch's signed record, and the signatures.

        One list, one truth: every view renders :func:`earchive.domain.final.final_list` of the list the window signed and
        the receipt the institution signed — never today's catalogue — so an export years later says the same (issue 20).
        A batch not yet submitted has no signed record: its draft list is printed as it stands, marked as a draft.
        """
        from .domain.final import catalogue_items, final_list

        t = self.transfers
        batch = t.batch(batch_id)
        listing, receipt = self.signed_record(batch_id)
        draft = listing is None
        document = final_list(listing, receipt) if listing else final_list(transfer_list(batch, t.packages(batch_id)), None)
        out.mkdir(parents=True, exist_ok=True)
        base = f"institutions/{batch['institution']}/batches/{batch_id}/"
        signed = self.aws.s3.get_bytes(self.names["TransferBucket"], base + "transfer-list.signed.pdf")
        if signed is None and not (receipt and listing):  # not decided: the list as the window certified it
            signed = self.aws.s3.get_bytes(self.names["TransferBucket"], base + "transfer-list.pdf")
        # the file both parties signed; before a decision the window's; decided without the institution's approval on the PDF
        # (the development shortcut) the decided list printed from the two signed documents, so it says what the XLSX says
        pdf = out / f"移交清单-{batch_id}.pdf"
        if signed:
            pdf.write_bytes(signed)
        paths = [transfer_list_xlsx(document, out / f"移交清单-{batch_id}.xlsx"), pdf if signed else transfer_list_pdf(document, pdf)]
        view = out / f"移交清单-{batch_id}.json"
        view.write_bytes(canonical({**document, "view": "草稿（未签署）" if draft else "由双方签署的清单生成（transfer-list.json + receipt.json）"}))
        items = catalogue_items(document)
        paths += [view, catalogue_xlsx(items, out / f"归档目录清单-{batch_id}.xlsx"), catalogue_csv(items, out / f"归档目录清单-{batch_id}.csv")]
        for name in ("transfer-list.json", "transfer-list.json.sender.p7s", "transfer-list.pdf", "transfer-list.signed.pdf", "receipt.json",
                     "receipt.json.receiver.p7s"):
            body = self.aws.s3.get_bytes(self.names["TransferBucket"], base + name)
            if body is None:
                continue
            (out / name).write_bytes(body)
            paths.append(out / name)
        return paths
