"""The console in a real browser (Debian's headless Chromium): the window's journeys end to end on the local cloud.

One moto server runs template.yaml and the real state machines; the local gateway checks every token
against moto's Cognito as API Gateway's JWT authorizer would and invokes the ConsoleFunction; uploads
go straight from the browser to S3 by presigned PUT. A clerk fixes a rejected case by 补录 and sees it
archived, enters a case by hand, builds and submits a batch; the institution's receiver returns one
package with a reason, signing in the browser with the institution's own key file; the clerk fixes it
from the batch page and resubmits; the receiver accepts. Hostile metadata is shown as text and never runs.
Screenshots go to ``out/test-screenshots/console/``.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from earchive.client import TransferService
from earchive.domain.institution import Scope
from earchive.receive import Desk as InstitutionDesk
from earchive_devtools.gateway import LOCAL_PASSWORD, Gateway, seed_users
from earchive_devtools.localcloud import LocalCloud
from earchive_devtools.sample import sample_case, zip_case
from earchive_devtools.screenshots import browser
from earchive_devtools.server import start_moto_server

pytestmark = pytest.mark.slow  # a browser and the local cloud
SHOTS = Path(__file__).resolve().parents[2] / "out" / "test-screenshots" / "console"
HOSTILE = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">=HYPERLINK(\"http://x\")"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def stack(earchive_home, tmp_path_factory):
    """The local cloud behind a moto server, its console behind the gateway, and a loop that starts executions as EventBridge would."""
    server, endpoint = start_moto_server()
    cloud = LocalCloud(endpoint=endpoint)
    port = free_port()
    cloud.resolver.params["ConsoleUrl"] = f"http://127.0.0.1:{port}/"  # the staging bucket's CORS lets this origin PUT (F4)
    cloud.start()
    gateway = Gateway(cloud, port=port).start()
    seed_users(gateway)
    stop = threading.Event()

    def dispatch() -> None:
        while not stop.is_set():
            try:
                cloud.dispatch()
                cloud.dispatch(machine="ReplyStateMachine")
            except Exception:  # noqa: BLE001 - a race on a client: the next round takes it
                pass
            stop.wait(0.2)

    loop = threading.Thread(target=dispatch, daemon=True)
    loop.start()
    root = tmp_path_factory.mktemp("console")
    institution = InstitutionDesk("430102001", root / "institution-pc")
    institution.init("长沙市芙蓉区行政审批服务局")
    svc = TransferService.from_cloud(cloud)
    svc.aws.institutions.add("430102001", "长沙市芙蓉区行政审批服务局", certificates=[institution.cert_path.read_bytes()], principals=[],
                             actor="admin1", scope=Scope.parse(regions=["430102"]))  # 芙蓉区: clerk1's hall 430102#0102
    yield {"cloud": cloud, "gateway": gateway, "svc": svc, "institution": institution, "root": root}
    stop.set()
    loop.join(5)
    gateway.stop()
    cloud.stop()
    server.stop()


@pytest.fixture(scope="module")
def driver():
    d = browser()
    yield d
    d.quit()


def shot(driver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def goto(driver, url: str) -> None:
    """Open a console page afresh (the same hash again would not re-render it)."""
    driver.get(url)
    driver.refresh()


def wait(driver, css: str, timeout: float = 60):
    return WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, css)))


def sign_in(driver, gateway, name: str) -> None:
    driver.get(gateway.url + "#/login")
    driver.execute_script("sessionStorage.clear()")
    goto(driver, gateway.url + "#/login")
    wait(driver, "#username").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(LOCAL_PASSWORD)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 30).until(lambda d: name in (d.find_element(By.ID, "who").text or "") or "（" in d.find_element(By.ID, "who").text)


def archive_until(stack, predicate, timeout: float = 180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = stack["cloud"].catalogue().by_status()
        found = [i for i in items if predicate(i)]
        if found:
            return found
        time.sleep(0.5)
    recent = sorted(items, key=lambda i: str(i.get("updated_at") or i.get("rejected_at") or ""))[-3:]
    raise TimeoutError("the pipeline did not get there; latest: " + json.dumps(
        [{k: i.get(k) for k in ("package_id", "status", "problems", "upload")} for i in recent], ensure_ascii=False, default=str)[:2000])


def test_a_clerk_fixes_a_rejected_case_by_buchlu_and_sees_it_archived(stack, driver):
    root = stack["root"]
    case = sample_case(root / "cases", seed=2, files=3, defect="digest")  # 430102 / 0102: clerk1's hall
    stack["cloud"].upload(zip_case(case.folder, root / "bad.zip"))
    (item,) = archive_until(stack, lambda i: i.get("project_id") == case.project_id and i.get("status") == "REJECTED")
    sign_in(driver, stack["gateway"], "clerk1")
    goto(driver, stack["gateway"].url + "#/cases?status=REJECTED")
    link = wait(driver, "#cases tbody a")
    assert "不能" not in driver.title
    shot(driver, "01-rejected-list")
    link.click()
    wait(driver, "#problems")
    assert "MATERIAL-DIGEST" in driver.find_element(By.ID, "problems").text
    shot(driver, "02-rejected-case")
    driver.find_element(By.ID, "fix").click()
    form = wait(driver, "#case-form")
    bad_row = driver.find_element(By.CSS_SELECTOR, "#materials .row.bad")
    name = bad_row.get_attribute("data-file-name")
    assert name and "MATERIAL-DIGEST" in bad_row.text, "the failing material is marked with its reason"
    bad_row.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(case.folder / name))
    shot(driver, "03-buchlu-form")
    form.find_element(By.ID, "submit-case").click()
    wait(driver, "#submitted", timeout=90)
    shot(driver, "04-buchlu-submitted")
    archive_until(stack, lambda i: i.get("package_id") == item["package_id"] and i.get("status") == "ARCHIVED")
    goto(driver, stack["gateway"].url + "#/cases?status=ARCHIVED")
    WebDriverWait(driver, 30).until(lambda d: item["package_id"] in d.find_element(By.ID, "main").text)
    shot(driver, "05-archived")
    original = stack["cloud"].client("s3").head_object(Bucket=stack["cloud"].name("IntakeBucket"), Key="bad.zip")
    assert original["ContentLength"] > 0, "the original upload is kept"


def test_a_clerk_enters_a_case_by_hand_with_hostile_text_which_never_runs(stack, driver):
    root = stack["root"]
    template = sample_case(root / "cases", seed=10, files=3)  # another 430102 case: its values fill the form
    data = json.loads((template.folder / "case.json").read_text("utf-8"))
    hostile = {k: (HOSTILE[:190] + k)[:200] for k in ("project_name", "task_name", "fonds_unit_name", "receive_department")}
    c = {**data["case"], **hostile, "project_id": "MANUAL2026000001", "result": "准予许可" + HOSTILE[:80]}
    c["applicant"] = {**data["case"]["applicant"], "name": HOSTILE[:100]}  # every free-text field the form has: script, markup, a formula
    sign_in(driver, stack["gateway"], "clerk1")
    goto(driver, stack["gateway"].url + "#/entry")
    wait(driver, "#case-form")

    def fill(path: str, value) -> None:
        el = driver.find_element(By.CSS_SELECTOR, f'[data-path="{path}"]')
        if el.tag_name == "select":
            Select(el).select_by_value(str(value))
        else:
            el.clear()
            el.send_keys(str(value))

    for key in ("project_id", "project_name", "task_code", "task_name", "task_type", "region_code", "fonds_identifier", "fonds_unit_name",
                "receive_department", "receive_time", "transact_time", "result", "retention_period", "security_classification"):
        fill(f"case/{key}", c[key])
    for key in ("name", "type", "card_type", "card_number"):
        fill(f"case/applicant/{key}", c["applicant"][key])
    driver.find_element(By.XPATH, "//button[text()='增加环节']").click()
    for i, (step, when) in enumerate((("受理", c["receive_time"]), ("办结", c["transact_time"]))):
        fill(f"process/{i}/step", step)
        fill(f"process/{i}/actor", "李敏")
        fill(f"process/{i}/time", when)
    driver.find_element(By.ID, "add-material").click()
    chosen = [next(m for m in data["materials"] if m["category"] == cat) for cat in ("申报文件", "结果文件")]
    files = driver.find_elements(By.CSS_SELECTOR, "#materials input[type=file]")
    for i, material in enumerate(chosen):
        fill(f"materials/{i}/seq", i + 1)
        fill(f"materials/{i}/category", material["category"])
        fill(f"materials/{i}/title", material["title"])
        files[i].send_keys(str(template.folder / material["file_name"]))
    fill("case/region_code", "43010")  # a typo first: held back by the form's own check
    driver.find_element(By.ID, "submit-case").click()
    wait(driver, "#form-out .notice.error")
    assert "case/region_code" in driver.find_element(By.ID, "form-out").text
    shot(driver, "06-entry-invalid")
    fill("case/region_code", c["region_code"])
    driver.find_element(By.ID, "submit-case").click()
    wait(driver, "#submitted", timeout=90)
    shot(driver, "07-entry-submitted")
    (item,) = archive_until(stack, lambda i: i.get("project_id") == "MANUAL2026000001" and i.get("status") == "ARCHIVED")
    goto(driver, stack["gateway"].url + f"#/case/{urllib.parse.quote(item['package_id'], safe='')}")
    wait(driver, "#history")
    text = driver.find_element(By.ID, "main").text
    assert driver.title == "政务服务电子档案 · 控制台", "no script from metadata ran"
    assert "哈希链完整" in text
    assert not driver.find_elements(By.CSS_SELECTOR, "main script, main img"), "no element came from case text"
    assert driver.execute_script("return [...document.querySelectorAll('script')].map((s) => s.getAttribute('src'))") == \
        ["static/app.js", "static/receive.js"], "the page's own scripts only"
    shot(driver, "08-entry-archived")
    goto(driver, stack["gateway"].url + "#/cases?find=MANUAL2026000001")  # the list shows task_name: as text too
    WebDriverWait(driver, 30).until(lambda d: "<script>" in d.find_element(By.ID, "cases").text)
    assert driver.title == "政务服务电子档案 · 控制台" and not driver.find_elements(By.CSS_SELECTOR, "#cases script, #cases img")


def tampered(kind: str):
    """An answer of the reply routes altered on its way to the browser (issue 21): what the page must refuse to sign."""
    import base64
    import hashlib

    from asn1crypto import cms as acms

    def attrs(data: bytes, twice: bool, digest: bytes = hashlib.sha256(b"another document").digest()) -> bytes:
        parsed = acms.CMSAttributes.load(data)
        items = [{"type": a["type"].native, "values": [v for v in a["values"]]} for a in parsed]
        if twice:  # a second messageDigest: the first for one reader, the last for another
            items.append({"type": "message_digest", "values": [digest]})
        else:
            items = [{**a, "values": [digest]} if a["type"] == "message_digest" else a for a in items]
        return acms.CMSAttributes(items).dump(force=True)

    def another_list(answer: dict) -> None:
        """A whole other printed list, made consistent: its own hash named, the digest to sign of its own byte range."""
        import re

        pdf = bytearray(base64.b64decode(answer["prepared_pdf"]))
        ends = [m.end() + extra for m in re.finditer(rb"%%EOF", pdf) for extra in (0, 1, 2)]
        length = next(e for e in ends if hashlib.sha256(pdf[:e]).hexdigest() == answer["list_pdf_sha256"])
        pdf[length // 3] ^= 0x01
        a, b, c, d = map(int, re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)[-1])
        answer["prepared_pdf"] = base64.b64encode(bytes(pdf)).decode()
        answer["list_pdf_sha256"] = hashlib.sha256(pdf[:length]).hexdigest()
        digest = hashlib.sha256(bytes(pdf[a:a + b]) + bytes(pdf[c:c + d])).digest()
        answer["to_sign"] = base64.b64encode(attrs(base64.b64decode(answer["to_sign"]), False, digest)).decode()

    def alter(method: str, path: str, raw: bytes) -> bytes:
        if method != "POST" or "/reply" not in path or not raw.startswith(b"{"):
            return raw
        answer = json.loads(raw)
        step = answer.get("step")
        if (kind in ("digest-swapped", "digest-twice") and step == "pdf") or (kind == "reply-digest" and step == "reply"):
            answer["to_sign"] = base64.b64encode(attrs(base64.b64decode(answer["to_sign"]), kind == "digest-twice")).decode()
        elif kind == "pdf-altered" and step == "pdf":
            pdf = bytearray(base64.b64decode(answer["prepared_pdf"]))
            pdf[len(pdf) // 3] ^= 0x01
            answer["prepared_pdf"] = base64.b64encode(bytes(pdf)).decode()
        elif kind == "other-list" and step == "pdf":
            another_list(answer)
        elif kind == "decision-flipped" and step == "pdf":
            doc = json.loads(base64.b64decode(answer["document"]))
            doc["packages"][0]["outcome"] = "ACCEPTED" if doc["packages"][0]["outcome"] == "RETURNED" else "RETURNED"
            answer["document"] = base64.b64encode(json.dumps(doc, ensure_ascii=False).encode()).decode()
        return json.dumps(answer).encode()

    return alter


def reply_in_browser(stack, driver, batch_id: str, returns: dict[str, str], shots: tuple[str, str] | None = None,
                     refused: bool = False) -> str | None:
    """The receiver opens the batch from the inbox, returns what ``returns`` names (with its reason), picks the key file and signs.

    ``refused``: the page is expected to refuse to sign (an answer was altered in flight); the refusal's text is returned."""
    gateway, institution = stack["gateway"], stack["institution"]
    sign_in(driver, gateway, "receiver1")
    goto(driver, gateway.url + "#/inbox")
    wait(driver, "#inbox a")
    driver.find_element(By.LINK_TEXT, batch_id).click()
    wait(driver, "#reply-form")
    rows = driver.find_elements(By.CSS_SELECTOR, "#inbox-packages tbody tr")
    assert rows and all(r.find_elements(By.CSS_SELECTOR, "span.ok") and "不合格" not in r.text for r in rows), "each package's 接收检测 is shown"
    for n, row in enumerate(rows):
        code = row.find_element(By.CSS_SELECTOR, ".mono").text
        if code in returns:
            driver.find_element(By.ID, f"return-{n}").click()
            driver.find_element(By.ID, f"reason-{n}").send_keys(returns[code])
    driver.find_element(By.ID, "key-file").send_keys(str(institution.key_path))
    driver.find_element(By.ID, "cert-file").send_keys(str(institution.cert_path))
    if shots:
        shot(driver, shots[0])
    driver.find_element(By.ID, "sign-reply").click()
    if refused:
        return wait(driver, "#reply-out .notice.error", timeout=120).text
    sent = wait(driver, "#reply-sent", timeout=120)
    driver.execute_script("arguments[0].scrollIntoView()", sent)
    assert f"退回 {len(returns)} 件" in sent.text, sent.text
    if shots:
        shot(driver, shots[1])


