"""End to end in headless Chromium: an owner acts from a real message.

`duly tick --at 2018-04-02T09:00` writes the reminders into a Maildir; the SLA
reminder's "Mark done (with evidence)" link is opened in Chromium against a running
`duly web`; the owner attaches the signed SLA and a note with markup in it, and
submits. Then `duly tick` five weeks later sends nothing more about the SLA but the
CANCEL of its calendar invite. Tampered, expired and misdirected links get a clear
page. Screenshots go beside the test (and to DULY_SCREENSHOTS when that names a folder).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session, col, select

from flows.db import make_engine
from models.invite import invite_uid
from models.tables import AgendaRow, CommitmentRow, Delivery, StateChange
from models.tokens import expiry_for, sign
from tests.browser.test_dashboard_browser import keep
from tests.browser.webdriver import Browser, chromium, missing
from tests.web.conftest import KEY, SLA, dump, free_port, make_app
from tests.web.outbox import read_outbox, tick

INSTALL = "tests/browser/install.sh"
OPENED = datetime(2018, 4, 3, 9, 30, tzinfo=UTC)  # 10:30 in London, the day after the tick
JIR = "learning-from-litigation-2018/joint-improvement-plan"
NOTE = "<img src=x onerror=\"document.title='owned'\"> Signed by both departments <b>today</b>"


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


def find(browser: Browser, selector: str) -> str:
    answer = browser._call("POST", "/element", {"using": "css selector", "value": selector})
    (element,) = answer.values()  # {"element-6066-...": id}, the W3C element reference
    return str(element)


def type_into(browser: Browser, selector: str, text: str) -> None:
    browser._call("POST", f"/element/{find(browser, selector)}/value", {"text": text})


def click(browser: Browser, selector: str) -> None:
    browser._call("POST", f"/element/{find(browser, selector)}/click", {})


def wait_for(browser: Browser, script: str, seconds: float = 15) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = browser.run(script)
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {script}")


def open_url(browser: Browser, url: str) -> list[dict]:
    browser.console()
    browser.get(url)
    assert browser.run("return document.readyState") == "complete"
    return browser.console()


def link_labelled(text: str, label: str) -> str:
    match = re.search(rf"{re.escape(label)}: (\S+)", text)
    assert match, f"no '{label}' link in:\n{text}"
    return match[1]


def test_an_owner_marks_the_sla_done_from_the_reminder_in_chromium(
    browser, web_env, live, tmp_path, monkeypatch
):
    port = free_port()
    monkeypatch.setenv("DULY_WEB_URL", f"http://127.0.0.1:{port}")
    outbox = tmp_path / "outbox"
    tick("2018-04-02T09:00", outbox)
    mails = read_outbox(outbox)
    (reminder,) = [m for m in mails if m.subject.startswith("Reminder: Updated SLA")]
    assert "lo-head@homeoffice.example" in reminder.to
    if "Mark done (with evidence):" not in reminder.text:
        pytest.fail("the reminder carries no action links: action_links is not wired in")
    done_link = link_labelled(reminder.text, "Mark done (with evidence)")
    progress_link = link_labelled(reminder.text, "Mark in progress")
    assert done_link in reminder.links and f'href="{done_link}"' in reminder.html.replace(
        "&amp;", "&"
    )
    (invite,) = [m for m in mails if m.subject.startswith("Promise recorded: Updated SLA")]
    assert "METHOD:REQUEST" in invite.calendar

    url = web_env["DULY_DATABASE_URL"]
    engine = make_engine(url)
    with Session(engine) as session:
        ahead = session.exec(
            select(AgendaRow).where(
                col(AgendaRow.commitment_uid) == SLA, col(AgendaRow.status) == "pending"
            )
        ).all()
    assert {r.step for r in ahead} >= {"remind-7d", "due"}  # what done must stop
    live(make_app(url, OPENED), port)

    # the link opens the page; the done form is the open one
    assert open_url(browser, done_link) == []
    assert browser.run("return document.querySelector('h1').textContent") == (
        "Updated SLA between the Home Office and the GLD in place"
    )
    assert browser.run("return document.querySelector('#state').textContent") == "Open"
    assert browser.run("return document.querySelector('details#done').open") is True
    assert browser.run("return document.querySelector('details#in_progress').open") is False
    evidence = tmp_path / "signed-sla.pdf"
    evidence.write_bytes(b"%PDF-1.4\n% the signed SLA\n" + b"0" * 4096)
    type_into(browser, "#note-done", "Signed by both departments on 3 April 2018.")
    type_into(browser, "#link-done", "https://intranet.example/litigation/sla-2018.pdf")
    type_into(browser, "#file-done", str(evidence))
    shot = keep(browser.screenshot(tmp_path / "owner-marks-done.png"))  # the README's picture
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    browser._call("POST", f"/element/{find(browser, '#note-done')}/clear", {})
    type_into(browser, "#note-done", NOTE)  # and now, markup in the note
    before = dump(url)
    assert before == dump(url)  # nothing changed by opening the page
    click(browser, "details#done button[type=submit]")
    wait_for(browser, "return document.querySelector('h1') && "
                      "document.querySelector('h1').textContent === 'Recorded'")  # fmt: skip
    result = browser.run("return document.body.innerText")
    assert "Marked done, with its evidence. No more reminders will be sent." in result
    assert "Its calendar invite is withdrawn." in result
    keep(browser.screenshot(tmp_path / "owner-recorded.png"))

    with Session(engine) as session:
        row = session.get(CommitmentRow, SLA)
        assert row is not None and row.state == "done"
        (change,) = session.exec(
            select(StateChange).where(col(StateChange.commitment_uid) == SLA)
        ).all()
    assert (change.who, change.why) == ("lo-head", NOTE)
    stored = re.fullmatch(
        r"https://intranet\.example/litigation/sla-2018\.pdf; file (\S+) \(sha256 [0-9a-f]{64}\)",
        change.evidence or "",
    )
    assert stored, change.evidence
    assert (Path(web_env["DULY_EVIDENCE_DIR"]) / stored[1]).read_bytes() == evidence.read_bytes()

    # the note's markup is text: another link of the message shows the history
    assert open_url(browser, progress_link) == []
    assert browser.run("return document.title") != "owned"
    assert browser.run("return document.querySelectorAll('#history img, #history b').length") == 0
    history = browser.run("return document.querySelector('#history').innerText")
    assert NOTE in history
    assert browser.run("return document.querySelector('#state').textContent") == "Done"
    assert browser.run("return document.querySelectorAll('form.act').length") == 0
    keep(browser.screenshot(tmp_path / "owner-history.png"))

    # the done link again: it has acted
    open_url(browser, done_link)
    assert "This link has already been used." in browser.run("return document.body.innerText")

    # refused links: tampered, expired, for another commitment
    token = done_link.split("t=")[1]
    payload, signature = token.split(".")
    expired = sign(
        KEY.encode(), SLA, "lo-head", "in_progress", expiry_for(datetime(2018, 1, 1, tzinfo=UTC))
    )
    base = f"http://127.0.0.1:{port}"
    refused = {
        f"{base}/c/{SLA}?t={payload}.{signature[::-1]}": "This link has been altered",
        f"{base}/c/{SLA}?t={expired}": "This link has expired.",
        f"{base}/c/{JIR}?t={token}": "This link is for another commitment.",
    }
    for address, says in refused.items():
        open_url(browser, address)
        text = browser.run("return document.body.innerText")
        assert (
            "This link cannot be used" in text
            and says in text
            and "Nothing has been changed." in text
        )
        assert browser.run("return document.querySelectorAll('form').length") == 0
    keep(browser.screenshot(tmp_path / "owner-refused.png"))

    # five weeks on: no reminder, due notice or overdue notice for the SLA; its invite cancelled
    sent_before = {p.name for p in (outbox / "new").iterdir()}
    tick("2018-05-08T09:00", outbox)
    new = [m for m in read_outbox(outbox) if m.path.name not in sent_before]
    about_sla = [m for m in new if f"Reference: {SLA}#" in m.text]
    assert [m.subject for m in about_sla] == [
        "Invite cancelled: Updated SLA between the Home Office and the GLD in place"
    ]
    (cancel,) = about_sla
    assert "METHOD:CANCEL" in cancel.calendar
    assert f"UID:{invite_uid(SLA)}" in cancel.calendar.replace("\r\n ", "")
    with Session(engine) as session:
        since = session.exec(
            select(Delivery).where(
                col(Delivery.commitment_uid) == SLA, col(Delivery.created_at) >= OPENED
            )
        ).all()
    engine.dispose()
    assert [d.step for d in since] == ["cancel"]
