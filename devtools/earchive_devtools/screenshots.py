"""Real report pages in a real browser: ``python -m earchive_devtools.screenshots docs/screenshots``.

The local cloud archives two cases that must be refused: one with a truncated file (a rejection at
collect) and one carrying the EICAR test virus (a failed check). The rejection notice and the check
report the pipeline wrote are rendered in headless Chromium (Debian's ``chromium`` and
``chromium-driver``, installed by ``make system-deps``) at an office PC's 1366 px, and saved as PNG.
``tests/pipeline/test_report_pages.py`` opens the same pages and checks what a clerk sees.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
DRIVER = ("chromedriver",)


def find(names: tuple[str, ...]) -> str | None:
    return next((p for p in map(shutil.which, names) if p), None)


def browser(width: int = 1366, height: int = 768) -> Any:
    """Headless Chromium through its driver, both from the system (never downloaded); no network beyond loopback."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = find(CHROMIUM), find(DRIVER)
    if not binary or not driver:
        raise RuntimeError("headless Chromium is not installed: `make system-deps` installs Debian's chromium and chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", f"--window-size={width},{height}",
                "--hide-scrollbars", "--lang=zh-CN", "--proxy-server=http://127.0.0.1:9"):  # any off-machine request fails
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def report_pages(out: Path) -> dict[str, Path]:
    """The rejection notice and the failed check report of two uploads through the local cloud, saved as HTML in ``out``."""
    from .localcloud import LocalCloud
    from .sample import sample_case, zip_case

    out.mkdir(parents=True, exist_ok=True)
    work = out / ".cases"
    with LocalCloud(log_level="ERROR") as cloud:
        truncated = sample_case(work, seed=22, defect="truncated")
        virus = sample_case(work, seed=23, defect="eicar")
        keys = {}
        for name, case in (("rejection", truncated), ("check", virus)):
            up = cloud.upload(zip_case(case.folder, work / f"{case.project_id}.zip"), key=f"湖南 证照/{case.project_id}.zip")
            keys[name] = up["key"]
        cloud.wait(cloud.dispatch(wait=0.5), timeout=600)
        s3 = cloud.client("s3")
        pages = {"rejection": out / "rejection-report.html", "check": out / "check-report.html"}
        pages["rejection"].write_bytes(s3.get_object(Bucket=cloud.name("IntakeBucket"), Key=keys["rejection"] + ".rejected.html")["Body"].read())
        reports = s3.list_objects_v2(Bucket=cloud.name("ReportsBucket"), Prefix="reports/").get("Contents", [])
        html_key = next(o["Key"] for o in reports if o["Key"].endswith(".html"))
        pages["check"].write_bytes(s3.get_object(Bucket=cloud.name("ReportsBucket"), Key=html_key)["Body"].read())
    shutil.rmtree(work, ignore_errors=True)
    return pages


def screenshot(driver: Any, page: Path, target: Path) -> Path:
    """The whole page at the window's width, as a clerk's browser shows it."""
    driver.get(page.resolve().as_uri())
    height = int(driver.execute_script("return Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)"))
    driver.set_window_size(1366, min(max(height + 40, 768), 6000))
    driver.save_screenshot(str(target))
    return target


def main(argv: list[str] | None = None) -> int:
    out = Path((argv or sys.argv[1:] or ["docs/screenshots"])[0])
    pages = report_pages(out)
    driver = browser()
    try:
        for name, page in pages.items():
            print(screenshot(driver, page, out / f"{name}-report.png"))
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
