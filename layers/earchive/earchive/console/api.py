"""The console's HTTP API: Powertools' ``APIGatewayHttpResolver`` behind API Gateway's JWT authorizer (issue 11).

Every route names one permission of :mod:`earchive.console.auth` and checks it server-side with the caller's roles and
scopes before it returns or changes anything. What a route reads and changes is a :class:`Store` (:class:`earchive.console.desk.Desk`
on a stack; a stand-in in the authorisation matrix), so the routes and their authorisation are tested without AWS. The pages and
their assets are served by the same function without a token (they hold nothing; every datum comes through ``/api``).
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from ..aws.clients import invalid_request
from ..domain import correction
from ..domain.listing import HALL, CaseQuery, hall_key
from ..errors import ConflictError, EarchiveError, UsageError
from .auth import Denied, Principal, authorize, principal
from .pages import LOCAL_S3, asset, bucket_origin, config_page

log = logging.getLogger(__name__)

# (method, path, permission, what the scope is checked against): the authorisation matrix is built from this list.
# "list": the caller's own hall/institution is listed; "case"/"batch": the item's own hall; "body": the case.json's hall.
ROUTES: list[tuple[str, str, str | None, str | None]] = [
    ("GET", "/api/me", None, None),
    ("GET", "/api/cases", "case.read", "list"),
    ("GET", "/api/cases/<package_id>", "case.read", "case"),
    ("GET", "/api/cases/<package_id>/materials/<member>", "case.read", "case"),
    ("GET", "/api/cases/<package_id>/form", "case.fix", "case"),
    ("POST", "/api/cases/<package_id>/fix", "case.fix", "case"),
    ("POST", "/api/cases", "case.fix", "body"),
    ("POST", "/api/validate", "case.fix", None),
    ("POST", "/api/uploads", "case.fix", None),  # a slot is nobody's hall yet: the case it joins is checked on submit
    ("GET", "/api/archived", "batch.write", "list"),
    ("GET", "/api/batches", "batch.read", "list"),
    ("POST", "/api/batches", "batch.write", "list"),
    ("GET", "/api/batches/<batch_id>", "batch.read", "batch"),
    ("GET", "/api/batches/<batch_id>/preview.pdf", "batch.read", "batch"),
    ("POST", "/api/batches/<batch_id>/submit", "batch.write", "batch"),
    ("POST", "/api/batches/<batch_id>/resubmit", "batch.write", "batch"),
    ("POST", "/api/batches/<batch_id>/countersign", "batch.countersign", "batch"),
    ("GET", "/api/inbox", "inbox.read", "list"),
    ("GET", "/api/inbox/<batch_id>", "inbox.read", "inbox"),  # "inbox": the batch's institution
    ("GET", "/api/inbox/<batch_id>/files/<record_code>", "inbox.read", "inbox"),
    ("POST", "/api/inbox/<batch_id>/reply", "inbox.reply", "inbox"),
    ("POST", "/api/inbox/<batch_id>/reply/<session>", "inbox.reply", "inbox"),
    ("GET", "/api/log", "log.read", None),
    ("GET", "/api/log/<stream>", "log.read", None),
    ("GET", "/api/institutions", "batch.write", None),
    ("GET", "/api/users", "users.admin", None),
    ("POST", "/api/users", "users.admin", None),
    ("GET", "/api/config", "config.admin", None),
    ("GET", "/api/config/<task_code>", "config.admin", None),
    ("POST", "/api/config", "config.admin", None),
    ("POST", "/api/config/modes", "config.admin", None),
    ("POST", "/api/config/import", "config.admin", None),
]
PUBLIC = ["/", "/index.html", "/config.json", "/openapi.json", "/static/<name>"]


class Store(Protocol):
    """What the routes read and change (:class:`earchive.console.desk.Desk` on a stack)."""

    def cases(self, query: CaseQuery) -> dict[str, Any]: ...
    def find(self, text: str) -> list[dict[str, Any]]: ...
    def case(self, package_id: str) -> dict[str, Any] | None: ...
    def case_detail(self, item: dict[str, Any]) -> dict[str, Any]: ...
    def material_url(self, item: dict[str, Any], member: str) -> str | None: ...
    def form(self, item: dict[str, Any]) -> dict[str, Any]: ...
    def upload_slot(self, user: str, file_name: str, size: int, content_type: str) -> dict[str, Any]: ...
    def submit_case(self, user: str, case_json: dict[str, Any], uploads: dict[str, dict[str, Any]],
                    corrects: dict[str, Any] | None = None) -> dict[str, Any]: ...
    def archived(self, hall: str, q: dict[str, str]) -> dict[str, Any]: ...
    def create_batch(self, user: str, hall: str, body: dict[str, Any], name: str = "") -> dict[str, Any]: ...
    def outbox(self, hall: str, cursor: str | None) -> dict[str, Any]: ...
    def inbox(self, institution: str, cursor: str | None) -> dict[str, Any]: ...
    def batch(self, batch_id: str) -> dict[str, Any] | None: ...
    def batch_view(self, batch_id: str) -> dict[str, Any]: ...
    def preview_pdf(self, batch_id: str) -> bytes: ...
    def submit(self, batch_id: str, actor: str) -> dict[str, Any]: ...
    def resubmit(self, batch_id: str, actor: str, name: str = "") -> dict[str, Any]: ...
    def countersign(self, batch_id: str, actor: str, name: str = "") -> dict[str, Any]: ...
    def inbox_view(self, batch: dict[str, Any]) -> dict[str, Any]: ...
    def inbox_file(self, batch: dict[str, Any], record_code: str, kind: str) -> str | None: ...
    def reply_begin(self, user: str, batch: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]: ...
    def reply_sign(self, user: str, batch: dict[str, Any], session: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def events(self, stream: str) -> dict[str, Any]: ...
    def streams(self, kind: str, day: str, cursor: str | None) -> dict[str, Any]: ...
    def institutions(self) -> list[dict[str, Any]]: ...
    def users(self) -> list[dict[str, Any]]: ...
    def add_user(self, actor: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def config_list(self) -> dict[str, Any]: ...
    def config_versions(self, task_code: str) -> dict[str, Any]: ...
    def config_save(self, actor: str, user_id: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def config_modes(self, actor: str, body: dict[str, Any]) -> dict[str, Any]: ...
    def config_import(self, actor: str, user_id: str, body: dict[str, Any]) -> dict[str, Any]: ...


def hall_parts(hall: Any) -> tuple[str, str]:
    """(行政区划, 全宗号) of a hall key; an item without one is in no caller's hall."""
    region, _, fonds = str(hall or "#").partition("#")
    return region, fonds


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body, ensure_ascii=False, default=str))


