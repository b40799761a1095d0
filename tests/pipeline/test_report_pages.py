"""The pages a clerk opens, in a real browser (headless Chromium at an office PC's 1366 px, no network).

The rejection notice and the check report are the ones the pipeline wrote for two real uploads
(`earchive_devtools.screenshots.report_pages`); docs/screenshots/ holds their pictures.
"""

from __future__ import annotations

import re

import pytest

from earchive_devtools.screenshots import browser, report_pages

pytestmark = pytest.mark.slow  # the local cloud and a browser

UTC_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\+00:00|Z)")


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    return report_pages(tmp_path_factory.mktemp("pages"))


@pytest.fixture(scope="module")
def driver():
    d = browser()
    yield d
    d.quit()


def seen(driver, page) -> str:
    driver.get(page.resolve().as_uri())
    return driver.execute_script("return document.body.innerText")


def fits(driver) -> bool:
    return driver.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")


def nothing_fetched(driver) -> bool:
    return driver.execute_script("return performance.getEntriesByType('resource').length === 0")


def test_the_rejection_notice_reads_in_chinese_with_beijing_time(driver, pages):
    text = seen(driver, pages["rejection"])
    head = text.split("问题明细")[0]
    assert "拒收" in head and "MATERIAL-SIZE" in head and "处理办法" in head, "the verdict and what to do come first"
    assert "材料文件的实际大小与 case.json 声明的大小不符" in text
    assert "北京时间" in text and not UTC_STAMP.search(text) and "None" not in text and "(stream)" not in text
    assert "收集" in text and "collect" not in head
    assert fits(driver) and nothing_fetched(driver)


def test_the_check_report_names_the_failed_test_at_the_top_in_chinese(driver, pages):
    text = seen(driver, pages["check"])
    head = text.split("检测明细")[0]
    assert "检测不合格" in head and "GD-4-2" in head and "病毒感染检测" in head, "the failed test is named above the table"
    assert "北京时间" in head and not UTC_STAMP.search(text) and "None" not in text
    rows = driver.execute_script("return Array.from(document.querySelectorAll('tbody tr')).map(r => r.innerText)")
    assert len(rows) >= 36 and all(re.search(r"[\u4e00-\u9fff]", r) for r in rows), "every test's detail has Chinese"
    assert fits(driver) and nothing_fetched(driver)
