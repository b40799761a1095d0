"""The authorisation matrix (issue 11): every route × every role × in and out of scope → the expected status.

The events are API Gateway HTTP API payload 2.0 events as the JWT authorizer passes them, with array
claims as one bracketed string (and as a real list); the routes run in Powertools' resolver over a
stand-in store that records every change asked of it, so a refusal is seen to change nothing.
"""

from __future__ import annotations

import copy
import json
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earchive.console.api import PUBLIC, ROUTES, make_app
from earchive.console.auth import PERMISSIONS, ROLES, claim_list, principal

HALL, OTHER_HALL = "430102#0102", "430103#0103"
CODE_IN, CODE_OUT = "430102-0102-430000000707-2026-Y-000001", "430103-0103-430000000707-2026-Y-000001"
INST_IN, INST_OUT = "430102001", "430103001"


def case_json(hall: str) -> dict:
    region, fonds = hall.split("#")
    return {"schema_version": "1.0", "case": {
        "project_id": "P1", "project_name": "某公司食品经营许可", "task_code": "430000000101", "task_name": "食品经营许可", "task_type": "行政权力事项",
        "region_code": region, "fonds_identifier": fonds, "fonds_unit_name": "长沙市芙蓉区行政审批服务局", "receive_department": "芙蓉区政务服务中心",
        "receive_time": "2026-05-01T09:00:00+08:00", "transact_time": "2026-05-03T16:00:00+08:00", "result": "准予许可", "retention_period": "D30",
        "security_classification": "公开", "applicant": {"name": "张三", "type": "自然人", "card_type": "居民身份证", "card_number": "430102199001011234"}},
        "process": [{"step": "受理", "actor": "李敏", "time": "2026-05-01T09:00:00+08:00"},
                    {"step": "办结", "actor": "李敏", "time": "2026-05-03T16:00:00+08:00"}],
        "materials": [{"seq": 1, "category": "申报文件", "title": "申请书", "file_name": "materials/a.pdf", "size": 3,
                       "digest": {"algorithm": "SHA-256", "value": "0" * 64}},
                      {"seq": 2, "category": "结果文件", "title": "决定书", "file_name": "materials/b.pdf", "size": 3,
                       "digest": {"algorithm": "SHA-256", "value": "0" * 64}}]}


