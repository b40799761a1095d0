"""`earchive receive review BATCH`: the institution's review page, served on 127.0.0.1 from its own machine.

No internet and no CDN: one page, its style inline, every file served from the pulled batch. It shows
the list, each package's 接收检测 (YJ results, time and outcome of each), its metadata and its
materials (PDF and JPEG open in the browser, others download), and for each package 接收 or 退回
with a reason (required, 10–1,300 characters). Submitting makes the same signed reply as
`earchive receive reply` (:meth:`earchive.receive.Desk.reply`) and sends it. Everything shown from a
package is escaped: case text is hostile input.
"""

from __future__ import annotations

import html
import http.server
import json
import secrets
import threading
import urllib.parse
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .domain.reply import INSTITUTION_REASON_CHARS as REASON_CHARS
from .domain.reply import failed_reason
from .domain.wording import check_word
from .zh import beijing

MATERIAL_DIRS = ("申报文件/", "过程文件/", "结果文件/")
INLINE = {".pdf": "application/pdf", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".xml": "text/plain; charset=utf-8"}
STYLE = """body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:1.5em;max-width:1300px;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #bbb;padding:.25em .5em;font-size:14px;text-align:left}
th{background:#eee}.pass{color:#176317}.fail{color:#a11;font-weight:bold}section{border:1px solid #999;padding:.8em;margin:1em 0}
pre{white-space:pre-wrap;max-height:14em;overflow:auto;background:#f6f6f6;padding:.5em;font-size:12px}
textarea{width:100%;min-height:4em}.note{color:#555;font-size:13px}button{font-size:16px;padding:.4em 1.2em}"""


def validate(form: dict[str, str], codes: list[str]) -> tuple[str, dict[str, str], list[str]]:
    """(receiver, returns, problems) from the submitted form: every package decided, each return with a 10–1,300 character reason."""
    problems, returns = [], {}
    receiver = form.get("receiver", "").strip()
    if not receiver:
        problems.append("请填写接收人 / the receiver's name is required")
    low, high = REASON_CHARS
    for n, code in enumerate(codes):
        decision = form.get(f"decision-{n}")
        if decision not in ("accept", "return"):
            problems.append(f"{code}：请选择接收或退回 / decide this package")
        elif decision == "return":
            reason = form.get(f"reason-{n}", "").strip()
            if not low <= len(reason) <= high:
                problems.append(f"{code}：退回原因须为 {low}–{high} 个字符（现为 {len(reason)}）/ a return needs a reason of {low}–{high} characters")
            returns[code] = reason
    return receiver, returns, problems


def page(desk: Any, batch_id: str, token: str, problems: list[str] | None = None) -> str:
    """The review page of a pulled and checked batch."""
    out = desk.batch(batch_id)
    listing = json.loads((out / "transfer-list.json").read_text("utf-8"))
    checks = json.loads((out / "checks.json").read_text("utf-8"))
    e = html.escape
    parts = [f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>接收审核 {e(batch_id)}</title><style>{STYLE}</style></head><body>",
             f"<h1>电子档案接收审核 批次 {e(batch_id)}</h1>",
             f"<p>接收单位 {e(str(listing.get('institution_name', '')))}（{e(listing['institution'])}）　移交人 {e(str(listing.get('transferor', '')))}"
             f"　移交日期 {e(str(listing.get('transfer_date', '')))}　共 {len(listing['packages'])} 件</p>",
             "<p class='note'>接收检测由本单位在本机以本单位的信任锚执行，为权威结果；移交方的预检仅供参考，本页不采用。</p>"]
    if problems:
        parts.append("<div role='alert' class='fail'><p>未发送，请更正：</p><ul>" + "".join(f"<li>{e(p)}</li>" for p in problems) + "</ul></div>")
    parts.append(f"<form method='post' action='/{token}/reply'>")
    for n, p in enumerate(listing["packages"]):
        code = p["record_code"]
        c = checks.get(code, {})
        word = check_word(len(c.get("failed") or []), len(c["manual"]) if isinstance(c.get("manual"), list) else None)
        verdict = (f"<span class='pass'>{e(word)}</span>" if c.get("passed")
                   else f"<span class='fail'>{e(word)}：" + e("、".join(c.get("failed", []))) + "</span>")
        rows = "".join(f"<tr><td>{e(r['id'])}</td><td>{e(str(r.get('property', '')))}</td><td class='{'fail' if r['status'] == 'fail' else 'pass'}'>"
                       f"{e(r['status'])}</td><td>{e(beijing(r.get('checked_at')))}</td></tr>" for r in c.get("results", []))
        parts += [f"<section id='pkg-{n}'><h2>{n + 1}. {e(code)}</h2>",
                  f"<p>办理事项 {e(str(p.get('task_name', '')))}　办件编号 {e(str(p.get('project_id', '')))}　SM3 <code>{e(p['digest']['value'])}</code></p>",
                  f"<p>接收检测：{verdict}（北京时间 {e(beijing(c.get('checked_at')))}）</p>",
                  f"<details><summary>检测项目 {len(c.get('results', []))} 项</summary><table><tr><th>编号</th><th>属性</th><th>结果</th>"
                  f"<th>检测时间（北京）</th></tr>{rows}</table></details>"]
        metadata, materials = _contents(out / "packages" / f"{code}.zip")
        parts.append("<h3>材料</h3><ul>" + "".join(f"<li><a href='/{token}/file/{n}/{urllib.parse.quote(name)}' target='_blank'>{e(name)}</a>"
                                                  f"（{size} 字节）</li>" for name, size in materials) + "</ul>")
        parts.append(f"<details><summary>元数据</summary><pre>{e(metadata)}</pre></details>")
        failed = not c.get("passed")
        parts.append(f"<p><label><input type='radio' name='decision-{n}' value='accept' {'disabled' if failed else 'checked'}> 接收</label>　"
                     f"<label><input type='radio' name='decision-{n}' value='return' {'checked' if failed else ''}> 退回</label></p>"
                     f"<p><label>退回原因（{REASON_CHARS[0]}–{REASON_CHARS[1]} 字）<textarea name='reason-{n}' minlength='{REASON_CHARS[0]}' "
                     f"maxlength='{REASON_CHARS[1]}'>{e(failed_reason(c)) if failed else ''}</textarea></label></p></section>")
    parts += ["<p><label>接收人 <input name='receiver' required></label></p>",
              "<p><button type='submit'>签署并发送回执</button> <span class='note'>以本单位的密钥签署回执与移交清单，然后发送给移交方。</span></p>",
              "</form></body></html>"]
    return "".join(parts)


