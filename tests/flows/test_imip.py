"""iMIP messages: the invite as an email whose MIME method agrees with its METHOD."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from flows.imip import ATTACHMENT, calendar_method, imip_message
from flows.outbox import MaildirOutbox
from models.invite import CalendarEntry, calendar_entry, cancel, owner_feed, request

NOW = datetime(2018, 1, 30, 9, 0, tzinfo=UTC)
SLA = "learning-from-litigation-2018/sla-in-place"
SLA_UID = "a9998eb11be8377d1bb46e261faf9d34@duly"
ORGANIZER = "duly@homeoffice.example"


@pytest.fixture(scope="module")
def invite(seed_rules) -> bytes:
    entry = calendar_entry(seed_rules, seed_rules.commitments[SLA], date(2018, 1, 30))
    assert entry is not None
    return request(entry, seed_rules.owners["lo-head"], ORGANIZER, now=NOW)


def message_for(ics: bytes, subject: str = "Invitation: Updated SLA in place (30 April 2018)"):
    return imip_message(
        ics=ics,
        sender="duly <duly@homeoffice.example>",
        to="Head of Litigation Operations <lo-head@homeoffice.example>",
        subject=subject,
        body="The SLA between the Home Office and the GLD is due in place by 30 April 2018.\n",
        message_id="<0123456789abcdef@duly>",
        date=NOW.astimezone(ZoneInfo("Europe/London")),
    )


def reparse(message) -> email.message.EmailMessage:
    data = message.as_bytes(policy=email.policy.SMTP)
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_an_invite_is_text_and_calendar_alternatives_plus_an_ics_attachment(invite):
    parsed = reparse(message_for(invite))
    assert [p.get_content_type() for p in parsed.walk()] == [
        "multipart/mixed",
        "multipart/alternative",
        "text/plain",
        "text/calendar",
        "application/ics",
    ]
    assert parsed["Message-ID"] == "<0123456789abcdef@duly>"
    assert parsed["To"] == "Head of Litigation Operations <lo-head@homeoffice.example>"
    assert parsed["Subject"] == "Invitation: Updated SLA in place (30 April 2018)"
    assert parsed["Date"] == "Tue, 30 Jan 2018 09:00:00 +0000"
    text, calendar, attachment = list(parsed.walk())[2:]
    assert text.get_content().startswith("The SLA between the Home Office")
    assert calendar.get_param("method") == "REQUEST"
    assert calendar.get_content_charset() == "utf-8"
    assert attachment.get_filename() == ATTACHMENT == "invite.ics"
    assert attachment.get_payload(decode=True) == invite  # byte for byte, CRLF kept


def test_the_mime_method_and_the_calendar_method_agree_and_the_parts_parse(invite):
    parsed = reparse(message_for(invite))
    for part in list(parsed.walk())[3:]:
        data = part.get_payload(decode=True)
        assert calendar_method(data) == "REQUEST"
        cal = Calendar.from_ical(data)
        (event,) = cal.walk("VEVENT")
        assert str(event["UID"]) == SLA_UID
        assert event["ATTENDEE"].params["RSVP"] == "TRUE"
        assert event["DTSTART"].dt == date(2018, 4, 30)
    calendar = list(parsed.walk())[3]
    assert calendar.get_param("method") == calendar_method(calendar.get_payload(decode=True))


def test_a_cancel_is_sent_with_method_cancel(seed_rules):
    entry = calendar_entry(seed_rules, seed_rules.commitments[SLA], date(2018, 1, 30))
    assert entry is not None
    ics = cancel(entry, seed_rules.owners["lo-head"], ORGANIZER, now=NOW)
    calendar = list(reparse(message_for(ics, "Cancelled: Updated SLA in place")).walk())[3]
    assert calendar.get_param("method") == "CANCEL"
    assert b"STATUS:CANCELLED" in calendar.get_payload(decode=True)


def test_text_outside_ascii_survives_in_the_calendar_part(seed_rules):
    sla = seed_rules.commitments[SLA]
    title = "Inspection, April \u2013 July 2017 (\u00a3)"  # an en dash and a pound sign
    entry = CalendarEntry(sla, title, date(2018, 4, 30))
    ics = request(entry, seed_rules.owners["lo-head"], ORGANIZER, now=NOW)
    calendar = list(reparse(message_for(ics)).walk())[3]
    (event,) = Calendar.from_ical(calendar.get_payload(decode=True)).walk("VEVENT")
    assert f"recommendation 1: {title}" in str(event["DESCRIPTION"])


def test_a_feed_has_no_method_and_is_not_sent_as_an_invite(seed_rules):
    entry = calendar_entry(seed_rules, seed_rules.commitments[SLA], date(2018, 1, 30))
    assert entry is not None
    with pytest.raises(ValueError, match="no METHOD"):
        message_for(owner_feed([entry], now=NOW))


def test_the_invite_goes_through_the_outbox_channel_as_it_is(invite, tmp_path):
    outbox = MaildirOutbox(tmp_path / "outbox")
    outbox.send(message_for(invite))
    assert outbox.has("<0123456789abcdef@duly>")
    (stored,) = outbox.messages()
    calendar = list(stored.walk())[3]
    assert calendar.get_content_type() == "text/calendar"
    assert calendar.get_param("method") == "REQUEST"
    assert calendar_method(calendar.get_payload(decode=True)) == "REQUEST"