def make_app(store: Store, settings: Any = None) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    def caller() -> Principal:
        ctx = app.current_event.request_context.authorizer
        return principal((ctx.jwt_claim or ctx.get_lambda) if ctx else None)  # the JWT authorizer's claims, or the Lambda authorizer's

    def query() -> dict[str, str]:
        return dict(app.current_event.query_string_parameters or {})

    def body() -> dict[str, Any]:
        try:
            data = app.current_event.json_body
        except (ValueError, TypeError):
            raise UsageError("请求内容不是 JSON / the body is not JSON") from None
        if not isinstance(data, dict):
            raise UsageError("请求内容应为 JSON 对象 / the body must be a JSON object")
        return data

    def hall_for(who: Principal, permission: str, requested: str | None) -> str:
        """The hall a list route reads: the one asked for (if the caller's), else the caller's first."""
        authorize(who, permission)
        own = sorted(hall_key(*h) for h in who.halls())
        if requested:
            if not HALL.match(requested):
                raise UsageError(f"hall {requested!r}: 应为 行政区划#全宗号")
            authorize(who, permission, hall=hall_parts(requested))
            return requested
        if own:
            return own[0]
        if "auditor" in who.roles and settings is not None:
            return settings.default_hall
        raise Denied(f"{who.name}：令牌中没有窗口范围（hall:行政区划:全宗号）/ no hall in your token")

    def scoped(who: Principal, permission: str, found: Any, scope: Any) -> dict[str, Any] | None:
        """``found()`` if ``who`` may: the role first (a caller without it learns nothing of the item's existence), then the
        item's own scope, ``scope(item)`` (its hall, or the institution a batch is sent to)."""
        authorize(who, permission)
        item = found()
        if item is not None:
            authorize(who, permission, **scope(item))
        return item

    def item_in_scope(who: Principal, permission: str, package_id: str) -> dict[str, Any] | None:
        return scoped(who, permission, lambda: store.case(unquote(package_id)), lambda i: {"hall": hall_parts(i.get("hall"))})

    def batch_in_scope(who: Principal, permission: str, batch_id: str) -> dict[str, Any] | None:
        return scoped(who, permission, lambda: store.batch(batch_id), lambda b: {"hall": hall_parts(b.get("hall"))})

    def sent_to(who: Principal, permission: str, batch_id: str) -> dict[str, Any] | None:
        """A batch as its receiving institution sees it: only a receiver of that institution (or an auditor to read)."""
        return scoped(who, permission, lambda: store.batch(batch_id), lambda b: {"institution": str(b.get("institution") or "")})

    def missing(what: str) -> Response:
        return _json(404, {"error": f"没有 {what} / not found"})

    @app.exception_handler(Denied)
    def denied(exc: Denied) -> Response:
        return _json(exc.status, {"error": str(exc)})

    @app.exception_handler(EarchiveError)
    @app.exception_handler(UsageError)
    def bad_request(exc: Exception) -> Response:  # the request is wrong: say what, so the clerk can put it right
        return _json(400, {"error": str(exc)})

    @app.exception_handler(ConflictError)
    def conflict(exc: ConflictError) -> Response:  # someone else changed it meanwhile (a second clerk, a retry)
        return _json(409, {"error": str(exc)})

    @app.exception_handler(Exception)
    def failure(exc: Exception) -> Response:  # a bug or an outage: logged in full, the user gets the request id to quote
        if invalid_request(exc):  # e.g. an id over DynamoDB's key limits: the request is wrong, not the system (issue 21)
            return _json(400, {"error": f"请求中的编号不合规（过长或格式不对）/ an id in the request is invalid: {exc}"})
        rid = app.current_event.request_context.request_id
        log.exception("console request %s failed", rid)
        return _json(500, {"error": f"系统出错，已记录，请把编号 {rid} 告知运维人员 / internal error, logged as {rid}"})

    # -- public: the pages, their assets, the OpenAPI document
    s3 = bucket_origin(store, settings) if settings is not None and settings.lambda_function else LOCAL_S3  # never *.amazonaws.com

    @app.get("/")
    @app.get("/index.html")
    def index() -> Any:
        return asset("index.html", s3, settings)

    @app.get("/static/<name>")
    def static(name: str) -> Any:
        return asset(name, s3, settings)

    @app.get("/config.json")
    def config() -> Any:
        return config_page(settings)

    @app.get("/openapi.json")
    def openapi() -> Any:
        return _json(200, json.loads(app.get_openapi_json_schema(
            title="earchive 政务服务电子档案 console API", version="1",
            description="Every /api route needs a bearer token from the configured OIDC issuer (the JWT authorizer checks it); "
                        "roles come from cognito:groups / groups / roles, scopes from custom:scopes / earchive_scopes.")))

    # -- who am I
    @app.get("/api/me", summary="当前用户：角色与范围")
    def me() -> dict[str, Any]:
        who = caller()
        return {"user_id": who.user_id, "name": who.name, "roles": sorted(who.roles), "scopes": sorted(who.scopes),
                "halls": sorted(hall_key(*h) for h in who.halls()), "institutions": sorted(who.institutions())}

    # -- cases
    @app.get("/api/cases", summary="办件列表（按窗口、状态、日期、事项筛选；分页）")
    def cases() -> dict[str, Any]:
        who, q = caller(), query()
        hall = hall_for(who, "case.read", q.get("hall"))
        if q.get("find"):
            found = [i for i in store.find(q["find"].strip()) if i.get("hall") == hall or "auditor" in who.roles]
            return {"hall": hall, "items": found, "cursor": None}
        return store.cases(CaseQuery.parse(hall, q))

    @app.get("/api/cases/<package_id>", summary="一个办件：元数据、材料、检测结果、处理历史（链已核验）")
    def case(package_id: str) -> Any:
        item = item_in_scope(caller(), "case.read", package_id)
        return store.case_detail(item) if item is not None else missing(unquote(package_id))

    @app.get("/api/cases/<package_id>/materials/<member>", summary="一份材料的预览或下载地址（短时有效）")
    def material(package_id: str, member: str) -> Any:
        item = item_in_scope(caller(), "case.read", package_id)
        url = store.material_url(item, unquote(member)) if item is not None else None
        return {"url": url} if url else missing(unquote(member))

    @app.get("/api/cases/<package_id>/form", summary="补录表单的内容：原 case.json、原文件、需修正的字段与材料")
    def form(package_id: str) -> Any:
        item = item_in_scope(caller(), "case.fix", package_id)
        return store.form(item) if item is not None else missing(unquote(package_id))

    @app.post("/api/cases/<package_id>/fix", summary="提交补录：组装更正后的办件包（原上传保留），重新归档")
    def fix(package_id: str) -> Any:
        who = caller()
        item = item_in_scope(who, "case.fix", package_id)
        if item is None:
            return missing(unquote(package_id))
        if item.get("status") not in ("REJECTED", "RETURNED"):
            raise UsageError(f"{item['package_id']} 状态为 {item.get('status')}：只有被拒收或被退回的办件可以补录")
        data = body()
        case_json = data.get("case_json")
        _same_hall(who, case_json)
        _same_case(item, case_json)
        return _json(202, store.submit_case(who.user_id, case_json, _uploads(data), corrects=item))

    @app.post("/api/cases", summary="人工录入：平台未能推送的办件")
    def enter() -> Any:
        who = caller()
        authorize(who, "case.fix")
        data = body()
        _same_hall(who, data.get("case_json"))
        return _json(202, store.submit_case(who.user_id, data["case_json"], _uploads(data)))

    def _uploads(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
        uploads = data.get("uploads") or {}
        if not isinstance(uploads, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in uploads.items()):
            raise UsageError("uploads: 应为 {文件路径: {key: …}} / uploads must map file names to upload slots")
        return uploads

    def _same_case(item: dict[str, Any], case_json: dict[str, Any]) -> None:
        """A correction is of this very case: its 办件编号 and hall; a returned package keeps what its 电子文件号 is made of."""
        c = case_json["case"]
        if item.get("project_id") and item["project_id"] != "unknown" and c["project_id"] != item["project_id"]:
            raise UsageError(f"办件编号 {c['project_id']} 不是所补录的办件 {item['project_id']} / a correction must be of the same case")
        if item.get("hall") and hall_key(c["region_code"], c["fonds_identifier"]) != item["hall"]:
            raise UsageError(f"行政区划/全宗号 不能在补录中改变（{item['hall']}）/ a correction stays in its hall")
        if item.get("status") == "RETURNED":
            changed = [k for k in ("task_code", "retention_period") if item.get(k) and c.get(k) != item.get(k)]
            if changed:
                raise UsageError(f"退回的档案补录时不能改变 {', '.join(changed)}：它们决定电子文件号 {item.get('record_code')}")

    def _same_hall(who: Principal, case_json: Any) -> None:
        """A case may be entered or corrected only into the clerk's own hall (its 行政区划 and 全宗号)."""
        found = correction.problems(case_json)
        if found:
            raise UsageError("case.json: " + "; ".join(f"{p['field']}: {p['message']}" for p in found[:20]))
        c = case_json["case"]
        authorize(who, "case.fix", hall=(c["region_code"], c["fonds_identifier"]))

    @app.post("/api/validate", summary="逐项校验 case.json（表单的即时校验）")
    def validate() -> dict[str, Any]:
        authorize(caller(), "case.fix")
        return {"problems": correction.problems(body().get("case_json"))}

    @app.post("/api/uploads", summary="为一份材料申请直传地址（限定大小的预签名 PUT）")
    def upload() -> Any:
        who = caller()
        hall_for(who, "case.fix", None)
        data = body()
        size = data.get("size")
        if not isinstance(size, int) or isinstance(size, bool):
            raise UsageError("size: 应为文件的字节数")
        return store.upload_slot(who.user_id, str(data.get("file_name", ""))[:255], size, str(data.get("content_type", ""))[:100])

    # -- transfers
    @app.get("/api/archived", summary="申请移交：本窗口已归档、未移交的档案")
    def archived() -> dict[str, Any]:
        who, q = caller(), query()
        return store.archived(hall_for(who, "batch.write", q.get("hall")), q)

    @app.get("/api/institutions", summary="可选的接收单位")
    def institutions() -> dict[str, Any]:
        authorize(caller(), "batch.write")
        return {"items": store.institutions()}

    @app.get("/api/batches", summary="移交记录（本窗口的批次）")
    def batches() -> dict[str, Any]:
        who, q = caller(), query()
        return store.outbox(hall_for(who, "batch.read", q.get("hall")), q.get("cursor"))

    @app.post("/api/batches", summary="新建移交批次（草稿）")
    def create() -> Any:
        who = caller()
        data = body()
        hall = hall_for(who, "batch.write", data.get("hall"))
        return _json(201, store.create_batch(who.user_id, hall, data, name=who.name))

    @app.get("/api/batches/<batch_id>", summary="一个批次：移交清单、各信息包状态、历史")
    def batch(batch_id: str) -> Any:
        found = batch_in_scope(caller(), "batch.read", batch_id)
        return store.batch_view(batch_id) if found is not None else missing(batch_id)

    @app.get("/api/batches/<batch_id>/preview.pdf", summary="预览移交清单与登记表（PDF，未签章）")
    def preview(batch_id: str) -> Any:
        found = batch_in_scope(caller(), "batch.read", batch_id)
        if found is None:
            return missing(batch_id)
        return Response(status_code=200, content_type="application/pdf", body=store.preview_pdf(batch_id),
                        headers={"Content-Disposition": f"inline; filename=preview-{batch_id}.pdf", "Cache-Control": "no-store"})

    @app.post("/api/batches/<batch_id>/submit", summary="申请移交（系统签章移交清单）")
    def submit(batch_id: str) -> Any:
        who = caller()
        return _json(202, store.submit(batch_id, who.user_id)) if batch_in_scope(who, "batch.write", batch_id) else missing(batch_id)

    @app.post("/api/batches/<batch_id>/resubmit", summary="重新移交已修正的退回档案（新批次）")
    def resubmit(batch_id: str) -> Any:
        who = caller()
        return _json(201, store.resubmit(batch_id, who.user_id, name=who.name)) if batch_in_scope(who, "batch.write", batch_id) else missing(batch_id)

    @app.post("/api/batches/<batch_id>/countersign", summary="审核人确认登记表（提交前；不能是填表人本人）")
    def countersign(batch_id: str) -> Any:
        who = caller()
        found = batch_in_scope(who, "batch.countersign", batch_id)
        return _json(200, store.countersign(batch_id, who.user_id, name=who.name)) if found is not None else missing(batch_id)

    @app.get("/api/inbox", summary="接收单位：待接收的批次")
    def inbox() -> dict[str, Any]:
        who, q = caller(), query()
        authorize(who, "inbox.read")
        own = sorted(who.institutions())
        code = q.get("institution") or (own[0] if own else "")
        authorize(who, "inbox.read", institution=code)
        if not code:
            raise Denied(f"{who.name}：令牌中没有接收单位范围（institution:代码）/ no institution in your token")
        return store.inbox(code, q.get("cursor"))

    @app.get("/api/inbox/<batch_id>", summary="接收单位：一个批次的移交清单、各信息包的接收检测结果")
    def inbox_batch(batch_id: str) -> Any:
        batch = sent_to(caller(), "inbox.read", batch_id)
        return store.inbox_view(batch) if batch is not None else missing(batch_id)

    @app.get("/api/inbox/<batch_id>/files/<record_code>", summary="接收单位：信息包（下载）或其接收检测报告的短时地址（?kind=package|report）")
    def inbox_file(batch_id: str, record_code: str) -> Any:
        batch = sent_to(caller(), "inbox.read", batch_id)
        url = store.inbox_file(batch, unquote(record_code), query().get("kind", "report")) if batch is not None else None
        return {"url": url} if url else missing(unquote(record_code))

    @app.post("/api/inbox/<batch_id>/reply", summary="接收单位：起草回执（接收或退回），返回待浏览器用本单位密钥签署的内容")
    def reply_begin(batch_id: str) -> Any:
        who = caller()
        batch = sent_to(who, "inbox.reply", batch_id)
        return _json(201, store.reply_begin(who.user_id, batch, body())) if batch is not None else missing(batch_id)

    @app.post("/api/inbox/<batch_id>/reply/<session>", summary="接收单位：提交浏览器签署的值；返回下一步或已发送的回执")
    def reply_sign(batch_id: str, session: str) -> Any:
        who = caller()
        batch = sent_to(who, "inbox.reply", batch_id)
        return store.reply_sign(who.user_id, batch, session, body()) if batch is not None else missing(batch_id)

    @app.get("/api/log", summary="审计：某类事件流（办件上传、移交批次、用户操作、接收单位）按北京日期列出，最新在前")
    def log_streams() -> dict[str, Any]:
        authorize(caller(), "log.read")
        q = query()
        return store.streams(q.get("kind", "upload"), q.get("day", ""), q.get("cursor"))

    @app.get("/api/log/<stream>", summary="审计：一条事件流及其哈希链核验")
    def log_stream(stream: str) -> dict[str, Any]:
        authorize(caller(), "log.read")
        return store.events(unquote(stream))

    @app.get("/api/users", summary="系统管理员：用户、角色与范围")
    def users() -> dict[str, Any]:
        authorize(caller(), "users.admin")
        return {"items": store.users()}

    @app.post("/api/users", summary="系统管理员：新建用户（临时密码只显示一次）")
    def add_user() -> Any:
        who = caller()
        authorize(who, "users.admin")
        return _json(201, store.add_user(who.user_id, body()))

    # 归档配置 (ADR 0017): the administrator's; the event log names the person (their name) and the reason
    @app.get("/api/config", summary="系统管理员：归档配置（各事项的最新版本与本部署的方式）")
    def config_list() -> dict[str, Any]:
        authorize(caller(), "config.admin")
        return store.config_list()

    @app.get("/api/config/<task_code>", summary="系统管理员：一个事项的归档配置各版本（谁、何时、为何变更）")
    def config_versions(task_code: str) -> dict[str, Any]:
        authorize(caller(), "config.admin")
        return store.config_versions(unquote(task_code))

    @app.post("/api/config", summary="系统管理员：新增或修改一个事项的归档配置（新版本；须填变更原因）")
    def config_save() -> Any:
        who = caller()
        authorize(who, "config.admin")
        return _json(201, store.config_save(who.name, who.user_id, body()))

    @app.post("/api/config/modes", summary="系统管理员：保管期限不符、未配置事项的处理方式（新版本；须填变更原因）")
    def config_modes() -> Any:
        who = caller()
        authorize(who, "config.admin")
        return _json(201, store.config_modes(who.name, body()))

    @app.post("/api/config/import", summary="系统管理员：导入事项目录（XLSX/CSV，base64；dry_run 只校验）")
    def config_import() -> Any:
        who = caller()
        authorize(who, "config.admin")
        return _json(201, store.config_import(who.name, who.user_id, body()))

    return app


__all__ = ["PUBLIC", "ROUTES", "Store", "make_app"]
