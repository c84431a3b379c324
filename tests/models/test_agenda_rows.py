"""AgendaRows, the compile's fast path: exactly the rows commitment_steps gives.

It works each signature's steps out once, as a template, and fills in every
commitment's own words; these tests hold it to the slow path, commitment by
commitment, on the seed rules, a synthetic portfolio and the awkward cases.
"""

from __future__ import annotations

import dataclasses
import itertools
from datetime import UTC, date, datetime, timedelta

import pytest

from bench.portfolio import synthetic_rules
from models.agenda import AgendaRows, CommitmentStatus, commitment_steps
from models.dates import Period
from models.recurrence import Series
from models.rules import Owner, RuleSet


def steps_as_rows(rules: RuleSet, states: dict[str, CommitmentStatus], end: date) -> list[tuple]:
    rows = []
    for uid in sorted(rules.commitments):
        c = rules.commitments[uid]
        status = states.get(uid, CommitmentStatus())
        start = rules.responses[c.response_id].published
        for item in commitment_steps(rules, c, status, states, start, end):
            rows.append(tuple(getattr(item, field) for field in AgendaRows.FIELDS))
    return rows


def fast_rows(rules: RuleSet, states: dict[str, CommitmentStatus], end: date, chunk: int = 97):
    compiled = AgendaRows(rules, states, end)
    uids = sorted(rules.commitments)
    return [row for i in range(0, len(uids), chunk) for row in compiled.rows(uids[i : i + chunk])]


def some_states(rules: RuleSet) -> dict[str, CommitmentStatus]:
    """Every fifth commitment done, in progress, snoozed or missed, at varied times."""
    states = {}
    for k, uid in enumerate(sorted(rules.commitments)[::5]):
        since = datetime(2019, 1 + k % 12, 1 + k % 28, k % 24, 30, tzinfo=UTC)
        state = ("done", "in_progress", "open", "missed")[k % 4]
        snoozed = date(2019, 1 + k % 12, 10) if k % 3 else None
        states[uid] = CommitmentStatus(state, since, snoozed)
    return states


@pytest.mark.parametrize("end", [date(2018, 6, 1), date(2021, 5, 3), date(2026, 1, 1)])
def test_the_seed_rules_give_the_same_rows(seed_rules, end):
    for states in ({}, some_states(seed_rules)):
        expected = steps_as_rows(seed_rules, states, end)
        assert expected and fast_rows(seed_rules, states, end) == expected


def test_a_synthetic_portfolio_gives_the_same_rows():
    rules = synthetic_rules(2_000)
    for states in ({}, some_states(rules)):
        expected = steps_as_rows(rules, states, date(2022, 5, 3))
        assert len(expected) > 10_000
        assert fast_rows(rules, states, date(2022, 5, 3)) == expected


def test_awkward_words_and_texts_give_the_same_rows():
    """Braces and marks in actions, a NUL in a period's wording, long and circular
    escalation chains, and lead times that make two steps share a key."""
    rules = synthetic_rules(400)
    owners = rules.owners
    owners["a"] = Owner("a", "A", "a@x", (), "b")
    owners["b"] = Owner("b", "B", "b@x", (), "c")
    owners["c"] = Owner("c", "C", "c@x", (), "d")
    owners["d"] = Owner("d", "D", "d@x", (), "b")  # back into the chain
    rules.policies["doubled"] = dataclasses.replace(
        rules.policies["start-in-period"], id="doubled", remind_before=(7, 7)
    )
    actions = ["{0} {1}", "\x000\x00 and \x001\x00", "}{", "%s {x}", ""]
    for k, uid in enumerate(sorted(rules.commitments)):
        c = rules.commitments[uid]
        change: dict[str, object] = {"action": actions[k % len(actions)]}
        if k % 7 == 0:
            change["owner"] = "a"
        if c.due is not None and k % 11 == 0:
            change["due"] = Period(c.due.start, c.due.end, "by \x000\x00 {then}")
        if c.rule == "start-in-period" and k % 2:
            change["rule"] = "doubled"
        rules.commitments[uid] = dataclasses.replace(c, **change)
    states = some_states(rules)
    expected = steps_as_rows(rules, states, date(2023, 1, 1))
    assert fast_rows(rules, states, date(2023, 1, 1)) == expected


def test_dates_and_instants_are_encoded():
    rules = synthetic_rules(200)
    end = date(2022, 5, 3)
    compiled = AgendaRows(rules, {}, end, encode_date=date.isoformat, encode_instant=str)
    rows = compiled.rows(sorted(rules.commitments))
    expected = steps_as_rows(rules, {}, end)
    assert [(r[4], r[5], r[6]) for r in rows] == [
        (e[4].isoformat(), str(e[5]), str(e[6])) for e in expected
    ]


RULES = [
    "FREQ=DAILY;INTERVAL=3",
    "FREQ=WEEKLY",
    "FREQ=WEEKLY;INTERVAL=2",
    "FREQ=MONTHLY",
    "FREQ=MONTHLY;INTERVAL=3",
    "FREQ=YEARLY",
    "FREQ=YEARLY;INTERVAL=2",
    "FREQ=MONTHLY;BYMONTHDAY=15",  # not plain: dateutil
]


@pytest.mark.parametrize("rule", RULES)
def test_plain_series_count_as_dateutil_does(rule):
    anchors = [date(2019, 12, 1) + timedelta(days=d) for d in range(0, 460, 7)]
    anchors += [date(2020, 2, 29), date(2020, 1, 31), date(9998, 11, 30), date(9999, 6, 30)]
    for anchor, include in itertools.product(anchors, (True, False)):
        series = Series(rule, anchor, include)
        if anchor.year < 9000:
            windows = [(anchor - timedelta(days=7), anchor + timedelta(days=800))]
        else:  # where dateutil gives up
            windows = [(date(9998, 12, 1), date.max)]
        for start, end in windows:
            assert _outcome(series, start, end, plain=True) == _outcome(
                series, start, end, plain=False
            )


def _outcome(series: Series, start: date, end: date, *, plain: bool) -> list[object]:
    if not plain:
        series = _Dateutil(series.rule, series.anchor, series.include_anchor)
    days: list[object] = []
    try:
        days.extend(itertools.islice(series.occurrences(start, end), 500))
    except ValueError as exc:  # dateutil cannot go past the year 9999
        days.append(str(exc))
    return days


class _Dateutil(Series):
    def _plain(self):
        return None
