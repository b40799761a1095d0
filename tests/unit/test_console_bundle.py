"""The console's pages across origins, without a browser (issue 22, F2, F3): the CSP names the token endpoint's origin, the
exported static bundle names exactly the origins it needs, and where the province's web server serves the pages the API
answers /api only. Chromium checks what a browser does with them (tests/pipeline/test_console_origins.py)."""

from __future__ import annotations

import json
import re

import pytest

from earchive.config import Settings
from earchive.console.api import make_app
from earchive.console.bundle import export_static
from earchive.errors import UsageError
from tests.unit.test_console_authorisation import Store, claims, event

IDP = {"EARCHIVE_OIDC_ISSUER": "https://sso.hunan.gov.cn/oidc", "EARCHIVE_OIDC_CLIENT_ID": "earchive-console",
       "EARCHIVE_OIDC_AUTHORIZE_URL": "https://sso.hunan.gov.cn/oidc/authorize", "EARCHIVE_OIDC_TOKEN_URL": "https://token.hunan.gov.cn:8443/oidc/token"}
API, S3 = "https://abc123.execute-api.cn-north-1.amazonaws.com.cn", "https://earchive-stagingbucket-x.s3.cn-north-1.amazonaws.com.cn"


def test_the_page_may_post_the_sign_in_code_to_the_token_endpoint_and_nowhere_else():
    out = make_app(Store(), Settings.from_env(IDP)).resolve(event("GET", "/", None), None)
    csp = out["multiValueHeaders"]["Content-Security-Policy"][0] if "multiValueHeaders" in out else out["headers"]["Content-Security-Policy"]
    connect = re.search(r"connect-src ([^;]+);", csp).group(1).split()
    assert out["statusCode"] == 200 and "https://token.hunan.gov.cn:8443" in connect and "https://sso.hunan.gov.cn" not in connect
    assert not any("*" in o and "127.0.0.1" not in o and "localhost" not in o for o in connect)


def test_where_the_provinces_web_server_serves_the_pages_the_api_answers_api_only():
    app = make_app(Store(), Settings.from_env({**IDP, "EARCHIVE_CONSOLE_ORIGIN": "https://dag.hunan.gov.cn"}))
    for path in ("/", "/index.html", "/static/app.js", "/config.json"):
        assert app.resolve(event("GET", path, None), None)["statusCode"] == 404, path
    assert app.resolve(event("GET", "/api/me", claims("window_clerk", True)), None)["statusCode"] == 200


def test_the_static_bundle_names_exactly_the_origins_it_needs(tmp_path):
    written = export_static(tmp_path, API, Settings.from_env(IDP), S3)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == {
        "index.html", "config.json", "static/app.js", "static/receive.js", "static/app.css", "static/case.schema.json"}
    page = (tmp_path / "index.html").read_text("utf-8")
    csp = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', page).group(1)
    assert re.search(r"connect-src ([^;]+);", csp).group(1).split() == ["'self'", API, S3, "https://token.hunan.gov.cn:8443"]
    assert "*" not in csp and "script-src 'self';" in csp
    config = json.loads((tmp_path / "config.json").read_text("utf-8"))
    assert config["api"] == f"{API}/" and config["token_url"] == IDP["EARCHIVE_OIDC_TOKEN_URL"] and config["local_login"] is False
    assert (tmp_path / "static" / "app.js").read_bytes().startswith(b"/* earchive")


@pytest.mark.parametrize("api,s3,idp", [(f"{API}/prod", S3, IDP), ("abc123", S3, IDP), (API, "earchive-stagingbucket-x", IDP),
                                        (API, S3, {**IDP, "EARCHIVE_OIDC_TOKEN_URL": ""})])
def test_a_bundle_that_could_not_work_is_refused_saying_why(tmp_path, api, s3, idp):
    with pytest.raises(UsageError):
        export_static(tmp_path, api, Settings.from_env(idp), s3)


def test_the_command_line_writes_the_bundle(tmp_path, capsys):
    from earchive.cli import main

    assert main(["console", "export-static", str(tmp_path / "www"), "--api-url", API, "--s3-origin", S3, "--issuer", IDP["EARCHIVE_OIDC_ISSUER"],
                 "--client-id", "earchive-console", "--authorize-url", IDP["EARCHIVE_OIDC_AUTHORIZE_URL"],
                 "--token-url", IDP["EARCHIVE_OIDC_TOKEN_URL"]]) == 0
    assert (tmp_path / "www" / "index.html").exists() and "ConsoleOrigin" in capsys.readouterr().out


def test_the_console_takes_the_caller_from_the_lambda_authorizers_context_as_from_the_jwt_authorizers():
    """Authorizer=lambda: the claims arrive under requestContext.authorizer.lambda (arrays as one bracketed string)."""
    from earchive.console.tokens import flat

    e = event("GET", "/api/me", None)
    e["requestContext"]["authorizer"] = {"lambda": flat({"sub": "u-9", "name": "王芳", "groups": ["window_reviewer"],
                                                         "earchive_scopes": ["hall:430102:0102"]})}
    out = make_app(Store(), Settings.from_env(IDP)).resolve(e, None)
    me = json.loads(out["body"])
    assert out["statusCode"] == 200 and me["roles"] == ["window_reviewer"] and me["name"] == "王芳"
