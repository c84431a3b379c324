"""Owner feeds (flows/feed.py): open commitments only, invite UIDs, series that expand right."""

from __future__ import annotations

import os
import stat
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import recurring_ical_events
from icalendar import Calendar
from sqlmodel import Session

from flows.db import create_schema, make_engine, set_state, sync_rules
from flows.feed import feed_for, open_entries, read_feed_state, write_atomic, write_feeds
from flows.rulefiles import load_rules
from models.agenda import CommitmentStatus
from models.invite import invite_uid

NOW = datetime(2018, 2, 1, 9, 0, tzinfo=UTC)
LIT = "learning-from-litigation-2018"
SLA = f"{LIT}/sla-in-place"
SLA_REVIEW = f"{LIT}/sla-annual-review"
LEAP = "leap-day-2024/terms-reviewed-yearly"

# lo-head's commitments with a date of their own while nothing is done yet: the
# SLA review, the trial and what follow it wait for another commitment, and
# gld-trial-start (when-ready) has no day of its own.
LO_HEAD_OPEN = [
    f"{LIT}/jr-deadlines-review",
    f"{LIT}/jr-permission-review",
    f"{LIT}/pap-response-review",
    f"{LIT}/joint-improvement-plan",
    f"{LIT}/jr-targets-recommendations",
    f"{LIT}/revised-concession-guidance",
    SLA,
]

LEAP_RESPONSE = """\
version: 1
response:
  id: leap-day-2024
  title: "A response published on 29 February"
  inspectorate: Independent Chief Inspector of Borders and Immigration
  inspection_period: "2023"
  published: 2024-02-29
  source: leap-day.txt

recommendations:
  - number: "1"
    text: Review the board's terms of reference every year.
    status: accepted
    status_text: "Accepted."
    commitments:
      - id: terms-reviewed-yearly
        para: "1.1"
        quote: "The board will review its terms of reference every year from 29 February 2024."
        action: Review the board's terms of reference
        owner: lo-director
        rule: review-annually
        starts: 29 February 2024
"""


def parse(data: bytes) -> Calendar:
    cal = Calendar.from_ical(data)
    assert isinstance(cal, Calendar)
    assert not cal.errors
    assert all(not c.errors for c in cal.walk())
    return cal


def uids(data: bytes) -> list[str]:
    return [str(e["UID"]) for e in parse(data).walk("VEVENT")]


def occurrences(data: bytes, uid: str, lo: date, hi: date) -> list[date]:
    """Start days of the event ``uid`` in [lo, hi), expanded as calendar clients do."""
    shown = recurring_ical_events.of(parse(data)).between(lo, hi)
    return sorted(e.start for e in shown if str(e["UID"]) == uid)


def done(on: datetime) -> CommitmentStatus:
    return CommitmentStatus("done", on)


@pytest.fixture
def leap_rules(rules_dir: Path):
    """rules/ plus a response whose yearly review starts on 29 February 2024."""
    (rules_dir / "responses" / "leap-day-2024.yaml").write_text(LEAP_RESPONSE, encoding="utf-8")
    rules = load_rules([rules_dir])
    assert rules.ok, "\n".join(str(p) for p in rules.errors)
    return rules


# --------------------------------------------------------------------------------------
# What goes in
# --------------------------------------------------------------------------------------


def test_feed_is_a_calendar_without_method_of_the_owners_open_commitments(seed_rules):
    data = feed_for(seed_rules, "lo-head", {}, NOW)
    cal = parse(data)
    assert "METHOD" not in cal
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["X-WR-CALNAME"]) == "duly: Head of Litigation Operations"
    events = cal.walk("VEVENT")
    assert sorted(str(e["UID"]) for e in events) == sorted(invite_uid(u) for u in LO_HEAD_OPEN)
    assert len(events) == len({str(e["UID"]) for e in events})  # one VEVENT per commitment
    assert all("ATTENDEE" not in e and "ORGANIZER" not in e for e in events)
    assert all(e["DTSTAMP"].dt == NOW for e in events)
    sla = next(e for e in events if str(e["UID"]) == invite_uid(SLA))
    assert (sla["DTSTART"].dt, sla["SEQUENCE"]) == (date(2018, 4, 30), 0)
    assert f"Commitment: {SLA}" in str(sla["DESCRIPTION"])