class Store:
    """Cases and batches of two halls, inboxes of two institutions; records the changes asked of it."""

    def __init__(self):
        self.changes = []
        self.items = {CODE_IN: {"package_id": CODE_IN, "record_code": CODE_IN, "hall": HALL, "status": "REJECTED"},
                      CODE_OUT: {"package_id": CODE_OUT, "record_code": CODE_OUT, "hall": OTHER_HALL, "status": "REJECTED"}}
        self.batches = {"B-IN": {"batch_id": "B-IN", "hall": HALL, "institution": INST_IN},
                        "B-OUT": {"batch_id": "B-OUT", "hall": OTHER_HALL, "institution": INST_OUT}}

    def cases(self, query):
        return {"hall": query.hall, "items": [summary for summary in self.items.values() if summary["hall"] == query.hall], "cursor": None}

    def find(self, text):
        return [i for i in self.items.values() if i["package_id"] == text]

    def case(self, package_id):
        return self.items.get(package_id)

    def case_detail(self, item):
        return {"item": item}

    def material_url(self, item, member):
        return f"https://s3.example/{item['package_id']}/{member}"

    def form(self, item):
        return {"package_id": item["package_id"], "case_json": case_json(item["hall"])}

    def upload_slot(self, user, file_name, size, content_type):
        self.changes.append(("upload", user))
        return {"url": "https://s3.example/put", "key": f"console-uploads/{user}/x-{size}"}

    def submit_case(self, user, case_json, uploads, corrects=None):
        self.changes.append(("submit_case", user, corrects and corrects["package_id"]))
        return {"upload": {"key": "console/fix/x.zip"}, "project_id": case_json["case"]["project_id"]}

    def archived(self, hall, q):
        return {"hall": hall, "items": [i for i in self.items.values() if i["hall"] == hall], "cursor": None}

    def create_batch(self, user, hall, body, name=""):
        self.changes.append(("create_batch", user, hall))
        return {"batch_id": "B-NEW", "hall": hall}

    def outbox(self, hall, cursor):
        return {"hall": hall, "items": [b for b in self.batches.values() if b["hall"] == hall], "cursor": None}

    def inbox(self, institution, cursor):
        return {"institution": institution, "items": [{"batch_id": f"B-{institution}", "institution": institution}], "cursor": None}

    def batch(self, batch_id):
        return self.batches.get(batch_id)

    def batch_view(self, batch_id):
        return {"batch": self.batches[batch_id], "rows": [], "packages": [], "history": []}

    def preview_pdf(self, batch_id):
        return b"%PDF-1.7 preview"

    def submit(self, batch_id, actor):
        self.changes.append(("submit", batch_id, actor))
        return {"batch_id": batch_id}

    def resubmit(self, batch_id, actor, name=""):
        self.changes.append(("resubmit", batch_id, actor))
        return {"batch_id": "B-NEXT"}

    def countersign(self, batch_id, actor, name=""):
        self.changes.append(("countersign", batch_id, actor))
        return {"batch_id": batch_id, "reviewer": name}

    def inbox_view(self, batch):
        return {"batch": batch, "packages": []}

    def inbox_file(self, batch, record_code, kind):
        return f"http://s3.local/{batch['batch_id']}/{record_code}.{kind}"

    def reply_begin(self, user, batch, body):
        self.changes.append(("reply_begin", batch["batch_id"], user))
        return {"session": "s" * 32, "step": "reply"}

    def reply_sign(self, user, batch, session, body):
        self.changes.append(("reply_sign", batch["batch_id"], user))
        return {"session": session, "step": "sent"}

    def streams(self, kind, day, cursor):
        return {"kind": kind, "day": day, "items": [{"stream": "batch#B-IN"}], "cursor": None}

    def events(self, stream):
        return {"stream": stream, "events": [], "chain_problems": []}

    def users(self):
        return [{"name": "clerk1"}]

    def add_user(self, actor, body):
        self.changes.append(("add_user", actor))
        return {"name": body.get("name"), "temporary_password": "x"}

    def institutions(self):
        return [{"code": INST_IN, "name": "甲"}]

    def config_list(self):
        return {"summary": "未配置归档配置", "deployment": None, "items": []}

    def config_versions(self, task_code):
        return {"task_code": task_code, "versions": []}

    def config_save(self, actor, user_id, body):
        self.changes.append(("config_save", actor))
        return {"task_code": "430000000101", "version": 1}

    def config_modes(self, actor, body):
        self.changes.append(("config_modes", actor))
        return {"version": 1}

    def config_import(self, actor, user_id, body):
        self.changes.append(("config_import", actor))
        return {"rows": 0, "changed": {}, "unchanged": 0}


def event(method: str, path: str, claims: dict | None, body: dict | None = None, query: str = "") -> dict:
    ctx = {"http": {"method": method, "path": path, "sourceIp": "10.0.0.1"}, "stage": "$default", "requestId": "r"}
    if claims is not None:
        ctx["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    out = {"version": "2.0", "routeKey": f"{method} {path}", "rawPath": path, "rawQueryString": query, "headers": {}, "requestContext": ctx,
           "isBase64Encoded": False}
    if query:
        out["queryStringParameters"] = {k: unquote(v) for k, v in (p.split("=", 1) for p in query.split("&"))}  # decoded, as API Gateway does
    if body is not None:
        out["body"] = json.dumps(body, ensure_ascii=False)
        out["headers"] = {"content-type": "application/json"}
    return out


