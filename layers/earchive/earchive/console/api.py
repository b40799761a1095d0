"""The window's HTTP API (issue 11, first part): Powertools' ``APIGatewayHttpResolver`` over a store of cases and batches.

Every route names one permission of :mod:`earchive.console.auth` and checks it server-side with the
caller's roles and scopes, before reading anything it would return. The store is an interface (the
AWS one queries DynamoDB; see issue 11's remaining parts), so the routes and their authorisation are
tested without AWS. Not deployed yet: no function folder or template resource uses this module.
"""

from __future__ import annotations

from typing import Any, Protocol

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types

from .auth import Denied, Principal, authorize, principal

ROUTES: list[tuple[str, str, str | None]] = [  # (method, path, permission): the authorisation matrix is built from this list
    ("GET", "/api/me", None),
    ("GET", "/api/cases", "case.read"),
    ("GET", "/api/cases/<code>", "case.read"),
    ("GET", "/api/batches", "batch.read"),
    ("POST", "/api/batches/<batch_id>/submit", "batch.write"),
    ("POST", "/api/batches/<batch_id>/countersign", "batch.countersign"),
    ("GET", "/api/inbox", "inbox.read"),
    ("GET", "/api/log/<stream>", "log.read"),
    ("GET", "/api/users", "users.admin"),
]


class Store(Protocol):
    """What the routes read and change (DynamoDB on AWS; any object with these methods in tests)."""

    def cases(self, halls: set[tuple[str, str]] | None, status: str | None, limit: int, cursor: str | None) -> tuple[list[dict], str | None]: ...
    def case(self, code: str) -> dict[str, Any] | None: ...
    def batches(self, halls: set[tuple[str, str]] | None) -> list[dict[str, Any]]: ...
    def batch(self, batch_id: str) -> dict[str, Any] | None: ...
    def submit(self, batch_id: str, actor: str) -> dict[str, Any]: ...
    def countersign(self, batch_id: str, actor: str) -> dict[str, Any]: ...
    def inbox(self, institutions: set[str] | None) -> list[dict[str, Any]]: ...
    def events(self, stream: str) -> list[dict[str, Any]]: ...
    def users(self) -> list[dict[str, Any]]: ...


def hall_of(record_code: str) -> tuple[str, str]:
    """(行政区划, 全宗号) of a 电子文件号: its first two parts."""
    parts = str(record_code).split("-")
    return (parts[0], parts[1]) if len(parts) > 1 else ("", "")


def make_app(store: Store) -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    def caller() -> Principal:
        ctx = app.current_event.request_context.authorizer
        return principal(ctx.jwt_claim if ctx else None)

    @app.exception_handler(Denied)
    def denied(exc: Denied) -> Response:
        return Response(status_code=exc.status, content_type=content_types.APPLICATION_JSON, body={"error": str(exc)})

    def missing(what: str) -> Response:
        return Response(status_code=404, content_type=content_types.APPLICATION_JSON, body={"error": f"没有 {what} / not found"})

    @app.get("/api/me")
    def me() -> dict[str, Any]:
        who = caller()
        return {"user_id": who.user_id, "name": who.name, "roles": sorted(who.roles), "scopes": sorted(who.scopes)}

    @app.get("/api/cases")
    def cases() -> dict[str, Any]:
        who = caller()
        authorize(who, "case.read")
        q = app.current_event.query_string_parameters or {}
        limit = max(1, min(200, int(q.get("limit") or 50))) if str(q.get("limit") or "50").isdigit() else 50
        halls = None if "auditor" in who.roles else who.halls()
        items, cursor = store.cases(halls, q.get("status"), limit, q.get("cursor"))
        return {"items": items, "cursor": cursor}

    @app.get("/api/cases/<code>")
    def case(code: str) -> Any:
        who = caller()
        authorize(who, "case.read", hall=hall_of(code))  # the scope is known from the id: refuse before reading
        item = store.case(code)
        return item if item is not None else missing(code)

    @app.get("/api/batches")
    def batches() -> dict[str, Any]:
        who = caller()
        authorize(who, "batch.read")
        return {"items": store.batches(None if "auditor" in who.roles else who.halls())}

    def _batch_in_hall(who: Principal, batch_id: str, permission: str) -> dict[str, Any] | None:
        authorize(who, permission)  # the role first: a receiver learns nothing about the batch's existence
        batch = store.batch(batch_id)
        if batch is None:
            return None
        authorize(who, permission, hall=(str(batch.get("region_code", "")), str(batch.get("fonds", ""))))
        return batch

    @app.post("/api/batches/<batch_id>/submit")
    def submit(batch_id: str) -> Any:
        who = caller()
        return store.submit(batch_id, who.user_id) if _batch_in_hall(who, batch_id, "batch.write") else missing(batch_id)

    @app.post("/api/batches/<batch_id>/countersign")
    def countersign(batch_id: str) -> Any:
        who = caller()
        return store.countersign(batch_id, who.user_id) if _batch_in_hall(who, batch_id, "batch.countersign") else missing(batch_id)

    @app.get("/api/inbox")
    def inbox() -> dict[str, Any]:
        who = caller()
        authorize(who, "inbox.read")
        return {"items": store.inbox(None if "auditor" in who.roles else who.institutions())}

    @app.get("/api/log/<stream>")
    def log(stream: str) -> dict[str, Any]:
        authorize(caller(), "log.read")
        return {"stream": stream, "events": store.events(stream)}

    @app.get("/api/users")
    def users() -> dict[str, Any]:
        authorize(caller(), "users.admin")
        return {"items": store.users()}

    return app


__all__ = ["ROUTES", "Store", "hall_of", "make_app"]
