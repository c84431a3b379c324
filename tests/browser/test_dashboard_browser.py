"""The dashboard in a real browser: headless Chromium, driven through chromedriver.

Renders the site for 1 June 2018 from a database holding the litigation response's
history, opens every page from disk, and checks what a person would see: no console
error, one timeline bar per commitment, the overdue table naming the late SLA, RAG
statuses in words, document markup shown as text, and a print layout without the
navigation. Screenshots are written beside the site (and copied to DULY_SCREENSHOTS
when that names a folder).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.browser.webdriver import Browser, chromium, missing
from tests.conftest import ROOT
from tests.flows.test_report import LIT, evil_rules, record_litigation_history

__all__ = ["evil_rules"]  # a fixture, used below

SLA = f"{LIT}/sla-in-place"
INSTALL = "tests/browser/install.sh"


@pytest.fixture(scope="module")
def browser(tmp_path_factory) -> Browser:
    absent = missing()
    if absent is not None:
        pytest.skip(
            f"BROWSER NOT TESTED: `{absent}` is not installed. Run `bash {INSTALL}` (as root) "
            "to install Debian's chromium and chromium-driver, then run the tests again."
        )
    folder = tmp_path_factory.mktemp("chromium")
    with chromium(folder / "profile", folder / "chromedriver.log") as browser:
        yield browser


def dashboard(out: Path, database: str, rules: Path = ROOT / "rules") -> None:
    result = CliRunner().invoke(
        app,
        ["dashboard", "--at", "2018-06-01", "--out", str(out), "--rules", str(rules),
         "--database", database],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr


def open_page(browser: Browser, path: Path) -> list[dict]:
    """Open a page from disk; return the console entries it caused."""
    browser.console()  # drop what came before
    browser.get(path.resolve().as_uri())
    assert browser.run("return document.readyState") == "complete"
    return browser.console()


def keep(shot: Path) -> Path:
    target = os.environ.get("DULY_SCREENSHOTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(target) / shot.name)
    return shot


def test_the_dashboard_in_chromium(browser, sqlite_url, seed_rules, tmp_path):
    record_litigation_history(sqlite_url, seed_rules)
    site = tmp_path / "site"
    dashboard(site, sqlite_url)
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 3 + len(seed_rules.responses)

    for page in pages:
        errors = open_page(browser, page)
        assert errors == [], f"{page.name}: {errors}"
        facts = browser.run(
            """return {
                lang: document.documentElement.lang,
                title: document.title,
                scripts: document.scripts.length,
                h1: document.querySelectorAll('h1').length,
                tablesWithoutCaption: [...document.querySelectorAll('table')]
                    .filter(t => !t.caption || !t.caption.textContent.trim()).length,
                columnHeadsWithoutScope: [...document.querySelectorAll('thead th')]
                    .filter(th => th.getAttribute('scope') !== 'col').length,
                overflows: document.documentElement.scrollWidth > innerWidth,
                silentRag: [...document.querySelectorAll('.rag')]
                    .filter(e => !/^(Red|Amber|Green|Grey)$/.test(e.textContent.trim())).length,
            }"""
        )
        assert facts == {
            "lang": "en-GB",
            "title": facts["title"] or "a title",
            "scripts": 0,
            "h1": 1,
            "tablesWithoutCaption": 0,
            "columnHeadsWithoutScope": 0,
            "overflows": False,
            "silentRag": 0,
        }, page.name

    # the timeline: one bar per commitment of every response published by then
    open_page(browser, site / "timeline.html")
    expected = [
        uid
        for uid, c in seed_rules.commitments.items()
        if seed_rules.responses[c.response_id].published.isoformat() <= "2018-06-01"
    ]
    bars = browser.run(
        """return [...document.querySelectorAll('svg#timeline g.bar')].map(g => ({
            uid: g.dataset.commitment,
            label: g.querySelector('.ragtext').textContent,
            drawn: g.getBBox().width > 0,
        }))"""
    )
    assert sorted(b["uid"] for b in bars) == sorted(expected)
    assert len(bars) == 33
    assert {b["label"] for b in bars} <= {"Red", "Amber", "Green", "Grey"}
    assert all(b["drawn"] for b in bars)
    assert (
        browser.run("return document.querySelector('svg#timeline').getBoundingClientRect().width")
        > 800
    )
    keep(browser.screenshot(tmp_path / "timeline.png", "svg#timeline"))

    # what is overdue, by owner: the SLA (due 30 April 2018, signed only on 25 June)
    open_page(browser, site / "overdue.html")
    rows = browser.run(
        """return [...document.querySelectorAll('table.overdue tbody tr')].map(tr => ({
            owner: tr.closest('table').dataset.owner,
            uid: tr.dataset.commitment,
            text: tr.innerText,
        }))"""
    )
    sla = [r for r in rows if r["uid"] == SLA]
    assert len(sla) == 1
    assert sla[0]["owner"] == "lo-head"
    assert "Updated SLA between the Home Office and the GLD in place" in sla[0]["text"]
    assert "32" in sla[0]["text"].split("\t")  # days overdue
    assert f"{LIT}/joint-improvement-plan" not in {r["uid"] for r in rows}  # done in March
    keep(browser.screenshot(tmp_path / "overdue.png"))

    # printable: the navigation goes, the RAG colours stay
    open_page(browser, site / "responses" / f"{LIT}.html")
    keep(browser.screenshot(tmp_path / "report.png"))
    browser.cdp("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        printed = browser.run(
            """return {
                nav: getComputedStyle(document.querySelector('header.site')).display,
                red: getComputedStyle(document.querySelector('.rag-red')).backgroundColor,
            }"""
        )
    finally:
        browser.cdp("Emulation.setEmulatedMedia", {"media": ""})
    assert printed == {"nav": "none", "red": "rgb(212, 53, 28)"}

    open_page(browser, site / "index.html")
    keep(browser.screenshot(tmp_path / "index.png"))
    for shot in ("index", "timeline", "overdue", "report"):
        assert (tmp_path / f"{shot}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_document_markup_is_shown_as_text_in_the_browser(
    browser, evil_rules, rules_dir, sqlite_url, tmp_path
):
    site = tmp_path / "site"
    dashboard(site, sqlite_url, rules_dir)
    for page in (site / "responses" / f"{LIT}.html", site / "index.html", site / "timeline.html"):
        assert open_page(browser, page) == []  # an alert or an error would show here
        assert browser.run("return document.scripts.length") == 0
        assert browser.run("return document.querySelectorAll('img, b, i').length") == 0
    open_page(browser, site / "responses" / f"{LIT}.html")
    text = browser.run("return document.body.innerText")
    assert '<script>alert("x")</script><img src=x onerror=alert(1)>' in text
    assert "<b>bold</b> & <script>alert(2)</script> an updated Service Level Agreement" in text
    keep(browser.screenshot(tmp_path / "markup-as-text.png", "#recommendation-1"))
