"""The dashboard as a person uses it: Debian's headless Chromium, driven by Selenium through
Debian's chromedriver, against a real ``journey serve`` process with tokens configured.

One server and one browser for the module, and one test that walks through it in order
(sign in, stock, overview, a customer's journey, a customer id holding markup, the offline
report): under ``pytest -n`` tests of one module may land on different workers, and each
would start its own server and browser. Every page must load with no console error (the
browser's log at level SEVERE: a script error, a resource refused by the page's policy or
not found) and draw its charts (SVG with a size and data points). Screenshots of each page
are saved in ``$JOURNEY_TEST_ARTIFACTS`` (else a temporary directory, printed).

Skipped, with the reason, when Chromium, chromedriver or Selenium is missing (``.ci/run``
installs Debian's ``chromium`` and ``chromium-driver`` when it can).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.dashboard_support import EVIL, build_store
from tests.http_support import served
from tests.support import Journey

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
ANALYST = "jt_browser-analyst-token"
TOKENS = f"browser:analyst:{hashlib.sha256(ANALYST.encode()).hexdigest()}"


def _missing() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            return f"{path} is missing (Debian package {package}; .ci/run installs it as root)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = os.environ.get("JOURNEY_TEST_ARTIFACTS")
    folder = Path(where) if where else tmp_path_factory.mktemp("dashboard-screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"dashboard screenshots in {folder}")
    return folder


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium; Selenium never looks for or downloads a browser or a driver."""
    reason = _missing()
    if reason:
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,900", "--hide-scrollbars", "--no-first-run",
                     "--disable-extensions", "--force-device-scale-factor=1"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SE_OFFLINE", "true")  # Selenium Manager: no network, ever
        driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER),
                                  options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory, browser: Any
              ) -> Iterator[tuple[str, Journey]]:
    """A small store served with an analyst's token required: the server's address, and a
    ``Journey`` that runs commands on the same store."""
    folder = tmp_path_factory.mktemp("dashboard")
    journey = Journey(f"sqlite:///{folder / 'journey.db'}", folder)
    build_store(journey.db)
    with served(journey.db, folder, env={"JOURNEY_TOKENS": TOKENS}) as base:
        yield base, journey


def _console_errors(browser: Any) -> list[str]:
    return [entry["message"] for entry in browser.get_log("browser")
            if entry["level"] == "SEVERE"]


def _check_page(browser: Any, name: str, folder: Path, charts: int) -> None:
    """No console error, ``charts`` SVG charts drawn with data, no script; a screenshot."""
    from selenium.webdriver.common.by import By

    assert _console_errors(browser) == [], name
    drawn = browser.find_elements(By.CSS_SELECTOR, "figure > svg")
    assert len(drawn) == charts, name
    for svg in drawn:
        assert svg.size["width"] > 100 and svg.size["height"] > 100, (name, svg.size)
        assert svg.find_elements(By.CSS_SELECTOR, ".tooltip-trigger"), name  # data points
    assert browser.execute_script("return document.scripts.length") == 0, name
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(max(height, 600), 6000))
    browser.save_screenshot(str(folder / f"{name}.png"))
    browser.set_window_size(1280, 900)


def _sign_in(browser: Any, token: str) -> None:
    from selenium.webdriver.common.by import By

    field = browser.find_element(By.ID, "token")
    field.clear()
    field.send_keys(token)
    field.submit()


def test_a_person_signs_in_and_reads_every_page_in_chromium(
        dashboard: tuple[str, Journey], browser: Any, artifacts: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    base, journey = dashboard
    bearer = {"Authorization": f"Bearer {ANALYST}"}

    # Without a token, a page leads to the sign-in form; a wrong token is refused there.
    browser.delete_all_cookies()
    browser.get(base + "/stock?needs_reorder=true")
    assert browser.current_url.startswith(base + "/login?next=")
    _sign_in(browser, "jt_not-a-token")
    assert "not known" in browser.find_element(By.CSS_SELECTOR, ".message.error").text
    browser.get_log("browser")  # the refused sign-in's 401 is logged: expected, dropped
    _sign_in(browser, ANALYST)
    assert browser.current_url == base + "/stock?needs_reorder=true"
    _check_page(browser, "stock", artifacts, charts=1)
    assert browser.find_elements(By.CSS_SELECTOR, "tr.reorder")

    # The overview: six charts, and the worst-served customers link to their journey.
    browser.get(base + "/")
    _check_page(browser, "overview", artifacts, charts=6)
    worst = httpx.get(base + "/v1/customers?top=5", headers=bearer).json()["customers"]
    known = next(c["customer_id"] for c in worst if c["customer_id"] != EVIL)
    browser.find_element(By.CSS_SELECTOR, "#worst-served ~ table").find_element(
        By.LINK_TEXT, known).click()

    # The customer's page shows the timeline the API gives, errors marked.
    assert browser.current_url == base + "/customers/" + quote(known, safe="")
    timeline = httpx.get(f"{base}/v1/customers/{quote(known, safe='')}/timeline",
                         headers=bearer).json()["entries"]
    shown = browser.find_elements(By.CSS_SELECTOR, "ol.timeline li")
    assert len(shown) == len(timeline) > 0
    marked = [li.find_element(By.CSS_SELECTOR, ".badge.error .code").text
              for li in browser.find_elements(By.CSS_SELECTOR, "ol.timeline li.error")]
    assert marked == [e["error"] for e in timeline if e["error"]] != []
    _check_page(browser, "customer", artifacts, charts=0)

    # A customer id holding markup, typed in the search box: shown as text, never run.
    box = browser.find_element(By.ID, "find-customer")
    box.send_keys(EVIL)
    box.submit()
    assert browser.find_element(By.CSS_SELECTOR, "h1 .id").text == EVIL
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018 -- reading it is the check
    assert browser.find_elements(By.CSS_SELECTOR, "main img") == []
    _check_page(browser, "customer-markup", artifacts, charts=0)

    # The report opens from a file, offline, with the same charts.
    journey.run("report", "-o", "report.html")
    shutil.copy(journey.cwd / "report.html", artifacts / "report.html")
    browser.get((journey.cwd / "report.html").as_uri())
    _check_page(browser, "report", artifacts, charts=6)
