"""Calendar invites for the seed commitments: build, parse back, update, cancel, reply, feed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from icalendar import Calendar, Event

from models.agenda import CommitmentStatus, compile_agenda
from models.dates import Period
from models.invite import (
    MAX_REPLY_BYTES,
    CalendarEntry,
    Reply,
    ReplyRejected,
    _changes,
    calendar_entry,
    cancel,
    invite_cancel,
    invite_request,
    invite_uid,
    owner_feed,
    parse_reply,
    request,
    vtimezone,
)
from models.recurrence import Series

NOW = datetime(2018, 1, 30, 9, 0, tzinfo=UTC)
ORGANIZER = "duly@homeoffice.example"
SLA = "learning-from-litigation-2018/sla-in-place"
SLA_REVIEW = "learning-from-litigation-2018/sla-annual-review"
SLA_UID = "a9998eb11be8377d1bb46e261faf9d34@duly"
PUBLISHED = date(2018, 1, 30)
LONDON = ZoneInfo("Europe/London")


def parse(data: bytes) -> Calendar:
    cal = Calendar.from_ical(data)
    assert isinstance(cal, Calendar)
    return cal


def the_event(cal: Calendar) -> Event:
    events = cal.walk("VEVENT")
    assert len(events) == 1
    event = events[0]
    assert isinstance(event, Event)
    assert not event.errors and not cal.errors
    return event


def starts(data: bytes, lo: date, hi: date) -> list[date | datetime]:
    """Occurrence starts in [lo, hi), expanded by recurring-ical-events."""
    return [e.start for e in recurring_ical_events.of(parse(data)).between(lo, hi)]


@pytest.fixture(scope="module")
def rules(seed_rules):
    return seed_rules


@pytest.fixture(scope="module")
def sla(rules):
    return rules.commitments[SLA]


@pytest.fixture(scope="module")
def lo_head(rules):
    return rules.owners["lo-head"]


def entry_for(rules, uid: str, live_from: date = PUBLISHED, **changes) -> CalendarEntry:
    entry = calendar_entry(rules, rules.commitments[uid], live_from)
    assert entry is not None
    return dataclasses.replace(entry, **changes) if changes else entry


# --------------------------------------------------------------------------------------
# REQUEST
# --------------------------------------------------------------------------------------


def test_uid_is_derived_from_the_commitment_and_never_changes(rules):
    assert invite_uid(SLA) == SLA_UID
    assert invite_uid(SLA) == invite_uid(SLA)
    uids = {invite_uid(uid) for uid in rules.commitments}
    assert len(uids) == len(rules.commitments)
    assert all(u.endswith("@duly") and "/" not in u for u in uids)


def test_sla_deadline_is_an_all_day_invite_on_30_april_2018(rules, lo_head):
    """000 §1.3: "in place by April 2018" is an all-day event on Monday 30 April."""
    entry = entry_for(rules, SLA)
    assert (entry.when, entry.rrule, entry.alarm_days_before) == (date(2018, 4, 30), None, 7)
    data = request(entry, lo_head, ORGANIZER, now=NOW)
    cal = parse(data)
    assert str(cal["METHOD"]) == "REQUEST"
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]) == "-//duly//commitment invites//EN"
    assert not cal.walk("VTIMEZONE")  # a date has no time zone
    event = the_event(cal)
    assert str(event["UID"]) == SLA_UID
    assert event["SEQUENCE"] == 0
    assert event["DTSTAMP"].dt == datetime(2018, 1, 30, 9, 0, tzinfo=UTC)
    assert event["DTSTART"].dt == date(2018, 4, 30)
    assert not isinstance(event["DTSTART"].dt, datetime)
    assert event["DTEND"].dt == date(2018, 5, 1)
    assert str(event["SUMMARY"]) == "Updated SLA between the Home Office and the GLD in place"
    assert str(event["DESCRIPTION"]) == (
        '"an updated Service Level Agreement (SLA) between the Home Office and the GLD in '
        'place by April 2018"\n'
        "Paragraph 1.3, recommendation 1: An Inspection of the Home Office's Mechanisms for "
        "Learning from Immigration Litigation\n"
        "Commitment: learning-from-litigation-2018/sla-in-place"
    )
    assert str(event["STATUS"]) == "CONFIRMED"
    assert str(event["TRANSP"]) == "TRANSPARENT"
    assert "RRULE" not in event
    organizer = event["ORGANIZER"]
    assert str(organizer) == "mailto:duly@homeoffice.example"
    assert organizer.params["CN"] == "duly"
    attendee = event["ATTENDEE"]
    assert str(attendee) == "mailto:lo-head@homeoffice.example"
    assert dict(attendee.params) == {
        "CN": "Head of Litigation Operations",
        "ROLE": "REQ-PARTICIPANT",
        "PARTSTAT": "NEEDS-ACTION",
        "RSVP": "TRUE",
    }
    (alarm,) = event.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY"
    # 09:00 on 23 April: seven days before the all-day event's midnight, plus nine hours
    assert alarm["TRIGGER"].dt == timedelta(days=-7, hours=9)
    assert str(alarm["DESCRIPTION"]) == (
        "Due in 7 days: Updated SLA between the Home Office and the GLD in place"
    )
    assert b"\r\nDTSTART;VALUE=DATE:20180430\r\n" in data
    assert b"\r\nTRIGGER:-P6DT15H\r\n" in data
    assert b"\r\nATTENDEE;CN=" in data and b"RSVP=TRUE" in data
    assert data.startswith(b"BEGIN:VCALENDAR\r\n") and data.endswith(b"END:VCALENDAR\r\n")
    assert starts(data, date(2018, 1, 1), date(2019, 1, 1)) == [date(2018, 4, 30)]


def test_invite_request_takes_the_parts_of_an_entry(rules, sla, lo_head):
    entry = entry_for(rules, SLA)
    direct = invite_request(
        sla,
        lo_head,
        ORGANIZER,
        response_title=rules.response_of(sla).title,
        sequence=0,
        now=NOW,
        when=date(2018, 4, 30),
        alarm_days_before=7,
    )
    assert direct == request(entry, lo_head, ORGANIZER, now=NOW)


def test_annual_review_of_the_sla_is_one_series_a_year_after_it_is_in_place(rules, lo_head):
    """000 §1.3 "subject to an annual review": yearly from the day the SLA was done."""
    entry = entry_for(rules, SLA_REVIEW, live_from=date(2018, 4, 20))
    assert (entry.when, entry.rrule) == (date(2019, 4, 20), "FREQ=YEARLY")
    data = request(entry, lo_head, ORGANIZER, now=NOW)
    event = the_event(parse(data))
    assert event["RRULE"].to_ical() == b"FREQ=YEARLY"
    assert event["DTSTART"].dt == date(2019, 4, 20)
    assert str(event["DESCRIPTION"]).splitlines()[-2:] == [
        "Recurs annually.",
        "Commitment: learning-from-litigation-2018/sla-annual-review",
    ]
    assert starts(data, date(2018, 1, 1), date(2023, 1, 1)) == [
        date(2019, 4, 20),
        date(2020, 4, 20),
        date(2021, 4, 20),
        date(2022, 4, 20),
    ]


def test_the_calendar_series_and_the_reminders_are_one_series(rules, lo_head):
    """The invite's occurrences are the agenda's: what duly reminds about is what is shown."""
    for uid in (
        "status-review-and-removal-2018/directors-meet-quarterly",
        "asylum-intake-and-casework-2017/action-plan-monthly-meetings",
        "overstayers-2014/monthly-productivity-reports",
    ):
        c = rules.commitments[uid]
        live = rules.responses[c.response_id].published
        entry = entry_for(rules, uid, live_from=live)
        lo, hi = date(2014, 1, 1), date(2021, 1, 1)
        shown = starts(request(entry, lo_head, ORGANIZER, now=NOW), lo, hi + timedelta(days=90))
        agenda = compile_agenda(
            rules,
            {u: CommitmentStatus("done") for u in rules.commitments if u != uid},
            datetime(2014, 1, 1, tzinfo=UTC),
            datetime(2021, 1, 1, tzinfo=UTC),
        )
        mine = [item for item in agenda if item.commitment == uid]
        (invite,) = [item for item in mine if item.step == "invite"]
        assert invite.occurrence == entry.when == shown[0], uid
        reminded = sorted({item.occurrence for item in mine if item.step != "invite"})
        assert len(reminded) > 5
        assert [d for d in shown if reminded[0] <= d <= reminded[-1]] == reminded, uid


def test_quarterly_directors_meeting_from_30_january_clips_to_month_ends(rules, lo_head):
    """002 §1.2 "will meet quarterly", counted from publication on 30 January 2018."""
    entry = entry_for(rules, "status-review-and-removal-2018/directors-meet-quarterly")
    assert entry.when == date(2018, 4, 30)
    assert entry.rrule == "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=30,-1;BYSETPOS=1"
    assert entry.alarm_days_before == 1  # the rule's shortest lead time, in days
    data = request(entry, lo_head, ORGANIZER, now=NOW)
    assert starts(data, date(2018, 1, 1), date(2020, 1, 1)) == [
        date(2018, 4, 30),
        date(2018, 7, 30),
        date(2018, 10, 30),
        date(2019, 1, 30),
        date(2019, 4, 30),
        date(2019, 7, 30),
        date(2019, 10, 30),
    ]


def test_monthly_reports_from_november_2014_include_the_first_month(rules, lo_head):
    entry = entry_for(rules, "overstayers-2014/monthly-productivity-reports")
    assert (entry.when, entry.rrule) == (date(2014, 11, 1), "FREQ=MONTHLY")
    data = request(entry, lo_head, ORGANIZER, now=NOW)
    assert starts(data, date(2014, 1, 1), date(2015, 3, 1)) == [
        date(2014, 11, 1),
        date(2014, 12, 1),
        date(2015, 1, 1),
        date(2015, 2, 1),
    ]


def test_yearly_series_anchored_on_29_february_falls_on_28_february_in_other_years(rules, lo_head):
    series = Series("FREQ=YEARLY", date(2024, 2, 29))
    assert series.rrule_text == "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1"
    review = dataclasses.replace(
        rules.commitments[SLA_REVIEW], starts=Period(date(2024, 2, 29), date(2024, 2, 29))
    )
    entry = calendar_entry(rules, review, PUBLISHED)
    assert entry is not None
    assert (entry.when, entry.rrule) == (date(2024, 2, 29), series.rrule_text)
    data = request(entry, lo_head, ORGANIZER, now=NOW)
    assert b"\r\nRRULE:FREQ=YEARLY;BYMONTHDAY=-1;BYMONTH=2\r\n" in data
    assert starts(data, date(2024, 1, 1), date(2030, 1, 1)) == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
        date(2029, 2, 28),
    ]


def test_monthly_series_from_31_january_falls_on_every_month_end(rules, sla, lo_head):
    series = Series("FREQ=MONTHLY", date(2018, 1, 31))
    entry = CalendarEntry(sla, "T", series.first() or date.min, rrule=series.rrule_text)
    data = request(entry, lo_head, ORGANIZER, now=NOW)
    assert b"\r\nRRULE:FREQ=MONTHLY;BYMONTHDAY=-1\r\n" in data
    assert starts(data, date(2018, 1, 1), date(2018, 7, 1)) == [
        date(2018, 1, 31),
        date(2018, 2, 28),
        date(2018, 3, 31),
        date(2018, 4, 30),
        date(2018, 5, 31),
        date(2018, 6, 30),
    ]


def test_a_series_on_the_30th_is_written_without_bysetpos(rules, lo_head):
    """ical.js ignores BYSETPOS here: BYMONTHDAY=30 plus an RDATE for each end of February."""
    entry = entry_for(rules, "status-review-and-removal-2018/data-handling-monthly-audit")
    assert entry.when == date(2018, 2, 28)  # a month after publication on 30 January
    assert entry.rrule == "FREQ=MONTHLY;BYMONTHDAY=30,-1;BYSETPOS=1"
    rule, extra = entry.written_rrule()
    assert rule == "FREQ=MONTHLY;BYMONTHDAY=30"
    assert extra[:3] == [date(2018, 2, 28), date(2019, 2, 28), date(2020, 2, 29)]
    assert len(extra) == 25 and extra[-1] == date(2042, 2, 28)
    data = request(entry, lo_head, ORGANIZER, now=NOW)
    assert b"BYSETPOS" not in data
    assert b"\r\nRRULE:FREQ=MONTHLY;BYMONTHDAY=30\r\n" in data
    assert data.count(b"\r\nRDATE;VALUE=DATE:") == 25
    assert b"\r\nRDATE;VALUE=DATE:20180228\r\n" in data
    series = Series(entry.rrule, date(2018, 2, 28))
    expected = list(series.occurrences(date(2018, 1, 1), date(2042, 12, 31)))
    assert sorted(set(starts(data, date(2018, 1, 1), date(2043, 1, 1)))) == expected


def test_a_series_on_the_30th_that_never_meets_february_needs_no_rdate(rules):
    entry = entry_for(rules, "status-review-and-removal-2018/directors-meet-quarterly")
    assert entry.written_rrule() == ("FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=30", [])


def test_a_timed_series_on_the_30th_gets_timed_rdates(sla, lo_head):
    series = Series("FREQ=MONTHLY", date(2018, 1, 30))
    entry = CalendarEntry(
        sla, "T", datetime(2018, 1, 30, 9, 0), timedelta(hours=1), series.rrule_text
    )
    data = request(entry, lo_head, ORGANIZER, now=NOW)
    assert b"\r\nRDATE;TZID=Europe/London:20180228T090000\r\n" in data
    utc = [s.astimezone(UTC) for s in starts(data, date(2018, 1, 1), date(2018, 5, 1))]
    assert sorted(set(utc)) == [
        datetime(2018, 1, 30, 9, 0, tzinfo=UTC),
        datetime(2018, 2, 28, 9, 0, tzinfo=UTC),
        datetime(2018, 3, 30, 8, 0, tzinfo=UTC),
        datetime(2018, 4, 30, 8, 0, tzinfo=UTC),
    ]


def test_kinds_without_a_day_of_their_own_get_no_event(rules):
    after = rules.commitments["learning-from-litigation-2018/gld-trial-start"]
    assert rules.policy_of(after).kind == "dependency"
    assert calendar_entry(rules, after, PUBLISHED) is None
    trial = rules.commitments["learning-from-litigation-2018/gld-trial"]
    entry = calendar_entry(rules, trial, date(2018, 3, 1))
    assert entry is not None and entry.when == date(2018, 6, 1)  # three months on
    started = rules.commitments["learning-from-litigation-2018/jr-permission-review"]
    entry = calendar_entry(rules, started, PUBLISHED)
    assert entry is not None and entry.when == date(2018, 1, 31)  # "In January 2018"


# --------------------------------------------------------------------------------------
# Updates and cancels
# --------------------------------------------------------------------------------------


def test_an_update_keeps_the_uid_and_raises_the_sequence(rules, sla, lo_head):
    first = request(entry_for(rules, SLA), lo_head, ORGANIZER, now=NOW)
    moved = dataclasses.replace(sla, due=Period(date(2018, 6, 1), date(2018, 6, 30)))
    later = NOW + timedelta(days=20)
    second = invite_request(
        moved,
        lo_head,
        ORGANIZER,
        response_title="T",
        sequence=1,
        now=later,
        when=moved.due.due,
    )
    a, b = the_event(parse(first)), the_event(parse(second))
    assert str(a["UID"]) == str(b["UID"]) == SLA_UID
    assert (a["SEQUENCE"], b["SEQUENCE"]) == (0, 1)
    assert (a["DTSTART"].dt, b["DTSTART"].dt) == (date(2018, 4, 30), date(2018, 6, 30))
    assert b["DTSTAMP"].dt == datetime(2018, 2, 19, 9, 0, tzinfo=UTC)


def test_cancel_has_the_same_uid_a_higher_sequence_and_goes_to_the_former_owner(
    rules, sla, lo_head
):
    data = invite_cancel(
        sla,
        lo_head,
        ORGANIZER,
        response_title=rules.response_of(sla).title,
        sequence=2,
        now=NOW + timedelta(days=1),
        when=date(2018, 4, 30),
        reason="dropped: superseded by the 2019 SLA",
    )
    cal = parse(data)
    assert str(cal["METHOD"]) == "CANCEL"
    event = the_event(cal)
    assert str(event["UID"]) == SLA_UID
    assert event["SEQUENCE"] == 2
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["ATTENDEE"]) == "mailto:lo-head@homeoffice.example"
    assert str(event["ORGANIZER"]) == "mailto:duly@homeoffice.example"
    assert str(event["COMMENT"]) == "dropped: superseded by the 2019 SLA"
    assert event["DTSTART"].dt == date(2018, 4, 30)
    assert not event.walk("VALARM")


def test_reassigning_cancels_for_the_old_owner_and_invites_the_new_one(rules, lo_head):
    entry = entry_for(rules, SLA, sequence=1)
    director = rules.owners["lo-director"]
    gone = the_event(parse(cancel(entry, lo_head, ORGANIZER, now=NOW)))
    new = the_event(parse(request(entry, director, ORGANIZER, now=NOW)))
    assert str(gone["UID"]) == str(new["UID"])
    assert gone["SEQUENCE"] == new["SEQUENCE"] == 1
    assert str(gone["ATTENDEE"]) == "mailto:lo-head@homeoffice.example"
    assert str(new["ATTENDEE"]) == "mailto:lo-director@homeoffice.example"


def test_a_cancelled_series_stays_one_series(rules, lo_head):
    entry = entry_for(rules, SLA_REVIEW, live_from=date(2018, 4, 20), sequence=3)
    event = the_event(parse(cancel(entry, lo_head, ORGANIZER, now=NOW)))
    assert event["RRULE"].to_ical() == b"FREQ=YEARLY"
    assert "RECURRENCE-ID" not in event  # the whole series, not one occurrence


# --------------------------------------------------------------------------------------
# Timed events and the VTIMEZONE
# --------------------------------------------------------------------------------------


def test_a_timed_event_is_09_00_london_with_a_compact_vtimezone(rules, sla, lo_head):
    entry = CalendarEntry(
        sla, "T", datetime(2018, 3, 26, 9, 0), duration=timedelta(hours=1), rrule="FREQ=WEEKLY"
    )
    data = request(entry, lo_head, ORGANIZER, now=NOW)
    cal = parse(data)
    (tz,) = cal.walk("VTIMEZONE")
    assert str(tz["TZID"]) == "Europe/London"
    assert b"RDATE" not in data
    assert [c.name for c in tz.subcomponents] == ["DAYLIGHT", "STANDARD"]
    assert b"\r\nDTSTART;TZID=Europe/London:20180326T090000\r\n" in data
    assert b"\r\nDTEND;TZID=Europe/London:20180326T100000\r\n" in data
    assert b"\r\nTRIGGER:-P7D\r\n" in data
    assert str(the_event(cal)["TRANSP"]) == "OPAQUE"
    utc = [s.astimezone(UTC) for s in starts(data, date(2018, 3, 20), date(2018, 11, 10))]
    assert utc[0] == datetime(2018, 3, 26, 8, 0, tzinfo=UTC)  # BST from 25 March
    assert utc[-2:] == [
        datetime(2018, 10, 29, 9, 0, tzinfo=UTC),  # GMT from 28 October
        datetime(2018, 11, 5, 9, 0, tzinfo=UTC),
    ]
    assert {s.hour for s in starts(data, date(2018, 3, 20), date(2019, 3, 20))} == {9}


def test_a_utc_event_is_written_in_utc_without_a_vtimezone(sla, lo_head):
    for tzid in ("UTC", "Etc/GMT"):
        entry = CalendarEntry(
            sla, "T", datetime(2018, 7, 2, 9, 0), timedelta(hours=1), timezone=tzid
        )
        data = request(entry, lo_head, ORGANIZER, now=NOW)
        assert b"BEGIN:VTIMEZONE" not in data
        assert b"\r\nDTSTART:20180702T090000Z\r\n" in data


def test_an_aware_when_is_shown_in_the_entrys_time_zone(sla):
    entry = CalendarEntry(
        sla, "T", datetime(2018, 7, 2, 8, 0, tzinfo=UTC), duration=timedelta(minutes=30)
    )
    assert entry.start == datetime(2018, 7, 2, 9, 0, tzinfo=LONDON)
    assert entry.end == datetime(2018, 7, 2, 9, 30, tzinfo=LONDON)


@pytest.mark.parametrize(
    ("tzid", "since", "observances"),
    [
        ("Europe/London", date(2018, 1, 1), 2),
        ("Europe/London", date(1990, 1, 1), 4),  # the October rule changed in 1993 and 1999
        ("America/New_York", date(2005, 1, 1), 4),  # US rules changed in 2007
        ("Australia/Sydney", date(2018, 1, 1), 2),  # summer time across the new year
        # Not Europe/Moscow: icalendar's own reading of a VTIMEZONE (to_tz) moves its
        # 2014 change, between two STANDARD observances, an hour early; the clients'
        # test reads that zone with ical.js and libical instead.
        ("Asia/Tokyo", date(2018, 1, 1), 1),
    ],
)
def test_vtimezone_gives_zoneinfos_offsets_at_every_instant(tzid, since, observances):
    tz = vtimezone(tzid, since)
    assert len(tz.subcomponents) == observances
    assert b"RDATE" not in tz.to_ical()
    read = tz.to_tz(lookup_tzid=False)  # icalendar's reading of our definition alone
    zone = ZoneInfo(tzid)
    first = datetime(since.year, since.month, since.day, tzinfo=UTC)
    stop = datetime(2040, 1, 1, tzinfo=UTC)
    moments = [
        first + timedelta(hours=31 * n) for n in range((stop - first) // timedelta(hours=31))
    ]
    for change in _changes(zone.key, since.year - 1, 2040):  # each side of every change
        moments += [change.at - timedelta(seconds=1), change.at, change.at + timedelta(hours=1)]
    wrong = [
        m
        for m in moments
        if first <= m and m.astimezone(read).utcoffset() != m.astimezone(zone).utcoffset()
    ]
    assert wrong == []


def test_icalendars_own_vtimezone_is_the_multi_value_rdate_we_avoid():
    """The reason for vtimezone(): what icalendar generates lists changes in one RDATE."""
    from icalendar import Timezone

    theirs = Timezone.from_tzid("Europe/London").to_ical()
    assert b"RDATE:" in theirs and theirs.count(b",") > 30


@pytest.mark.parametrize(
    ("when", "rrule", "duration", "message"),
    [
        (date(2018, 4, 15), "FREQ=MONTHLY;BYMONTHDAY=-1", None, "not an occurrence"),
        (datetime(2018, 3, 25, 1, 30), None, timedelta(hours=1), "skip or repeat"),
        (datetime(2018, 10, 28, 1, 30), None, timedelta(hours=1), "skip or repeat"),
        (datetime(2018, 10, 28, 0, 30), None, timedelta(minutes=45), "skip or repeat"),
        (datetime(2018, 1, 7, 1, 30), "FREQ=WEEKLY", timedelta(hours=1), "clock change"),
        (datetime(2018, 1, 7, 0, 0), "FREQ=DAILY", timedelta(hours=2), "clock change"),
        (date(2018, 4, 30), None, timedelta(hours=12), "whole days"),
        (datetime(2018, 4, 30, 9), None, timedelta(0), "some time"),
        (date(2018, 4, 30), "FREQ=YEARLY;UNTIL=20200101T000000Z", None, "must be a date"),
        (datetime(2018, 4, 30, 9), "FREQ=YEARLY;UNTIL=20200101", timedelta(hours=1), "in UTC"),
        (date(2018, 4, 30), "FREQ=SOMETIMES", None, "not valid"),
    ],
)
def test_entries_clients_would_read_differently_are_refused(sla, when, rrule, duration, message):
    with pytest.raises(ValueError, match=message):
        CalendarEntry(sla, "T", when, timedelta(days=1) if duration is None else duration, rrule)


def test_a_timed_series_well_clear_of_the_clock_changes_is_fine(sla):
    CalendarEntry(sla, "T", datetime(2018, 1, 7, 3, 0), timedelta(hours=5), "FREQ=DAILY")
    CalendarEntry(sla, "T", datetime(2018, 1, 7, 2, 0), timedelta(hours=1), "FREQ=WEEKLY")


def test_now_must_be_aware_and_sequence_not_negative(rules, lo_head):
    entry = entry_for(rules, SLA)
    with pytest.raises(ValueError, match="aware"):
        request(entry, lo_head, ORGANIZER, now=datetime(2018, 1, 30, 9))
    with pytest.raises(ValueError, match="negative"):
        entry_for(rules, SLA, sequence=-1)


# --------------------------------------------------------------------------------------
# Feed
# --------------------------------------------------------------------------------------


def lo_head_entries(rules) -> list[CalendarEntry]:
    out = []
    for c in rules.commitments.values():
        if c.owner != "lo-head" or c.after is not None:
            continue
        entry = calendar_entry(rules, c, rules.responses[c.response_id].published)
        if entry is not None:
            out.append(entry)
    return out


def test_owner_feed_lists_open_commitments_with_their_invite_uids(rules):
    entries = lo_head_entries(rules)
    data = owner_feed(entries, now=NOW, name="duly: Head of Litigation Operations")
    cal = parse(data)
    assert "METHOD" not in cal
    assert str(cal["X-WR-CALNAME"]) == "duly: Head of Litigation Operations"
    events = cal.walk("VEVENT")
    assert sorted(str(e["UID"]) for e in events) == sorted(
        invite_uid(e.commitment.uid) for e in entries
    )
    assert SLA_UID in {str(e["UID"]) for e in events}
    assert all("ATTENDEE" not in e and "ORGANIZER" not in e for e in events)
    assert all(not e.errors for e in events)
    shown = recurring_ical_events.of(cal).between(date(2018, 1, 1), date(2019, 1, 1))
    assert (SLA_UID, date(2018, 4, 30)) in {(str(e["UID"]), e.start) for e in shown}


def test_owner_feed_refuses_two_events_for_one_commitment(rules):
    entry = entry_for(rules, SLA)
    with pytest.raises(ValueError, match="two feed entries"):
        owner_feed([entry, entry], now=NOW)


# --------------------------------------------------------------------------------------
# REPLY
# --------------------------------------------------------------------------------------

KNOWN = {SLA_UID: ("lo-head@homeoffice.example", 1)}

# What a calendar client sends back when the owner presses Accept (abridged from a real one).
ACCEPTED = b"""BEGIN:VCALENDAR\r
PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r
VERSION:2.0\r
METHOD:REPLY\r
BEGIN:VEVENT\r
CREATED:20180130T091500Z\r
LAST-MODIFIED:20180130T091500Z\r
DTSTAMP:20180130T091500Z\r
UID:a9998eb11be8377d1bb46e261faf9d34@duly\r
SUMMARY:Updated SLA between the Home Office and the GLD in place\r
ORGANIZER;CN=duly:mailto:duly@homeoffice.example\r
ATTENDEE;CN=Head of Litigation Operations;PARTSTAT=ACCEPTED;ROLE=REQ-PARTIC\r
 IPANT:mailto:lo-head@homeoffice.example\r
