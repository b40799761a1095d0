"""`earchive receive review`: the institution's review page in a real browser (headless Chromium, no network).

A package with hostile metadata is shown escaped; a return with a too-short reason is refused by the
browser and by the server; a return with a proper reason and an acceptance make the same signed
reply `receive reply` makes, and the page says it was sent.
"""

from __future__ import annotations

import json
import shutil
import urllib.parse
import urllib.request

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from earchive.check import CheckOptions
from earchive.crypto.cms import verify_signed_data
from earchive.domain.pack import pack
from earchive.receive import Desk, _sm3_of
from earchive.receive_review import page, serve, validate
from earchive_devtools.sample import sample_case
from earchive_devtools.screenshots import browser

pytestmark = pytest.mark.slow  # a browser


@pytest.fixture(scope="module")
def batch(tmp_path_factory, signer, tsa):
    """A batch of two packages as `receive pull` leaves it, one with <script> and a formula in its remarks; then checked."""
    root = tmp_path_factory.mktemp("review")
    desk = Desk("430102001", root / "pc")
    out = desk.batch("B1")
    (out / "packages").mkdir(parents=True)
    packages = []
    for seed, remarks in ((991, "<script>document.title='pwned'</script>=HYPERLINK(\"x\")"), (992, "正常")):
        case = sample_case(root / "cases", seed=seed, remarks=remarks)
        result = pack(case.folder, root / "packed", signer=signer, tsa=tsa)
        shutil.copy(result.path, out / "packages" / f"{result.record_code}.zip")
        packages.append({"record_code": result.record_code, "project_id": case.project_id, "task_name": "企业设立登记",
                         "digest": {"algorithm": "SM3", "value": _sm3_of(result.path)}})
    listing = {"batch_id": "B1", "institution": "430102001", "institution_name": "芙蓉区行政审批服务局", "transferor": "李敏",
               "transfer_date": "2026-12-01", "packages": packages}
    (out / "transfer-list.json").write_text(json.dumps(listing, ensure_ascii=False), "utf-8")
    desk.init("芙蓉区行政审批服务局")
    from earchive.crypto.pki import DevPKI, load_trust_anchors

    desk.check("B1", CheckOptions(trust=load_trust_anchors(DevPKI().ca_path)))
    return desk, listing


@pytest.fixture(scope="module")
def driver():
    d = browser()
    yield d
    d.quit()


def test_the_form_rules_are_the_servers_too(batch):
    desk, listing = batch
    codes = [p["record_code"] for p in listing["packages"]]
    assert validate({"receiver": "王芳", "decision-0": "accept", "decision-1": "return", "reason-1": "太短"}, codes)[2], "4 characters"
    assert validate({"receiver": "王芳", "decision-0": "accept"}, codes)[2], "a package left undecided"
    assert validate({"decision-0": "accept", "decision-1": "accept"}, codes)[2], "no receiver"
    ok = validate({"receiver": "王芳", "decision-0": "accept", "decision-1": "return", "reason-1": "申请表扫描件模糊，请重新扫描"}, codes)
    assert ok == ("王芳", {codes[1]: "申请表扫描件模糊，请重新扫描"}, [])
    assert "<script>document" not in page(desk, "B1", "t"), "metadata is escaped"


def test_an_institution_reviews_returns_one_package_and_signs_in_the_browser(batch, driver, tmp_path):
    desk, listing = batch
    codes = [p["record_code"] for p in listing["packages"]]
    sent = []

    def send(receiver, returns):
        document, body, signature = desk.reply("B1", receiver=receiver, returns=returns)
        sent.append((document, body, signature))
        return {"reply_id": document["reply_id"], "key": desk.reply_key("B1", document["reply_id"]),
                "outcomes": {p["package_id"]: p["outcome"] for p in document["packages"]}}

    server = serve(desk, "B1", send)
    try:
        assert not server.url.replace("http://127.0.0.1:", "").split("/", 1)[1] == "", "a random path token"
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(server.url.rsplit("/", 2)[0] + "/", timeout=10)  # without the token: nothing
        driver.get(server.url)
        text = driver.execute_script("return document.body.innerText")
        assert "电子档案接收审核" in text and all(c in text for c in codes) and "接收检测" in text and "申报文件/" in text
        assert "北京时间" in text and "+00:00" not in text, "times in Beijing time, as every page a clerk reads"
        assert driver.title.startswith("接收审核"), "the hostile remarks did not run"
        fetched = driver.execute_script("return performance.getEntriesByType('resource').map(r => r.name)")
        assert all(u.startswith("http://127.0.0.1:") for u in fetched), f"nothing from outside this PC (no CDN): {fetched}"
        assert driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1"), "fits 1366 px"
        link = driver.find_element(By.CSS_SELECTOR, "#pkg-0 a").get_attribute("href")
        assert urllib.request.urlopen(link, timeout=10).status == 200, "a material opens from the page"
        driver.find_element(By.CSS_SELECTOR, "input[name='decision-1'][value='return']").click()
        reason = driver.find_element(By.NAME, "reason-1")
        reason.send_keys("太短")
        driver.find_element(By.NAME, "receiver").send_keys("王芳")
        driver.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
        assert not reason.get_property("validity")["valid"] and not sent, "the browser holds a 2-character reason back"
        reason.clear()
        reason.send_keys("申请表扫描件模糊，请重新扫描后补正")
        driver.save_screenshot(str(tmp_path / "review.png"))
        driver.find_element(By.CSS_SELECTOR, "button[type='submit']").click()
        sent_title = WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.ID, "sent") or d.find_elements(By.CSS_SELECTOR, "[role=alert]"))
        assert sent_title[0].text == "回执已签署并发送", driver.execute_script("return document.body.innerText")
        # the server holds the rules too: a hand-made post with a short reason is refused, nothing sent twice
        form = urllib.parse.urlencode({"receiver": "王芳", "decision-0": "accept", "decision-1": "return", "reason-1": "短"}).encode()
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(server.url + "reply", data=form), timeout=10)
        assert refused.value.code == 400
    finally:
        server.shutdown()
    ((document, body, signature),) = sent
    assert {p["package_id"]: p["outcome"] for p in document["packages"]} == {codes[0]: "ACCEPTED", codes[1]: "RETURNED"}
    assert document["receiver"] == "王芳"
    from asn1crypto import cms

    check = verify_signed_data(cms.ContentInfo.load(signature), [desk.signer().certificate], content=body)
    assert not check.errors, "signed with the institution's key, as `receive reply` signs"