def test_a_clerk_transfers_the_institution_returns_one_the_clerk_fixes_and_resubmits_and_it_is_accepted(stack, driver):
    svc, gateway, root = stack["svc"], stack["gateway"], stack["root"]
    cases = [sample_case(root / "cases", seed=seed, files=3) for seed in (15, 18)]  # two more of clerk1's hall
    for case in cases:
        stack["cloud"].upload(zip_case(case.folder, root / f"{case.project_id}.zip"))
    for case in cases:
        archive_until(stack, lambda i, p=case.project_id: i.get("project_id") == p and i.get("status") == "ARCHIVED")
    sign_in(driver, gateway, "clerk1")
    goto(driver, gateway.url + "#/transfer/new")
    wait(driver, "#choose-institution")  # nothing is offered before the institution is chosen: only its competence is
    Select(wait(driver, "#institution")).select_by_value("430102001")
    wait(driver, "#archived input[type=checkbox]")
    assert "行政区划 长沙市芙蓉区（430102）" in driver.find_element(By.ID, "institution-scope").text
    shot(driver, "09-transfer-pick")
    driver.find_element(By.ID, "create-batch").click()
    wait(driver, "#submit-batch")
    batch_id = driver.current_url.rsplit("/", 1)[-1]
    shot(driver, "10-batch-draft")
    token = gateway.users().sign_in(gateway.client_id, "clerk1", LOCAL_PASSWORD)["IdToken"]
    with urllib.request.urlopen(urllib.request.Request(gateway.url + f"api/batches/{batch_id}/preview.pdf",
                                                       headers={"authorization": f"Bearer {token}"})) as r:
        preview = r.read()
    from pypdf import PdfReader

    pages = PdfReader(io.BytesIO(preview)).pages
    assert preview.startswith(b"%PDF") and len(pages) >= 2, "the 移交清单 and the 登记表, previewed before anything is signed"
    assert "登记表" in "".join(p.extract_text() or "" for p in pages).replace(chr(0), "")
    sign_in(driver, gateway, "reviewer1")  # the 审核人 countersigns the 登记表 before it is sent
    goto(driver, gateway.url + f"#/batch/{batch_id}")
    wait(driver, "#countersign-batch").click()
    wait(driver, "#batch-out .notice.done")
    assert not driver.find_elements(By.ID, "submit-batch"), "a reviewer cannot submit"
    sign_in(driver, gateway, "clerk1")
    goto(driver, gateway.url + f"#/batch/{batch_id}")
    wait(driver, "#submit-batch").click()
    wait(driver, "#batch-out .notice.done")
    svc.wait_for_decision(batch_id, timeout=300)
    listing = json.loads(svc.aws.s3.get_bytes(stack["cloud"].name("TransferBucket"),
                                              f"institutions/430102001/batches/{batch_id}/transfer-list.json"))
    assert listing["reviewer"] == "王芳（审核人）" and listing["transferor"].startswith("李敏"), "both names are on the signed list"
    packages = svc.transfers.packages(batch_id)
    assert len(packages) >= 2
    returned = packages[0]["package_id"]
    # the page signs only what it checked (issue 21): each answer altered in flight is refused before the key signs it
    reason = "申请表扫描件模糊，无法辨认签字，请重新扫描后移交"
    for kind, says in (("digest-swapped", "摘要不符"), ("digest-twice", "出现多次"), ("pdf-altered", "摘要不符|认证的那一份"),
                       ("other-list", "本页显示的那一份"), ("decision-flipped", "不一致"), ("reply-digest", "摘要不符")):
        gateway.tamper = tampered(kind)
        try:
            text = reply_in_browser(stack, driver, batch_id, {returned: reason}, refused=True)
        finally:
            gateway.tamper = None
        assert "未签署" in text and any(word in text for word in says.split("|")), (kind, text)
        assert svc.transfers.browser_reply(batch_id) is None, f"{kind}: nothing was sent"
    # the institution's receiver, in the browser, with the institution's own key file (it never leaves the browser)
    reply_in_browser(stack, driver, batch_id, {returned: reason}, shots=("11-inbox-review", "12-reply-sent"))
    deadline = time.monotonic() + 180
    while svc.transfers.batch(batch_id)["status"] not in ("PARTLY_RETURNED", "RETURNED") and time.monotonic() < deadline:
        time.sleep(0.5)
    # the receiver's page now shows what was decided (N2): the returned package with its reason, the others accepted, the outcome
    goto(driver, gateway.url + f"#/inbox/{batch_id}")
    decision = wait(driver, "#batch-decision")
    assert f"部分退回：接收 {len(packages) - 1} 件，退回 1 件" in decision.text, decision.text
    rows = {r.find_element(By.CSS_SELECTOR, ".mono").text: r for r in driver.find_elements(By.CSS_SELECTOR, "#inbox-packages tbody tr")}
    assert rows[returned].find_element(By.CSS_SELECTOR, "[data-decision]").text == "退回"
    assert "申请表扫描件模糊，无法辨认签字" in rows[returned].find_element(By.CSS_SELECTOR, "td.reason").text
    assert all(r.find_element(By.CSS_SELECTOR, "[data-decision]").text == "接收" for c, r in rows.items() if c != returned)
    assert not driver.find_elements(By.CSS_SELECTOR, "#inbox-packages input[type=radio]"), "no radios of a decision still to take"
    assert "待检测" not in driver.find_element(By.ID, "main").text, "Table A.1 as recorded at the decision"
    shot(driver, "12b-receiver-decided")
    sign_in(driver, gateway, "clerk1")
    goto(driver, gateway.url + f"#/batch/{batch_id}")
    wait(driver, "#packages tr.bad")
    assert "申请表扫描件模糊" in driver.find_element(By.ID, "packages").text
    shot(driver, "13-batch-returned")
    driver.find_element(By.LINK_TEXT, "去修正").click()
    wait(driver, "#fix").click()
    form = wait(driver, "#case-form")
    el = form.find_element(By.CSS_SELECTOR, '[data-path="case/result"]')
    el.send_keys("（已重新扫描）")
    form.find_element(By.ID, "submit-case").click()
    wait(driver, "#submitted", timeout=90)
    archive_until(stack, lambda i: i.get("package_id") == returned and i.get("status") == "ARCHIVED" and int(i.get("package_version", 1)) == 2)
    goto(driver, gateway.url + f"#/batch/{batch_id}")
    wait(driver, "#resubmit-batch").click()
    wait(driver, "#batch-out .notice.done")
    new_id = driver.find_element(By.ID, "batch-out").text.split("新批次 ")[1].split("（")[0]
    goto(driver, gateway.url + f"#/batch/{new_id}")
    wait(driver, "#submit-batch").click()
    wait(driver, "#batch-out .notice.done")
    svc.wait_for_decision(new_id, timeout=300)
    reply_in_browser(stack, driver, new_id, {})
    deadline = time.monotonic() + 180
    while svc.transfers.batch(new_id)["status"] != "ACCEPTED" and time.monotonic() < deadline:
        time.sleep(0.5)
    sign_in(driver, gateway, "clerk1")
    goto(driver, gateway.url + "#/batches")
    wait(driver, "#batches")
    WebDriverWait(driver, 30).until(lambda d: "已全部接收" in d.find_element(By.ID, "batches").text)
    shot(driver, "14-outbox-accepted")
    history = svc.aws.events.entries(f"batch#{new_id}")
    assert any(e["actor"] != "earchive-transfer" for e in history), "who did it is in the batch's history"
    sign_in(driver, gateway, "auditor1")  # the auditor browses today's batch streams and opens one: its chain verified
    goto(driver, gateway.url + "#/log?kind=batch")
    wait(driver, "#streams a")
    driver.find_element(By.LINK_TEXT, f"batch#{new_id}").click()
    wait(driver, "#stream-events")
    assert "哈希链完整" in driver.find_element(By.ID, "log-out").text
    shot(driver, "15-audit-log")