SEQUENCE:1\r
DTSTART;VALUE=DATE:20180430\r
DTEND;VALUE=DATE:20180501\r
X-MOZ-RECEIVED-SEQUENCE:1\r
END:VEVENT\r
END:VCALENDAR\r
"""


def reply(
    partstat: str = "ACCEPTED",
    *,
    attendee: str = "mailto:lo-head@homeoffice.example",
    uid: str = SLA_UID,
    sequence: int | None = 1,
    stamp: str | None = "20180130T091500Z",
    method: str = "REPLY",
    extra: str = "",
    events: int = 1,
) -> bytes:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//test//EN"]
    if method:
        lines.append(f"METHOD:{method}")
    for _ in range(events):
        lines += ["BEGIN:VEVENT", f"UID:{uid}", f"ATTENDEE;PARTSTAT={partstat}{extra}"]
        if stamp is not None:
            lines.append(f"DTSTAMP:{stamp}")
        if sequence is not None:
            lines.append(f"SEQUENCE:{sequence}")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    text = "\r\n".join(lines) + "\r\n"
    # the ATTENDEE value goes after the parameters
    return text.replace(
        f"PARTSTAT={partstat}{extra}", f"PARTSTAT={partstat}{extra}:{attendee}"
    ).encode()


def test_an_accepted_reply_from_a_real_client_is_read():
    got = parse_reply(ACCEPTED, known=KNOWN)
    assert got == Reply(
        uid=SLA_UID,
        attendee="lo-head@homeoffice.example",
        partstat="ACCEPTED",
        sequence=1,
        dtstamp=datetime(2018, 1, 30, 9, 15, tzinfo=UTC),
    )


def test_a_declined_reply_carries_its_comment():
    data = reply("DECLINED").replace(
        b"END:VEVENT", b"COMMENT:On leave in April\\, ask the deputy\r\nEND:VEVENT"
    )
    got = parse_reply(data, known=KNOWN)
    assert (got.partstat, got.comment) == ("DECLINED", "On leave in April, ask the deputy")


def test_tentative_and_case_insensitive_addresses_are_accepted():
    got = parse_reply(
        reply("tentative", attendee="MAILTO:Lo-Head@HomeOffice.EXAMPLE"), known=KNOWN
    )
    assert (got.partstat, got.attendee) == ("TENTATIVE", "lo-head@homeoffice.example")


def test_a_delegated_reply_names_its_delegate():
    extra = ';DELEGATED-TO="mailto:deputy@homeoffice.example"'
    data = reply("DELEGATED", extra=extra).replace(
        b"END:VEVENT",
        b'ATTENDEE;DELEGATED-FROM="mailto:lo-head@homeoffice.example";PARTSTAT=NEEDS-ACTION:'
        b"mailto:deputy@homeoffice.example\r\nEND:VEVENT",
    )
    got = parse_reply(data, known=KNOWN)
    assert (got.partstat, got.delegated_to) == ("DELEGATED", ("deputy@homeoffice.example",))


def test_a_reply_to_an_older_sequence_is_accepted_and_marked_stale():
    got = parse_reply(reply(sequence=0), known=KNOWN)
    assert (got.sequence, got.stale) == (0, True)
    missing = parse_reply(reply(sequence=None), known=KNOWN)  # RFC 5545: 0 when absent
    assert (missing.sequence, missing.stale) == (0, True)


@pytest.mark.parametrize(
    ("data", "code", "message"),
    [
        (
            reply(attendee="mailto:intruder@example.org"),
            "attendee",
            "REPLY rejected (attendee): from mailto:intruder@example.org, but "
            f"{SLA_UID} was sent to lo-head@homeoffice.example",
        ),
        (
            reply(uid="0000@elsewhere"),
            "unknown-uid",
            "REPLY rejected (unknown-uid): UID 0000@elsewhere is not an invite duly sent",
        ),
        (
            reply(sequence=2),
            "sequence",
            f"REPLY rejected (sequence): SEQUENCE 2 is newer than the 1 duly sent for {SLA_UID}",
        ),
        (
            reply("NEEDS-ACTION"),
            "partstat",
            "REPLY rejected (partstat): PARTSTAT is NEEDS-ACTION; a reply is one of ACCEPTED, "
            "DECLINED, TENTATIVE, DELEGATED",
        ),
        (
            reply("DELEGATED"),
            "partstat",
            "REPLY rejected (partstat): DELEGATED without a mailto: DELEGATED-TO",
        ),
        (
            reply(method="REQUEST"),
            "not-a-reply",
            "REPLY rejected (not-a-reply): METHOD is REQUEST, not REPLY",
        ),
        (
            reply(method=""),
            "not-a-reply",
            "REPLY rejected (not-a-reply): METHOD is missing, not REPLY",
        ),
        (
            reply(events=2),
            "events",
            "REPLY rejected (events): a REPLY carries exactly one VEVENT, this has 2 VEVENTs",
        ),
        (
            reply(stamp=None),
            "malformed",
            "REPLY rejected (malformed): DTSTAMP is missing or not a UTC date-time",
        ),
        (
            reply(stamp="20180130T091500"),
            "malformed",
            "REPLY rejected (malformed): DTSTAMP is missing or not a UTC date-time",
        ),
        (
            reply(stamp="yesterday"),
            "malformed",
            "REPLY rejected (malformed): unreadable DTSTAMP",
        ),
        (
            reply(sequence=None).replace(b"END:VEVENT", b"SEQUENCE:one\r\nEND:VEVENT"),
            "malformed",
            "REPLY rejected (malformed): unreadable SEQUENCE",
        ),
    ],
)
def test_replies_that_must_change_nothing_are_rejected_with_the_reason(data, code, message):
    with pytest.raises(ReplyRejected) as caught:
        parse_reply(data, known=KNOWN)
    assert caught.value.code == code
    assert str(caught.value) == message


def test_a_second_attendee_in_a_reply_is_refused():
    data = reply().replace(
        b"END:VEVENT", b"ATTENDEE;PARTSTAT=ACCEPTED:mailto:boss@homeoffice.example\r\nEND:VEVENT"
    )
    with pytest.raises(ReplyRejected, match="speaks for one attendee") as caught:
        parse_reply(data, known=KNOWN)
    assert caught.value.code == "attendee"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a calendar at all",
        b"\xff\xfe\x00garbage",
        b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\n",  # cut short
        b"BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT\r\n",  # no VCALENDAR
        ACCEPTED + ACCEPTED,  # two calendars
    ],
)
def test_malformed_input_is_rejected_as_malformed(data):
    with pytest.raises(ReplyRejected) as caught:
        parse_reply(data, known=KNOWN)
    assert caught.value.code == "malformed"


def test_huge_input_is_rejected_before_it_is_parsed():
    padding = b"COMMENT:" + b"x" * 70 + b"\r\n"
    data = reply().replace(
        b"END:VEVENT", padding * (MAX_REPLY_BYTES // len(padding)) + b"END:VEVENT"
    )
    assert len(data) > MAX_REPLY_BYTES
    with pytest.raises(ReplyRejected) as caught:
        parse_reply(data, known=KNOWN)
    assert caught.value.code == "too-large"
    assert "is over the limit of 1,000,000" in str(caught.value)


def test_a_reply_already_recorded_is_not_recorded_again():
    first = parse_reply(ACCEPTED, known=KNOWN)
    recorded = {SLA_UID: first.dtstamp}
    with pytest.raises(ReplyRejected) as caught:
        parse_reply(ACCEPTED, known=KNOWN, recorded=recorded)
    assert caught.value.code == "replayed"
    newer = reply("DECLINED", stamp="20180201T100000Z")
    assert parse_reply(newer, known=KNOWN, recorded=recorded).partstat == "DECLINED"


def test_a_reply_to_one_occurrence_says_which(rules, lo_head):
    review = invite_uid(SLA_REVIEW)
    data = reply(uid=review).replace(
        b"END:VEVENT", b"RECURRENCE-ID;VALUE=DATE:20200420\r\nEND:VEVENT"
    )
    got = parse_reply(data, known={review: ("lo-head@homeoffice.example", 1)})
    assert got.recurrence_id == date(2020, 4, 20)


def test_a_reply_to_duly_s_own_invite_round_trips(rules, lo_head):
    """The attendee line duly writes, with PARTSTAT changed, is accepted as that attendee."""
    invite = request(entry_for(rules, SLA, sequence=1), lo_head, ORGANIZER, now=NOW)
    data = (
        invite.replace(b"METHOD:REQUEST", b"METHOD:REPLY")
        .replace(b"PARTSTAT=NEEDS-ACTION", b"PARTSTAT=ACCEPTED")
        .replace(b"DTSTAMP:20180130T090000Z", b"DTSTAMP:20180131T080000Z")
    )
    got = parse_reply(data, known=KNOWN)
    assert (got.partstat, got.sequence, got.stale) == ("ACCEPTED", 1, False)
