"""The authorisation matrix (issue 11): every route × every role × in and out of scope → the expected status.

The events are API Gateway HTTP API payload 2.0 events as the JWT authorizer passes them, with array
claims as one bracketed string (and as a real list); the routes run in Powertools' resolver.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from earchive.console.api import ROUTES, make_app
from earchive.console.auth import PERMISSIONS, ROLES, claim_list, principal

HALL, OTHER_HALL = ("430102", "0102"), ("430103", "0103")
CODE_IN, CODE_OUT = "430102-0102-430000000707-2026-Y-000001", "430103-0103-430000000707-2026-Y-000001"


class Store:
    """In-memory cases and batches of two halls and two institutions; records the changes asked of it."""

    def __init__(self):
        self.changes = []

    def cases(self, halls, status, limit, cursor):
        items = [{"record_code": c} for c in (CODE_IN, CODE_OUT)]
        return [i for i in items if halls is None or tuple(i["record_code"].split("-")[:2]) in halls], None

    def case(self, code):
        return {"record_code": code}

    def batches(self, halls):
        items = [{"batch_id": "B-IN", "region_code": HALL[0], "fonds": HALL[1]}, {"batch_id": "B-OUT", "region_code": OTHER_HALL[0], "fonds": OTHER_HALL[1]}]
        return [b for b in items if halls is None or (b["region_code"], b["fonds"]) in halls]

    def batch(self, batch_id):
        return next((b for b in self.batches(None) if b["batch_id"] == batch_id), None)

    def submit(self, batch_id, actor):
        self.changes.append(("submit", batch_id, actor))
        return {"batch_id": batch_id, "status": "SUBMITTED"}

    def countersign(self, batch_id, actor):
        self.changes.append(("countersign", batch_id, actor))
        return {"batch_id": batch_id, "countersigned_by": actor}

    def inbox(self, institutions):
        items = [{"batch_id": "B-IN", "institution": "430102001"}, {"batch_id": "B-X", "institution": "430103001"}]
        return [b for b in items if institutions is None or b["institution"] in institutions]

    def events(self, stream):
        return [{"stream": stream}]

    def users(self):
        return [{"user": "u1"}]


def side(item: dict) -> bool:
    """True for what belongs to the in-scope hall / institution, False for the other one."""
    return item.get("record_code") == CODE_IN or (item.get("batch_id") == "B-IN" and item.get("institution", "430102001") == "430102001")


def event(method: str, path: str, claims: dict | None) -> dict:
    ctx = {"http": {"method": method, "path": path, "sourceIp": "10.0.0.1"}, "stage": "$default", "requestId": "r"}
    if claims is not None:
        ctx["authorizer"] = {"jwt": {"claims": claims, "scopes": None}}
    return {"version": "2.0", "routeKey": f"{method} {path}", "rawPath": path, "rawQueryString": "", "headers": {}, "requestContext": ctx,
            "isBase64Encoded": False}


def claims(role: str, in_scope: bool, as_list: bool = False) -> dict:
    hall = HALL if in_scope else OTHER_HALL
    scopes = [f"hall:{hall[0]}:{hall[1]}", f"institution:{'430102001' if in_scope else '430103001'}"]
    groups = [role]
    return {"sub": f"user-{role}", "cognito:username": role, "cognito:groups": groups if as_list else f"[{' '.join(groups)}]",
            "custom:scopes": scopes if as_list else f"[{' '.join(scopes)}]"}


def concrete(path: str, in_scope_target: bool) -> str:
    return (path.replace("<code>", CODE_IN if in_scope_target else CODE_OUT).replace("<batch_id>", "B-IN" if in_scope_target else "B-OUT")
            .replace("<stream>", "batch%23B-IN"))


def expected(permission: str | None, role: str, in_scope: bool, item_route: bool) -> int:
    if permission is None:
        return 200
    roles, scope = PERMISSIONS[permission]
    if role not in roles:
        return 403
    if scope is None or (role == "auditor" and permission.endswith(".read")) or not item_route:
        return 200  # list routes answer with what is in scope (filtered below)
    return 200 if in_scope else 403


MATRIX = [(m, p, perm, role, in_scope) for m, p, perm in ROUTES for role in ROLES for in_scope in (True, False)]


@pytest.mark.parametrize("method,path,permission,role,in_scope", MATRIX, ids=[f"{m} {p} {r} {'in' if i else 'out'}" for m, p, _, r, i in MATRIX])
def test_every_route_role_and_scope(method, path, permission, role, in_scope):
    store = Store()
    app = make_app(store)
    item_route = "<" in path and "<stream>" not in path
    url = concrete(path, True)  # the caller's scope is moved instead: in scope, or another hall / institution
    for as_list in (False, True):
        out = app.resolve(event(method, url, claims(role, in_scope, as_list)), None)
        assert out["statusCode"] == expected(permission, role, in_scope, item_route), (role, in_scope, as_list, out["body"])
    if out["statusCode"] == 403:
        assert not store.changes, "nothing changed when refused"
    if out["statusCode"] == 200 and path in ("/api/cases", "/api/batches", "/api/inbox") and role != "auditor":
        items = json.loads(out["body"])["items"]
        assert items and all(side(i) == in_scope for i in items), f"a list shows only the caller's own hall or institution: {items}"


def test_nobody_signed_in_gets_401_and_an_unknown_role_nothing():
    app = make_app(Store())
    assert app.resolve(event("GET", "/api/cases", None), None)["statusCode"] == 401
    assert app.resolve(event("GET", "/api/cases", {"cognito:groups": "[window_clerk]"}), None)["statusCode"] == 401, "no subject"
    forged = {"sub": "u", "cognito:groups": "[superuser admin2 window_clerk_]", "custom:scopes": "[hall:*:* institution:*]"}
    who = principal(forged)
    assert who.roles == frozenset() and who.scopes == frozenset(), "only known roles and well-formed scopes count"
    assert app.resolve(event("GET", "/api/cases/" + CODE_IN, forged), None)["statusCode"] == 403


def test_a_receiver_of_another_institution_sees_none_of_its_inbox():
    app = make_app(Store())
    out = app.resolve(event("GET", "/api/inbox", claims("receiver", False)), None)
    assert [b["institution"] for b in json.loads(out["body"])["items"]] == ["430103001"]


@given(st.lists(st.sampled_from([*ROLES, "x", "[", "]", " ", ","]), max_size=6))
def test_list_claims_in_either_form_read_the_same(parts):
    words = [p for p in parts if p.strip(" ,[]")]
    assert claim_list(words) == words
    assert claim_list("[" + " ".join(words) + "]") == words
    assert claim_list(",".join(words)) == words
