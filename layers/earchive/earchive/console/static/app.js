/* earchive 控制台: one page, hash routes, every datum through /api with the signed-in user's token.
 *
 * Case text is hostile input: every value reaches the page through textContent or an attribute set
 * by the DOM API (h() below); nothing from the API is ever parsed as HTML. No inline script or style
 * (the Content-Security-Policy forbids both), nothing fetched from outside this system.
 */
"use strict";

const S = { config: null, me: null, token: sessionStorage.getItem("earchive.token"), schema: null };
const L = (table, code) => (S.config && S.config.labels[table] && S.config.labels[table][code]) || code || "—";

/* ---------------------------------------------------------------- DOM helpers (text only) */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k in el && typeof v !== "string") el[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const main = () => document.getElementById("main");
function show(...nodes) { const m = main(); m.replaceChildren(...nodes.flat(Infinity).filter((n) => n !== null && n !== undefined && n !== false)); window.scrollTo(0, 0); }
function notice(kind, ...text) { return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, ...text); }
function beijing(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (isNaN(d)) return String(iso);
  const b = new Date(d.getTime() + 8 * 3600 * 1000);
  return b.toISOString().slice(0, 19).replace("T", " ");
}
function badge(status, table = "case_status") { return h("span", { class: `badge ${status || ""}` }, L(table, status)); }
function enc(s) { return encodeURIComponent(s); }
function detailText(d) { return !d ? "" : (typeof d === "string" ? d : JSON.stringify(d)).slice(0, 300); }