def claims(role: str, in_scope: bool, as_list: bool = False) -> dict:
    region, fonds = (HALL if in_scope else OTHER_HALL).split("#")
    scopes = [f"hall:{region}:{fonds}", f"institution:{INST_IN if in_scope else INST_OUT}"]
    groups = [role]
    return {"sub": f"user-{role}", "cognito:username": role, "cognito:groups": groups if as_list else f"[{' '.join(groups)}]",
            "custom:scopes": scopes if as_list else " ".join(scopes)}


def request(method: str, path: str) -> tuple[str, dict | None, str]:
    """The concrete request of a route: its target always in HALL / INST_IN; the caller's scope is what moves."""
    url = (path.replace("<package_id>", CODE_IN).replace("<batch_id>", "B-IN").replace("<member>", "materials%2Fa.pdf")
           .replace("<stream>", "batch%23B-IN").replace("<record_code>", CODE_IN).replace("<session>", "s" * 32)
           .replace("<task_code>", "430000000101"))
    body = None
    if method == "POST":
        body = {"case_json": case_json(HALL), "uploads": {}, "file_name": "materials/a.pdf", "size": 3, "content_type": "application/pdf",
                "institution": INST_IN, "packages": [CODE_IN], "hall": HALL}
    query = f"hall={HALL.replace('#', '%23')}" if path in ("/api/cases", "/api/archived", "/api/batches") and method == "GET" else ""
    if path == "/api/inbox":
        query = f"institution={INST_IN}"
    return url, body, query


def expected(permission: str | None, scope: str | None, role: str, in_scope: bool) -> int:
    if permission is None:
        return 200
    roles, kind = PERMISSIONS[permission]
    if role not in roles:
        return 403
    if kind is None or scope is None or (role == "auditor" and permission.endswith(".read")):
        return 200
    return 200 if in_scope else 403


MATRIX = [(m, p, perm, scope, role, in_scope) for m, p, perm, scope in ROUTES for role in ROLES for in_scope in (True, False)]


@pytest.mark.parametrize("method,path,permission,scope,role,in_scope", MATRIX,
                         ids=[f"{m} {p} {r} {'in' if i else 'out'}" for m, p, _, _, r, i in MATRIX])
def test_every_route_role_and_scope(method, path, permission, scope, role, in_scope):
    store = Store()
    app = make_app(store)
    url, body, query = request(method, path)
    for as_list in (False, True):
        out = app.resolve(event(method, url, claims(role, in_scope, as_list), copy.deepcopy(body), query), None)
        assert out["statusCode"] in (200, 201, 202) if expected(permission, scope, role, in_scope) == 200 else out["statusCode"] == 403, \
            (role, in_scope, as_list, out["statusCode"], out["body"])
        if out["statusCode"] == 403:
            assert not store.changes, "nothing changed when refused"


@pytest.mark.parametrize("path", ["/api/cases", "/api/archived", "/api/batches"])
@pytest.mark.parametrize("role", ["window_clerk", "window_reviewer"])
def test_a_list_without_a_hall_shows_the_callers_own(path, role):
    app = make_app(Store())
    permission = next(p for m, r, p, _ in ROUTES if r == path and m == "GET")
    out = app.resolve(event("GET", path, claims(role, False)), None)
    if role not in PERMISSIONS[permission][0]:
        assert out["statusCode"] == 403
        return
    body = json.loads(out["body"])
    assert out["statusCode"] == 200 and body["hall"] == OTHER_HALL
    assert all(i["hall"] == OTHER_HALL for i in body["items"]), "never another hall's items"


def test_nobody_signed_in_gets_401_and_an_unknown_role_nothing():
    app = make_app(Store())
    assert app.resolve(event("GET", "/api/cases", None), None)["statusCode"] == 401
    assert app.resolve(event("GET", "/api/cases", {"cognito:groups": "[window_clerk]"}), None)["statusCode"] == 401, "no subject"
    forged = {"sub": "u", "cognito:groups": "[superuser admin2 window_clerk_]", "custom:scopes": "[hall:*:* institution:*]"}
    who = principal(forged)
    assert who.roles == frozenset() and who.scopes == frozenset(), "only known roles and well-formed scopes count"
    assert app.resolve(event("GET", "/api/cases/" + CODE_IN, forged), None)["statusCode"] == 403


