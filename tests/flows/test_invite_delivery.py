"""Calendar invites end to end: ticks send iMIP over a real SMTP server (aiosmtpd on
loopback), changes send updates and cancels, owners' replies are recorded or refused.

The commitment followed throughout is the seed's "an updated Service Level
Agreement (SLA) between the Home Office and the GLD in place by April 2018"
(learning-from-litigation-2018 §1.3), owned by the Head of Litigation Operations,
who escalates to the Director.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlmodel import Session, select
from typer.testing import CliRunner

from flows.cli import app
from flows.db import create_schema, make_engine
from flows.rulefiles import load_rules
from flows.smtp import SmtpChannel
from flows.tick import tick
from models.invite import invite_uid
from models.tables import Delivery, InviteRow, StateChange
from tests.smtp_server import SmtpServer

SLA = "learning-from-litigation-2018/sla-in-place"
SLA_UID = invite_uid(SLA)
HEAD = "lo-head@homeoffice.example"
DIRECTOR = "lo-director@homeoffice.example"
EASTER_MONDAY = datetime(2018, 4, 2, 8, 0, tzinfo=UTC)  # 09:00 BST


@pytest.fixture
def server():
    with SmtpServer() as running:
        yield running


@pytest.fixture
def world(rules_dir, sqlite_url, server):
    """Rules (a copy), a SQLite database, the SMTP channel: ``run(now)`` ticks."""
    engine = make_engine(sqlite_url)
    create_schema(engine)
    channel = SmtpChannel.from_url(server.url)

    class World:
        def __init__(self):
            self.engine, self.rules_dir, self.url, self.server = (
                engine,
                rules_dir,
                sqlite_url,
                server,
            )

        def run(self, now):
            rules = load_rules([rules_dir])
            assert rules.ok, rules.problems
            return tick(engine, rules, now, channel)

        def invites(self, uid=SLA_UID):
            """(METHOD, MIME method, SEQUENCE, To, VEVENT) of each message for ``uid``."""
            found = []
            for mid in server.message_ids():
                message = server.messages[mid]
                part = next(
                    (p for p in message.walk() if p.get_content_type() == "text/calendar"), None
                )
                if part is None:
                    continue
                cal = Calendar.from_ical(part.get_content())
                event = next(c for c in cal.walk("VEVENT"))
                if str(event["UID"]) != uid:
                    continue
                found.append(
                    (
                        str(cal["METHOD"]),
                        part.get_param("method"),
                        int(event["SEQUENCE"]),
                        str(message["To"]),
                        event,
                    )
                )
            return found

        def cli(self, *args):
            result = CliRunner().invoke(
                app,
                [*args, "--rules", str(rules_dir), "--database", sqlite_url],
                env={"COLUMNS": "300"},
            )
            return result

    yield World()
    channel.close()
    engine.dispose()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_easter_monday_sends_the_sla_invite_as_imip_over_smtp(world):
    world.run(EASTER_MONDAY)
    [(method, mime_method, sequence, to, event)] = world.invites()
    assert (method, mime_method, sequence) == ("REQUEST", "REQUEST", 0)
    assert to == f"Head of Litigation Operations <{HEAD}>"
    assert event.decoded("DTSTART") == date(2018, 4, 30)
    attendee = event["ATTENDEE"]
    assert str(attendee) == f"mailto:{HEAD}"
    assert (attendee.params["RSVP"], attendee.params["PARTSTAT"]) == ("TRUE", "NEEDS-ACTION")
    assert str(event["ORGANIZER"]) == "mailto:duly@localhost"
    # every invite message on the server: METHOD and the MIME parameter agree
    everything = [
        i for uid in {str(e[4]["UID"]) for e in world.invites()} for i in world.invites(uid)
    ]
    assert all(m == p for m, p, *_ in everything)
    # a second tick at the same instant sends nothing more
    before = world.server.counts()
    world.run(EASTER_MONDAY)
    assert world.server.counts() == before


def test_the_annual_review_goes_out_as_one_series_once_the_sla_is_done(world):
    world.run(EASTER_MONDAY)
    result = world.cli(
        "done", SLA, "--evidence", "https://example.org/sla.pdf", "--at", "2018-05-14T10:00"
    )
    assert result.exit_code == 0, result.stderr
    world.run(datetime(2018, 5, 15, 8, 0, tzinfo=UTC))
    review = invite_uid("learning-from-litigation-2018/sla-annual-review")
    [(method, _, sequence, _, event)] = world.invites(review)
    assert (method, sequence) == ("REQUEST", 0)
    assert event.decoded("DTSTART") == date(2019, 5, 14)
    assert event["RRULE"].to_ical() == b"FREQ=YEARLY"
    assert [c.name for c in event.subcomponents] == ["VALARM"]


def test_a_new_due_date_sends_an_update_with_the_sequence_raised(world):
    world.run(EASTER_MONDAY)
    responses = world.rules_dir / "responses"
    [litigation] = responses.glob("*litigation*.yaml")
    _edit(litigation, "        due: April 2018\n", "        due: June 2018\n")
    world.run(datetime(2018, 4, 3, 8, 0, tzinfo=UTC))
    sent = world.invites()
    assert [(m, s) for m, _, s, _, _ in sent] == [("REQUEST", 0), ("REQUEST", 1)]
    assert {str(e["UID"]) for *_, e in sent} == {SLA_UID}
    assert sent[1][4].decoded("DTSTART") == date(2018, 6, 30)
    with Session(world.engine) as session:
        invite = session.get(InviteRow, SLA)
        assert (invite.sequence, invite.method) == (1, "REQUEST")
    world.run(datetime(2018, 4, 4, 8, 0, tzinfo=UTC))  # nothing changed: nothing sent
    assert len(world.invites()) == 2


def test_a_new_owner_gets_the_invite_and_the_former_one_a_cancel(world):
    world.run(EASTER_MONDAY)
    [litigation] = (world.rules_dir / "responses").glob("*litigation*.yaml")
    _edit(
        litigation,
        "        action: Updated SLA between the Home Office and the GLD in place\n"
        "        owner: lo-head\n",
        "        action: Updated SLA between the Home Office and the GLD in place\n"
        "        owner: lo-director\n",
    )
    world.run(datetime(2018, 4, 3, 8, 0, tzinfo=UTC))
    sent = [(m, s, to.split("<")[1].rstrip(">")) for m, _, s, to, _ in world.invites()]
    assert sent == [("REQUEST", 0, HEAD), ("CANCEL", 1, HEAD), ("REQUEST", 1, DIRECTOR)]
    cancel_event = world.invites()[1][4]
    assert str(cancel_event["STATUS"]) == "CANCELLED"
    assert str(cancel_event["ATTENDEE"]) == f"mailto:{HEAD}"


def test_dropping_a_commitment_cancels_its_invite(world):
    world.run(EASTER_MONDAY)
    result = world.cli("drop", SLA, "--why", "superseded by the GLD framework agreement")
    assert result.exit_code == 0, result.stderr
    assert "1 calendar message(s) queued" in result.stdout
    world.run(datetime(2018, 4, 3, 8, 0, tzinfo=UTC))
    assert [(m, p, s) for m, p, s, _, _ in world.invites()] == [
        ("REQUEST", "REQUEST", 0),
        ("CANCEL", "CANCEL", 1),
    ]
    # and no more reminders: nothing for the SLA after the drop
    with Session(world.engine) as session:
        later = session.exec(
            select(Delivery.step).where(Delivery.commitment_uid == SLA).order_by(Delivery.id)
        ).all()
    assert later == ["invite", "remind-28d", "cancel"]


def test_done_early_cancels_the_invite_and_done_late_does_not(world):
    world.run(EASTER_MONDAY)
    result = world.cli("done", SLA, "--evidence", "signed SLA", "--at", "2018-04-20T10:00")
    assert result.exit_code == 0, result.stderr
    world.run(datetime(2018, 4, 23, 8, 0, tzinfo=UTC))
    assert [m for m, *_ in world.invites()] == ["REQUEST", "CANCEL"]
    cancel = world.invites()[1][4]
    assert str(cancel["COMMENT"]) == "it was done early"


def _reply(partstat: str, *, attendee: str = HEAD, sequence: int = 0, stamp: str) -> bytes:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Example Corp.//Mail Client//EN",
        "METHOD:REPLY",
        "BEGIN:VEVENT",
        f"UID:{SLA_UID}",
        f"DTSTAMP:{stamp}",
        f"SEQUENCE:{sequence}",
        "DTSTART;VALUE=DATE:20180430",
        f"ATTENDEE;PARTSTAT={partstat}:mailto:{attendee}",
        "ORGANIZER:mailto:duly@localhost",
        "COMMENT:I am on leave until May; the Director should own this.",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
    return "\r\n".join(lines).encode()


def test_an_accepted_reply_is_recorded_in_the_history(world, tmp_path):
    world.run(EASTER_MONDAY)
    reply = tmp_path / "accept.ics"
    reply.write_bytes(_reply("ACCEPTED", stamp="20180403T101500Z"))
    result = world.cli("replies", "ingest", str(reply))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"{reply}: {SLA}: {HEAD} ACCEPTED",
        "1 recorded, 0 rejected.",
    ]
    with Session(world.engine) as session:
        [change] = session.exec(select(StateChange).where(StateChange.event == "reply")).all()
        assert (change.commitment_uid, change.state, change.who) == (SLA, "ACCEPTED", HEAD)
        assert change.at.replace(tzinfo=UTC) == datetime(2018, 4, 3, 10, 15, tzinfo=UTC)
    # the same file again is a replay: refused, nothing changes
    again = world.cli("replies", "ingest", str(reply))
    assert again.exit_code == 1
    assert "REPLY rejected (replayed)" in again.stderr


def test_a_declined_reply_escalates_to_the_director(world, tmp_path):
    world.run(EASTER_MONDAY)
    reply = tmp_path / "decline.ics"
    reply.write_bytes(_reply("DECLINED", stamp="20180403T101500Z"))
    result = world.cli("replies", "ingest", str(reply))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[0] == f"{reply}: {SLA}: {HEAD} DECLINED; escalated"
    world.run(datetime(2018, 4, 3, 11, 0, tzinfo=UTC))
    [notice] = [
        world.server.messages[mid]
        for mid in world.server.message_ids()
        if DIRECTOR in str(world.server.messages[mid]["To"])
    ]
    text = notice.get_body(preferencelist=("plain",)).get_content()
    assert (
        "Head of Litigation Operations declined the calendar invite for 'Updated SLA "
        "between the Home Office and the GLD in place' on 2018-04-03"
    ) in " ".join(text.split())
    assert "I am on leave until May" in " ".join(text.split())


def test_a_spoofed_reply_is_rejected_and_changes_nothing(world, tmp_path):
    world.run(EASTER_MONDAY)
    reply = tmp_path / "spoof.ics"
    reply.write_bytes(_reply("DECLINED", attendee="mallory@example.org", stamp="20180403T101500Z"))
    result = world.cli("replies", "ingest", str(reply))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"rejected {reply}: REPLY rejected (attendee): from mailto:mallory@example.org, "
        f"but {SLA_UID} was sent to {HEAD}"
    )
    with Session(world.engine) as session:
        assert session.exec(select(StateChange)).all() == []
        assert session.get(InviteRow, SLA).partstat is None


def test_replies_watch_reads_a_maildir_once(world, tmp_path):
    world.run(EASTER_MONDAY)
    box = tmp_path / "replies"
    (box / "new").mkdir(parents=True)
    email = (
        b"From: Head of Litigation Operations <lo-head@homeoffice.example>\r\n"
        b"To: duly <duly@localhost>\r\nSubject: Accepted: SLA\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: text/calendar; method=REPLY; charset="utf-8"\r\n\r\n'
        + _reply("TENTATIVE", stamp="20180403T101500Z")
    )
    (box / "new" / "1.eml").write_bytes(email)
    result = world.cli("replies", "watch", str(box), "--once")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [f"1.eml: {SLA}: {HEAD} TENTATIVE"]
    assert [p.name for p in (box / "cur").iterdir()] == ["1.eml:2,S"]
    assert list((box / "new").iterdir()) == []
