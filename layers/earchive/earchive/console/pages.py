"""The console's pages and assets, served by the console function itself: an office PC without internet needs nothing else.

One page (``index.html``) with its script and style; the case form is generated in the browser from
``case.schema.json``, which is served from the library's own copy, so the form and the pipeline
validate against the same schema. Every response carries a Content-Security-Policy that allows
only this origin: no inline script, no CDN, no frame; the presigned S3 URLs are one exception
(uploads and previews go straight to S3), the identity provider's token endpoint the other: the page
POSTs the sign-in code there (PKCE), so its origin is in ``connect-src``, built from the settings (F3).
Where the province's own web server serves the pages (``EARCHIVE_CONSOLE_ORIGIN``, ICP), this
function answers ``/api`` only: the pages' routes say 404.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from aws_lambda_powertools.event_handler import Response

from .. import zh
from ..domain.eventlog import KINDS
from .auth import ROLE_ZH

TYPES = {"html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8", "css": "text/css; charset=utf-8",
         "json": "application/json; charset=utf-8"}
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,60}\.(html|js|css|json)$")
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: {s3}; frame-src {s3}; "
       "connect-src 'self' {s3}{connect}; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")


LOCAL_S3 = "http://127.0.0.1:* http://localhost:*"  # the local cloud's S3 (presigned uploads and previews)


def bucket_origin(store: Any, settings: Any) -> str:
    """The origin of the staging bucket as this deployment's presigned URLs name it (virtual-hosted, its region and partition:
    ``https://<bucket>.s3.cn-north-1.amazonaws.com.cn``): the only S3 host the console's pages may reach (issue 21)."""
    return origin_of(store.aws.s3.client, settings.staging_bucket)


def origin_of(s3_client: Any, bucket: str) -> str:
    """``scheme://host`` of the URLs ``s3_client`` presigns for ``bucket`` (made locally: no request)."""
    from urllib.parse import urlsplit

    url = s3_client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "x"}, ExpiresIn=60)
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def origin(url: str | None) -> str:
    """``scheme://host[:port]`` of ``url``, or "" for none."""
    from urllib.parse import urlsplit

    parts = urlsplit(url or "")
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def sign_in_origin(settings: Any) -> str:
    """`` <origin>`` of the identity provider's token endpoint, which the page's sign-in POSTs to (F3); "" with none."""
    found = origin(getattr(settings, "oidc_token_url", ""))
    return f" {found}" if found else ""


def headers(s3_origins: str = LOCAL_S3, connect: str = "") -> dict[str, str]:
    return {"Content-Security-Policy": CSP.format(s3=s3_origins, connect=connect), "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store"}


def read(name: str) -> bytes | None:
    if name == "case.schema.json":
        return resources.files("earchive").joinpath("schemas/case.schema.json").read_bytes()
    if not NAME.match(name):
        return None
    path = resources.files("earchive").joinpath(f"console/static/{name}")
    return path.read_bytes() if path.is_file() else None


def elsewhere(settings: Any) -> bool:
    """The pages are served by the province's web server (ICP): this API answers /api only."""
    return bool(getattr(settings, "console_origin", ""))


def asset(name: str, s3_origins: str = LOCAL_S3, settings: Any = None) -> Response:
    body = None if elsewhere(settings) else read(name)
    connect = sign_in_origin(settings)
    if body is None:
        return Response(status_code=404, content_type="text/plain; charset=utf-8", body="没有这个文件 / not found",
                        headers=headers(s3_origins, connect))
    kind = TYPES[name.rsplit(".", 1)[-1]]
    return Response(status_code=200, content_type=kind, body=body.decode("utf-8"), headers=headers(s3_origins, connect))


def config_page(settings: Any) -> Response:
    """``/config.json``: what the page needs to sign in (404 where the province's web server has its own, ICP)."""
    import json

    status, body = (404, {"error": "没有这个文件 / not found"}) if elsewhere(settings) else (200, config_json(settings))
    return Response(status_code=status, content_type=TYPES["json"], body=json.dumps(body, ensure_ascii=False))


def config_json(settings: Any) -> dict[str, Any]:
    """What the page needs to sign in: the issuer and client (AWS), or the local gateway's password form."""
    labels = {"case_status": zh.CASE_STATUS, "batch_status": zh.BATCH_STATUS, "package_state": zh.PACKAGE_STATE, "retention": zh.RETENTION,
              "check_status": zh.CHECK_STATUS, "roles": ROLE_ZH, "stream_kinds": KINDS}  # one word per code, as on every report and list
    if settings is None:
        return {"issuer": "", "client_id": "", "authorize_url": "", "token_url": "", "local_login": True, "labels": labels}
    return {"issuer": settings.oidc_issuer, "client_id": settings.oidc_client_id, "authorize_url": settings.oidc_authorize_url,
            "token_url": settings.oidc_token_url, "local_login": False, "max_upload": settings.console_max_upload, "labels": labels}


__all__ = ["asset", "bucket_origin", "config_json", "config_page", "elsewhere", "headers", "origin", "origin_of", "read", "sign_in_origin"]