def test_a_clerk_cannot_enter_or_correct_a_case_into_another_hall():
    store = Store()
    app = make_app(store)
    clerk = claims("window_clerk", True)
    for method, path in (("POST", "/api/cases"), ("POST", f"/api/cases/{CODE_IN}/fix")):
        out = app.resolve(event(method, path, clerk, {"case_json": case_json(OTHER_HALL), "uploads": {}}), None)
        assert out["statusCode"] == 403, out["body"]
    assert not store.changes


def test_a_receiver_of_another_institution_sees_none_of_its_inbox():
    app = make_app(Store())
    out = app.resolve(event("GET", "/api/inbox", claims("receiver", False), query=f"institution={INST_IN}"), None)
    assert out["statusCode"] == 403
    out = app.resolve(event("GET", "/api/inbox", claims("receiver", False)), None)
    assert [b["institution"] for b in json.loads(out["body"])["items"]] == [INST_OUT], "without a choice: its own inbox"


def test_public_routes_need_no_token_and_say_nothing_of_the_data():
    app = make_app(Store())
    for path in ("/", "/config.json", "/openapi.json", "/static/app.js", "/static/case.schema.json"):
        out = app.resolve(event("GET", path, None), None)
        assert out["statusCode"] == 200, (path, out["body"][:200])
        assert "default-src 'self'" in out["headers"].get("Content-Security-Policy", "") or path.endswith(".json")
    assert app.resolve(event("GET", "/static/..%2Fauth.py", None), None)["statusCode"] == 404
    assert set(PUBLIC) >= {"/", "/config.json", "/openapi.json"}
    doc = json.loads(app.resolve(event("GET", "/openapi.json", None), None)["body"])
    assert {p.replace("{", "<").replace("}", ">") for p in doc["paths"]} >= {p for _, p, _, _ in ROUTES}, "every route is documented"


def test_a_bug_answers_500_with_a_request_id_not_a_trace():
    class Broken(Store):
        def case(self, package_id):
            raise RuntimeError("table gone")

    out = make_app(Broken()).resolve(event("GET", f"/api/cases/{CODE_IN}", claims("window_clerk", True)), None)
    assert out["statusCode"] == 500 and "r" in json.loads(out["body"])["error"] and "table gone" not in out["body"]


def test_an_id_over_the_key_limits_answers_400_and_any_other_validation_error_500():
    """Issue 21: only a key over DynamoDB's size limits is the caller's fault; another ValidationException is a request
    earchive built wrong (a bug), never blamed on the user."""
    from botocore.exceptions import ClientError

    def refusing(message):
        class Refusing(Store):
            def case(self, package_id):
                raise ClientError({"Error": {"Code": "ValidationException", "Message": message}}, "GetItem")
        return make_app(Refusing())

    too_long = "One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of 2048 bytes"
    for message, status in ((too_long, 400), ("Aggregated size of all range keys has exceeded the size limit of 1024 bytes", 400),
                            ("Invalid UpdateExpression: Syntax error; token: \"SET\"", 500)):
        out = refusing(message).resolve(event("GET", f"/api/cases/{CODE_IN}", claims("window_clerk", True)), None)
        assert out["statusCode"] == status, (message, out["body"])


@given(st.lists(st.sampled_from([*ROLES, "x", "[", "]", " ", ","]), max_size=6))
def test_list_claims_in_either_form_read_the_same(parts):
    words = [p for p in parts if p.strip(" ,[]")]
    assert claim_list(words) == words
    assert claim_list("[" + " ".join(words) + "]") == words
    assert claim_list(",".join(words)) == words