def test_every_owner_sees_only_their_own_commitments(seed_rules):
    seen: dict[str, str] = {}
    for owner in seed_rules.owners:
        for entry in open_entries(seed_rules, owner, {}):
            assert entry.commitment.owner == owner
            assert entry.commitment.uid not in seen
            seen[entry.commitment.uid] = owner
    assert seen  # and lo-director, who owns nothing here, gets an empty calendar
    assert uids(feed_for(seed_rules, "lo-director", {}, NOW)) == []


@pytest.mark.parametrize("state", ["done", "missed", "dropped", "superseded"])
def test_a_finished_commitment_leaves_the_feed(seed_rules, state):
    states = {SLA: CommitmentStatus(state, datetime(2018, 4, 20, 10, tzinfo=UTC))}
    assert invite_uid(SLA) not in uids(feed_for(seed_rules, "lo-head", states, NOW))


def test_in_progress_is_still_open(seed_rules):
    states = {SLA: CommitmentStatus("in_progress", datetime(2018, 3, 1, tzinfo=UTC))}
    assert invite_uid(SLA) in uids(feed_for(seed_rules, "lo-head", states, NOW))


def test_a_commitment_waiting_for_another_has_no_date_and_is_left_out(seed_rules):
    """The SLA review runs from the day the SLA is in place: nothing to show before."""
    for state in ("open", "in_progress", "missed"):
        states = {SLA: CommitmentStatus(state, datetime(2018, 4, 20, tzinfo=UTC))}
        assert invite_uid(SLA_REVIEW) not in uids(feed_for(seed_rules, "lo-head", states, NOW))


def test_invite_sequences_carry_into_the_feed(seed_rules):
    data = feed_for(seed_rules, "lo-head", {}, NOW, sequences={SLA: 3})
    events = {str(e["UID"]): e for e in parse(data).walk("VEVENT")}
    assert events[invite_uid(SLA)]["SEQUENCE"] == 3
    assert {e["SEQUENCE"] for u, e in events.items() if u != invite_uid(SLA)} == {0}


def test_an_unknown_owner_is_refused(seed_rules):
    with pytest.raises(KeyError):
        feed_for(seed_rules, "nobody", {}, NOW)


# --------------------------------------------------------------------------------------
# Series, expanded as a client does
# --------------------------------------------------------------------------------------


def test_annual_sla_review_runs_yearly_from_the_day_the_sla_was_done(seed_rules):
    """000 §1.3 "subject to an annual review": first a year after the SLA is in place."""
    states = {SLA: done(datetime(2018, 4, 20, 14, 0, tzinfo=UTC))}
    data = feed_for(seed_rules, "lo-head", states, NOW)
    assert invite_uid(SLA) not in uids(data)
    review = next(e for e in parse(data).walk("VEVENT") if str(e["UID"]) == invite_uid(SLA_REVIEW))
    assert review["DTSTART"].dt == date(2019, 4, 20)
    assert review["RRULE"].to_ical() == b"FREQ=YEARLY"
    assert occurrences(data, invite_uid(SLA_REVIEW), date(2019, 1, 1), date(2025, 1, 1)) == [
        date(2019, 4, 20),
        date(2020, 4, 20),
        date(2021, 4, 20),
        date(2022, 4, 20),
        date(2023, 4, 20),
        date(2024, 4, 20),
    ]


def test_the_review_counts_from_the_london_day_the_sla_was_done(seed_rules):
    """23:30 UTC on 30 April is 00:30 on 1 May in London (BST): the series is on 1 May."""
    states = {SLA: done(datetime(2018, 4, 30, 23, 30, tzinfo=UTC))}
    data = feed_for(seed_rules, "lo-head", states, NOW)
    assert occurrences(data, invite_uid(SLA_REVIEW), date(2019, 1, 1), date(2021, 1, 1)) == [
        date(2019, 5, 1),
        date(2020, 5, 1),
    ]


def test_a_yearly_series_from_29_february_falls_on_28_february_in_common_years(leap_rules):
    data = feed_for(leap_rules, "lo-director", {}, NOW)
    assert uids(data) == [invite_uid(LEAP)]
    assert b"\r\nRRULE:FREQ=YEARLY;BYMONTHDAY=-1;BYMONTH=2\r\n" in data
    assert occurrences(data, invite_uid(LEAP), date(2024, 1, 1), date(2033, 1, 1)) == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
        date(2029, 2, 28),
        date(2030, 2, 28),
        date(2031, 2, 28),
        date(2032, 2, 29),
    ]


