"""What the console's routes read and change, over one stack's adapters (the :class:`~earchive.console.api.Store`).

Lists are index queries (``by_hall`` on the catalogue and on batch headers, ``by_institution`` for an
inbox); a case's page joins its catalogue item, its check report, its event stream (chain verified)
and its file map. A fix or a hand-entered case becomes a new bundle in the intake bucket, and the
pipeline takes it as it takes the platform's. Every change the console makes is appended to the
acting user's event stream (``user#<sub>``) as well as to the case's or batch's own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import tempfile
import uuid
from typing import Any
from urllib.parse import quote

from .. import rules_zh
from ..aws.clients import Aws
from ..client import TransferService
from ..config import Settings
from ..domain import correction
from ..domain.collect import CASE_JSON, Bundle, case_json_of
from ..domain.listing import BEIJING, CaseQuery, decode_cursor, encode_cursor, hall_key
from ..domain.transfer import Selection
from ..errors import EarchiveError, TransferError, UsageError
from .auth import check_role_scopes, scope_of, temporary_password
from .receiving import Receiving

FIXER_ZH = {"fix": "综合受理窗口（补录、补充材料后重新归档）", "contact": "提供办件的业务系统或平台", "wait": "无需处理，稍后自动完成",
            "archived": "无需处理（已归档）", "system": "系统运维人员"}
UPLOAD_PREFIX = "console-uploads/"  # in the staging bucket; expired by its lifecycle rule like any work in progress
MAX_BUNDLE = 9 * 1024**3  # assembled in the function's /tmp (10 GiB); larger corrections come from the platform directly
SUMMARY = ("package_id", "record_code", "project_id", "status", "task_code", "task_name", "task_type", "updated_at", "rejected_at",
           "received_at", "transfer_batch", "package_version", "region_code", "fonds_identifier", "corrected_by", "stage", "hall")
CONTENT_TYPES = {"pdf": "application/pdf", "jpg": "image/jpeg", "jpeg": "image/jpeg", "ofd": "application/ofd", "png": "image/png",
                 "xml": "application/xml", "tif": "image/tiff", "tiff": "image/tiff"}


def _pinned(cursor: dict[str, Any] | None, attr: str, value: str, keys: tuple[str, ...] = ("batch_id", "item")) -> dict[str, Any] | None:
    """A cursor only for the list it was issued for (another's would be DynamoDB's ValidationException, a 500)."""
    if cursor is not None and (cursor.get(attr) != value or set(cursor) - {attr, *keys}):
        raise UsageError("cursor: 属于另一个列表（请从第一页重新开始）")
    return cursor


def summary(item: dict[str, Any]) -> dict[str, Any]:
    return {k: item[k] for k in SUMMARY if k in item}


class Desk:
    """The window's and the institution's console over one deployment."""

    def __init__(self, settings: Settings, aws: Aws | None = None, endpoint: str | None = None):
        self.settings = settings
        self.aws = aws or Aws(settings, endpoint=endpoint)
        self.service = TransferService.from_settings(settings, aws=self.aws)
        self.receiving = Receiving(self.aws, settings)

    # -- cases
    def cases(self, query: CaseQuery) -> dict[str, Any]:
        items, cursor = self.aws.catalogue.page(query)
        return {"hall": query.hall, "items": [summary(i) for i in items], "cursor": cursor}

    def find(self, text: str) -> list[dict[str, Any]]:
        """An 电子文件号 (the catalogue key) or a 办件编号 (index ``by_project``): exact, no scan."""
        item = self.aws.catalogue.get(text)
        found = [item] if item and item.get("hall") else []
        found += [i for i in self.aws.catalogue.by_project(text) if i.get("hall") and i not in found]
        return [summary(i) for i in found]

    def case(self, package_id: str) -> dict[str, Any] | None:
        item = self.aws.catalogue.get(package_id)
        return item if item and item.get("hall") else None

    def case_detail(self, item: dict[str, Any]) -> dict[str, Any]:
        """The package page: metadata, materials, the DA/T 70 results with who must fix each, the history with its chain checked."""
        report = None
        if item.get("check_report"):
            try:
                report = self.aws.s3.get_json(self.settings.reports_bucket, item["check_report"])
            except Exception:  # noqa: BLE001 - a report that cannot be read is said so on the page, the rest still shows
                report = {"error": f"检测报告无法读取：{item['check_report']}"}
        results = [{"id": r.get("id"), "name": r.get("name"), "property": r.get("property_zh") or r.get("property"),
                    "status": r.get("status"), "status_zh": r.get("status_zh"), "detail": r.get("detail_zh") or r.get("detail"),
                    "checked_at": r.get("checked_at_beijing") or r.get("checked_at"),
                    "fixer": FIXER_ZH[rules_zh.rule_kind(r.get("id"))] if r.get("status") == "fail" else ""}
                   for r in (report or {}).get("results", [])]
        stream = item.get("stream")
        events = self.aws.events.entries(stream) if stream else []
        chain = self.aws.events.verify(stream, entries=events) if stream else []
        materials = self.members(item)
        problems = [{**p, "reason_zh": rules_zh.describe(p), "fixer": FIXER_ZH[rules_zh.rule_kind(p.get("rule"))]}
                    for p in item.get("problems", [])]
        return {"item": {k: v for k, v in item.items() if k not in ("execution",)}, "results": results,
                "report_error": (report or {}).get("error"), "events": events, "chain_ok": not chain, "chain_problems": chain,
                "materials": materials, "problems": problems}

    def material_url(self, item: dict[str, Any], member: str) -> str | None:
        """A short-lived URL to one material: copied once out of the package (or the upload) into staging, then presigned.

        A zip member cannot be presigned by itself, and a Lambda answer is at most 6 MB; the copy is
        streamed by ranged reads and expires with the staging bucket's lifecycle.
        """
        archive = item.get("archive") or {}
        source = ({"bucket": archive["bucket"], "key": archive["key"], "version": archive.get("version_id")} if archive.get("key")
                  else item.get("upload") or {})
        if not source.get("bucket"):
            return None
        name = member.rsplit("/", 1)[-1]
        ext = name.rsplit(".", 1)[-1].lower()
        content_type = CONTENT_TYPES.get(ext, "application/octet-stream")
        key = f"console-previews/{member_key(item['package_id'])}/{member_key(str(source.get('version') or 'v'))}/{member_key(member)}"
        if self.aws.s3.size(self.settings.staging_bucket, key) is None:
            try:
                bundle = Bundle(self.aws.s3.reader(source["bucket"], source["key"], source.get("version")), label=source["key"])
            except EarchiveError:
                return None
            try:
                f = bundle.files.get(member)
                if f is None:
                    return None
                with f.open() as stream:
                    self.aws.s3.put_stream(self.settings.staging_bucket, key, stream, content_type=content_type)
            finally:
                bundle.close()
        return self.aws.s3.presign_get(self.settings.staging_bucket, key, filename=name,
                                       content_type=content_type, inline=ext in ("pdf", "jpg", "jpeg", "png"))

    def members(self, item: dict[str, Any]) -> list[dict[str, Any]]:
        """The package's files as the file map records them (member in the package ↔ the platform's file)."""
        return [{"member": f.get("member"), "source_file": f.get("source_file"), "size": f.get("size"), "category": f.get("category"),
                 "seq": f.get("seq"), "sm3": f.get("sm3")} for f in self.aws.filemap.of_package(item["package_id"])]

    # -- 补录 / 人工录入
    def _original(self, item: dict[str, Any]) -> tuple[Bundle | None, dict[str, Any] | None]:
        up = item.get("upload") or {}
        if not up.get("bucket"):
            return None, None
        try:
            bundle = Bundle(self.aws.s3.reader(up["bucket"], up["key"], up.get("version")), label=up["key"])
        except EarchiveError:
            return None, None
        return bundle, case_json_of(bundle)

    def form(self, item: dict[str, Any]) -> dict[str, Any]:
        """The 补录 form's content: the case.json as uploaded, the files it had, and what to mark."""
        bundle, data = self._original(item)
        try:
            files = {n: f.size for n, f in (bundle.files.items() if bundle else []) if n != CASE_JSON}
        finally:
            if bundle:
                bundle.close()
        m = correction.marks(item.get("problems", []))
        return {"package_id": item["package_id"], "status": item.get("status"), "case_json": data, "files": files,
                "marks": {"fields": m.fields, "files": m.files, "other": m.other},
                "problems": [{**p, "reason_zh": rules_zh.describe(p)} for p in item.get("problems", [])]}

    def upload_slot(self, user: str, file_name: str, size: int, content_type: str) -> dict[str, Any]:
        """A presigned PUT for one material file, bounded to its declared size and the console's limit."""
        if size <= 0 or size > self.settings.console_max_upload:
            raise UsageError(f"{file_name}: {size} 字节，超出允许的大小（1 – {self.settings.console_max_upload} 字节）")
        key = f"{UPLOAD_PREFIX}{user_key(user)}/{uuid.uuid4().hex}-{size}"  # the size it was granted: checked again on assembly
        slot = self.aws.s3.presign_put(self.settings.staging_bucket, key, size, content_type or "application/octet-stream")
        return {**slot, "key": key, "size": size, "file_name": file_name}

    def submit_case(self, user: str, case_json: dict[str, Any], uploads: dict[str, dict[str, Any]],
                    corrects: dict[str, Any] | None = None) -> dict[str, Any]:
        """Assemble the bundle (the original's files where none was uploaded) and put it in the intake bucket."""
        found = correction.problems(case_json)
        if found:
            raise UsageError("case.json: " + "; ".join(f"{p['field']}: {p['message']}" for p in found[:20]))
        hall = hall_key(case_json["case"]["region_code"], case_json["case"]["fonds_identifier"])
        replacements = {}
        for name, ref in uploads.items():
            key = str(ref.get("key", ""))
            if not key.startswith(f"{UPLOAD_PREFIX}{user_key(user)}/"):
                raise UsageError(f"{name}: 不是本人上传的文件 / not an upload of yours")
            size = self.aws.s3.size(self.settings.staging_bucket, key)
            if size is None:
                raise UsageError(f"{name}: 文件尚未上传完成 / the upload has not arrived")
            if str(size) != key.rsplit("-", 1)[-1]:
                raise UsageError(f"{name}: 上传了 {size} 字节，与申请的大小不符 / not the size the upload was granted")
            replacements[name] = correction.Replacement(name, size, (lambda k=key: self.aws.s3.reader(self.settings.staging_bucket, k)))
        bundle = self._original(corrects)[0] if corrects else None
        try:
            originals = {n: f.open for n, f in (bundle.files.items() if bundle else []) if n != CASE_JSON}
            sizes = {n: f.size for n, f in (bundle.files.items() if bundle else [])}
            total = sum(r.size for r in replacements.values()) + sum(sizes.get(m.get("file_name"), 0) for m in case_json.get("materials", [])
                                                                 if m.get("file_name") not in replacements)
            if total > MAX_BUNDLE:
                raise UsageError(f"办件共 {total} 字节，超过控制台可组装的 {MAX_BUNDLE} 字节：请由平台直接上传更正后的办件包")
            with tempfile.TemporaryFile(dir=self.settings.work_dir) as out:
                try:
                    written = correction.corrected_bundle(case_json, out, replacements=replacements, originals=originals)
                except ValueError as exc:
                    raise UsageError(str(exc)) from None
                out.seek(0)
                project = written["case"]["project_id"]
                stamp = uuid.uuid4().hex[:8]
                key = f"console/{'fix' if corrects else 'entry'}/{project}-{stamp}.zip"
                meta = {"entered-by": user_key(user),  # S3 metadata is ASCII: the corrected upload's key percent-encoded
                        **({"corrects": quote(str((corrects.get("upload") or {}).get("key", "")))} if corrects else {})}
                version = self.aws.s3.put_stream(self.settings.intake_bucket, key, out, content_type="application/zip", metadata=meta)
        finally:
            if bundle:
                bundle.close()
        detail = {"upload": key, "project_id": project, "hall": hall, **({"corrects": corrects["package_id"]} if corrects else {})}
        self.aws.events.append(f"user#{user}", actor=user, action="correct" if corrects else "enter", result="uploaded", detail=detail)
        if corrects:
            self.aws.catalogue.note_correction(corrects["package_id"], key)
        return {"upload": {"bucket": self.settings.intake_bucket, "key": key, "version": version}, "project_id": project}

    # -- transfers
    def archived(self, hall: str, q: dict[str, str]) -> dict[str, Any]:
        """申请移交's pick list: the hall's ARCHIVED packages not in a batch yet; with ``institution``, only those within its
        competence (受理范围), filtered in the index query (a hall wholly outside it is answered without a query)."""
        query = CaseQuery.parse(hall, {**q, "status": "ARCHIVED"})
        code = (q.get("institution") or "").strip()
        if not code:
            return self.cases(CaseQuery(**{**query.__dict__, "untransferred": True}))
        try:
            registered, scope = self.aws.institutions.for_batch(code)
        except TransferError as exc:
            raise UsageError(str(exc)) from None
        if not scope.admits_hall(hall):
            return {"hall": hall, "items": [], "cursor": None, "institution": code, "scope": scope.describe(),
                    "note": f"本窗口（{hall}）的档案不在接收单位 {code}（{registered['name']}）的受理范围（{scope.describe()}）内"}
        page = self.cases(CaseQuery(**{**query.__dict__, "untransferred": True, "scope": scope}))
        return {**page, "institution": code, "scope": scope.describe()}

    def create_batch(self, user: str, hall: str, body: dict[str, Any], name: str = "") -> dict[str, Any]:
        """A DRAFT batch: the clerk's name is the 移交人 on the list and the 登记表; the event log keeps the user id."""
        code = str(body.get("institution", ""))
        if not code:
            raise UsageError("接收单位（未选）：请选择接收单位 / choose the receiving institution")
        sel = Selection(body.get("archived_from") or None, body.get("archived_to") or None, body.get("task_code") or None,
                        body.get("task_type") or None, tuple(str(p) for p in body.get("packages") or ()))
        try:  # registered, active, with a scope; each package within it (the service refuses the rest by name)
            return self.service.create(sel, institution=code, transferor=name or user, actor=user, hall=hall,
                                       note=str(body.get("note", ""))[:500])
        except TransferError as exc:
            raise UsageError(str(exc)) from None

    def outbox(self, hall: str, cursor: str | None) -> dict[str, Any]:
        items, last = self.aws.transfers.outbox(hall, cursor=_pinned(decode_cursor(cursor), "hall", hall))
        return {"hall": hall, "items": [{k: v for k, v in i.items() if k != "task_token"} for i in items], "cursor": encode_cursor(last)}

    def inbox(self, institution: str, cursor: str | None) -> dict[str, Any]:
        items, last = self.aws.transfers.inbox(institution, cursor=_pinned(decode_cursor(cursor), "institution", institution))
        return {"institution": institution, "items": [{k: v for k, v in i.items() if k != "task_token"} for i in items],
                "cursor": encode_cursor(last)}

    def batch(self, batch_id: str) -> dict[str, Any] | None:
        try:
            return self.aws.transfers.batch(batch_id)
        except TransferError:
            return None

    def batch_view(self, batch_id: str) -> dict[str, Any]:
        view = self.service.show(batch_id)
        view["history"] = self.aws.events.entries(f"batch#{batch_id}")
        return view

    def preview_pdf(self, batch_id: str) -> bytes:
        """申请移交's preview: the 移交清单 and 登记表 as they will be printed (unsigned: the window signs them at submit)."""
        from ..domain.transfer import transfer_list
        from ..domain.transfer_form import render

        batch = self.aws.transfers.batch(batch_id)
        return render(transfer_list(batch, self.aws.transfers.packages(batch_id))).pdf

    def submit(self, batch_id: str, actor: str) -> dict[str, Any]:
        try:
            arn = self.service.submit(batch_id, actor=actor)
        except TransferError as exc:
            raise UsageError(str(exc)) from None
        return {"batch_id": batch_id, "execution": arn.rsplit(":", 1)[-1]}

    def countersign(self, batch_id: str, actor: str, name: str = "") -> dict[str, Any]:
        try:
            return self.aws.transfers.countersign(batch_id, reviewer=name or actor, actor=actor)
        except TransferError as exc:
            raise UsageError(str(exc)) from None

    def resubmit(self, batch_id: str, actor: str, name: str = "") -> dict[str, Any]:
        try:
            return self.service.resubmit(batch_id, transferor=name or actor, ready_only=True, actor=actor)
        except TransferError as exc:
            raise UsageError(str(exc)) from None

    # -- the receiver (console.receiving): the batch as sent, and the reply signed in the browser
    def inbox_view(self, batch: dict[str, Any]) -> dict[str, Any]:
        return {**self.receiving.view(batch), "history": self.aws.events.entries(f"batch#{batch['batch_id']}")}

    def inbox_file(self, batch: dict[str, Any], record_code: str, kind: str) -> str | None:
        return self.receiving.file_url(batch, record_code, kind)

    def reply_begin(self, user: str, batch: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        return self.receiving.begin(user, batch, body)

    def reply_sign(self, user: str, batch: dict[str, Any], session: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.receiving.sign(user, batch, session, body)

    def institutions(self) -> list[dict[str, Any]]:
        """The active institutions, each with its competence (受理范围) in words; one without a scope is listed but cannot be chosen."""
        from ..domain.institution import Scope

        out = []
        for i in self.aws.institutions.all():
            if i.get("status") == "REVOKED":
                continue
            scope = Scope.of(i)
            out.append({"code": i["code"], "name": i.get("name", i["code"]), "scope": scope.describe() if scope else None})
        return out

    # -- users (admin): the stack's Cognito pool; with another OIDC issuer they live there
    def _users(self) -> Any:
        from ..aws.users import Users

        if not self.settings.user_pool:
            raise UsageError("用户由统一身份认证平台管理，不在本系统 / users are managed in the identity provider (OidcIssuer)")
        return Users(self.aws.client("cognito-idp"), self.settings.user_pool)

    def users(self) -> list[dict[str, Any]]:
        return self._users().all()

    def add_user(self, actor: str, body: dict[str, Any]) -> dict[str, Any]:
        """A new user with one role and its scopes, and a temporary password shown once (changed at the first sign-in)."""
        name, role = str(body.get("name", "")).strip(), str(body.get("role", ""))
        if not name or len(name) > 128:
            raise UsageError("name: 1–128 characters")
        scopes = [scope_of(str(x)) for x in body.get("scopes") or []]
        check_role_scopes(role, scopes)
        password = temporary_password()
        user = self._users().add(name, role, scopes, display_name=str(body.get("display_name", ""))[:100], temporary_password=password)
        self.aws.events.append(f"user#{actor}", actor=actor, action="user-add", result=role, detail={"name": name, "scopes": scopes})
        return {**user, "temporary_password": password}

    # -- 归档配置 (admin, ADR 0017): versions only added; who (by name) and why in the event log
    def _configs(self) -> Any:
        if self.aws.archiving_config is None:
            raise UsageError("本部署没有归档配置表（ArchivingConfigTable）：请按当前 template.yaml 更新部署")
        return self.aws.archiving_config

    def config_list(self) -> dict[str, Any]:
        from ..cli_config import summary as config_summary

        registry = self._configs()
        return {"summary": config_summary(registry), "deployment": registry.deployment(), "items": registry.all()}

    def config_versions(self, task_code: str) -> dict[str, Any]:
        versions = self._configs().versions(task_code)
        if not versions:
            raise UsageError(f"事项 {task_code} 不在归档配置中")
        return {"task_code": task_code, "versions": versions}

    def config_save(self, actor: str, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        values = {k: body.get(k) for k in ("task_code", "task_name", "task_type", "retention_period", "required", "institution",
                                           "institution_name", "retention_mismatch", "status")}
        return self._configs().save(values, actor=actor, reason=str(body.get("reason") or ""), source=f"console:{user_id}")

    def config_modes(self, actor: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._configs().set_modes({k: body.get(k) for k in ("retention_mismatch", "unknown_task")}, actor=actor,
                                         reason=str(body.get("reason") or ""))

    def config_import(self, actor: str, user_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """A 事项目录 uploaded through the page: every row checked first; one bad row and nothing is imported."""
        import base64
        import binascii

        from ..domain.archiving_config import parse_catalogue, read_rows

        name = str(body.get("file_name") or "事项目录.xlsx")[:200]
        try:
            content = base64.b64decode(str(body.get("content_base64") or ""), validate=True)
        except (binascii.Error, ValueError):
            raise UsageError("文件内容应为 base64") from None
        configs, errors = parse_catalogue(read_rows(name, content))
        if errors:
            raise UsageError(f"{name}：{len(errors)} 处错误，未导入任何事项。" + "；".join(errors[:20]))
        if body.get("dry_run"):
            return {"file": name, "rows": len(configs), "dry_run": True}
        return self._configs().import_catalogue(configs, actor=actor, reason=str(body.get("reason") or ""), source=name, content=content)

    def streams(self, kind: str, day: str, cursor: str | None) -> dict[str, Any]:
        """The auditor's list: streams of one kind opened on one Beijing day (default today), newest first, paged."""
        from ..domain.eventlog import KINDS

        if kind not in KINDS:
            raise UsageError(f"kind: 应为 {', '.join(KINDS)} 之一")
        day = day or dt.datetime.now(BEIJING).date().isoformat()
        try:
            if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
                raise ValueError(day)
            dt.date.fromisoformat(day)
        except ValueError:
            raise UsageError(f"day {day!r}: 应为 YYYY-MM-DD") from None
        start = _pinned(decode_cursor(cursor), "opened", f"{kind}#{day}", keys=("opened_sk", "stream", "seq"))
        if start is not None:
            if set(start) != {"opened", "opened_sk", "stream", "seq"} or start.get("seq") != "1":
                raise UsageError("cursor: 属于另一个列表（请从第一页重新开始）")
            start["seq"] = 1  # the index holds first entries only; JSON carried the number as text
        items, last = self.aws.events.opened(kind, day, cursor=start)
        return {"kind": kind, "day": day, "cursor": encode_cursor(last),
                "items": [{k: i.get(k) for k in ("stream", "at", "actor", "action", "result")} for i in items]}

    def events(self, stream: str) -> dict[str, Any]:
        entries = self.aws.events.entries(stream)
        return {"stream": stream, "events": entries, "chain_problems": self.aws.events.verify(stream, entries=entries) if entries else []}


def user_key(user: str) -> str:
    """A user id as an S3 key part: the token's ``sub`` hashed (any issuer's ids, each its own prefix; no two collide)."""
    if not user or not user.strip():
        raise UsageError("user id unusable")
    return "u" + hashlib.sha256(user.encode("utf-8")).hexdigest()[:40]


def member_key(member: str) -> str:
    """A material's name as an S3 key part: hashed (names differing in any character get their own preview), its extension kept."""
    ext = member.rsplit(".", 1)[-1].lower() if "." in member else "bin"
    return hashlib.sha256(member.encode("utf-8")).hexdigest()[:40] + "." + "".join(c for c in ext if c.isalnum())[:8]


__all__ = ["Desk", "summary", "user_key"]