def test_tokens_forged_expired_or_for_another_scope_get_nothing(stack):
    gateway = stack["gateway"]

    def call(path: str, token: str | None) -> int:
        req = urllib.request.Request(gateway.url.rstrip("/") + path, headers={"authorization": f"Bearer {token}"} if token else {})
        try:
            with urllib.request.urlopen(req) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    good = gateway.users().sign_in(gateway.client_id, "clerk1", LOCAL_PASSWORD)["IdToken"]
    assert call("/api/me", good) == 200
    head, payload, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))

    def forge(changes: dict) -> str:
        body = base64.urlsafe_b64encode(json.dumps({**claims, **changes}).encode()).decode().rstrip("=")
        return f"{head}.{body}.{sig}"

    assert call("/api/me", forge({"cognito:groups": ["admin"]})) == 401, "a changed claim breaks the signature"
    # issue 21: moto's own signing key ships inside its package; a token made with it, any claims, gets nothing here
    from importlib import resources

    from joserfc import jwt as jose_jwt
    from joserfc.jwk import RSAKey

    shipped = RSAKey.import_key(json.loads(gzip.decompress(resources.files("moto").joinpath("cognitoidp/resources/jwks-private.json.gz").read_bytes())))
    forged = jose_jwt.encode({"kid": "dummy", "alg": "RS256"}, {**claims, "cognito:groups": ["admin"]}, shipped)
    assert call("/api/me", forged) == 401, "a token signed with the key inside moto's package is refused"
    assert call("/api/me", None) == 401
    assert call("/api/me", "not.a.token") == 401
    from earchive_devtools.gateway import Authorizer, Unauthorized, local_jwks

    late = Authorizer(gateway.issuer, gateway.audience, local_jwks(), leeway=-7200)  # the same token two hours later
    with pytest.raises(Unauthorized, match="expired"):
        late.claims(f"Bearer {good}")
    other = Authorizer("https://cognito-idp.us-east-1.amazonaws.com/other-pool", gateway.audience, local_jwks())
    with pytest.raises(Unauthorized, match="iss"):
        other.claims(f"Bearer {good}")
    with pytest.raises(Unauthorized, match="audience"):
        Authorizer(gateway.issuer, ["another-client"], local_jwks()).claims(f"Bearer {good}")
    receiver = gateway.users().sign_in(gateway.client_id, "receiver1", LOCAL_PASSWORD)["IdToken"]
    assert call("/api/cases", receiver) == 403, "a receiver sees no hall's cases"
    assert call("/api/cases?hall=430103%230103", good) == 403, "nor a clerk another hall's"