/* ---------------------------------------------------------------- API */
class ApiError extends Error { constructor(status, message) { super(message); this.status = status; } }
/* The API's base: "" where the API serves this page; its https origin where the province's web server does (config.json "api", ICP). */
const apiUrl = (path) => `${(S.config && S.config.api) || ""}${path}`;
async function api(method, path, body) {
  const res = await fetch(apiUrl(path), {
    method, headers: { "Authorization": `Bearer ${S.token || ""}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (res.status === 401) { signOut("登录已过期或无效，请重新登录。"); throw new ApiError(401, "请先登录"); }
  if (!res.ok) throw new ApiError(res.status, (data && (data.error || data.message)) || `请求失败（${res.status}）`);
  return data;
}
function failed(err) { return notice("error", `出错了：${err.message}`); }

/* ---------------------------------------------------------------- sign-in: the local form, or OIDC with PKCE */
function signOut(message) {
  sessionStorage.removeItem("earchive.token"); S.token = null; S.me = null;
  location.hash = "#/login"; if (message) sessionStorage.setItem("earchive.message", message);
}
function b64url(bytes) { return btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, ""); }
async function oidcStart() {
  const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
  const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
  const state = b64url(crypto.getRandomValues(new Uint8Array(16)));
  sessionStorage.setItem("earchive.pkce", JSON.stringify({ verifier, state }));
  const q = new URLSearchParams({ response_type: "code", client_id: S.config.client_id, redirect_uri: location.origin + location.pathname,
    scope: "openid profile", code_challenge: challenge, code_challenge_method: "S256", state });
  location.assign(`${S.config.authorize_url}?${q}`);
}
async function oidcFinish(params) {
  const saved = JSON.parse(sessionStorage.getItem("earchive.pkce") || "{}");
  sessionStorage.removeItem("earchive.pkce");
  if (!saved.state || saved.state !== params.get("state")) throw new Error("登录回调的 state 不符，已拒绝");
  const res = await fetch(S.config.token_url, { method: "POST", headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code: params.get("code"), client_id: S.config.client_id,
      redirect_uri: location.origin + location.pathname, code_verifier: saved.verifier }) });
  const data = await res.json();
  if (!res.ok || !data.id_token) throw new Error("身份平台未发放令牌");
  setToken(data.id_token);
  history.replaceState(null, "", location.pathname + "#/cases");
}
function setToken(t) { S.token = t; sessionStorage.setItem("earchive.token", t); }
function loginPage() {
  const msg = sessionStorage.getItem("earchive.message"); sessionStorage.removeItem("earchive.message");
  if (!S.config.local_login) {
    return show(h("div", { class: "card login" }, h("h1", {}, "登录"), msg && notice("info", msg),
      h("p", {}, "使用本单位的统一身份认证账号登录。"), h("button", { id: "oidc-login", onclick: () => oidcStart() }, "前往统一身份认证登录")));
  }
  const user = h("input", { type: "text", id: "username", autocomplete: "username", required: true });
  const pass = h("input", { type: "password", id: "password", autocomplete: "current-password", required: true });
  const out = h("div");
  const fresh = h("input", { type: "password", id: "new-password", autocomplete: "new-password" });
  const choose = h("label", { hidden: true }, "新密码（首次登录须修改临时密码）", fresh);
  let session = null;
  const form = h("form", { class: "card login", onsubmit: async (e) => {
    e.preventDefault();
    const body = session ? { username: user.value, session, new_password: fresh.value } : { username: user.value, password: pass.value };
    const res = await fetch("auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) { out.replaceChildren(notice("error", data.error || "登录失败")); return; }
    if (data.challenge === "NEW_PASSWORD_REQUIRED") {  // a user the admin just made: their own password replaces the temporary one
      session = data.session; choose.hidden = false; fresh.required = true; fresh.focus();
      out.replaceChildren(notice("info", "这是临时密码：请设置您自己的新密码后登录。"));
      return;
    }
    setToken(data.id_token); location.hash = "#/cases"; route();
  } }, h("h1", {}, "登录（本地云）"), msg && notice("info", msg),
    h("label", {}, "用户名", user), h("label", {}, "密码", pass), choose, h("button", { type: "submit", id: "login" }, "登录"), out,
    h("p", { class: "muted" }, "本地云的用户由 `earchive local up` 创建并打印；正式部署使用统一身份认证。"));
  show(form); user.focus();
}

/* ---------------------------------------------------------------- navigation by role */
const NAV = [
  ["#/cases", "办件与档案", ["window_clerk", "window_reviewer", "auditor"]],
  ["#/entry", "人工录入", ["window_clerk"]],
  ["#/transfer/new", "申请移交", ["window_clerk"]],
  ["#/batches", "移交记录", ["window_clerk", "window_reviewer", "auditor"]],
  ["#/inbox", "待接收", ["receiver", "auditor"]],
  ["#/log", "审计日志", ["auditor"]],
  ["#/users", "用户管理", ["admin"]],
  ["#/config", "归档配置", ["admin"]],
];
function renderNav() {
  const roles = new Set(S.me ? S.me.roles : []);
  const here = location.hash.split("?")[0];
  document.getElementById("nav").replaceChildren(...NAV.filter(([, , r]) => r.some((x) => roles.has(x)))
    .map(([href, text]) => h("a", { href, class: here.startsWith(href) ? "on" : "" }, text)));
  document.getElementById("who").replaceChildren(...(S.me ? [
    h("span", { id: "whoami" }, `${S.me.name}（${S.me.roles.map((r) => L("roles", r)).join("、") || "无角色"}）`),
    h("button", { class: "plain", onclick: () => signOut("已退出。") }, "退出")] : []));
}

/* ---------------------------------------------------------------- 办件列表 */
const STATUSES = ["", "REJECTED", "FAILED", "RETURNED", "ARCHIVED", "ACCEPTED", "RECEIVED", "PACKED", "SEALED", "CHECKED", "REGISTERED"];
function query() { return new URLSearchParams(location.hash.split("?")[1] || ""); }
async function casesPage() {
  const q = query();
  const f = {
    status: h("select", { name: "status" }, STATUSES.map((s) => h("option", { value: s, selected: q.get("status") === s }, s ? L("case_status", s) : "全部状态"))),
    task_code: h("input", { type: "text", name: "task_code", value: q.get("task_code") || "", placeholder: "事项编码" }),
    task_type: h("select", { name: "task_type" }, ["", "行政权力事项", "公共服务事项"].map((t) => h("option", { value: t, selected: q.get("task_type") === t }, t || "全部类型"))),
    since: h("input", { type: "date", name: "since", value: q.get("since") || "" }),
    until: h("input", { type: "date", name: "until", value: q.get("until") || "" }),
    find: h("input", { type: "text", name: "find", value: q.get("find") || "", placeholder: "电子文件号或办件编号" }),
  };
  const go = (extra) => {
    const p = new URLSearchParams();
    for (const [k, el] of Object.entries(f)) if (el.value) p.set(k, el.value);
    for (const [k, v] of Object.entries(extra || {})) if (v) p.set(k, v);
    location.hash = `#/cases?${p}`;
  };
  const filters = h("form", { class: "filters card", onsubmit: (e) => { e.preventDefault(); go(); } },
    h("label", {}, "状态", f.status), h("label", {}, "事项", f.task_code), h("label", {}, "事项类型", f.task_type),
    h("label", {}, "变更自", f.since), h("label", {}, "至", f.until), h("label", {}, "查找", f.find), h("button", { type: "submit" }, "查询"));
  const body = h("div", {}, h("p", { class: "muted" }, "查询中……"));
  show(h("h1", {}, "办件与档案"), filters, body);
  try {
    const p = new URLSearchParams(q); p.delete("back");
    const page = await api("GET", `api/cases?${p}`);
    const rows = page.items.map((i) => h("tr", { class: ["REJECTED", "FAILED", "RETURNED"].includes(i.status) ? "bad" : "" },
      h("td", {}, h("a", { href: `#/case/${enc(i.package_id)}` }, i.record_code || "（未编号的上传）")),
      h("td", { class: "mono" }, i.project_id || "—"), h("td", {}, i.task_name || "—"), h("td", {}, i.task_type || "—"),
      h("td", {}, badge(i.status), i.corrected_by ? h("span", { class: "muted" }, " 已补录重传") : null),
      h("td", {}, beijing(i.updated_at || i.rejected_at || i.received_at)), h("td", {}, i.transfer_batch || "")));
    const back = (q.get("back") || "").split(",").filter(Boolean);
    body.replaceChildren(
      h("p", { class: "muted" }, `窗口 ${page.hall}；本页 ${page.items.length} 条（${q.get("status") ? "按最近变更排序，新的在前" : "按状态分组，组内新的在前"}；日期按北京时间）`),
      h("table", { id: "cases" }, h("thead", {}, h("tr", {}, ["电子文件号", "办件编号", "事项名称", "事项类型", "状态", "最近变更（北京时间）", "移交批次"].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "没有符合条件的办件")))),
      h("div", { class: "pager" },
        h("button", { class: "plain", disabled: !back.length, onclick: () => { const prev = back.slice(0, -1); go({ cursor: back[back.length - 1] === "-" ? "" : back[back.length - 1], back: prev.join(",") }); } }, "上一页"),
        h("button", { class: "plain", id: "next", disabled: !page.cursor, onclick: () => go({ cursor: page.cursor, back: [...back, q.get("cursor") || "-"].join(",") }) }, "下一页")));
  } catch (err) { body.replaceChildren(failed(err)); }
}

/* ---------------------------------------------------------------- 一个办件 */
function grid(pairs) {
  return h("div", { class: "grid" }, pairs.flatMap(([k, v]) => [h("div", { class: "k" }, k), h("div", {}, v === undefined || v === null || v === "" ? "—" : v)]));
}
async function casePage(pid) {
  show(h("p", { class: "muted" }, "加载中……"));
  let d;
  try { d = await api("GET", `api/cases/${enc(pid)}`); } catch (err) { return show(failed(err)); }
  const i = d.item;
  const fixable = ["REJECTED", "RETURNED"].includes(i.status) && S.me.roles.includes("window_clerk");
  const openMaterial = async (member, out) => {
    try { const r = await api("GET", `api/cases/${enc(pid)}/materials/${enc(member)}`); window.open(r.url, "_blank", "noopener"); }
    catch (err) { out.replaceChildren(failed(err)); }
  };
  const matOut = h("div");
  show(
    h("h1", {}, i.record_code || "未编号的上传", " ", badge(i.status)),
    fixable ? h("div", { class: "actions" }, h("a", { href: `#/fix/${enc(i.package_id)}` }, h("button", { id: "fix" }, "补录（修正后重新归档）"))) : null,
    i.corrected_by ? notice("info", `已提交补录：${i.corrected_by}`) : null,
    d.problems.length ? h("div", {}, h("h2", {}, "不能归档的原因"), h("table", { id: "problems" },
      h("thead", {}, h("tr", {}, ["规则", "文件", "原因与处理", "谁来修正"].map((t) => h("th", {}, t)))),
      h("tbody", {}, d.problems.map((p) => h("tr", { class: "bad" }, h("td", { class: "mono" }, p.rule), h("td", {}, p.file || "—"),
        h("td", {}, p.reason_zh, h("div", { class: "muted mono" }, p.message)), h("td", {}, p.fixer)))))) : null,
    h("h2", {}, "元数据"),
    grid([["办件编号", i.project_id], ["事项名称", i.task_name], ["事项编码", i.task_code], ["事项类型", i.task_type],
      ["行政区划", i.region_code], ["全宗号", i.fonds_identifier], ["保管期限", L("retention", i.retention_period)], ["保管至", i.retain_until && String(i.retain_until).slice(0, 10)],
      ["版本", i.package_version], ["文件数", i.total_number], ["包 SM3", i.package_sm3 && h("span", { class: "mono" }, i.package_sm3)],
      ["移交批次", i.transfer_batch]]),
    h("h2", {}, "材料"),
    d.materials.length ? h("table", { id: "materials" }, h("thead", {}, h("tr", {}, ["序号", "类别", "信息包中的文件", "平台文件", "大小（字节）", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, d.materials.map((m) => h("tr", {}, h("td", { class: "num" }, m.seq), h("td", {}, m.category), h("td", { class: "mono" }, m.member),
        h("td", {}, m.source_file), h("td", { class: "num" }, m.size),
        h("td", {}, h("button", { class: "plain", onclick: () => openMaterial(m.member, matOut) }, "预览 / 下载")))))) : h("p", { class: "muted" }, "尚未归档：材料见补录页。"),
    matOut,
    h("h2", {}, "归档检测（DA/T 70）"),
    d.report_error ? notice("error", d.report_error) : null,
    d.results.length ? h("table", { id: "results" }, h("thead", {}, h("tr", {}, ["编号", "名称", "性质", "结果", "说明", "检测时间", "谁来修正"].map((t) => h("th", {}, t)))),
      h("tbody", {}, d.results.map((r) => h("tr", { class: r.status === "fail" ? "bad" : "" }, h("td", { class: "mono" }, r.id), h("td", {}, r.name),
        h("td", {}, r.property), h("td", { class: r.status === "fail" ? "fail" : r.status === "pass" ? "ok" : "warn" }, r.status_zh || r.status),
        h("td", {}, r.detail), h("td", {}, r.checked_at), h("td", {}, r.fixer))))) : h("p", { class: "muted" }, "没有检测结果（未到检测环节）。"),
    h("h2", {}, "处理历史"),
    h("p", { id: "chain", class: d.chain_ok ? "ok" : "fail" }, d.chain_ok ? `哈希链完整：${d.events.length} 条记录逐条核验无误。` : `哈希链有问题：${d.chain_problems.join("；")}`),
    h("table", { id: "history" }, h("thead", {}, h("tr", {}, ["序号", "时间（北京）", "操作者", "操作", "结果"].map((t) => h("th", {}, t)))),
      h("tbody", {}, d.events.map((e) => h("tr", {}, h("td", { class: "num" }, e.seq), h("td", {}, beijing(e.at || e.time)), h("td", {}, e.actor),
        h("td", {}, e.action), h("td", {}, e.result))))));
}

/* ---------------------------------------------------------------- 补录 / 人工录入: a form generated from case.schema.json */
function resolve(node) {
  let n = node;
  while (n && n.$ref) n = S.schema.$defs[n.$ref.replace("#/$defs/", "")];
  return { ...n, title: node.title || (n && n.title) };
}
function fieldFor(path, prop, required, value, marks) {
  const p = resolve(prop);
  const msgs = (marks.fields[path] || []);
  let input;
  if (p.enum) {
    input = h("select", { "data-path": path, required }, h("option", { value: "" }, "（请选择）"), p.enum.map((v) => h("option", { value: v, selected: value === v }, v)));
  } else if (p.type === "integer") {
    input = h("input", { type: "number", "data-path": path, required, min: p.minimum, max: p.maximum, value: value ?? "" });
  } else {
    const long = (p.maxLength || 0) > 300;
    input = h(long ? "textarea" : "input", { type: long ? null : "text", "data-path": path, required, pattern: p.pattern, maxlength: p.maxLength,
      minlength: p.minLength, placeholder: p.pattern && p.pattern.includes("[T ]") ? "2026-05-01T09:30:00+08:00" : null, value: value ?? "" });
    if (long) input.value = value ?? "";
  }
  const msg = h("span", { class: "msg" }, msgs.join("；"));
  input.addEventListener("input", () => { msg.textContent = input.validity.valid ? "" : input.validationMessage; wrap.classList.toggle("bad", !input.validity.valid); });
  const wrap = h("label", { class: `field${msgs.length ? " bad" : ""}` }, h("span", { class: required ? "req" : "" }, p.title || path.split("/").pop()), input, msg);
  return wrap;
}
function objectFields(path, schema, value, marks, required = true) {
  // an optional group (e.g. 项目类业务信息) marks nothing required: its fields are required only once it is filled in
  const s = resolve(schema);
  const req = new Set(required ? s.required || [] : []);
  return Object.entries(s.properties || {}).filter(([k]) => !(path.startsWith("materials/") && ["size", "digest", "file_name"].includes(k)))
    .map(([k, prop]) => {
      const sub = resolve(prop), p = path ? `${path}/${k}` : k, v = value ? value[k] : undefined;
      if (sub.type === "object" && sub.properties) return h("fieldset", { "data-object": p }, h("legend", {}, sub.title || k), objectFields(p, sub, v, marks, req.has(k)));
      return fieldFor(p, prop, req.has(k), v, marks);
    });
}
function readObject(root, path, schema) {
  const s = resolve(schema), out = {};
  for (const [k, prop] of Object.entries(s.properties || {})) {
    const p = path ? `${path}/${k}` : k, sub = resolve(prop);
    if (sub.type === "object" && sub.properties) {
      const o = readObject(root, p, sub);
      if (Object.keys(o).length) out[k] = o;
      continue;
    }
    const el = root.querySelector(`[data-path="${CSS.escape(p)}"]`);
    if (!el || el.value === "") continue;
    out[k] = sub.type === "integer" ? Number(el.value) : el.value;
  }
  return out;
}
async function loadSchema() { if (!S.schema) S.schema = await (await fetch("static/case.schema.json")).json(); return S.schema; }

async function formPage(pid) {
  show(h("p", { class: "muted" }, "加载中……"));
  let form = { case_json: null, files: {}, marks: { fields: {}, files: {}, other: [] }, problems: [] }, item = null;
  try {
    await loadSchema();
    if (pid) { form = await api("GET", `api/cases/${enc(pid)}/form`); item = form; }
  } catch (err) { return show(failed(err)); }
  const data = form.case_json || { schema_version: "1.0", case: {}, process: [{}], materials: [] };
  const marks = form.marks;
  const caseSet = h("fieldset", { id: "case-fields" }, h("legend", {}, "办件基本信息"), objectFields("case", S.schema.properties.case, data.case || {}, marks));
  const stepSchema = S.schema.$defs.process_step, matSchema = S.schema.$defs.material;
  const steps = h("div", { id: "steps" });
  const addStep = (v) => { const i = steps.children.length;
    steps.append(h("div", { class: "row", "data-row": i }, objectFields(`process/${i}`, stepSchema, v || {}, marks),
      h("button", { type: "button", class: "plain", onclick: (e) => e.target.closest(".row").remove() }, "删除此环节"))); };
  (data.process && data.process.length ? data.process : [{}]).forEach(addStep);
  const mats = h("div", { id: "materials" });
  const chosen = new Map(); // row element → File
  const addMaterial = (v) => {
    const i = mats.children.length;
    const m = v || { seq: i + 1 };
    const file = h("input", { type: "file", "data-file": i, accept: ".pdf,.ofd,.jpg,.jpeg,.png,.tif,.tiff,.xml" });
    const bad = m.file_name && marks.files[m.file_name];
    const row = h("div", { class: `row${bad ? " bad" : ""}`, "data-row": i, "data-file-name": m.file_name || "" },
      h("div", {}, h("b", {}, `材料 ${m.seq || i + 1}`), " ", h("span", { class: "mono" }, m.file_name || "（新材料）"),
        m.size !== undefined ? h("span", { class: "muted" }, `  ${m.size} 字节`) : null,
        form.files && m.file_name && !(m.file_name in form.files) ? h("span", { class: "fail" }, "  原上传中没有此文件，请上传") : null),
      bad ? h("div", { class: "rowmsg" }, bad.join("；")) : null,
      objectFields(`materials/${i}`, matSchema, m, marks),
      h("label", { class: "field" }, h("span", { class: m.file_name ? "" : "req" }, m.file_name ? "替换文件（不替换则沿用原文件）" : "上传文件"), file),
      h("button", { type: "button", class: "plain", onclick: () => row.remove() }, "删除此材料"));
    row._original = m;
    file.addEventListener("change", () => chosen.set(row, file.files[0]));
    mats.append(row);
  };
  (data.materials || []).forEach(addMaterial);
  if (!pid && !mats.children.length) addMaterial();
  const out = h("div", { id: "form-out" });
  const progress = h("div");
  const collect = () => {
    const c = { schema_version: "1.0", case: readObject(caseSet, "case", S.schema.properties.case), process: [], materials: [] };
    [...steps.children].forEach((row) => c.process.push(readObject(row, `process/${row.dataset.row}`, stepSchema)));
    [...mats.children].forEach((row, n) => {
      const m = readObject(row, `materials/${row.dataset.row}`, matSchema), f = chosen.get(row), o = row._original || {};
      let name = o.file_name;
      if (f && (!name || name.split(".").pop().toLowerCase() !== f.name.split(".").pop().toLowerCase())) name = `materials/${f.name}`;
      m.file_name = name || "";
      m.size = f ? f.size : (o.size ?? 0);
      m.digest = f ? { algorithm: "SHA-256", value: "0".repeat(64) } : (o.digest || { algorithm: "SHA-256", value: "0".repeat(64) });
      if (!m.seq) m.seq = n + 1;
      c.materials.push(m);
    });
    return c;
  };
  const markProblems = (problems) => {
    document.querySelectorAll(".field.bad").forEach((el) => el.classList.remove("bad"));
    for (const p of problems) {
      const el = document.querySelector(`[data-path="${CSS.escape(p.field)}"]`);
      if (el) { const w = el.closest(".field"); w.classList.add("bad"); w.querySelector(".msg").textContent = p.message; }
    }
  };
  const validate = async () => {
    const r = await api("POST", "api/validate", { case_json: collect() });
    markProblems(r.problems);
    out.replaceChildren(r.problems.length ? notice("error", `还有 ${r.problems.length} 处需要修正：`, h("ul", {}, r.problems.map((p) => h("li", {}, `${p.field}：${p.message}`))))
      : notice("done", "校验通过。"));
    return r.problems.length === 0;
  };
  const upload = (f, slot, i, n) => new Promise((resolve, reject) => {
    const x = new XMLHttpRequest();
    const bar = h("progress", { max: f.size, value: 0 });
    progress.replaceChildren(h("span", {}, `上传 ${i}/${n}：${f.name} `), bar);
    x.upload.onprogress = (e) => { bar.value = e.loaded; };
    x.onload = () => (x.status >= 200 && x.status < 300 ? resolve() : reject(new Error(`${f.name} 上传失败（${x.status}）`)));
    x.onerror = () => reject(new Error(`${f.name} 上传失败（网络）`));
    x.open("PUT", slot.url);
    for (const [k, v] of Object.entries(slot.headers || {})) x.setRequestHeader(k, v);
    x.send(f);
  });
  const submit = async (e) => {
    e.preventDefault();
    const button = e.submitter || document.getElementById("submit-case"); button.disabled = true;
    try {
      if (!(await validate())) return;
      const c = collect(), uploads = {};
      const files = [...mats.children].filter((row) => chosen.get(row));
      let n = 0;
      for (const row of files) {
        const f = chosen.get(row), m = c.materials[[...mats.children].indexOf(row)];
        const slot = await api("POST", "api/uploads", { file_name: m.file_name, size: f.size, content_type: f.type || "application/octet-stream" });
        await upload(f, slot, ++n, files.length);
        uploads[m.file_name] = { key: slot.key };
      }
      progress.replaceChildren();
      const r = await api("POST", pid ? `api/cases/${enc(pid)}/fix` : "api/cases", { case_json: c, uploads });
      out.replaceChildren(notice("done", h("span", { id: "submitted" }, `已提交：${r.upload.key}。系统正在重新收集、组包、固化和检测；`),
        h("a", { href: `#/cases?find=${enc(r.project_id)}` }, "查看进度")));
    } catch (err) { out.replaceChildren(failed(err)); } finally { button.disabled = false; }
  };
  show(
    h("h1", {}, pid ? `补录：${(item && item.package_id) || pid}` : "人工录入（平台未能推送的办件）"),
    pid ? h("div", {}, h("p", {}, "以下标红的字段和材料是拒收或退回的原因。修正后提交：系统保留原上传，另行生成更正后的办件包并重新归档。"),
      form.problems.length ? h("ul", { id: "reasons" }, form.problems.map((p) => h("li", {}, p.reason_zh))) : null,
      marks.other.length ? notice("info", marks.other.join("；")) : null) : h("p", {}, "按 case.schema.json 填写；带 * 的为必填项。每份材料都须上传文件。"),
    h("form", { id: "case-form", novalidate: true, onsubmit: submit }, caseSet,
      h("fieldset", {}, h("legend", {}, "办理过程记录"), steps, h("button", { type: "button", class: "plain", onclick: () => addStep() }, "增加环节")),
      h("fieldset", {}, h("legend", {}, "材料清单"), mats, h("button", { type: "button", class: "plain", id: "add-material", onclick: () => addMaterial() }, "增加材料")),
      h("div", { class: "actions" }, h("button", { type: "button", class: "plain", onclick: () => validate().catch((err) => out.replaceChildren(failed(err))) }, "校验"),
        h("button", { type: "submit", id: "submit-case" }, pid ? "提交补录" : "提交录入")),
      progress, out));
}

/* ---------------------------------------------------------------- 申请移交 */
async function transferNewPage() {
  const q = query();
  const since = h("input", { type: "date", value: q.get("since") || "" }), until = h("input", { type: "date", value: q.get("until") || "" });
  const task = h("input", { type: "text", value: q.get("task_code") || "", placeholder: "事项编码" });
  const type = h("select", {}, ["", "行政权力事项", "公共服务事项"].map((t) => h("option", { value: t, selected: q.get("task_type") === t }, t || "全部类型")));
  const list = h("div", {}, h("p", { class: "muted" }, "查询中……"));
  const chosen = q.get("institution") || "";
  const filters = () => {
    const p = new URLSearchParams({ institution: inst.value, since: since.value, until: until.value, task_code: task.value, task_type: type.value });
    for (const [k, v] of [...p]) if (!v) p.delete(k);
    return p;
  };
  /* Only packages within the chosen institution's competence (受理范围) are offered: choosing one lists them. */
  const inst = h("select", { id: "institution", required: true, onchange: () => { location.hash = `#/transfer/new?${filters()}`; } });
  const out = h("div");
  show(h("h1", {}, "申请移交"),
    h("form", { class: "filters card", onsubmit: (e) => { e.preventDefault(); location.hash = `#/transfer/new?${filters()}`; } },
      h("label", {}, "接收单位", inst),
      h("label", {}, "归档日期自", since), h("label", {}, "至", until), h("label", {}, "事项", task), h("label", {}, "事项类型", type), h("button", { type: "submit" }, "筛选")),
    list, out);
  try {
    const insts = await api("GET", "api/institutions");
    inst.replaceChildren(h("option", { value: "" }, insts.items.length ? "（选择接收单位）" : "（尚无接收单位：请管理员先用 earchive institution add 登记）"),
      ...insts.items.map((i) => h("option", { value: i.code, selected: i.code === chosen, disabled: !i.scope },
        `${i.name}（${i.code}）${i.scope ? "" : "：未登记受理范围"}`)));
    if (!chosen) return list.replaceChildren(h("p", { class: "muted", id: "choose-institution" }, "请先选择接收单位：只列出其受理范围内的档案。"));
    const picked = insts.items.find((i) => i.code === chosen);
    const page = await api("GET", `api/archived?${q}`);
    const boxes = page.items.map((i) => h("input", { type: "checkbox", value: i.package_id, checked: true, "data-package": i.package_id }));
    list.replaceChildren(
      h("p", { class: "muted", id: "institution-scope" }, `${picked ? picked.name : chosen} 的受理范围：${page.scope || "—"}`),
      page.note ? notice("info", page.note) : "",
      h("table", { id: "archived" }, h("thead", {}, h("tr", {}, ["", "电子文件号", "事项名称", "事项类型", "归档时间（北京）"].map((t) => h("th", {}, t)))),
        h("tbody", {}, page.items.length ? page.items.map((i, n) => h("tr", {}, h("td", {}, boxes[n]), h("td", {}, i.record_code), h("td", {}, i.task_name),
          h("td", {}, i.task_type), h("td", {}, beijing(i.updated_at)))) : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "受理范围内没有待移交的已归档档案")))),
      page.cursor ? h("div", { class: "pager" }, h("button", { class: "plain", id: "archived-next", onclick: () => {
        const p = new URLSearchParams(q); p.set("cursor", page.cursor); location.hash = `#/transfer/new?${p}`; } }, "下一页（本页所选请先生成批次）")) : "",
      h("div", { class: "actions" },
        h("button", { id: "create-batch", disabled: !page.items.length, onclick: async (e) => {
          e.target.disabled = true;
          try {
            const packages = boxes.filter((b) => b.checked).map((b) => b.value);
            if (!packages.length) throw new Error("请至少选择一份档案");
            const b = await api("POST", "api/batches", { institution: chosen, packages });
            location.hash = `#/batch/${enc(b.batch_id)}`;
          } catch (err) { out.replaceChildren(failed(err)); e.target.disabled = false; }
        } }, "生成移交批次（草稿）")));
  } catch (err) { list.replaceChildren(failed(err)); }
}

async function batchesPage() {
  show(h("h1", {}, "移交记录"), h("p", { class: "muted" }, "加载中……"));
  try {
    const page = await api("GET", `api/batches?${query()}`);
    show(h("h1", {}, "移交记录"), h("table", { id: "batches" }, h("thead", {}, h("tr", {}, ["批次", "状态", "接收单位", "数量", "移交人", "创建（北京）", "补交自"].map((t) => h("th", {}, t)))),
      h("tbody", {}, page.items.length ? page.items.map((b) => h("tr", { class: ["RETURNED", "PARTLY_RETURNED"].includes(b.status) ? "bad" : "" },
        h("td", {}, h("a", { href: `#/batch/${enc(b.batch_id)}` }, b.batch_id)), h("td", {}, badge(b.status, "batch_status")),
        h("td", {}, b.institution_name), h("td", { class: "num" }, b.package_count), h("td", {}, b.transferor), h("td", {}, beijing(b.created_at)),
        h("td", {}, b.resubmits || ""))) : h("tr", {}, h("td", { colspan: 7, class: "muted" }, "还没有移交批次")))));
  } catch (err) { show(failed(err)); }
}

async function batchPage(id) {
  show(h("p", { class: "muted" }, "加载中……"));
  let v;
  try { v = await api("GET", `api/batches/${enc(id)}`); } catch (err) { return show(failed(err)); }
  const b = v.batch, out = h("div", { id: "batch-out" });
  const clerk = S.me.roles.includes("window_clerk");
  const act = (label, idName, path, then) => h("button", { id: idName, onclick: async (e) => {
    e.target.disabled = true;
    try { const r = await api("POST", path); out.replaceChildren(notice("done", then(r))); setTimeout(() => batchPage(r.batch_id || id), 1500); }
    catch (err) { out.replaceChildren(failed(err)); e.target.disabled = false; }
  } }, label);
  const returned = v.packages.filter((p) => p.state === "RETURNED");
  show(
    h("h1", {}, `移交批次 ${b.batch_id} `, badge(b.status, "batch_status")),
    h("div", { class: "actions" },
      clerk && b.status === "DRAFT" ? act("申请移交（系统签章移交清单）", "submit-batch", `api/batches/${enc(id)}/submit`, () => "已申请移交：系统正在签章并复制档案，接收单位检测后决定接收或退回。") : null,
      S.me.roles.includes("window_reviewer") && b.status === "DRAFT" && !b.reviewer
        ? act("审核确认（作为登记表审核人）", "countersign-batch", `api/batches/${enc(id)}/countersign`, () => "已审核确认：提交时登记表的审核人一栏写上您的姓名。") : null,
      clerk && returned.length ? act("重新移交已修正的档案", "resubmit-batch", `api/batches/${enc(id)}/resubmit`, (r) => `已生成新批次 ${r.batch_id}（草稿）。`) : null,
      h("button", { class: "plain", id: "preview-pdf", onclick: async () => {  // with the token: fetched, then shown from a blob URL
        try {
          const res = await fetch(apiUrl(`api/batches/${enc(id)}/preview.pdf`), { headers: { Authorization: `Bearer ${S.token}` } });
          if (!res.ok) throw new Error(`预览失败（${res.status}）`);
          window.open(URL.createObjectURL(await res.blob()), "_blank", "noopener");
        } catch (err) { out.replaceChildren(failed(err)); }
      } }, "预览登记表（PDF）"),
      h("button", { class: "plain", onclick: () => window.print() }, "打印")),
    out,
    grid([["接收单位", `${b.institution_name}（${b.institution}）`], ["移交人", b.transferor], ["接收人", b.receiver], ["补交自", b.resubmits],
      ["创建时间", beijing(b.created_at)], ["数量", b.package_count], ["审核人", b.reviewer ? `${b.reviewer}（${beijing(b.reviewed_at)}）` : "—"], ["", ""]]),
    h("h2", {}, "移交清单（表 A.1）"),
    h("table", { id: "list" }, h("thead", {}, h("tr", {}, ["序号", "办理事项名称", "事项类型", "归档信息包数量", "检测意见", "备注"].map((t) => h("th", {}, t)))),
      h("tbody", {}, v.rows.map((r) => h("tr", {}, h("td", { class: "num" }, r["序号"]), h("td", {}, r["办理事项名称"]), h("td", {}, r["事项类型"]),
        h("td", { class: "num" }, r["归档信息包数量"]), h("td", {}, r["检测意见"]), h("td", {}, r["备注"]))))),
    h("h2", {}, "信息包"),
    h("table", { id: "packages" }, h("thead", {}, h("tr", {}, ["电子文件号", "版本", "状态", "接收检测", "退回原因", ""].map((t) => h("th", {}, t)))),
      h("tbody", {}, v.packages.map((p) => h("tr", { class: p.state === "RETURNED" ? "bad" : "" }, h("td", {}, p.record_code), h("td", { class: "num" }, p.package_version),
        h("td", {}, L("package_state", p.state)), h("td", {}, p.receipt ? p.receipt.verdict_zh : "—"), h("td", {}, p.return_reason || ""),
        h("td", {}, p.state === "RETURNED" ? h("a", { href: `#/case/${enc(p.package_id)}` }, "去修正") : ""))))),
    h("h2", {}, "历史"),
    h("table", { id: "batch-history" }, h("thead", {}, h("tr", {}, ["时间（北京）", "操作者", "操作", "结果", "说明"].map((t) => h("th", {}, t)))),
      h("tbody", {}, v.history.map((e) => h("tr", {}, h("td", {}, beijing(e.at || e.time)), h("td", {}, e.actor), h("td", {}, e.action), h("td", {}, e.result),
        h("td", { class: "mono" }, detailText(e.detail)))))));
}

async function inboxPage() {
  show(h("h1", {}, "待接收"), h("p", { class: "muted" }, "加载中……"));
  try {
    const page = await api("GET", `api/inbox?${query()}`);
    show(h("h1", {}, `待接收（${page.institution}）`), h("table", { id: "inbox" }, h("thead", {}, h("tr", {}, ["批次", "状态", "移交单位", "数量", "移交人", "创建（北京）"].map((t) => h("th", {}, t)))),
      h("tbody", {}, page.items.length ? page.items.map((b) => h("tr", {}, h("td", {}, h("a", { href: `#/inbox/${enc(b.batch_id)}` }, b.batch_id)), h("td", {}, badge(b.status, "batch_status")), h("td", {}, b.hall || ""),
        h("td", { class: "num" }, b.package_count), h("td", {}, b.transferor), h("td", {}, beijing(b.created_at)))) : h("tr", {}, h("td", { colspan: 6, class: "muted" }, "没有批次")))),
      h("p", { class: "muted" }, "打开批次，查看接收检测结果，逐件接收或退回，用本单位的回执签名密钥在浏览器中签署；也可在本单位电脑上用 earchive receive review。"));
  } catch (err) { show(failed(err)); }
}

async function logPage() {
  const q = query(), stream = q.get("stream") || "";
  const input = h("input", { type: "text", id: "stream", value: stream, placeholder: "事件流，如 batch#202612010001 或 user#…" });
  const kind = h("select", { id: "log-kind" }, Object.entries(S.config.labels.stream_kinds).map(([k, v]) => h("option", { value: k, selected: k === (q.get("kind") || "upload") }, v)));
  const day = h("input", { type: "date", id: "log-day", value: q.get("day") || beijing(new Date().toISOString()).slice(0, 10) });
  const out = h("div", { id: "log-out" });
  show(h("h1", {}, "审计日志"),
    h("form", { class: "filters card", onsubmit: (e) => { e.preventDefault(); location.hash = `#/log?kind=${enc(kind.value)}&day=${enc(day.value)}`; } },
      h("label", {}, "类型", kind), h("label", {}, "日期（北京）", day), h("button", { type: "submit", id: "browse-log" }, "列出事件流")),
    h("form", { class: "filters card", onsubmit: (e) => { e.preventDefault(); location.hash = `#/log?stream=${enc(input.value)}`; } },
      h("label", {}, "事件流", input), h("button", { type: "submit" }, "查看并核验")), out);
  try {
    if (!stream) {
      const r = await api("GET", `api/log?kind=${enc(kind.value)}&day=${enc(day.value)}${q.get("cursor") ? `&cursor=${enc(q.get("cursor"))}` : ""}`);
      return out.replaceChildren(h("table", { id: "streams" }, h("thead", {}, h("tr", {}, ["开始时间（北京）", "事件流", "操作者", "第一项操作", "结果"].map((t) => h("th", {}, t)))),
        h("tbody", {}, r.items.length ? r.items.map((e) => h("tr", {}, h("td", {}, beijing(e.at)), h("td", { class: "mono" }, h("a", { href: `#/log?stream=${enc(e.stream)}` }, e.stream)),
          h("td", {}, e.actor), h("td", {}, e.action), h("td", {}, e.result))) : h("tr", {}, h("td", { colspan: 5, class: "muted" }, "这一天没有此类事件流")))),
        r.cursor ? h("div", { class: "pager" }, h("a", { href: `#/log?kind=${enc(r.kind)}&day=${enc(r.day)}&cursor=${enc(r.cursor)}` }, "下一页")) : null);
    }
    const r = await api("GET", `api/log/${enc(stream)}`);
    out.replaceChildren(h("p", { class: r.chain_problems.length ? "fail" : "ok" }, r.chain_problems.length ? `哈希链有问题：${r.chain_problems.join("；")}` : `哈希链完整：${r.events.length} 条`),
      h("table", { id: "stream-events" }, h("thead", {}, h("tr", {}, ["序号", "时间（北京）", "操作者", "操作", "结果", "说明"].map((t) => h("th", {}, t)))),
        h("tbody", {}, r.events.map((e) => h("tr", {}, h("td", { class: "num" }, e.seq), h("td", {}, beijing(e.at || e.time)), h("td", {}, e.actor), h("td", {}, e.action),
          h("td", {}, e.result), h("td", { class: "mono" }, detailText(e.detail)))))));
  } catch (err) { out.replaceChildren(failed(err)); }
}

async function usersPage() {
  const name = h("input", { type: "text", id: "new-name", required: true, placeholder: "登录名" });
  const display = h("input", { type: "text", id: "new-display", placeholder: "姓名（打印在清单上）" });
  const role = h("select", { id: "new-role" }, Object.entries(S.config.labels.roles).map(([k, v]) => h("option", { value: k }, `${v}（${k}）`)));
  const scope = h("input", { type: "text", id: "new-scope", placeholder: "430102:0102 或 430102001" });
  const out = h("div", { id: "users-out" });
  const list = h("div", {}, h("p", { class: "muted" }, "加载中……"));
  show(h("h1", {}, "用户管理"), h("form", { class: "filters card", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const u = await api("POST", "api/users", { name: name.value, display_name: display.value, role: role.value,
        scopes: scope.value.split(/[\s,，]+/).filter(Boolean) });
      out.replaceChildren(notice("done", `已建用户 ${u.name}，临时密码（只显示这一次，首次登录须修改）：`, h("b", { id: "temporary-password" }, u.temporary_password)));
      usersPage.reload();
    } catch (err) { out.replaceChildren(failed(err)); }
  } }, h("label", {}, "登录名", name), h("label", {}, "姓名", display), h("label", {}, "角色", role), h("label", {}, "范围", scope),
    h("button", { type: "submit", id: "add-user" }, "新建用户")), out, list);
  usersPage.reload = async () => {
    try {
      const r = await api("GET", "api/users");
      list.replaceChildren(h("table", { id: "users" }, h("thead", {}, h("tr", {}, ["登录名", "角色", "范围", "状态"].map((t) => h("th", {}, t)))),
        h("tbody", {}, r.items.map((u) => h("tr", {}, h("td", {}, u.name), h("td", {}, u.roles.map((x) => L("roles", x)).join("、")),
          h("td", {}, u.scopes.join(" ") || "—"), h("td", {}, u.enabled ? "启用" : "停用"))))));
    } catch (err) { list.replaceChildren(failed(err)); }
  };
  usersPage.reload();
}

