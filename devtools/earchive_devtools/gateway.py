"""The local stand-in for API Gateway's HTTP API in front of the console: routes, the authorizer, CORS, payload 2.0.

moto keeps API Gateway's configuration but runs no request and checks no token, and ``sam local``
needs Docker. This gateway reads the console's routes and its authorizer from ``template.yaml``
(the ConsoleFunction's HttpApi events; ConsoleApi's OpenAPI security scheme, as the ``Authorizer``
parameter chooses it). With the JWT authorizer it checks a bearer token the way API Gateway does
(``kid`` in the issuer's JWKS, RS256 signature, ``iss``, ``aud`` or ``client_id``, ``exp``, ``nbf``,
``iat``) against the local cloud's own key (Cognito) or the JWKS named by the issuer's discovery
document, fetched as API Gateway fetches it (1.5 s each); with the Lambda authorizer it invokes that
function with API Gateway's request event. It turns array claims into one bracketed string as the
authorizer does, answers CORS preflights from the API's CorsConfiguration before any route (as API
Gateway does), builds the same payload-2.0 event and invokes the same function through Lambda (in
process). With Cognito it also serves what the hosted sign-in page would: a password sign-in
(``POST /auth/login``) against moto's Cognito.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

FUNCTION, API = "ConsoleFunction", "ConsoleApi"
NO_COGNITO = ("本栈没有 Cognito 用户池（中国区不提供）：请通过 OidcIssuer（省统一身份认证平台）登录 / this stack has no Cognito user pool "
              "(not offered in the AWS China regions): people sign in at OidcIssuer, the province's identity platform")
MAX_BODY = 10 * 1024 * 1024  # API Gateway's payload limit


def local_jwks() -> dict[str, Any]:
    """The public key set of the local cloud's own token-signing key (not moto's, whose private half ships in its package)."""
    from joserfc.jwk import RSAKey

    from .localcloud import signing_jwk

    return {"keys": [RSAKey.import_key(signing_jwk()).as_dict(private=False)]}


class Unauthorized(Exception):
    pass


class Authorizer:
    """What an HTTP API JWT authorizer checks, for one issuer and its audiences."""

    def __init__(self, issuer: str, audience: list[str], jwks: dict[str, Any], leeway: int = 0):
        from joserfc.jwk import KeySet

        self.issuer, self.audience, self.leeway = issuer, audience, leeway
        self.keys = KeySet.import_key_set(jwks)
        self.kids = {k.get("kid") for k in jwks.get("keys", [])}

    def claims(self, header: str | None) -> dict[str, Any]:
        from joserfc import jwt
        from joserfc.errors import JoseError

        if not header or not header.lower().startswith("bearer "):
            raise Unauthorized("no bearer token")
        token = header[7:].strip()
        try:
            head = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
            if head.get("kid") not in self.kids:
                raise Unauthorized("kid not in the issuer's JWKS")
            claims = dict(jwt.decode(token, self.keys, algorithms=["RS256"]).claims)
        except (JoseError, ValueError, IndexError) as exc:
            raise Unauthorized(f"bad token: {exc}") from None
        now = time.time()
        if claims.get("iss") != self.issuer:
            raise Unauthorized("iss is not the configured issuer")
        aud = claims.get("aud")
        if aud is not None:  # API Gateway: aud when the token has one, client_id only when it has none
            if not set(aud if isinstance(aud, list) else [aud]) & set(self.audience):
                raise Unauthorized("aud is not an accepted audience")
        elif claims.get("client_id") not in self.audience:
            raise Unauthorized("client_id is not an accepted audience (and there is no aud)")
        if not isinstance(claims.get("exp"), int | float) or claims["exp"] + self.leeway < now:
            raise Unauthorized("expired")
        if isinstance(claims.get("nbf"), int | float) and claims["nbf"] - self.leeway > now:
            raise Unauthorized("not yet valid")
        if isinstance(claims.get("iat"), int | float) and claims["iat"] - self.leeway > now:
            raise Unauthorized("issued in the future")
        return {k: (f"[{' '.join(str(x) for x in v)}]" if isinstance(v, list) else v) for k, v in claims.items()}


def issuer_jwks(issuer: str, timeout: float = 1.5) -> dict[str, Any]:
    """The issuer's JWKS as API Gateway's JWT authorizer gets it: its discovery document, then ``jwks_uri``, each within 1.5 s (F5)."""
    import urllib.request

    with urllib.request.urlopen(f"{issuer.rstrip('/')}/.well-known/openid-configuration", timeout=timeout) as r:  # noqa: S310 - the issuer
        discovery = json.loads(r.read())
    with urllib.request.urlopen(discovery["jwks_uri"], timeout=timeout) as r:  # noqa: S310 - its key set
        return json.loads(r.read())


def secured_paths(api: dict[str, Any]) -> set[str]:
    """The paths of the API's OpenAPI body that name a security scheme (the authorizer): the others need no token."""
    paths = (api.get("DefinitionBody") or {}).get("paths", {})
    return {path for path, methods in paths.items() if any(isinstance(m, dict) and m.get("security") for m in methods.values())}


