"""The console's pages as a static bundle for the province's own web server (issue 22, F2: ICP). Pure.

In the AWS China regions API Gateway serves unauthenticated routes (the pages) only to an account
with an ICP licence. Without one, the province's web server or 政务云 portal, which has it, serves
``index.html``, ``static/*`` and a ``config.json`` naming the API's origin; the API (``ConsoleOrigin``
set) answers ``/api`` only, with CORS for that origin alone. The web server cannot be trusted to send
our Content-Security-Policy header, so ``index.html`` carries it in a ``<meta>`` element: this
origin, the API, the staging bucket and the identity provider's token endpoint, nothing else.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .pages import config_json, origin, read

ASSETS = ("app.js", "receive.js", "app.css", "case.schema.json")
META_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: {s3}; frame-src {s3}; "
            "connect-src 'self' {connect}; object-src 'none'; base-uri 'none'; form-action 'self'")


def export_static(target: Path, api_url: str, sign_in: Any, s3_origin: str) -> list[Path]:
    """Write the bundle into ``target``; ``sign_in`` has the OIDC settings (issuer, client id, endpoints) as :class:`Settings` names them."""
    api = origin(api_url)
    if not api or api_url.rstrip("/") != api:
        raise UsageError(f"--api-url {api_url!r}: 应为 API 的源（如 https://abc123.execute-api.cn-north-1.amazonaws.com.cn），不带路径")
    if not origin(s3_origin) or origin(s3_origin) != s3_origin.rstrip("/"):
        raise UsageError(f"--s3-origin {s3_origin!r}: 应为暂存桶的源（如 https://<bucket>.s3.cn-north-1.amazonaws.com.cn）")
    if not origin(getattr(sign_in, "oidc_token_url", "")) or not origin(getattr(sign_in, "oidc_authorize_url", "")):
        raise UsageError("--authorize-url and --token-url: 统一身份认证的登录与令牌地址（https）都须给出")
    connect = " ".join(dict.fromkeys([api, s3_origin.rstrip("/"), origin(sign_in.oidc_token_url)]))
    csp = META_CSP.format(s3=s3_origin.rstrip("/"), connect=connect)
    page = (read("index.html") or b"").decode("utf-8")
    page = page.replace('<meta charset="utf-8">', f'<meta charset="utf-8">\n<meta http-equiv="Content-Security-Policy" content="{csp}">', 1)
    config = {**config_json(sign_in), "api": f"{api}/"}
    written = {target / "index.html": page.encode("utf-8"), target / "config.json": json.dumps(config, ensure_ascii=False, indent=1).encode()}
    written |= {target / "static" / name: read(name) or b"" for name in ASSETS}
    for path, body in written.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    return sorted(written)


__all__ = ["export_static"]
