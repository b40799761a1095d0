/* earchive 控制台 · 接收审核: the receiver's batch page (loaded after app.js, whose helpers it uses).
 *
 * The institution's key never leaves this browser: the key file the receiver picks is imported by WebCrypto
 * as non-extractable and signs what the server prepared — first the printed list's approval (接收方签章),
 * then the reply itself. The server verifies each value against the certificate and sends the reply where
 * `earchive receive` sends it; the window verifies it as any other. Case text is shown as text only.
 */
"use strict";

function b64bytes(text) { return Uint8Array.from(atob(text), (c) => c.charCodeAt(0)); }
function bytesB64(buffer) { return btoa(String.fromCharCode(...new Uint8Array(buffer))); }
function pemDer(text, label) {
  const m = String(text).match(new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`));
  return m ? b64bytes(m[1].replace(/\s+/g, "")) : null;
}
async function importSigningKey(file) {
  if (!window.crypto || !crypto.subtle) throw new Error("浏览器签署需要 HTTPS 或本机地址（安全上下文）");
  const der = pemDer(await file.text(), "PRIVATE KEY");
  if (!der) throw new Error("密钥文件应为未加密的 PKCS#8 PEM（-----BEGIN PRIVATE KEY-----，即 earchive receive init 生成的 reply-signer.key.pem）");
  try {
    return await crypto.subtle.importKey("pkcs8", der, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  } catch (err) { throw new Error("无法读取密钥：浏览器签署只支持 ECDSA P-256 密钥（SM2、RSA 请在本单位电脑上用 earchive receive）"); }
}
const MESSAGE_DIGEST = "1.2.840.113549.1.9.4", SINGLE = ["1.2.840.113549.1.9.3", MESSAGE_DIGEST, "1.2.840.113549.1.9.5"];
/* One DER element at `at`: [tag, start of content, end]; only definite, minimal lengths (what DER allows). */
function derElement(bytes, at) {
  if (at + 2 > bytes.length) throw new Error("截断");
  const tag = bytes[at];
  let len = bytes[at + 1], start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 3 || start + n > bytes.length) throw new Error("长度编码不合规");
    len = 0;
    for (let k = 0; k < n; k++) len = len * 256 + bytes[start + k];
    if (bytes[start] === 0 || len < 128 || (n > 1 && len < 256 ** (n - 1))) throw new Error("长度不是最短编码（非 DER）");
    start += n;
  }
  if (start + len > bytes.length) throw new Error("截断");
  if ((tag & 0x1f) === 0x1f) throw new Error("多字节标签不合规");
  return [tag, start, start + len, at];
}
function derChildren(bytes, start, end) {
  const out = [];
  for (let at = start; at < end;) { const el = derElement(bytes, at); out.push(el); at = el[2]; }
  return out;
}
function oidText(bytes, start, end) {
  const parts = [Math.floor(bytes[start] / 40), bytes[start] % 40];
  let v = 0;
  for (let i = start + 1; i < end; i++) { v = v * 128 + (bytes[i] & 0x7f); if (!(bytes[i] & 0x80)) { parts.push(v); v = 0; } }
  return parts.join(".");
}
function lessOrEqual(a, b) {  // DER's SET OF order: encodings compared as octet strings
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] < b[i];
  return a.length <= b.length;
}
/* The messageDigest the signed attributes carry, read as ASN.1 (issue 21): the whole input one DER SET, sorted, each attribute
 * type once, contentType, messageDigest and signingTime single-valued; anything else is refused before the key signs. */
function signedDigest(attrs) {
  const [tag, start, end] = derElement(attrs, 0);
  if (tag !== 0x31 || end !== attrs.length) throw new Error("待签署的属性不是一个完整的 SET");
  const seen = new Set();
  let digest = null, previous = null;
  for (const [t, s, e, head] of derChildren(attrs, start, end)) {
    const encoding = attrs.slice(head, e);
    if (previous && !lessOrEqual(previous, encoding)) throw new Error("属性未按 DER 排序");
    previous = encoding;
    const [oid, values] = derChildren(attrs, s, e);
    if (t !== 0x30 || !oid || oid[0] !== 0x06 || !values || values[0] !== 0x31) throw new Error("属性结构不合规");
    const type = oidText(attrs, oid[1], oid[2]);
    if (seen.has(type)) throw new Error(`属性 ${type} 出现多次`);
    seen.add(type);
    const items = derChildren(attrs, values[1], values[2]);
    if (SINGLE.includes(type) && items.length !== 1) throw new Error(`属性 ${type} 有 ${items.length} 个值`);
    if (type === MESSAGE_DIGEST) {
      const [vt, vs, ve] = items[0];
      if (vt !== 0x04 || ve - vs !== 32) throw new Error("messageDigest 不是 32 字节的 OCTET STRING");
      digest = attrs.slice(vs, ve);
    }
  }
  if (!digest) throw new Error("待签署的属性中没有 messageDigest");
  return digest;
}
/* The printed list's approval, checked too (issue 21): the prepared PDF begins with the list the window certified (its SHA-256 is
 * in the reply), and the messageDigest is SHA-256 of its /ByteRange — the whole file but the signature's own hole. */
async function pdfDigest(prepared, certifiedSha256) {
  const text = new TextDecoder("latin1").decode(prepared);
  let found = false;
  for (let at = text.indexOf("%%EOF"); at >= 0 && !found; at = text.indexOf("%%EOF", at + 5)) {
    for (const end of [at + 5, at + 6, at + 7]) {
      if (end <= prepared.length && hex(await crypto.subtle.digest("SHA-256", prepared.slice(0, end))) === certifiedSha256) { found = true; break; }
    }
  }
  if (!found) throw new Error("准备签署的登记表不是移交单位认证的那一份，未签署");
  const m = [...text.matchAll(/\/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]/g)].pop();
  if (!m) throw new Error("准备签署的登记表没有签名字节范围");
  const [a, b, c, d] = m.slice(1).map(Number);
  if (a !== 0 || b >= c || c + d !== prepared.length) throw new Error("签名字节范围没有覆盖整份登记表，未签署");
  const covered = new Uint8Array(b + d);
  covered.set(prepared.slice(0, b), 0);
  covered.set(prepared.slice(c, c + d), b);
  return new Uint8Array(await crypto.subtle.digest("SHA-256", covered));
}
function hex(buffer) { return [...new Uint8Array(buffer)].map((x) => x.toString(16).padStart(2, "0")).join(""); }
function sameBytes(a, b) { return a && b && a.length === b.length && a.every((x, i) => x === b[i]); }
/* What the server asks the key to sign is checked against what the receiver chose, before the key signs it. */
function checkDraft(doc, id, chosen) {
  if (doc.batch_id !== id) throw new Error(`服务器给出的回执属于另一批次（${doc.batch_id}），未签署`);
  if (doc.packages.length !== Object.keys(chosen).length) throw new Error("服务器给出的回执与本页的信息包数量不一致，未签署");
  for (const p of doc.packages) {
    if (!(p.package_id in chosen)) throw new Error(`服务器给出的回执含本页没有的信息包 ${p.package_id}，未签署`);
    const want = chosen[p.package_id];
    const ok = want === null ? p.outcome === "ACCEPTED"
      : p.outcome === "RETURNED" && (want === "" ? String(p.reason || "").startsWith("接收检测不合格") : p.reason === want);
    if (!ok) throw new Error(`服务器给出的回执中 ${p.package_id} 的决定与您的选择不一致，未签署`);
  }
}
function withoutPdf(doc) { const { list_pdf_sha256, signed_pdf_sha256, ...rest } = doc; return JSON.stringify(rest); }
async function postAgain(path, body) {  // a lost answer or an outage: the same request again (the server answers it once)
  for (let attempt = 1; ; attempt++) {
    try { return await api("POST", path, body); } catch (err) {
      if (attempt >= 3 || (err.status && err.status < 500)) throw err;
      await new Promise((r) => setTimeout(r, 1500 * attempt));
    }
  }
}

function sizeText(n) { return n >= 1048576 ? `${(n / 1048576).toFixed(1)} MB` : `${Math.ceil((n || 0) / 1024)} KB`; }

async function inboxBatchPage(id) {
  show(h("p", { class: "muted" }, "加载中……"));
  let v;
  try { v = await api("GET", `api/inbox/${enc(id)}`); } catch (err) { return show(failed(err)); }
  const b = v.batch, [low, high] = v.reason_chars;
  const may = S.me.roles.includes("receiver") && v.waiting;
  const open = (code, kind) => async (e) => {
    e.preventDefault();
    try { window.open((await api("GET", `api/inbox/${enc(id)}/files/${enc(code)}?kind=${kind}`)).url, "_blank", "noopener"); }
    catch (err) { out.replaceChildren(failed(err)); }
  };
  const decisions = v.packages.map((p, n) => {
    const accept = h("input", { type: "radio", name: `d${n}`, value: "accept", id: `accept-${n}`, checked: p.passed === true, disabled: p.passed !== true || !may });
    const back = h("input", { type: "radio", name: `d${n}`, value: "return", id: `return-${n}`, checked: p.passed !== true, disabled: !may });
    const reason = h("textarea", { id: `reason-${n}`, rows: 2, maxlength: high, disabled: !may,
      placeholder: p.passed === true ? `退回原因（${low}–${high} 字）` : `不填则为：接收检测不合格：${p.failed.map((f) => f.id).join("、") || "未检测"}` });
    return { p, accept, back, reason };
  });
  const out = h("div", { id: "reply-out" });
  const receiver = h("input", { type: "text", id: "receiver", value: S.me.name || "", maxlength: 100, required: true });
  const keyFile = h("input", { type: "file", id: "key-file", accept: ".pem,.key" });
  const certFile = h("input", { type: "file", id: "cert-file", accept: ".pem,.crt,.cer" });
  const send = h("button", { id: "sign-reply", type: "submit" }, "用本单位密钥签章并发送回执");
  const form = h("form", { class: "card", id: "reply-form", onsubmit: async (e) => {
    e.preventDefault();
    const returns = {}, chosen = {}, problems = [];
    for (const d of decisions) {
      chosen[d.p.record_code] = null;
      if (!d.back.checked) continue;
      const text = d.reason.value.trim();
      chosen[d.p.record_code] = text;
      if (!text && d.p.passed !== true) continue;  // a package that failed its check goes back with its failed tests named
      if (text.length < low || text.length > high) problems.push(`${d.p.record_code}：退回原因须为 ${low}–${high} 字（现为 ${text.length}）`);
      returns[d.p.record_code] = text;
    }
    if (!receiver.value.trim()) problems.push("请填写接收人");
    if (!keyFile.files[0] || !certFile.files[0]) problems.push("请选择本单位的回执签名密钥和证书文件");
    if (problems.length) return out.replaceChildren(notice("error", problems.join("；")));
    send.disabled = true;
    const say = (text) => out.replaceChildren(notice("info", text));
    try {
      const key = await importSigningKey(keyFile.files[0]);
      say("1/3 正在起草回执……");
      let r = await api("POST", `api/inbox/${enc(id)}/reply`, { receiver: receiver.value.trim(), returns, certificate: await certFile.files[0].text() });
      const signed = [];
      let drafted = null, listPdf = null;
      while (r.step !== "sent") {
        const doc = JSON.parse(new TextDecoder().decode(b64bytes(r.document)));
        checkDraft(doc, id, chosen);
        const toSign = b64bytes(r.to_sign);
        try { await checkStep(r, doc, toSign); } catch (err) {  // nothing the page did not check is ever signed
          throw new Error(err.message.endsWith("未签署") ? err.message : `待签署的内容不合规（${err.message}），未签署`);
        }
        say(r.step === "pdf" ? "2/3 正在签署登记表（接收方签章）……" : "3/3 正在签署回执并发送……");
        const signature = bytesB64(await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, toSign));
        signed.push(r.step);
        r = await postAgain(`api/inbox/${enc(id)}/reply/${enc(r.session)}`, { step_token: r.step_token, signature });
      }
      async function checkStep(r, doc, toSign) {
        if (r.step === "pdf" && signed.length === 0) {
          drafted = withoutPdf(doc);
          listPdf = r.list_pdf_sha256;
          if (!v.printed_list_sha256 || listPdf !== v.printed_list_sha256)  // the list this page showed, not one the answer names
            throw new Error("准备签署的登记表不是本页显示的那一份（SHA-256 不符），未签署");
          if (!r.prepared_pdf || !sameBytes(signedDigest(toSign), await pdfDigest(b64bytes(r.prepared_pdf), listPdf)))
            throw new Error("待签署的内容不是这份登记表（摘要不符），未签署");
        } else if (r.step === "reply" && signed.length === (drafted ? 1 : 0) && (!drafted || (withoutPdf(doc) === drafted
                   && doc.list_pdf_sha256 === listPdf))) {
          const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", b64bytes(r.document)));
          if (!sameBytes(signedDigest(toSign), digest)) throw new Error("待签署的内容不是这份回执（摘要不符），未签署");
        } else throw new Error(`服务器要求的签署步骤不对（${r.step}），未签署`);
      }
      const back = Object.values(r.outcomes).filter((o) => o === "RETURNED").length;
      out.replaceChildren(notice("done", h("span", { id: "reply-sent" }, `回执 ${r.reply_id} 已签章并发送：接收 ${Object.keys(r.outcomes).length - back} 件，退回 ${back} 件。`),
        "移交单位核验签名后生效，本页稍后刷新。"));
      const here = location.hash;
      setTimeout(() => { if (location.hash === here) inboxBatchPage(id); }, 8000);
    } catch (err) { out.replaceChildren(failed(err)); send.disabled = false; }
  } },
  h("h2", {}, "签署回执"),
  h("p", { class: "muted" }, "密钥只在本浏览器中使用，不上传；服务器只收到签名值并核验。也可在本单位电脑上用 earchive receive review 签署，效果相同。"),
  h("div", { class: "filters" }, h("label", {}, "接收人", receiver), h("label", {}, "回执签名密钥（reply-signer.key.pem）", keyFile),
    h("label", {}, "证书（reply-signer.pem）", certFile), send));
  show(
    h("h1", {}, `接收审核 · 批次 ${b.batch_id} `, badge(b.status, "batch_status")),
    v.decision ? notice(v.decision.status === "ACCEPTED" ? "done" : "info", h("span", { id: "batch-decision" }, `本批次已决定：${v.decision.outcome}。`),
      `接收人 ${v.decision.receiver || "—"}，决定时间 ${beijing(v.decision.decided_at)}（北京时间）。`)
      : v.waiting ? null : notice("info", "本批次现在不等待接收单位的决定（尚在接收检测中）。"),
    v.refused_replies.length ? h("div", { id: "refused-replies" }, v.refused_replies.map((r) => notice("error",
      h("div", {}, r.lead), h("ul", {}, r.problems.map((p) => h("li", {}, p)))))) : "",
    grid([["移交人", b.transferor], ["审核人", b.reviewer], ["接收单位", `${b.institution_name || ""}（${b.institution}）`], ["数量", b.package_count],
      ["提交时间", beijing(b.submitted_at || b.created_at)], ["补交自", b.resubmits], ["清单 SHA-256", h("span", { class: "mono" }, v.list_sha256)],
      ["登记表 SHA-256", h("span", { class: "mono", id: "printed-list-sha256" }, v.printed_list_sha256 || "—")],
      ["登记表", !v.printed_list ? "—" : v.decision ? (v.decision.both_signed ? "移交单位、接收单位均已签章" : "移交单位已签章；接收单位签章见回执")
        : "移交单位已签章（接收方签章将加在其后）"]]),
    h("h2", {}, "移交清单（表 A.1）"),
    h("table", {}, h("thead", {}, h("tr", {}, ["序号", "办理事项名称", "事项类型", "归档信息包数量", "检测意见", "备注"].map((t) => h("th", {}, t)))),
      h("tbody", {}, v.rows.map((r) => h("tr", {}, h("td", { class: "num" }, r["序号"]), h("td", {}, r["办理事项名称"]), h("td", {}, r["事项类型"]),
        h("td", { class: "num" }, r["归档信息包数量"]), h("td", {}, r["检测意见"]), h("td", {}, r["备注"]))))),
    h("h2", {}, "信息包与接收检测"),
    h("table", { id: "inbox-packages" }, h("thead", {}, h("tr", {}, ["电子文件号", "办理事项", "版本", "大小", "接收检测", "决定", "退回原因"].map((t) => h("th", {}, t)))),
      h("tbody", {}, decisions.map((d) => h("tr", { class: (d.p.decision ? d.p.decision === "ACCEPTED" : d.p.passed === true) ? "" : "bad" },
        h("td", {}, h("div", { class: "mono" }, d.p.record_code), h("a", { href: "#", onclick: open(d.p.record_code, "report") }, "检测报告"), " · ",
          h("a", { href: "#", onclick: open(d.p.record_code, "package") }, "下载信息包")),
        h("td", {}, d.p.task_name), h("td", { class: "num" }, d.p.version), h("td", { class: "num" }, sizeText(d.p.size)),
        h("td", {}, !d.p.checked ? h("span", { class: "warn" }, "未检测") : d.p.passed ? h("span", { class: "ok" }, `${d.p.verdict_zh}（${beijing(d.p.checked_at)}）`)
          : h("div", {}, h("span", { class: "fail" }, "不合格"), d.p.failed.map((f) => h("div", {}, `${f.id} ${f.name || ""}：${detailText(f.detail)}`)))),
        d.p.decision  // decided: what was decided and why, never the radios of a decision still to take (N2)
          ? [h("td", {}, h("span", { class: d.p.decision === "ACCEPTED" ? "ok" : "fail", "data-decision": d.p.decision }, d.p.decision_zh)),
            h("td", { class: "reason" }, d.p.reason || "")]
          : [h("td", {}, h("label", {}, d.accept, "接收"), " ", h("label", {}, d.back, "退回")), h("td", {}, d.reason)])))),
    may ? form : null,
    out,
    h("h2", {}, "历史"),
    h("table", {}, h("thead", {}, h("tr", {}, ["时间（北京）", "操作者", "操作", "结果"].map((t) => h("th", {}, t)))),
      h("tbody", {}, v.history.map((e) => h("tr", {}, h("td", {}, beijing(e.at || e.time)), h("td", {}, e.actor), h("td", {}, e.action), h("td", {}, e.result))))));
}
