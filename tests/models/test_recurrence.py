"""Recurring series clip to the month end instead of skipping (RFC 5545 skips)."""

from __future__ import annotations

from datetime import date

import pytest

from models.recurrence import Series, anchored_rrule, describe_rrule


def test_annual_review_from_29_february_falls_on_28_february_in_other_years():
    series = Series("FREQ=YEARLY", date(2024, 2, 29))
    assert series.rrule_text == "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1"
    assert list(series.occurrences(date(2024, 1, 1), date(2028, 12, 31))) == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]


def test_monthly_audit_from_31_january_2018_is_every_month_end():
    series = Series("FREQ=MONTHLY", date(2018, 1, 31))
    assert list(series.occurrences(date(2018, 1, 1), date(2018, 5, 31))) == [
        date(2018, 1, 31),
        date(2018, 2, 28),
        date(2018, 3, 31),
        date(2018, 4, 30),
        date(2018, 5, 31),
    ]


def test_monthly_from_30_january_2021_clips_february_and_keeps_the_30th():
    series = Series("FREQ=MONTHLY", date(2021, 1, 30))
    assert list(series.occurrences(date(2021, 1, 1), date(2021, 4, 30))) == [
        date(2021, 1, 30),
        date(2021, 2, 28),
        date(2021, 3, 30),
        date(2021, 4, 30),
    ]


def test_quarterly_meeting_counts_three_months_from_its_anchor():
    series = Series("FREQ=MONTHLY;INTERVAL=3", date(2018, 1, 30), include_anchor=False)
    assert list(series.occurrences(date(2018, 1, 1), date(2018, 12, 31))) == [
        date(2018, 4, 30),
        date(2018, 7, 30),
        date(2018, 10, 30),
    ]
    assert series.first() == date(2018, 4, 30)


def test_a_rule_that_says_its_days_is_left_alone():
    assert anchored_rrule("FREQ=MONTHLY;BYDAY=-1FR", date(2018, 1, 31)) == (
        "FREQ=MONTHLY;BYDAY=-1FR"
    )


@pytest.mark.parametrize(
    ("rule", "words"),
    [
        ("FREQ=YEARLY", "annually"),
        ("FREQ=MONTHLY", "monthly"),
        ("FREQ=MONTHLY;INTERVAL=3", "quarterly"),
        ("FREQ=MONTHLY;INTERVAL=6", "every 6 months"),
        ("FREQ=WEEKLY", "weekly"),
    ],
)
def test_describe_rrule_in_words(rule, words):
    assert describe_rrule(rule) == words