/* ---------------------------------------------------------------- 归档配置 (admin, ADR 0017): every change a new version with its reason */
const TASK_TYPES = ["行政权力事项", "公共服务事项"];
const RETENTION_ZH = { Y: "永久", D30: "30年", D10: "10年" };
const MODE_ZH = { "": "按本部署方式", refuse: "拒收", apply: "按目录期限归档并注明", accept: "接收并注明" };
function requiredText(list) { return (list || []).map((r) => `${r.category.slice(0, 2)}:${r.code || r.title}`).join("；"); }
function select(id, options, value) {
  return h("select", { id }, Object.entries(options).map(([k, v]) => h("option", { value: k, selected: k === (value || "") }, v)));
}

async function configPage(code) {
  const out = h("div", { id: "config-out" });
  const list = h("div", {}, h("p", { class: "muted" }, "加载中……"));
  if (code) return configTaskPage(code, out);
  const file = h("input", { type: "file", id: "import-file", accept: ".xlsx,.csv" });
  const importReason = h("input", { type: "text", id: "import-reason", required: true, placeholder: "变更原因（必填），如 按省政务服务事项目录（2026版）导入" });
  const dry = h("input", { type: "checkbox", id: "import-dry" });
  const retention = h("select", { id: "mode-retention" }, ["refuse", "apply"].map((k) => h("option", { value: k }, MODE_ZH[k])));
  const unknown = h("select", { id: "mode-unknown" }, ["accept", "refuse"].map((k) => h("option", { value: k }, MODE_ZH[k])));
  const modeReason = h("input", { type: "text", id: "mode-reason", required: true, placeholder: "变更原因（必填）" });
  show(h("h1", {}, "归档配置"),
    h("p", { class: "muted" }, "每个事项编码的事项类型、必备材料、保管期限和接收单位。每次变更生成新版本并记入事件日志（操作人、原因）；已归档的办件记录其核对所依据的版本，不随之改变。"),
    h("p", {}, h("a", { href: "#/config/new", id: "config-add" }, "新增事项")),
    list,
    h("form", { class: "filters card", onsubmit: async (e) => {
      e.preventDefault();
      try {
        const m = await api("POST", "api/config/modes", { retention_mismatch: retention.value, unknown_task: unknown.value, reason: modeReason.value });
        out.replaceChildren(notice("done", `已保存方式第 ${m.version} 版。`)); configPage.reload();
      } catch (err) { out.replaceChildren(failed(err)); }
    } }, h("label", {}, "保管期限与目录不符时", retention), h("label", {}, "未配置的事项", unknown), h("label", {}, "变更原因", modeReason),
      h("button", { type: "submit", id: "save-modes" }, "保存方式")),
    h("form", { class: "filters card", onsubmit: async (e) => {
      e.preventDefault();
      const f = file.files[0];
      if (!f) return out.replaceChildren(notice("error", "请选择事项目录文件（XLSX 或 CSV）。"));
      try {
        const bytes = new Uint8Array(await f.arrayBuffer());
        let bin = ""; for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        const r = await api("POST", "api/config/import", { file_name: f.name, content_base64: btoa(bin), reason: importReason.value, dry_run: dry.checked });
        out.replaceChildren(notice("done", r.dry_run ? `${r.file}：${r.rows} 个事项校验通过（未导入）。`
          : `${r.file}：${r.rows} 个事项，${Object.keys(r.changed).length} 个新版本，${r.unchanged} 个未变。`));
        configPage.reload();
      } catch (err) { out.replaceChildren(failed(err)); }
    } }, h("label", {}, "导入事项目录（表头：事项编码、事项名称、事项类型、保管期限、接收单位、必备材料）", file), h("label", {}, "变更原因", importReason),
      h("label", {}, dry, " 只校验，不导入"), h("button", { type: "submit", id: "import" }, "导入")),
    out);
  configPage.reload = async () => {
    try {
      const r = await api("GET", "api/config");
      if (r.deployment) { retention.value = r.deployment.retention_mismatch; unknown.value = r.deployment.unknown_task; }
      list.replaceChildren(h("p", { id: "config-summary", class: r.deployment ? "ok" : "muted" }, r.summary),
        h("table", { id: "configs" }, h("thead", {}, h("tr", {}, ["事项编码", "事项名称", "事项类型", "保管期限", "必备材料", "接收单位", "版本", "变更"].map((t) => h("th", {}, t)))),
          h("tbody", {}, r.items.length ? r.items.map((c) => h("tr", { class: c.status === "RETIRED" ? "muted" : "" },
            h("td", { class: "mono" }, h("a", { href: `#/config/${enc(c.task_code)}` }, c.task_code)), h("td", {}, c.task_name), h("td", {}, c.task_type),
            h("td", {}, RETENTION_ZH[c.retention_period] || c.retention_period), h("td", {}, requiredText(c.required) || "—"),
            h("td", {}, [c.institution, c.institution_name].filter(Boolean).join(" ") || "—"), h("td", { class: "num" }, `第 ${c.version} 版${c.status === "RETIRED" ? "（已停用）" : ""}`),
            h("td", {}, `${beijing(c.changed_at)} ${c.changed_by}`)))
            : h("tr", {}, h("td", { colspan: 8, class: "muted" }, "尚无事项")))));
    } catch (err) { list.replaceChildren(failed(err)); }
  };
  configPage.reload();
}

