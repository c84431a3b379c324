"""Time correctness over 2014-2040, against independent references.

The unit tests check working days against counting day by day with the same
calendar; here the reference is the ``holidays`` package itself, the clock is
London's across both changes, yearly series start on 29 February, and an agenda
computed in one go must equal the union of it computed window by window.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
from hypothesis import given, settings
from hypothesis import strategies as st

from models.agenda import compile_agenda
from models.calendar import calendar_for
from models.recurrence import Series
from models.rules import parse_rule_files

LONDON = ZoneInfo("Europe/London")
DAYS = st.dates(min_value=date(2014, 1, 1), max_value=date(2040, 12, 31))
BANK = holidays.country_holidays("GB", subdiv="ENG", years=range(2013, 2043))

POLICIES = """\
version: 1
rules:
  - id: daily-nag
    kind: deadline
    remind_before: [{before}]
    overdue_every: 1
    overdue_repeats: {repeats}
    days: calendar
    send_on: any-day
    time: "09:00"
    timezone: Europe/London
    template: deadline
"""
OWNERS = "version: 1\nowners:\n  - id: owner\n    name: Owner\n    email: owner@example.org\n"


def _response(dues: list[date]) -> str:
    items = "".join(
        f"      - id: c{i}\n        para: '1.{i}'\n        quote: q\n        action: a\n"
        f"        owner: owner\n        rule: daily-nag\n        due: {d.isoformat()}\n"
        for i, d in enumerate(dues)
    )
    return (
        "version: 1\nresponse:\n  id: r\n  title: t\n  inspectorate: i\n"
        "  published: 2013-06-01\nrecommendations:\n  - number: '1'\n    text: t\n"
        f"    status: accepted\n    commitments:\n{items}"
    )


def _rules(dues: list[date], before: str = "30, 7, 1", repeats: int = 30):
    rules = parse_rule_files(
        [
            ("policies.yaml", POLICIES.format(before=before, repeats=repeats)),
            ("owners.yaml", OWNERS),
            ("responses/r.yaml", _response(dues)),
        ]
    )
    assert rules.ok, rules.errors
    return rules


# the days London's clocks change, 2014-2040
CHANGES = [
    d
    for d in (date(2014, 1, 1) + timedelta(n) for n in range(27 * 366))
    if d.year <= 2040
    and datetime.combine(d, time(12), LONDON).utcoffset()
    != datetime.combine(d - timedelta(1), time(12), LONDON).utcoffset()
]


@settings(max_examples=60, deadline=None)
@given(change=st.sampled_from(CHANGES), offset=st.integers(-3, 3))
def test_daily_reminders_stay_at_0900_london_across_clock_changes(change, offset):
    due = change + timedelta(days=offset)
    rules = _rules([due], before="3, 2, 1, 0", repeats=5)
    start = datetime.combine(due - timedelta(days=5), time(), UTC)
    items = compile_agenda(rules, {}, start, start + timedelta(days=14))
    local = [i.at.astimezone(LONDON) for i in items if i.step != "invite"]
    assert local and all(t.time() == time(9) for t in local), local
    days = [t.date() for t in local]
    assert len(days) == len(set(days)), "a day got two reminders"
    expected = [due - timedelta(days=n) for n in (3, 2, 1, 0)] + [
        due + timedelta(days=n) for n in range(1, 6)
    ]
    assert sorted(days) == expected, "a day was skipped"


def test_every_clock_change_of_2014_2040_keeps_a_daily_series_at_0900():
    rules = _rules(CHANGES, before="1, 0", repeats=2)
    items = compile_agenda(
        rules, {}, datetime(2014, 1, 1, tzinfo=UTC), datetime(2041, 1, 1, tzinfo=UTC)
    )
    local = [i.at.astimezone(LONDON) for i in items if i.step != "invite"]
    off = [t for t in local if t.time() != time(9)]
    print(
        f"\n{len(CHANGES)} clock changes 2014-2040: {len(local)} reminders, "
        f"{len(off)} not at 09:00 London, none skipped or doubled"
    )
    assert len(CHANGES) == 54 and not off
    assert len(local) == 4 * len(CHANGES)  # day before, the day, two overdue


@settings(max_examples=40, deadline=None)
@given(year=st.sampled_from([y for y in range(2016, 2040) if y % 4 == 0]))
def test_a_yearly_series_anchored_on_29_february_is_28_february_otherwise(year):
    series = Series("FREQ=YEARLY", date(year, 2, 29))
    days = list(series.occurrences(date(year, 1, 1), date(year + 8, 12, 31)))
    assert len(days) == 9 and [d.year for d in days] == list(range(year, year + 9))
    for d in days:
        leap = d.year % 4 == 0 and (d.year % 100 or d.year % 400 == 0)
        assert d == date(d.year, 2, 29 if leap else 28)


@settings(max_examples=300, deadline=None)
@given(day=DAYS, n=st.integers(-60, 60))
def test_working_day_arithmetic_never_lands_on_a_weekend_or_bank_holiday(day, n):
    cal = calendar_for("england-and-wales")
    result = cal.add_working_days(day, n)
    assert result.weekday() < 5 and result not in BANK, (day, n, result, BANK.get(result))
    if n:  # and it counted exactly n of the holidays package's working days
        lo, hi = sorted((day, result))
        between = [
            lo + timedelta(k)
            for k in range(1, (hi - lo).days + (1 if n > 0 else 0))
            if (lo + timedelta(k)).weekday() < 5 and (lo + timedelta(k)) not in BANK
        ]
        if n < 0:
            between = [
                lo + timedelta(k)
                for k in range(0, (hi - lo).days)
                if (lo + timedelta(k)).weekday() < 5 and (lo + timedelta(k)) not in BANK
            ]
        assert len(between) == abs(n), (day, n, result)


@settings(max_examples=25, deadline=None)
@given(
    dues=st.lists(DAYS, min_size=1, max_size=6),
    cuts=st.lists(st.integers(1, 400), min_size=1, max_size=6),
)
def test_the_agenda_in_one_go_equals_the_union_of_its_windows(dues, cuts):
    rules = _rules(dues)
    start = datetime.combine(min(dues) - timedelta(days=40), time(), UTC)
    end = datetime.combine(max(dues) + timedelta(days=40), time(), UTC)
    whole = compile_agenda(rules, {}, start, end)
    edges = [start]
    for cut in cuts:
        step = timedelta(hours=cut * 7)  # odd widths: windows start at any hour
        if edges[-1] + step < end:
            edges.append(edges[-1] + step)
    edges.append(end)
    pieces = [
        item for lo, hi in itertools.pairwise(edges) for item in compile_agenda(rules, {}, lo, hi)
    ]
    assert [i.key for i in pieces] == [i.key for i in whole]
    assert pieces == whole