def routes(template: dict[str, Any]) -> list[tuple[str, re.Pattern[str], str, bool]]:
    """(method, path pattern, route key, needs a token) from the ConsoleFunction's HttpApi events, most specific first."""
    secured = secured_paths(template["Resources"][API]["Properties"])
    out = []
    for event in template["Resources"][FUNCTION]["Properties"]["Events"].values():
        if event["Type"] != "HttpApi":
            continue
        p = event["Properties"]
        path, method = p["Path"], p.get("Method", "ANY").upper()
        pattern = re.escape(path).replace(r"\{proxy\+\}", ".+")
        pattern = re.sub(r"\\\{[A-Za-z_]+\\\}", "[^/]+", pattern)
        needs = path in secured
        out.append((method, re.compile(f"^{pattern}$"), f"{method} {path}", needs))
    return sorted(out, key=lambda r: ("{proxy+}" in r[2], -len(r[2])))


class Gateway:
    """The console at http://host:port/, in front of the local cloud's ConsoleFunction."""

    def __init__(self, cloud: Any, host: str = "127.0.0.1", port: int = 8080):
        self.cloud = cloud
        r = cloud.resolver
        props = cloud.template["Resources"][API]["Properties"]
        api = {k: r.value(props[k]) for k in ("DefinitionBody", "CorsConfiguration") if k in props}
        scheme = api["DefinitionBody"]["components"]["securitySchemes"]["ConsoleAuthorizer"]["x-amazon-apigateway-authorizer"]
        cors = api.get("CorsConfiguration")  # AWS::NoValue: the pages come from this API (same origin), no CORS
        self.cors: dict[str, Any] | None = cors if isinstance(cors, dict) else None
        self.cognito = r.condition("UseCognito")
        self.lambda_authorizer = cloud.name("ConsoleAuthorizerFunction") if scheme["type"] == "request" else None
        if self.lambda_authorizer is None:
            self.issuer, self.audience = scheme["jwtConfiguration"]["issuer"], list(scheme["jwtConfiguration"]["audience"])
            # Cognito, or China mode's stand-in issuer: the local cloud's own key; a real issuer (a test's OIDC provider): its JWKS
            # from its discovery document, as API Gateway fetches it
            from .localcloud import LOCAL_OIDC_ISSUER

            own = self.cognito or self.issuer == LOCAL_OIDC_ISSUER
            self.authorizer: Authorizer | None = Authorizer(self.issuer, self.audience, local_jwks() if own else issuer_jwks(self.issuer))
        else:
            self.authorizer = None
        self.routes = routes(cloud.template)
        self.function = cloud.name(FUNCTION)
        # no Cognito where the stack has none (China mode: OidcIssuer signs people in, not this gateway's password form)
        self.pool = cloud.name("ConsoleUserPool") if self.cognito else None
        self.client_id = cloud.name("ConsoleUserPoolClient") if self.cognito else None
        self.tamper: Any = None  # (method, path, body) -> body: set by a test to alter answers on their way to the browser
        self.server = ThreadingHTTPServer((host, port), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}/"
        self._thread: threading.Thread | None = None

    def start(self) -> Gateway:
        self._thread = threading.Thread(target=self.server.serve_forever, name="earchive-console-gateway", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def users(self) -> Any:
        from earchive.aws.users import Users

        if self.pool is None:
            raise RuntimeError(NO_COGNITO)
        return Users(self.cloud.client("cognito-idp"), self.pool)

    # -- one request
    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes, source: str) -> tuple[int, dict[str, str], bytes]:
        status, out_headers, out = self._handle(method, target, headers, body, source)
        return status, out_headers | self.cors_headers(headers), out

    def preflight(self, method: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes] | None:
        """API Gateway answers a CORS preflight itself, before any route or authorizer, when the API has a CORS configuration.

        Only an allowed origin, method and headers get the Access-Control-* headers; the browser refuses anything else
        (https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-cors.html). Without a configuration the
        OPTIONS request goes to the routes like any other (and finds none).
        """
        if method != "OPTIONS" or not self.cors or "access-control-request-method" not in headers:
            return None
        wanted = {h.strip().lower() for h in headers.get("access-control-request-headers", "").split(",") if h.strip()}
        allowed = {h.lower() for h in self.cors.get("AllowHeaders", [])}
        if (headers.get("origin") not in self.cors.get("AllowOrigins", []) or headers["access-control-request-method"] not in self.cors.get("AllowMethods", [])
                or not wanted <= allowed):
            return 204, {}, b""
        return 204, {"access-control-allow-origin": headers["origin"], "access-control-allow-methods": ",".join(self.cors["AllowMethods"]),
                     "access-control-allow-headers": ",".join(sorted(allowed)), "access-control-max-age": str(self.cors.get("MaxAge", 0)),
                     "vary": "origin"}, b""

    def cors_headers(self, headers: dict[str, str]) -> dict[str, str]:
        """The CORS header API Gateway adds to an answer: for an allowed origin only."""
        if self.cors and headers.get("origin") in self.cors.get("AllowOrigins", []):
            return {"access-control-allow-origin": headers["origin"], "vary": "origin"}
        return {}

    def _claims(self, method: str, url: Any, headers: dict[str, str], source: str, route_key: str) -> dict[str, Any]:
        """What the authorizer passes on: the JWT authorizer's claims, or the Lambda authorizer's context (invoked as API Gateway does)."""
        if self.authorizer is not None:
            return {"jwt": {"claims": self.authorizer.claims(headers.get("authorization")), "scopes": None}}
        if not headers.get("authorization"):  # the identity source is missing: API Gateway answers 401 without invoking it
            raise Unauthorized("no identity source")
        event = self.event(method, url, headers, b"", source, route_key, None) | {"type": "REQUEST", "routeArn": f"local/{route_key}",
                                                                                  "identitySource": [headers["authorization"]]}
        out = self.cloud.client("lambda").invoke(FunctionName=self.lambda_authorizer, Payload=json.dumps(event).encode())
        answer = json.loads(out["Payload"].read() or b"{}")
        if out.get("FunctionError") or answer.get("isAuthorized") is not True:
            raise Unauthorized("the Lambda authorizer said no")
        return {"lambda": answer.get("context") or {}}

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes, source: str) -> tuple[int, dict[str, str], bytes]:
        url = urlsplit(target)
        path = url.path or "/"
        early = self.preflight(method, headers)
        if early is not None:
            return early
        if path == "/auth/login" and method == "POST":
            if self.pool is None:
                return 501, {"content-type": "application/json"}, json.dumps({"error": NO_COGNITO}, ensure_ascii=False).encode()
            return self._login(body)
        route = next((r for r in self.routes if r[0] in (method, "ANY") and r[1].match(path)), None)
        if route is None:
            return 404, {"content-type": "application/json"}, b'{"message":"Not Found"}'
        claims = None
        if route[3]:
            try:
                claims = self._claims(method, url, headers, source, route[2])
            except Unauthorized:
                status = 401 if self.authorizer is not None or not headers.get("authorization") else 403  # a Lambda authorizer's "no" is 403
                return status, {"content-type": "application/json", "www-authenticate": "Bearer"}, \
                    b'{"message":"Unauthorized"}' if status == 401 else b'{"message":"Forbidden"}'
        event = self.event(method, url, headers, body, source, route[2], claims)
        out = self.cloud.client("lambda").invoke(FunctionName=self.function, Payload=json.dumps(event).encode())
        payload = json.loads(out["Payload"].read() or b"{}")
        if out.get("FunctionError"):  # API Gateway answers 500 and says no more; the function's log has the rest
            return 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
        data = payload.get("body") or ""
        raw = base64.b64decode(data) if payload.get("isBase64Encoded") else str(data).encode("utf-8")
        # Cognito's hosted sign-in page is this gateway's password form (none without Cognito: China mode)
        if path == "/config.json" and payload.get("statusCode") == 200 and self.pool is not None:
            raw = json.dumps({**json.loads(raw), "local_login": True}, ensure_ascii=False).encode("utf-8")
        if self.tamper is not None:  # tests only: a hostile network or server altering an answer in flight (issue 21)
            raw = self.tamper(method, path, raw)
        return int(payload.get("statusCode", 200)), {k.lower(): str(v) for k, v in (payload.get("headers") or {}).items()}, raw

    def event(self, method: str, url: Any, headers: dict[str, str], body: bytes, source: str, route_key: str,
              claims: dict[str, Any] | None) -> dict[str, Any]:
        """The payload-2.0 event API Gateway gives the function for this request."""
        query: dict[str, str] = {}
        for k, v in parse_qsl(url.query, keep_blank_values=True):
            query[k] = f"{query[k]},{v}" if k in query else v  # repeated parameters: comma-joined, as API Gateway does
        try:  # API Gateway passes a body that is not UTF-8 text base64-encoded, flagged so
            text, encoded = (body.decode("utf-8"), False) if body else ("", False)
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode(), True
        ctx: dict[str, Any] = {"accountId": "123456789012", "apiId": "local", "domainName": urlsplit(self.url).netloc, "stage": "$default",
                               "requestId": uuid.uuid4().hex, "routeKey": route_key, "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                               "timeEpoch": int(time.time() * 1000),
                               "http": {"method": method, "path": url.path, "protocol": "HTTP/1.1", "sourceIp": source,
                                        "userAgent": headers.get("user-agent", "")}}
        if claims is not None:
            ctx["authorizer"] = claims
        return {"version": "2.0", "routeKey": route_key, "rawPath": url.path, "rawQueryString": url.query,
                "headers": {k: v for k, v in headers.items() if k != "authorization"} | ({"authorization": headers["authorization"]}
                                                                                          if "authorization" in headers else {}),
                **({"queryStringParameters": query} if query else {}), "requestContext": ctx,
                **({"body": text} if text else {}), "isBase64Encoded": encoded}

    def _login(self, body: bytes) -> tuple[int, dict[str, str], bytes]:
        """The hosted sign-in page's part: a password, or (a user with a temporary one) the new password they choose."""
        def answer(status: int, data: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
            return status, {"content-type": "application/json"}, json.dumps(data, ensure_ascii=False).encode()

        try:
            data = json.loads(body or b"{}")
            name = str(data["username"])
            if data.get("session"):
                tokens = self.users().choose_password(self.client_id, name, str(data["session"]), str(data["new_password"]))
            else:
                out = self.users().begin_sign_in(self.client_id, name, str(data["password"]))
                if out.get("ChallengeName") == "NEW_PASSWORD_REQUIRED":
                    return answer(200, {"challenge": "NEW_PASSWORD_REQUIRED", "session": out["Session"]})
                tokens = out["AuthenticationResult"]
        except Exception as exc:  # noqa: BLE001 - a wrong name or password, a weak new one: whatever moto raises for it
            weak = "InvalidPassword" in type(exc).__name__ or "InvalidPassword" in str(exc)
            return answer(400 if weak else 401, {"error": "新密码不符合要求（至少 8 位，含大小写字母、数字和符号）/ password too weak" if weak
                                                 else "用户名或密码不正确 / wrong user name or password"})
        return answer(200, {"id_token": tokens["IdToken"], "expires_in": tokens["ExpiresIn"]})

    def _handler(self):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet: the function logs what matters
                pass

            def _serve(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                if length > MAX_BODY:
                    self._reply(413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}')
                    return
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    status, out_headers, out = gateway.handle(self.command, self.path, headers, body, self.client_address[0])
                except Exception:  # noqa: BLE001 - the gateway itself failed: say so, as API Gateway would
                    status, out_headers, out = 500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}'
                self._reply(status, out_headers, out)

            def _reply(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    if k not in ("content-length", "connection"):
                        self.send_header(k, v)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = _serve  # noqa: N815 - the names http.server calls

        return Handler


SEED = [("clerk1", "window_clerk", ["hall:430102:0102"], "李敏（芙蓉区综合受理窗口）"),
        ("reviewer1", "window_reviewer", ["hall:430102:0102"], "王芳（审核人）"),
        ("receiver1", "receiver", ["institution:430102001"], "张伟（芙蓉区行政审批服务局）"),
        ("auditor1", "auditor", [], "赵强（审计员）"),
        ("admin1", "admin", [], "陈静（系统管理员）")]
LOCAL_PASSWORD = "Earchive-Local-2026"  # noqa: S105 - the local cloud only: moto's pool, on 127.0.0.1


def seed_users(gateway: Gateway) -> list[dict[str, Any]]:
    """One user per role (`earchive local up` prints them)."""
    if gateway.pool is None:  # China mode: people are the identity provider's, none to seed here
        return []
    users = gateway.users()
    return [{**users.add(name, role, scopes, password=LOCAL_PASSWORD, display_name=display), "password": LOCAL_PASSWORD}
            for name, role, scopes, display in SEED]


__all__ = ["LOCAL_PASSWORD", "NO_COGNITO", "SEED", "Authorizer", "Gateway", "Unauthorized", "local_jwks", "routes", "seed_users"]