def test_a_yearly_review_after_a_sla_done_on_29_february(seed_rules):
    """Done on 29 February 2024: reviews on the last day of February from 2025."""
    states = {SLA: done(datetime(2024, 2, 29, 12, 0, tzinfo=UTC))}
    data = feed_for(seed_rules, "lo-head", states, NOW)
    assert occurrences(data, invite_uid(SLA_REVIEW), date(2024, 1, 1), date(2029, 1, 1)) == [
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------


def test_write_feeds_writes_one_file_per_owner_and_no_temporary_files(seed_rules, tmp_path):
    out = tmp_path / "feeds"
    written = write_feeds(seed_rules, sorted(seed_rules.owners), {}, NOW, out)
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{o}.ics" for o in seed_rules.owners)
    assert written[out / "lo-head.ics"] == len(LO_HEAD_OPEN)
    assert written[out / "lo-director.ics"] == 0
    assert (out / "lo-head.ics").read_bytes() == feed_for(seed_rules, "lo-head", {}, NOW)
    assert stat.S_IMODE((out / "lo-head.ics").stat().st_mode) == 0o644
    for path in out.iterdir():
        parse(path.read_bytes())


def test_a_rewrite_replaces_the_file_by_rename(seed_rules, tmp_path):
    """A subscriber holding the old file open keeps reading the old bytes, whole."""
    path = tmp_path / "lo-head.ics"
    write_atomic(path, b"old feed")
    with path.open("rb") as reader:
        inode = os.fstat(reader.fileno()).st_ino
        write_feeds(seed_rules, ["lo-head"], {}, NOW, tmp_path)
        assert reader.read() == b"old feed"
    assert path.stat().st_ino != inode
    assert uids(path.read_bytes())
    assert [p.name for p in tmp_path.iterdir()] == ["lo-head.ics"]


def test_a_failed_write_leaves_the_old_file_and_no_debris(tmp_path, monkeypatch):
    path = tmp_path / "lo-head.ics"
    write_atomic(path, b"old feed")

    def broken(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, b"new feed")
    assert path.read_bytes() == b"old feed"
    assert [p.name for p in tmp_path.iterdir()] == ["lo-head.ics"]


def test_no_feed_is_written_when_one_cannot_be_built(seed_rules, tmp_path, monkeypatch):
    import flows.feed

    built = []

    def owner_feed(entries, *, now, name):
        built.append(name)
        if len(built) == 2:
            raise ValueError("broken entry")
        return b"feed"

    monkeypatch.setattr(flows.feed, "owner_feed", owner_feed)
    with pytest.raises(ValueError):
        write_feeds(seed_rules, ["lo-head", "sru-head"], {}, NOW, tmp_path / "feeds")
    assert not (tmp_path / "feeds").exists()


# --------------------------------------------------------------------------------------
# States from the database
# --------------------------------------------------------------------------------------


def test_without_a_database_everything_is_open_and_a_note_says_so(tmp_path):
    url = f"sqlite:///{tmp_path / 'none.db'}"
    state = read_feed_state(url)
    assert (state.states, state.sequences) == ({}, {})
    assert state.note == f"no database at {url}: every commitment is taken as open"
    assert not (tmp_path / "none.db").exists()


def test_states_come_from_the_database_as_aware_datetimes(seed_rules, sqlite_url):
    engine = make_engine(sqlite_url)
    create_schema(engine)
    with Session(engine) as session:
        sync_rules(session, seed_rules, NOW)
        session.commit()
        set_state(
            session,
            seed_rules,
            SLA,
            "done",
            who="lo-head",
            why="signed",
            now=datetime(2018, 4, 30, 23, 30, tzinfo=UTC),
        )
        session.commit()
    engine.dispose()
    state = read_feed_state(sqlite_url)
    assert state.note is None
    assert state.states[SLA].state == "done"
    assert state.states[SLA].since == datetime(2018, 4, 30, 23, 30, tzinfo=UTC)
    data = feed_for(seed_rules, "lo-head", state.states, NOW, state.sequences)
    assert invite_uid(SLA) not in uids(data)
    assert occurrences(data, invite_uid(SLA_REVIEW), date(2019, 1, 1), date(2020, 1, 1)) == [
        date(2019, 5, 1)
    ]
