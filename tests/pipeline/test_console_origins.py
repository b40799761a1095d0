"""The console across origins in Chromium (issue 22, items 2–4): sign-in through a standard OIDC provider on another origin,
the pages on the province's own web server (ICP) with the API elsewhere, and uploads straight to S3 on a third origin.

The identity provider is ``oidc-provider-mock`` from PyPI (authlib underneath), not our code: the page sends the browser
to its authorization endpoint (code + PKCE) and POSTs the code to its token endpoint across origins, which the console's
CSP must allow (F3) and the provider must answer with CORS for the console's origin (as the province's platform must).
The local gateway checks the ID token as API Gateway's JWT authorizer does, with the provider's JWKS fetched through its
discovery document; in the ICP case the Lambda authorizer checks it instead, against the JWKS stored in SSM (F5).
"""

from __future__ import annotations

import functools
import http.server
import json
import socket
import threading
import urllib.request
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from earchive.config import Settings
from earchive.console.bundle import export_static
from earchive_devtools.gateway import Gateway
from earchive_devtools.localcloud import LocalCloud
from earchive_devtools.screenshots import browser
from earchive_devtools.server import start_moto_server

pytestmark = pytest.mark.slow  # a browser, an identity provider and the local cloud
SHOTS = Path(__file__).resolve().parents[2] / "out" / "test-screenshots" / "console"
CLIENT = "earchive-console"
CLERK = {"name": "李敏（统一身份认证）", "groups": ["window_clerk"], "earchive_scopes": ["hall:430102:0102"]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ports() -> dict[str, int]:
    return {k: free_port() for k in ("console", "pages", "evil")}


@pytest.fixture(scope="module")
def idp(ports):
    """The identity provider at http://localhost:<port> (another host name and port than every other origin here)."""
    import werkzeug.serving
    from authlib.integrations.flask_oauth2 import AuthorizationServer
    from authlib.oauth2.rfc7636 import CodeChallenge
    from flask_cors import CORS
    from oidc_provider_mock import User, _app, app

    # Configured as for a browser app (a public client, as Cognito's app client without a secret): no client secret at the
    # token endpoint, and PKCE required (authlib's RFC 7636 extension checks the code_verifier against the challenge).
    # The mock keeps no code_challenge with its codes: they are kept here, beside it, for authlib to check.
    register, save = AuthorizationServer.register_grant, _app.AuthorizationCodeGrant.save_authorization_code
    challenges: dict[str, tuple[str, str]] = {}

    class Pkce(CodeChallenge):
        def get_authorization_code_challenge(self, authorization_code):
            return challenges.get(authorization_code.code, ("", ""))[0]

        def get_authorization_code_challenge_method(self, authorization_code):
            return challenges.get(authorization_code.code, ("", ""))[1]

    def saving(self, code, request):
        data = request.payload.data
        challenges[code] = (data.get("code_challenge", ""), data.get("code_challenge_method", ""))
        return save(self, code, request)

    config = _app.OpenIDCode.get_jwt_config

    def with_kid(self, grant, client=None):  # name the signing key in the ID token's header, as API Gateway needs (and Cognito does)
        out = config(self, grant, client)
        return {**out, "kid": out["key"]["kid"]}

    def with_pkce(self, grant_cls, extensions=None):
        if grant_cls is _app.AuthorizationCodeGrant:
            extensions = [*(extensions or []), Pkce(required=True)]
        return register(self, grant_cls, extensions)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_app.AuthorizationCodeGrant, "TOKEN_ENDPOINT_AUTH_METHODS", ["none"])
        mp.setattr(_app.AuthorizationCodeGrant, "save_authorization_code", saving)
        mp.setattr(AuthorizationServer, "register_grant", with_pkce)
        mp.setattr(_app.OpenIDCode, "get_jwt_config", with_kid)
        provider = app(user_claims=[User(sub="clerk-oidc", claims=CLERK)])
        # the province's platform must answer the page's token request with CORS for the console's origins, and only those
        CORS(provider, origins=[f"http://127.0.0.1:{ports['console']}", f"http://127.0.0.1:{ports['pages']}"])
        server = werkzeug.serving.make_server("localhost", 0, provider, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://localhost:{server.server_port}"
        server.shutdown()


@pytest.fixture(scope="module")
def driver():
    d = browser()
    yield d
    d.quit()


def stack(earchive_home, idp: str, port: int, **params: str):
    server, endpoint = start_moto_server()
    cloud = LocalCloud(endpoint=endpoint)
    cloud.resolver.params.update({"OidcIssuer": idp, "OidcAudience": CLIENT, "OidcAuthorizeUrl": f"{idp}/oauth2/authorize",
                                  "OidcTokenUrl": f"{idp}/oauth2/token", **params})
    return server, cloud


def sign_in(driver, page_url: str) -> None:
    """From the console's page to the provider's and back, as a clerk does."""
    driver.get(page_url + "#/login")
    driver.execute_script("sessionStorage.clear()")
    driver.get(page_url + "#/login")
    WebDriverWait(driver, 30).until(ec.element_to_be_clickable((By.ID, "oidc-login"))).click()
    WebDriverWait(driver, 30).until(ec.element_to_be_clickable((By.CSS_SELECTOR, "button[name=sub][value=clerk-oidc]"))).click()
    try:
        WebDriverWait(driver, 60).until(lambda d: "李敏" in (d.find_element(By.ID, "who").text or ""))
    except Exception as exc:  # say where it stopped: the page's own message, and what the browser refused
        logs = [e["message"] for e in driver.get_log("browser")] if hasattr(driver, "get_log") else []
        raise AssertionError(f"not signed in at {driver.current_url}: {driver.find_element(By.TAG_NAME, 'body').text[:500]} {logs}") from exc


def run_js(driver, script: str, *args):
    """An async script in the page; its result, or the error it met."""
    return driver.execute_async_script("const done = arguments[arguments.length - 1];"
                                       f"(async () => {{ {script} }})().then(done, (e) => done({{error: String(e)}}));", *args)


def test_a_clerk_signs_in_through_an_oidc_provider_on_another_origin(earchive_home, idp, ports, driver):
    server, cloud = stack(earchive_home, idp, ports["console"], ConsoleUrl=f"http://127.0.0.1:{ports['console']}/")
    cloud.start()
    try:
        gateway = Gateway(cloud, port=ports["console"]).start()
        with urllib.request.urlopen(gateway.url) as r:
            csp = r.headers["Content-Security-Policy"]
        assert f"connect-src 'self' http://127.0.0.1:* http://localhost:* {idp};" in csp  # the token endpoint's origin, by name (F3)
        sign_in(driver, gateway.url)
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SHOTS / "oidc-signed-in.png"))
        me = run_js(driver, 'return await api("GET", "api/me");')
        assert me["roles"] == ["window_clerk"] and me["name"] == CLERK["name"], me
        token = driver.execute_script("return sessionStorage.getItem('earchive.token')")
        head = json.loads(__import__("base64").urlsafe_b64decode(token.split(".")[0] + "=="))
        assert head["alg"] == "RS256" and head.get("kid")  # what API Gateway's JWT authorizer takes
        # the same page without the token endpoint's origin in its CSP cannot sign in: the browser blocks the POST (F3 as it was)
        blocked = run_js(driver, "try { await fetch(arguments[0], {method: 'POST', body: 'x'}); return 'sent'; } catch (e) { return 'blocked'; }",
                         "http://localhost:9/oauth2/token")
        assert blocked == "blocked"
        gateway.stop()
    finally:
        cloud.stop()
        server.stop()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def serve_dir(root: Path, port: int) -> http.server.ThreadingHTTPServer:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def test_pages_from_the_provinces_web_server_the_api_and_s3_elsewhere_and_a_lambda_authorizer(earchive_home, idp, ports, driver, tmp_path):
    pages, evil = f"http://127.0.0.1:{ports['pages']}", f"http://127.0.0.1:{ports['evil']}"
    server, cloud = stack(earchive_home, idp, ports["console"], ConsoleOrigin=pages, ConsoleUrl=f"{pages}/", Authorizer="lambda",
                          AuthorizerJwksParameter="/earchive/idp-jwks")
    with urllib.request.urlopen(f"{idp}/jwks") as r:  # the operator stores the platform's keys: the authorizer never fetches them
        jwks = r.read().decode()
    cloud.start()
    httpd = evil_httpd = gateway = None
    try:
        cloud.client("ssm").put_parameter(Name="/earchive/idp-jwks", Value=jwks, Type="String")
        gateway = Gateway(cloud, port=ports["console"]).start()
        assert gateway.lambda_authorizer and gateway.authorizer is None
        with pytest.raises(urllib.error.HTTPError) as no_page:  # the API answers /api only (ICP): pages come from the province
            urllib.request.urlopen(gateway.url)
        assert no_page.value.code == 404
        settings = Settings.from_env({**cloud.env, "AWS_ENDPOINT_URL": cloud.endpoint})
        from earchive.console.pages import origin_of

        s3_origin = origin_of(cloud.client("s3"), settings.staging_bucket)
        bundle = tmp_path / "www"
        export_static(bundle, gateway.url.rstrip("/"), settings, s3_origin)
        (tmp_path / "evil").mkdir()
        (tmp_path / "evil" / "index.html").write_text("<!doctype html><title>another site</title>", "utf-8")
        httpd, evil_httpd = serve_dir(bundle, ports["pages"]), serve_dir(tmp_path / "evil", ports["evil"])

        sign_in(driver, f"{pages}/")  # the page, the provider, the API and S3: four origins
        me = run_js(driver, 'return await api("GET", "api/me");')
        assert me["roles"] == ["window_clerk"], me
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(SHOTS / "icp-static-pages-signed-in.png"))
        # an upload as the 补录 form does it: a slot from the API, then the file PUT straight to the staging bucket (F4)
        put = """const slot = await api("POST", "api/uploads", {file_name: "a.pdf", size: 9, content_type: "application/pdf"});
                 const status = await new Promise((ok) => { const x = new XMLHttpRequest(); x.open("PUT", slot.url);
                   for (const [k, v] of Object.entries(slot.headers || {})) x.setRequestHeader(k, v);
                   x.onload = () => ok(x.status); x.onerror = () => ok("network error"); x.send(new Blob(["%PDF-1.7\\n"])); });
                 return {status, url: slot.url};"""
        done = run_js(driver, put)
        assert done["status"] == 200, done
        key = urllib.parse.urlsplit(done["url"]).path.split("/", 2)[2]
        assert cloud.client("s3").get_object(Bucket=settings.staging_bucket, Key=key)["Body"].read() == b"%PDF-1.7\n"
        token = driver.execute_script("return sessionStorage.getItem('earchive.token')")

        # another site with a stolen token gets no answer it can read from the API, and cannot PUT to the bucket
        driver.get(f"{evil}/")
        api_call = run_js(driver, "try { const r = await fetch(arguments[0], {headers: {Authorization: `Bearer ${arguments[1]}`}}); "
                                  "return r.status; } catch (e) { return 'blocked'; }", f"{gateway.url}api/me", token)
        upload = run_js(driver, "return await new Promise((ok) => { const x = new XMLHttpRequest(); x.open('PUT', arguments[0]); "
                                "x.setRequestHeader('Content-Type', 'application/pdf'); x.onload = () => ok(x.status); "
                                "x.onerror = () => ok('blocked'); x.send('evil'); });", done["url"])
        assert api_call == "blocked" and upload == "blocked", (api_call, upload)
        assert cloud.client("s3").get_object(Bucket=settings.staging_bucket, Key=key)["Body"].read() == b"%PDF-1.7\n"
        # the Lambda authorizer refuses a token it cannot verify: API Gateway's 403
        bad = urllib.request.Request(f"{gateway.url}api/me", headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(bad)
        assert refused.value.code == 403
    finally:
        for s in (httpd, evil_httpd):
            if s is not None:
                s.shutdown()
        if gateway is not None:
            gateway.stop()
        cloud.stop()
        server.stop()
