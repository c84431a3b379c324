"""`duly tick --at`: the one-shot main job, and the way to replay history."""

from __future__ import annotations

from datetime import date

from icalendar import Calendar
from typer.testing import CliRunner

from flows.cli import app
from flows.outbox import MaildirOutbox
from tests.conftest import ROOT


def test_tick_on_easter_monday_2018_writes_the_sla_reminder_once(sqlite_url, tmp_path):
    outbox = tmp_path / "outbox"
    args = [
        "tick",
        "--at",
        "2018-04-02T09:00",
        "--rules",
        str(ROOT / "rules"),
        "--database",
        sqlite_url,
    ]
    env = {"COLUMNS": "400", "DULY_OUTBOX": str(outbox)}
    first = CliRunner().invoke(app, args, env=env)
    assert (first.exit_code, first.stderr) == (0, "")
    assert first.stdout.strip() == (
        f"tick 2018-04-02 09:00 BST: 131 due, 25 queued, 106 skipped; 25 sent to {outbox}, "
        "0 to retry, 0 dead-lettered."
    )
    files = sorted((outbox / "new").iterdir())
    assert len(files) == 25  # 11 reminders, 14 calendar invites
    sla = [f.read_text() for f in files if "sla-in-place#remind-28d" in f.read_text()]
    assert len(sla) == 1
    assert (
        "Subject: Reminder: Updated SLA between the Home Office and the GLD in place\n"
        " (due 2018-04-30)"
    ) in sla[0]

    # the SLA's calendar invite: iMIP, METHOD and MIME method agreeing, due in April 2018
    (invite,) = [
        m
        for m in MaildirOutbox(outbox).messages()
        if "sla-in-place#invite" in m.get_body(preferencelist=("plain",)).get_content()
    ]
    (part,) = [p for p in invite.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == "REQUEST"
    ics = Calendar.from_ical(part.get_content())
    (event,) = ics.walk("VEVENT")
    assert (str(ics["METHOD"]), event.decoded("DTSTART")) == ("REQUEST", date(2018, 4, 30))
    assert event["ATTENDEE"].params["RSVP"] == "TRUE"
    assert [p.get_filename() for p in invite.iter_attachments()] == ["invite.ics"]

    second = CliRunner().invoke(app, args, env=env)
    assert second.stdout.strip() == (
        f"tick 2018-04-02 09:00 BST: 0 due, 0 queued, 0 skipped; 0 sent to {outbox}, "
        "0 to retry, 0 dead-lettered."
    )
    assert sorted((outbox / "new").iterdir()) == files


def test_tick_with_broken_rules_sends_nothing(rules_dir, sqlite_url, tmp_path):
    (rules_dir / "owners.yaml").write_text("version: 1\nowners: [\n")
    result = CliRunner().invoke(
        app,
        [
            "tick",
            "--at",
            "2018-04-02T09:00",
            "--rules",
            str(rules_dir),
            "--database",
            sqlite_url,
            "--outbox",
            str(tmp_path / "outbox"),
        ],
    )
    assert result.exit_code == 1
    assert result.stderr.strip().endswith("1 error in 1 file, 3 warnings; nothing was sent.")
    assert not (tmp_path / "outbox").exists()