def _contents(path: Path) -> tuple[str, list[tuple[str, int]]]:
    """The package's basic metadata (as text) and its materials (name, size)."""
    with zipfile.ZipFile(path) as z:
        materials = [(i.filename, i.file_size) for i in z.infolist() if i.filename.startswith(MATERIAL_DIRS) and not i.is_dir()]
        meta = next((i for i in z.infolist() if i.filename.endswith("元数据.xml") and "/" not in i.filename), None)
        text = z.read(meta).decode("utf-8", "replace")[:20000] if meta else "（无基本信息元数据）"
    return text, materials


def serve(desk: Any, batch_id: str, send: Callable[[str, dict[str, str]], dict[str, Any]], port: int = 0) -> http.server.ThreadingHTTPServer:
    """Serve the page on 127.0.0.1 (a random path token: another local user's page cannot post here); ``send`` makes and sends the reply."""
    token = secrets.token_urlsafe(16)
    listing = json.loads((desk.batch(batch_id) / "transfer-list.json").read_text("utf-8"))
    codes = [p["record_code"] for p in listing["packages"]]
    sent: dict[str, Any] = {}
    sending = threading.Lock()  # one reply per page, however often the button is pressed

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet: the command prints what matters
            pass

        def _reply(self, status: int, body: bytes, ctype: str = "text/html; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; frame-ancestors 'none'")
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = urllib.parse.unquote(self.path)
            if path in (f"/{token}", f"/{token}/"):
                return self._reply(200, page(desk, batch_id, token).encode())
            prefix = f"/{token}/file/"
            if path.startswith(prefix):
                n, _, name = path[len(prefix):].partition("/")
                if n.isdigit() and int(n) < len(codes):
                    with zipfile.ZipFile(desk.batch(batch_id) / "packages" / f"{codes[int(n)]}.zip") as z:
                        if name.startswith(MATERIAL_DIRS) and name in z.namelist():
                            ctype = INLINE.get(Path(name).suffix.lower(), "application/octet-stream")
                            return self._reply(200, z.read(name), ctype)
            return self._reply(404, "未找到 / not found".encode())

        def do_POST(self) -> None:
            if self.path != f"/{token}/reply":
                return self._reply(404, b"not found")
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length < 4 * 1024**2:
                return self._reply(413, "表单过大 / form too large".encode())
            form = {k: v[0] for k, v in urllib.parse.parse_qs(self.rfile.read(length).decode("utf-8", "replace")).items()}
            receiver, returns, problems = validate(form, codes)
            if problems:
                return self._reply(400, page(desk, batch_id, token, problems).encode())
            if not sending.acquire(blocking=False) or sent:
                return self._reply(409, "回执已发送或正在发送，不再重复发送 / the reply is sent or being sent already".encode())
            try:
                sent.update(send(receiver, returns))
            except Exception as exc:  # noqa: BLE001 - any failure is shown to the person who pressed the button, and nothing was sent
                sending.release()
                return self._reply(500, page(desk, batch_id, token, [f"发送失败 / not sent: {exc}"]).encode())
            back = [p for p, o in sent.get("outcomes", {}).items() if o == "RETURNED"]
            body = (f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>回执已发送</title><style>{STYLE}</style></head><body>"
                    f"<h1 id='sent'>回执已签署并发送</h1><p>回执编号 {html.escape(sent.get('reply_id', ''))}：接收 {len(codes) - len(back)} 件，"
                    f"退回 {len(back)} 件。</p><p class='note'>{html.escape(sent.get('key', ''))}</p></body></html>")
            return self._reply(200, body.encode())

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.url = f"http://127.0.0.1:{server.server_address[1]}/{token}/"  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
