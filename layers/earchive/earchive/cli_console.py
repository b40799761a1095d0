"""`earchive console export-static DIR`: the console's pages for the province's own web server (ICP, issue 22 F2)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .config import Settings


def cmd_export_static(args: argparse.Namespace) -> int:
    from .console.bundle import export_static

    sign_in = Settings.from_env({"EARCHIVE_OIDC_ISSUER": args.issuer, "EARCHIVE_OIDC_CLIENT_ID": args.client_id,
                                 "EARCHIVE_OIDC_AUTHORIZE_URL": args.authorize_url, "EARCHIVE_OIDC_TOKEN_URL": args.token_url})
    for path in export_static(Path(args.dir), args.api_url, sign_in, args.s3_origin):
        print(path)
    print(f"把 {args.dir} 的内容放到本单位网站（{args.dir}/index.html 为首页）；部署参数 ConsoleOrigin 填该网站的源，"
          "ConsoleUrl 填首页地址。/ Serve these files from the province's web server; deploy with ConsoleOrigin set to its origin.")
    return 0


def add_console_parser(sub: Any) -> None:
    s = sub.add_parser("console", help="the console's pages served by the province's own web server (ICP)")
    c_sub = s.add_subparsers(dest="console_cmd", required=True)
    e = c_sub.add_parser("export-static", help="write index.html, static/* and config.json (the API's origin, the sign-in settings) to DIR")
    e.add_argument("dir")
    e.add_argument("--api-url", required=True, help="the HTTP API's origin (the stack's ConsoleApi endpoint), e.g. https://abc123.execute-api.cn-north-1.amazonaws.com.cn")
    e.add_argument("--s3-origin", required=True, help="the staging bucket's origin, where uploads go: https://<bucket>.s3.<region>.amazonaws.com[.cn]")
    e.add_argument("--issuer", required=True, help="the OIDC issuer (OidcIssuer)")
    e.add_argument("--client-id", required=True, help="the console's client id at the issuer (OidcAudience)")
    e.add_argument("--authorize-url", required=True, help="the issuer's authorization endpoint (OidcAuthorizeUrl)")
    e.add_argument("--token-url", required=True, help="the issuer's token endpoint (OidcTokenUrl); it must answer CORS for the pages' origin")
    e.set_defaults(func=cmd_export_static)


__all__ = ["add_console_parser"]