async function configTaskPage(code, out) {
  let versions = [];
  if (code !== "new") {
    try { versions = (await api("GET", `api/config/${enc(code)}`)).versions; } catch (err) { return show(h("h1", {}, "归档配置"), failed(err)); }
  }
  const c = versions[0] || {};
  const taskCode = h("input", { type: "text", id: "task-code", required: true, value: c.task_code || "", readOnly: code !== "new" });
  const name = h("input", { type: "text", id: "task-name", required: true, value: c.task_name || "" });
  const type = h("select", { id: "task-type" }, TASK_TYPES.map((t) => h("option", { value: t, selected: t === c.task_type }, t)));
  const retention = select("retention", RETENTION_ZH, c.retention_period);
  const required = h("textarea", { id: "required", rows: 3, placeholder: "申报:申请表；申报:A2；结果:C1（类别:题名或文件类型代码，以；分隔）" });
  required.value = requiredText(c.required);
  const institution = h("input", { type: "text", id: "institution", value: c.institution || "", placeholder: "接收单位代码，如 430102001" });
  const institutionName = h("input", { type: "text", id: "institution-name", value: c.institution_name || "" });
  const mode = select("task-mode", { "": MODE_ZH[""], refuse: MODE_ZH.refuse, apply: MODE_ZH.apply }, c.retention_mismatch);
  const status = select("task-status", { ACTIVE: "有效", RETIRED: "停用" }, c.status || "ACTIVE");
  const reason = h("input", { type: "text", id: "change-reason", required: true, placeholder: "变更原因（必填）" });
  show(h("h1", {}, code === "new" ? "新增事项" : `归档配置：${c.task_code} ${c.task_name}`), h("p", {}, h("a", { href: "#/config" }, "返回归档配置")),
    h("form", { class: "card", id: "config-form", onsubmit: async (e) => {
      e.preventDefault();
      try {
        const saved = await api("POST", "api/config", { task_code: taskCode.value, task_name: name.value, task_type: type.value,
          retention_period: retention.value, required: required.value, institution: institution.value, institution_name: institutionName.value,
          retention_mismatch: mode.value, status: status.value, reason: reason.value });
        location.hash = `#/config/${enc(saved.task_code)}`;
        if (code !== "new") route();
      } catch (err) { out.replaceChildren(failed(err)); }
    } }, h("label", {}, "事项编码", taskCode), h("label", {}, "事项名称", name), h("label", {}, "事项类型", type), h("label", {}, "保管期限", retention),
      h("label", {}, "必备材料", required), h("label", {}, "接收单位代码", institution), h("label", {}, "接收单位名称", institutionName),
      h("label", {}, "保管期限不符时", mode), h("label", {}, "状态", status), h("label", {}, "变更原因", reason),
      h("button", { type: "submit", id: "save-config" }, "保存为新版本")), out,
    versions.length ? h("h2", {}, "各版本") : null,
    versions.length ? h("table", { id: "config-versions" }, h("thead", {}, h("tr", {}, ["版本", "时间（北京）", "操作人", "变更原因", "事项类型", "保管期限", "必备材料", "接收单位", "状态"].map((t) => h("th", {}, t)))),
      h("tbody", {}, versions.map((v) => h("tr", {}, h("td", { class: "num" }, v.version), h("td", {}, beijing(v.changed_at)), h("td", {}, v.changed_by), h("td", {}, v.reason),
        h("td", {}, v.task_type), h("td", {}, RETENTION_ZH[v.retention_period] || v.retention_period), h("td", {}, requiredText(v.required) || "—"),
        h("td", {}, v.institution || "—"), h("td", {}, v.status === "RETIRED" ? "停用" : "有效"))))) : null);
}

