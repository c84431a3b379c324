"""Three calendar clients read duly's invites and must agree on every instant.

The reference is icalendar with recurring-ical-events (time zones from zoneinfo,
by TZID). Against it: ical.js, the parser Thunderbird uses, which knows no time
zone but the file's VTIMEZONE, and libical, the library Evolution uses, which
takes the file's VTIMEZONE first (``tests/clients/expand.mjs`` and
``expand_libical.py`` print what each reads). Every event and every occurrence in
the window must start and end at the same instant (timed) or on the same day
(all-day) in all three. The second half of the file shows that the harness sees
the traps duly avoids: were an invite written those ways, these clients would
disagree, and the first half would fail.

Where a client is missing its tests skip, naming ``tests/clients/install.sh``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import recurring_ical_events
from icalendar import Calendar, Event

from models.invite import CalendarEntry, calendar_entry, cancel, owner_feed, request, vtimezone
from models.recurrence import Series

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ROOT / "tests" / "clients"
INSTALL = "tests/clients/install.sh"
SYSTEM_PYTHON = os.environ.get("DULY_SYSTEM_PYTHON", "/usr/bin/python3")
LO, HI = datetime(1989, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC)
NOW = datetime(2018, 1, 30, 9, 0, tzinfo=UTC)
ORGANIZER = "duly@homeoffice.example"
HOUR = timedelta(hours=1)

Occurrences = dict[str, list[list[str]]]  # uid -> [[start, end], ...]


# --------------------------------------------------------------------------------------
# The three readers
# --------------------------------------------------------------------------------------


def _show(value: date | datetime) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat()


def _start_instant(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return datetime(value.year, value.month, value.day, tzinfo=UTC)


def read_icalendar(paths: list[Path], lo: datetime, hi: datetime) -> dict[str, Occurrences]:
    """What icalendar and recurring-ical-events read: starts in [lo, hi), in order."""
    out: dict[str, Occurrences] = {}
    for path in paths:
        cal = Calendar.from_ical(path.read_bytes())
        events: Occurrences = {str(e["UID"]): [] for e in cal.walk("VEVENT")}
        query = recurring_ical_events.of(cal).between(lo - timedelta(days=2), hi)
        for event in sorted(query, key=lambda e: _start_instant(e.start)):
            if lo <= _start_instant(event.start) < hi:
                events[str(event["UID"])].append([_show(event.start), _show(event.end)])
        out[str(path)] = events
    return out


def _run(command: list[str], paths: list[Path], lo: datetime, hi: datetime) -> dict:
    window = [lo.strftime("%Y-%m-%dT%H:%M:%SZ"), hi.strftime("%Y-%m-%dT%H:%M:%SZ")]
    done = subprocess.run(
        [*command, *window, *(str(p) for p in paths)],
        cwd=CLIENTS,
        env={**os.environ, "TZ": "UTC"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict = json.loads(done.stdout)
    return result


def _icaljs_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (CLIENTS / "node_modules" / "ical.js" / "package.json").is_file():
        return "ical.js is not installed in tests/clients/node_modules"
    return None


def _libical_missing() -> str | None:
    probe = 'import gi; gi.require_version("ICalGLib", "3.0"); from gi.repository import ICalGLib'
    if not Path(SYSTEM_PYTHON).exists():
        return f"{SYSTEM_PYTHON} does not exist"
    done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, check=False)
    if done.returncode:
        return f"{SYSTEM_PYTHON} has no libical bindings (gir1.2-ical-3.0, python3-gi)"
    return None


Reader = Callable[[list[Path], datetime, datetime], dict[str, Occurrences]]


@pytest.fixture(scope="module")
def icaljs() -> Reader:
    missing = _icaljs_missing()
    if missing:
        pytest.skip(f"ical.js NOT TESTED: {missing}; run {INSTALL}")
    return lambda paths, lo, hi: _run(["node", "expand.mjs"], paths, lo, hi)


@pytest.fixture(scope="module")
def libical() -> Reader:
    missing = _libical_missing()
    if missing:
        pytest.skip(f"libical NOT TESTED: {missing}; run {INSTALL}")
    return lambda paths, lo, hi: _run([SYSTEM_PYTHON, "expand_libical.py"], paths, lo, hi)


# --------------------------------------------------------------------------------------
# What duly writes
# --------------------------------------------------------------------------------------


def _entries(rules) -> dict[str, list[CalendarEntry]]:
    """The corpus: one or more entries per file, each name saying what it checks."""
    c = rules.commitments
    sla = c["learning-from-litigation-2018/sla-in-place"]
    review = c["learning-from-litigation-2018/sla-annual-review"]

    def seed(uid: str, live: date | None = None) -> CalendarEntry:
        commitment = c[uid]
        made = calendar_entry(
            rules, commitment, live or rules.responses[commitment.response_id].published
        )
        assert made is not None
        return made

    def series(rule: str, anchor: date, at: tuple[int, int] | None = None, **kw):
        s = Series(rule, anchor)
        first = s.first()
        assert first is not None
        when = first if at is None else datetime(first.year, first.month, first.day, *at)
        return CalendarEntry(review, "T", when, rrule=s.rrule_text, **kw)

    others = [x for x in c.values() if x.uid not in (sla.uid, review.uid)]
    change_days = [
        date(2018, 3, 24),
        date(2018, 3, 25),
        date(2018, 3, 26),
        date(2018, 10, 27),
        date(2018, 10, 28),
        date(2018, 10, 29),
        date(2020, 3, 29),
        date(2020, 10, 25),
        date(2024, 3, 31),
        date(2024, 10, 27),
    ]
    return {
        "sla-deadline": [seed(sla.uid)],
        "sla-annual-review": [seed(review.uid, date(2018, 4, 20))],
        "quarterly-directors": [seed("status-review-and-removal-2018/directors-meet-quarterly")],
        "monthly-from-november-2014": [seed("overstayers-2014/monthly-productivity-reports")],
        "yearly-29-february": [series("FREQ=YEARLY", date(2024, 2, 29))],
        "monthly-31-january": [series("FREQ=MONTHLY", date(2018, 1, 31))],
        "monthly-30-january": [series("FREQ=MONTHLY", date(2021, 1, 30))],
        "monthly-audit-from-28-february": [
            seed("status-review-and-removal-2018/data-handling-monthly-audit")
        ],
        "london-0900-monthly-30th": [
            series("FREQ=MONTHLY", date(2018, 1, 30), (9, 0), duration=HOUR)
        ],
        "london-0900-weekly": [
            CalendarEntry(review, "T", datetime(2018, 1, 1, 9), HOUR, "FREQ=WEEKLY")
        ],
        "london-0900-on-clock-change-days": [
            CalendarEntry(x, "T", datetime.combine(d, datetime.min.time()).replace(hour=9), HOUR)
            for x, d in zip(others, change_days, strict=False)
        ],
        "london-0900-yearly-29-february": [
            series("FREQ=YEARLY", date(2024, 2, 29), (9, 0), duration=HOUR)
        ],
        "london-0900-monthly-31st": [
            series("FREQ=MONTHLY", date(2018, 1, 31), (9, 0), duration=HOUR)
        ],
        "london-2330-daily-until": [
            CalendarEntry(
                review,
                "T",
                datetime(2018, 3, 20, 23, 30),
                HOUR,
                "FREQ=DAILY;UNTIL=20181105T000000Z",
            )
        ],
        "london-0900-monthly-from-1990": [
            CalendarEntry(review, "T", datetime(1990, 1, 15, 9), HOUR, "FREQ=MONTHLY")
        ],
        "new-york-0900-weekly-from-2006": [
            CalendarEntry(
                review,
                "T",
                datetime(2006, 1, 2, 9),
                HOUR,
                "FREQ=WEEKLY",
                timezone="America/New_York",
            )
        ],
        "sydney-0900-weekly": [
            CalendarEntry(
                review,
                "T",
                datetime(2018, 1, 1, 9),
                HOUR,
                "FREQ=WEEKLY",
                timezone="Australia/Sydney",
            )
        ],
        "moscow-0900-monthly-from-2009": [
            CalendarEntry(
                review,
                "T",
                datetime(2009, 1, 10, 9),
                HOUR,
                "FREQ=MONTHLY",
                timezone="Europe/Moscow",
            )
        ],
        "utc-0900-weekly": [
            CalendarEntry(
                review, "T", datetime(2018, 1, 1, 9), HOUR, "FREQ=WEEKLY", timezone="UTC"
            )
        ],
    }


@pytest.fixture(scope="module")
def corpus(seed_rules, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("invites")
    owner = seed_rules.owners["lo-head"]
    files: dict[str, Path] = {}
    for name, entries in _entries(seed_rules).items():
        if len(entries) == 1:
            data = request(entries[0], owner, ORGANIZER, now=NOW)
        else:
            data = owner_feed(entries, now=NOW, name=name)
        files[name] = folder / f"{name}.ics"
        files[name].write_bytes(data)
    feed = [
        e
        for x in seed_rules.commitments.values()
        if x.owner == "lo-head" and x.after is None
        if (e := calendar_entry(seed_rules, x, seed_rules.responses[x.response_id].published))
    ]
    files["lo-head-feed"] = folder / "lo-head-feed.ics"
    files["lo-head-feed"].write_bytes(owner_feed(feed, now=NOW, name="lo-head"))
    review = _entries(seed_rules)["sla-annual-review"][0]
    files["cancel-annual-review"] = folder / "cancel-annual-review.ics"
    files["cancel-annual-review"].write_bytes(cancel(review, owner, ORGANIZER, now=NOW))
    return files


@pytest.fixture(scope="module")
def reference(corpus) -> dict[str, Occurrences]:
    return read_icalendar(list(corpus.values()), LO, HI)


NAMES = [
    "sla-deadline",
    "sla-annual-review",
    "quarterly-directors",
    "monthly-from-november-2014",
    "yearly-29-february",
    "monthly-31-january",
    "monthly-30-january",
    "monthly-audit-from-28-february",
    "london-0900-monthly-30th",
    "london-0900-weekly",
    "london-0900-on-clock-change-days",
    "london-0900-yearly-29-february",
    "london-0900-monthly-31st",
    "london-2330-daily-until",
    "london-0900-monthly-from-1990",
    "new-york-0900-weekly-from-2006",
    "sydney-0900-weekly",
    "moscow-0900-monthly-from-2009",
    "utc-0900-weekly",
    "lo-head-feed",
    "cancel-annual-review",
]


def test_the_corpus_is_what_the_names_say(corpus, reference):
    assert sorted(corpus) == sorted(NAMES)
    for name in NAMES:
        occurrences = reference[str(corpus[name])]
        assert occurrences and all(occurrences.values()), f"{name} shows nothing"


def test_the_reference_reading_has_the_expected_instants(corpus, reference):
    def first(name: str, n: int | None = None) -> list[list[str]]:
        (occurrences,) = reference[str(corpus[name])].values()
        return occurrences[:n]

    assert first("sla-deadline") == [["2018-04-30", "2018-05-01"]]
    assert [s for s, _ in first("yearly-29-february", 5)] == [
        "2024-02-29",
        "2025-02-28",
        "2026-02-28",
        "2027-02-28",
        "2028-02-29",
    ]
    assert [s for s, _ in first("monthly-31-january", 4)] == [
        "2018-01-31",
        "2018-02-28",
        "2018-03-31",
        "2018-04-30",
    ]
    weekly = dict(first("london-0900-weekly"))
    assert weekly["2018-03-19T09:00:00Z"] == "2018-03-19T10:00:00Z"  # GMT
    assert weekly["2018-03-26T08:00:00Z"] == "2018-03-26T09:00:00Z"  # BST from 25 March
    assert weekly["2018-10-22T08:00:00Z"] == "2018-10-22T09:00:00Z"
    assert weekly["2018-10-29T09:00:00Z"] == "2018-10-29T10:00:00Z"  # GMT from 28 October
    days = sorted(
        s for [(s, _)] in reference[str(corpus["london-0900-on-clock-change-days"])].values()
    )
    assert days[:6] == [
        "2018-03-24T09:00:00Z",
        "2018-03-25T08:00:00Z",
        "2018-03-26T08:00:00Z",
        "2018-10-27T08:00:00Z",
        "2018-10-28T09:00:00Z",
        "2018-10-29T09:00:00Z",
    ]
    assert [s for s, _ in first("london-0900-yearly-29-february", 2)] == [
        "2024-02-29T09:00:00Z",
        "2025-02-28T09:00:00Z",
    ]
    late = dict(first("london-2330-daily-until"))
    assert late["2018-03-24T23:30:00Z"] == "2018-03-25T00:30:00Z"  # the night the clocks go on
    assert late["2018-03-25T22:30:00Z"] == "2018-03-25T23:30:00Z"
    assert sorted(late)[-1] == "2018-11-04T23:30:00Z"  # UNTIL 5 November 00:00 UTC
    new_york = dict(first("new-york-0900-weekly-from-2006"))
    assert new_york["2006-01-02T14:00:00Z"] == "2006-01-02T15:00:00Z"  # EST
    assert "2006-03-13T14:00:00Z" in new_york  # EST until the first Sunday of April in 2006
    assert "2007-03-12T13:00:00Z" in new_york  # EDT from the second Sunday of March in 2007
    london_1990 = [s for s, _ in first("london-0900-monthly-from-1990")]
    assert "1995-10-15T08:00:00Z" in london_1990 and "1995-11-15T09:00:00Z" in london_1990
    assert [s for s, _ in first("monthly-audit-from-28-february", 4)] == [
        "2018-02-28",
        "2018-03-30",
        "2018-04-30",
        "2018-05-30",
    ]
    assert [s for s, _ in first("london-0900-monthly-30th", 4)] == [
        "2018-01-30T09:00:00Z",
        "2018-02-28T09:00:00Z",
        "2018-03-30T08:00:00Z",
        "2018-04-30T08:00:00Z",
    ]


@pytest.fixture(scope="module")
def icaljs_reading(icaljs, corpus) -> dict[str, Occurrences]:
    return icaljs(list(corpus.values()), LO, HI)


@pytest.fixture(scope="module")
def libical_reading(libical, corpus) -> dict[str, Occurrences]:
    return libical(list(corpus.values()), LO, HI)


@pytest.mark.parametrize("name", NAMES)
def test_icaljs_reads_the_same_instants(name, corpus, reference, icaljs_reading):
    path = str(corpus[name])
    assert icaljs_reading[path] == reference[path]


@pytest.mark.parametrize("name", NAMES)
def test_libical_reads_the_same_instants(name, corpus, reference, libical_reading):
    path = str(corpus[name])
    assert libical_reading[path] == reference[path]


# --------------------------------------------------------------------------------------
# The harness sees the traps (DESIGN.md "Calendar invites", and two more found here)
# --------------------------------------------------------------------------------------


def _raw(tmp_path: Path, name: str, *events: Event, add: Calendar | None = None) -> Path:
    cal = Calendar()
    cal.add("prodid", "-//duly tests//EN")
    cal.add("version", "2.0")
    if add is not None:
        for part in add.walk("VTIMEZONE"):
            cal.add_component(part)
    for n, event in enumerate(events):
        event.add("uid", f"{name}-{n}@test")
        event.add("dtstamp", NOW)
        cal.add_component(event)
    path = tmp_path / f"{name}.ics"
    path.write_bytes(cal.to_ical())
    return path


def _event(start: date | datetime, end: date | datetime, rrule: str | None = None) -> Event:
    event = Event()
    event.add("dtstart", start)
    event.add("dtend", end)
    if rrule:
        event.add("rrule", rrule)
    return event


def _starts(reading: dict[str, Occurrences], path: Path) -> list[str]:
    return [s for occurrences in reading[str(path)].values() for s, _ in occurrences]


def test_icaljs_misreads_the_vtimezone_icalendar_generates(tmp_path, icaljs):
    """A 10:00 London meeting in January lands at 09:00 UTC: ical.js reads one RDATE value."""
    london = ZoneInfo("Europe/London")
    start = datetime(2018, 1, 15, 10, 0, tzinfo=london)
    cal = Calendar()
    cal.add_component(_event(start, start + HOUR))
    cal.add_missing_timezones()  # icalendar's VTIMEZONE: every change in one RDATE
    path = _raw(tmp_path, "generated-vtimezone", _event(start, start + HOUR), add=cal)
    lo, hi = datetime(2018, 1, 1, tzinfo=UTC), datetime(2018, 2, 1, tzinfo=UTC)
    assert _starts(read_icalendar([path], lo, hi), path) == ["2018-01-15T10:00:00Z"]
    assert _starts(icaljs([path], lo, hi), path) == ["2018-01-15T09:00:00Z"]


def test_a_plain_yearly_rule_on_29_february_reads_three_ways(tmp_path, icaljs, libical):
    """RFC 5545 skips 28 February, ical.js moves to 1 March: hence BYMONTHDAY=-1."""
    path = _raw(tmp_path, "plain-leap", _event(date(2024, 2, 29), date(2024, 3, 1), "FREQ=YEARLY"))
    lo, hi = datetime(2024, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
    assert _starts(read_icalendar([path], lo, hi), path) == ["2024-02-29"]
    assert _starts(libical([path], lo, hi), path) == ["2024-02-29"]
    assert _starts(icaljs([path], lo, hi), path) == ["2024-02-29", "2025-03-01", "2026-03-01"]


def test_icaljs_ignores_bysetpos_with_bymonthday(tmp_path, icaljs, libical):
    """ "The 30th, or the last day of a shorter month" also lands on the 31st in ical.js."""
    rule = "FREQ=MONTHLY;BYMONTHDAY=30,-1;BYSETPOS=1"
    path = _raw(tmp_path, "bysetpos", _event(date(2018, 1, 30), date(2018, 1, 31), rule))
    lo, hi = datetime(2018, 1, 1, tzinfo=UTC), datetime(2018, 4, 1, tzinfo=UTC)
    right = ["2018-01-30", "2018-02-28", "2018-03-30"]
    assert _starts(read_icalendar([path], lo, hi), path) == right
    assert _starts(libical([path], lo, hi), path) == right
    assert _starts(icaljs([path], lo, hi), path) == [
        "2018-01-30",
        "2018-01-31",
        "2018-02-28",
        "2018-03-30",
        "2018-03-31",
    ]


def test_a_start_that_is_not_an_occurrence_reads_two_ways(tmp_path, icaljs, libical):
    """icalendar counts such a DTSTART, ical.js and libical drop it: so duly refuses it."""
    path = _raw(
        tmp_path,
        "off-rule-start",
        _event(date(2018, 4, 15), date(2018, 4, 16), "FREQ=MONTHLY;BYMONTHDAY=-1"),
    )
    lo, hi = datetime(2018, 4, 1, tzinfo=UTC), datetime(2018, 6, 1, tzinfo=UTC)
    assert _starts(read_icalendar([path], lo, hi), path) == [
        "2018-04-15",
        "2018-04-30",
        "2018-05-31",
    ]
    assert _starts(icaljs([path], lo, hi), path) == ["2018-04-30", "2018-05-31"]
    assert _starts(libical([path], lo, hi), path) == ["2018-04-30", "2018-05-31"]


def test_a_repeated_wall_time_reads_two_ways(tmp_path, icaljs, libical):
    """01:30 on 28 October 2018 happens twice in London; clients pick different ones."""
    london = ZoneInfo("Europe/London")
    start = datetime(2018, 10, 28, 1, 30, tzinfo=london)
    tz = Calendar()
    tz.add_component(vtimezone("Europe/London", date(2018, 1, 1)))
    path = _raw(tmp_path, "repeated-hour", _event(start, start + 2 * HOUR), add=tz)
    lo, hi = datetime(2018, 10, 27, tzinfo=UTC), datetime(2018, 10, 29, tzinfo=UTC)
    assert _starts(read_icalendar([path], lo, hi), path) == ["2018-10-28T00:30:00Z"]  # first
    assert _starts(icaljs([path], lo, hi), path) == ["2018-10-28T01:30:00Z"]  # second
    assert _starts(libical([path], lo, hi), path) == ["2018-10-28T01:30:00Z"]


def test_both_clients_read_the_files_vtimezone_not_a_database_of_their_own(
    tmp_path, icaljs, libical
):
    """Proof that the agreement above is about duly's VTIMEZONE: a wrong one is followed."""
    start = datetime(2018, 1, 15, 9, 0, tzinfo=ZoneInfo("Europe/London"))
    tz = Calendar()
    tz.add_component(vtimezone("Europe/London", date(2018, 1, 1)))
    path = _raw(tmp_path, "wrong-vtimezone", _event(start, start + HOUR), add=tz)
    path.write_bytes(path.read_bytes().replace(b"TZOFFSETTO:+0000", b"TZOFFSETTO:+0500"))
    lo, hi = datetime(2018, 1, 1, tzinfo=UTC), datetime(2018, 2, 1, tzinfo=UTC)
    assert _starts(icaljs([path], lo, hi), path) == ["2018-01-15T04:00:00Z"]
    assert _starts(libical([path], lo, hi), path) == ["2018-01-15T04:00:00Z"]