def test_a_body_that_is_not_text_is_the_requests_fault(stack):
    gateway = stack["gateway"]
    token = gateway.users().sign_in(gateway.client_id, "clerk1", LOCAL_PASSWORD)["IdToken"]
    req = urllib.request.Request(gateway.url + "api/validate", method="POST", data=b"\xff\xfe{",
                                 headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req)
    assert refused.value.code == 400 and "JSON" in json.loads(refused.value.read())["error"]


def test_an_oversized_upload_is_refused_before_any_byte_is_sent(stack):
    gateway = stack["gateway"]
    token = gateway.users().sign_in(gateway.client_id, "clerk1", LOCAL_PASSWORD)["IdToken"]
    req = urllib.request.Request(gateway.url + "api/uploads", method="POST",
                                 data=json.dumps({"file_name": "materials/huge.pdf", "size": 3 * 1024**3, "content_type": "application/pdf"}).encode(),
                                 headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(req)
    assert refused.value.code == 400 and "超出允许的大小" in json.loads(refused.value.read())["error"]


def test_an_admin_adds_a_user_whose_temporary_password_is_shown_once(stack, driver):
    sign_in(driver, stack["gateway"], "admin1")
    goto(driver, stack["gateway"].url + "#/users")
    wait(driver, "#users")
    driver.find_element(By.ID, "new-name").send_keys("clerk2")
    driver.find_element(By.ID, "new-display").send_keys("周婷")
    Select(driver.find_element(By.ID, "new-role")).select_by_value("window_clerk")
    driver.find_element(By.ID, "new-scope").send_keys("430102:0102")
    driver.find_element(By.ID, "add-user").click()
    password = wait(driver, "#temporary-password").text
    assert password.startswith("Ea1-") and len(password) == 20
    WebDriverWait(driver, 30).until(lambda d: "clerk2" in d.find_element(By.ID, "users").text)
    shot(driver, "16-admin-users")
    user = stack["gateway"].users().get("clerk2")
    assert user["roles"] == ["window_clerk"] and user["scopes"] == ["hall:430102:0102"] and user["status"] == "FORCE_CHANGE_PASSWORD"
    # the new clerk's first sign-in: the temporary password, then one of their own, then the hall's cases
    driver.execute_script("sessionStorage.clear()")
    goto(driver, stack["gateway"].url + "#/login")
    wait(driver, "#username").send_keys("clerk2")
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "new-password").is_displayed())
    driver.find_element(By.ID, "new-password").send_keys("Clerk2-Own-Pass-2026")
    driver.find_element(By.ID, "login").click()
    wait(driver, "#cases")
    assert "综合受理窗口经办人" in driver.find_element(By.ID, "who").text, "signed in with the clerk's role"
    assert stack["gateway"].users().get("clerk2")["status"] == "CONFIRMED", "the temporary password is gone"