/* ---------------------------------------------------------------- router */
async function route() {
  const hash = location.hash || "#/";
  const path = hash.slice(1).split("?")[0];
  if (path === "/login" || !S.token) { renderNav(); return loginPage(); }
  if (!S.me) { try { S.me = await api("GET", "api/me"); } catch (err) { return; } }
  renderNav();
  const [, page, arg] = path.split("/").map((x, i) => (i === 2 ? decodeURIComponent(x || "") : x));
  const roles = S.me.roles;
  if (page === "cases" || page === "") {
    if (!roles.some((r) => ["window_clerk", "window_reviewer", "auditor"].includes(r))) return roles.includes("receiver") ? inboxPage() : show(notice("info", "您的角色没有可用的页面。"));
    return casesPage();
  }
  if (page === "case") return casePage(arg);
  if (page === "fix") return formPage(arg);
  if (page === "entry") return formPage(null);
  if (page === "transfer") return transferNewPage();
  if (page === "batches") return batchesPage();
  if (page === "batch") return batchPage(arg);
  if (page === "inbox") return arg ? inboxBatchPage(arg) : inboxPage();
  if (page === "log") return logPage();
  if (page === "users") return usersPage();
  if (page === "config") return configPage(arg);
  show(notice("error", "没有这个页面。"));
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", async () => {
  try { S.config = await (await fetch("config.json")).json(); } catch (err) { return show(notice("error", "无法读取登录配置（config.json）。")); }
  const params = new URLSearchParams(location.search);
  if (params.get("code")) { try { await oidcFinish(params); } catch (err) { return show(failed(err)); } }
  route();
});
