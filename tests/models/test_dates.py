"""The UK-government date grammar, tested on the promises in the seed responses."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.calendar import calendar_for
from models.dates import (
    EVERY_HINT,
    PERIOD_HINT,
    SPAN_HINT,
    DateError,
    Period,
    Span,
    find_every,
    find_periods,
    find_spans,
    fiscal_year,
    midpoint,
    parse_every,
    parse_period,
    parse_span,
)

# Publication dates of the seed responses (see shared/seeds/GOLD-NOTES.md)
PUBLISHED_000 = date(2018, 1, 30)  # learning from litigation
PUBLISHED_001 = date(2021, 1, 11)  # Presenting Officer function
PUBLISHED_002 = date(2018, 1, 30)  # status review and removal
PUBLISHED_003 = date(2014, 12, 17)  # overstayers
PUBLISHED_004 = date(2017, 11, 30)  # asylum intake and casework (day estimated)


def window(text: str | date | int, reference: date | None = None) -> tuple[date, date]:
    p = parse_period(text, reference)
    return p.start, p.end


def d(iso: str) -> date:
    return date.fromisoformat(iso)


# -- the promises in the seed documents ------------------------------------------------------


def test_in_place_by_april_2018_is_due_30_april() -> None:  # 000 1.3
    p = parse_period("by April 2018")
    assert (p.start, p.end, p.due) == (d("2018-04-01"), d("2018-04-30"), d("2018-04-30"))


def test_end_of_march_2018() -> None:  # 000 3.4, 5.4
    assert window("by the end of March 2018") == (d("2018-03-01"), d("2018-03-31"))
    assert window("end of March 2018") == window("March 2018")


def test_during_the_remainder_of_2018_19_is_the_whole_financial_year() -> None:  # 000 2.5
    assert window("during the remainder of 2018/19") == (d("2018-04-01"), d("2019-03-31"))


def test_improvement_during_2018_is_the_calendar_year() -> None:  # 000 4.4
    assert window("during 2018") == (d("2018-01-01"), d("2018-12-31"))


def test_quarter_4_of_2020_21_is_january_to_march_2021() -> None:  # 001 5.2
    assert window("during Quarter 4 of 2020/21") == (d("2021-01-01"), d("2021-03-31"))


def test_2021_22_reporting_year() -> None:  # 001 2.2
    assert window("for the 2021/22 reporting year") == (d("2021-04-01"), d("2022-03-31"))
    fy = fiscal_year(2021)
    assert window("the 2021/22 reporting year") == (fy.start, fy.end)


def test_over_the_course_of_2021_22() -> None:  # 001 4.3
    assert window("over the course of 2021/22") == (d("2021-04-01"), d("2022-03-31"))


def test_between_april_and_june_2021() -> None:  # 001 4.3
    assert window("between April and June 2021") == (d("2021-04-01"), d("2021-06-30"))


def test_mid_summer_2018_is_july() -> None:  # 002 3.5
    p = parse_period("by mid-summer 2018")
    assert (p.start, p.due) == (d("2018-07-01"), d("2018-07-31"))


def test_by_autumn_2018_is_due_30_november() -> None:  # 002 3.6
    p = parse_period("by Autumn 2018")
    assert (p.start, p.due) == (d("2018-09-01"), d("2018-11-30"))


def test_next_release_of_statistics_in_february_2015() -> None:  # 003 5.4
    assert window("in February 2015") == (d("2015-02-01"), d("2015-02-28"))


def test_by_february_after_november_2017_publication_is_february_2018() -> None:  # 004 5.4
    assert window("by February", PUBLISHED_004) == (d("2018-02-01"), d("2018-02-28"))


def test_over_the_next_12_months_from_estimated_publication() -> None:  # 004 4.6
    assert window("Over the next 12 months", PUBLISHED_004) == (d("2017-11-30"), d("2018-11-30"))


def test_in_the_next_two_years_from_estimated_publication() -> None:  # 004 4.4
    assert window("In the next two years", PUBLISHED_004) == (d("2017-11-30"), d("2019-11-30"))


def test_from_november_written_before_november_2014_is_november_2014() -> None:  # 003 12.5
    # The gold reads the month against the drafting date (about October 2014); against the
    # 17 December 2014 publication date the same words give November 2015.
    assert window("from November", date(2014, 10, 1)) == (d("2014-11-01"), d("2014-11-30"))
    assert window("from November", PUBLISHED_003) == (d("2015-11-01"), d("2015-11-30"))


def test_the_trial_will_last_at_least_three_months() -> None:  # 000 2.5
    span = parse_span("at least three months")
    assert (span.months, span.iso()) == (3, "P3M")


def test_pilot_starting_31_january_ends_30_april() -> None:
    assert parse_span("three months").after(date(2018, 1, 31)) == date(2018, 4, 30)


def test_within_fourteen_calendar_days_of_receipt() -> None:  # 000 5.2
    span = parse_span("within fourteen calendar days")
    assert (span.days, span.working_days, span.iso()) == (14, 0, "P14D")
    assert span.after(date(2018, 3, 29)) == date(2018, 4, 12)  # calendar days ignore Easter


def test_by_working_day_seven() -> None:  # 000 5.4
    span = parse_span("by working day seven")
    assert (span.working_days, span.iso()) == (7, "P7D")
    # from Maundy Thursday 2018: Good Friday and Easter Monday are skipped
    assert span.after(date(2018, 3, 29)) == date(2018, 4, 11)
    assert span.after(date(2018, 3, 29), calendar_for("scotland")) == date(2018, 4, 10)


def test_review_after_six_months() -> None:  # 003 7.3
    assert parse_span("six months") == Span(months=6)


def test_will_meet_quarterly_is_every_three_months() -> None:  # 002 1.2, gold convention 8
    assert parse_every("will meet quarterly") == "FREQ=MONTHLY;INTERVAL=3"


def test_subject_to_an_annual_review() -> None:  # 000 1.3
    assert parse_every("subject to an annual review") == "FREQ=YEARLY"


def test_case_review_group_meets_monthly() -> None:  # 000 6.2
    assert parse_every("meets monthly") == "FREQ=MONTHLY"


# -- the gold files, walked ------------------------------------------------------------------

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"


def _gold_commitments() -> list[tuple[str, date, dict[str, Any]]]:
    if not SEEDS.is_dir():
        return []
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe")
    out = []
    for path in sorted(SEEDS.glob("*.gold.yaml")):
        doc = yaml.load(path.read_text(encoding="utf-8"))
        for rec in doc["recommendations"]:
            for c in rec["commitments"] or []:
                out.append((path.name[:3], doc["published"], c))
    return out


GOLD = _gold_commitments()
NO_GOLD = pytest.mark.skipif(not GOLD, reason=f"no gold files in {SEEDS}")


def _gold_params(kinds: tuple[str, ...]) -> list[Any]:
    params = [
        pytest.param(ref, c, id=f"{doc}-{c['para']}-{c['phrase'][:40]}")
        for doc, ref, c in GOLD
        if c["kind"] in kinds
    ]
    return params or [pytest.param(None, None, marks=NO_GOLD, id="no-gold-files")]


@pytest.mark.parametrize(("published", "gold"), _gold_params(("deadline", "start")))
def test_gold_phrase_parses_to_the_gold_window(published: date, gold: dict[str, Any]) -> None:
    found = find_periods(gold["phrase"], published)
    assert [(p.start, p.end) for _, p in found] == [tuple(gold["window"])]
    words, period = found[0]
    assert parse_period(words, published) == period  # one grammar: the found words parse alone
    if gold["kind"] == "deadline":
        assert period.due == gold["due"]


@pytest.mark.parametrize(("published", "gold"), _gold_params(("duration",)))
def test_gold_duration_phrase_gives_the_gold_iso_duration(
    published: date, gold: dict[str, Any]
) -> None:
    found = find_spans(gold["phrase"])
    assert [span.iso() for _, span in found] == [gold["duration"]]
    assert parse_span(found[0][0]) == found[0][1]


@pytest.mark.parametrize(("published", "gold"), _gold_params(("recurring",)))
def test_gold_recurring_phrase_gives_the_gold_rrule(published: date, gold: dict[str, Any]) -> None:
    found = find_every(gold["phrase"])
    assert [rule for _, rule in found] == [gold["rrule"]]
    assert parse_every(found[0][0]) == gold["rrule"]


@NO_GOLD
def test_every_gold_deadline_phrase_parses_to_its_exact_window() -> None:
    deadlines = [(ref, c) for _, ref, c in GOLD if c["kind"] == "deadline"]
    exact = [
        c
        for ref, c in deadlines
        if [(p.start, p.end) for _, p in find_periods(c["phrase"], ref)] == [tuple(c["window"])]
    ]
    assert len(deadlines) == 29
    assert len(exact) == len(deadlines)


# -- the grammar, form by form ---------------------------------------------------------------

PERIODS: list[tuple[str, date | None, str, str]] = [
    # single days
    ("2018-04-30", None, "2018-04-30", "2018-04-30"),
    ("30 April 2018", None, "2018-04-30", "2018-04-30"),
    ("30th April 2018", None, "2018-04-30", "2018-04-30"),
    ("April 30, 2018", None, "2018-04-30", "2018-04-30"),
    ("the 30th of April 2018", None, "2018-04-30", "2018-04-30"),
    ("Tuesday 30 January 2018", None, "2018-01-30", "2018-01-30"),
    ("8 July 2020", None, "2020-07-08", "2020-07-08"),
    ("by 30 April", PUBLISHED_004, "2018-04-30", "2018-04-30"),
    # months
    ("April 2018", None, "2018-04-01", "2018-04-30"),
    ("Apr 2018", None, "2018-04-01", "2018-04-30"),
    ("Sept. 2018", None, "2018-09-01", "2018-09-30"),
    ("by April 2018", None, "2018-04-01", "2018-04-30"),
    ("in January 2018", None, "2018-01-01", "2018-01-31"),
    ("BY THE END OF MARCH 2018.", None, "2018-03-01", "2018-03-31"),
    ("before April 2018", None, "2018-04-01", "2018-04-30"),
    ("February 2020", None, "2020-02-01", "2020-02-29"),
    ("early April 2018", None, "2018-04-01", "2018-04-10"),
    ("mid April 2018", None, "2018-04-11", "2018-04-20"),
    ("mid-April 2018", None, "2018-04-11", "2018-04-20"),
    ("late April 2018", None, "2018-04-21", "2018-04-30"),
    ("late February 2019", None, "2019-02-21", "2019-02-28"),
    # months without a year
    ("by February", PUBLISHED_004, "2018-02-01", "2018-02-28"),
    ("from November", PUBLISHED_004, "2018-11-01", "2018-11-30"),
    ("November", date(2017, 11, 1), "2018-11-01", "2018-11-30"),
    ("December", PUBLISHED_004, "2017-12-01", "2017-12-31"),
    ("by mid-February", PUBLISHED_004, "2018-02-11", "2018-02-20"),
    # thirds of a year, seasons
    ("early 2018", None, "2018-01-01", "2018-04-30"),
    ("mid-2018", None, "2018-05-01", "2018-08-31"),
    ("late 2018", None, "2018-09-01", "2018-12-31"),
    ("early in 2017", None, "2017-01-01", "2017-04-30"),
    ("mid-summer 2018", None, "2018-07-01", "2018-07-31"),
    ("midsummer 2018", None, "2018-07-01", "2018-07-31"),
    ("early summer 2018", None, "2018-06-01", "2018-06-30"),
    ("late summer 2018", None, "2018-08-01", "2018-08-31"),
    ("spring 2019", None, "2019-03-01", "2019-05-31"),
    ("late spring 2019", None, "2019-05-01", "2019-05-31"),
    ("the summer of 2018", None, "2018-06-01", "2018-08-31"),
    ("by Autumn 2018", None, "2018-09-01", "2018-11-30"),
    ("early autumn 2018", None, "2018-09-01", "2018-09-30"),
    ("winter 2018", None, "2018-12-01", "2019-02-28"),
    ("winter 2018/19", None, "2018-12-01", "2019-02-28"),
    ("winter 2019/20", None, "2019-12-01", "2020-02-29"),
    ("late winter 2018", None, "2019-02-01", "2019-02-28"),
    # calendar years
    ("2018", None, "2018-01-01", "2018-12-31"),
    ("in 2018", None, "2018-01-01", "2018-12-31"),
    ("during 2018", None, "2018-01-01", "2018-12-31"),
    ("calendar year 2018", None, "2018-01-01", "2018-12-31"),
    # financial years
    ("2018/19", None, "2018-04-01", "2019-03-31"),
    ("2018-19", None, "2018-04-01", "2019-03-31"),
    ("2018\u201319", None, "2018-04-01", "2019-03-31"),
    ("2018/2019", None, "2018-04-01", "2019-03-31"),
    ("FY 2018/19", None, "2018-04-01", "2019-03-31"),
    ("FY18/19", None, "2018-04-01", "2019-03-31"),
    ("financial year 2018/19", None, "2018-04-01", "2019-03-31"),
    ("the 2018/19 financial year", None, "2018-04-01", "2019-03-31"),
    ("the 2021/22 reporting year", None, "2021-04-01", "2022-03-31"),
    ("for 2021/22", None, "2021-04-01", "2022-03-31"),
    ("over the course of 2021/22", None, "2021-04-01", "2022-03-31"),
    ("the remainder of 2018/19", None, "2018-04-01", "2019-03-31"),
    ("1999/2000", None, "1999-04-01", "2000-03-31"),
    ("1999/00", None, "1999-04-01", "2000-03-31"),
    # quarters
    ("Quarter 4 of 2020/21", None, "2021-01-01", "2021-03-31"),
    ("Q4 2020/21", None, "2021-01-01", "2021-03-31"),
    ("Q4 of 2020-21", None, "2021-01-01", "2021-03-31"),
    ("q4 fy 2020/21", None, "2021-01-01", "2021-03-31"),
    ("quarter 1 2021/22", None, "2021-04-01", "2021-06-30"),
    ("quarter two of 2021/22", None, "2021-07-01", "2021-09-30"),
    ("the third quarter of 2021/22", None, "2021-10-01", "2021-12-31"),
    ("the final quarter of 2020/21", None, "2021-01-01", "2021-03-31"),
    ("Q1 2019", None, "2019-01-01", "2019-03-31"),
    ("the first quarter of 2019", None, "2019-01-01", "2019-03-31"),
    ("until the end of Quarter 1 2014", None, "2014-01-01", "2014-03-31"),
    ("Q4 2019", None, "2019-10-01", "2019-12-31"),
    # halves
    ("first half of 2019", None, "2019-01-01", "2019-06-30"),
    ("H1 2019", None, "2019-01-01", "2019-06-30"),
    ("second half of 2019", None, "2019-07-01", "2019-12-31"),
    ("H2 2018/19", None, "2018-10-01", "2019-03-31"),
    ("the first half of 2018/19", None, "2018-04-01", "2018-09-30"),
    # ranges
    ("between April and June 2021", None, "2021-04-01", "2021-06-30"),
    ("April to June 2021", None, "2021-04-01", "2021-06-30"),
    ("April \u2013 June 2021", None, "2021-04-01", "2021-06-30"),
    ("April-June 2021", None, "2021-04-01", "2021-06-30"),
    ("from April 2021 to March 2022", None, "2021-04-01", "2022-03-31"),
    ("November 2019 \u2013 October 2020", None, "2019-11-01", "2020-10-31"),
    ("December to February 2019", None, "2018-12-01", "2019-02-28"),
    ("between 2018 and 2020", None, "2018-01-01", "2020-12-31"),
    ("2018 to 2020", None, "2018-01-01", "2020-12-31"),
    ("2018\u20132020", None, "2018-01-01", "2020-12-31"),
    ("1 April to 30 June 2018", None, "2018-04-01", "2018-06-30"),
    ("from Q1 2019/20 to Q2 2019/20", None, "2019-04-01", "2019-09-30"),
    ("between April and June", PUBLISHED_004, "2018-04-01", "2018-06-30"),
    # relative to the reference
    ("within six months", PUBLISHED_004, "2017-11-30", "2018-05-30"),
    ("in the next two years", PUBLISHED_004, "2017-11-30", "2019-11-30"),
    ("over the next 12 months", PUBLISHED_004, "2017-11-30", "2018-11-30"),
    ("within 14 days", PUBLISHED_004, "2017-11-30", "2017-12-14"),
    ("within fourteen calendar days", PUBLISHED_004, "2017-11-30", "2017-12-14"),
    ("within 7 working days", date(2018, 3, 29), "2018-03-29", "2018-04-11"),
    ("within a year", PUBLISHED_004, "2017-11-30", "2018-11-30"),
    ("within a fortnight", PUBLISHED_004, "2017-11-30", "2017-12-14"),
    ("within half a year", PUBLISHED_004, "2017-11-30", "2018-05-30"),
    ("in six months' time", PUBLISHED_004, "2017-11-30", "2018-05-30"),
    ("during the coming twenty-four months", PUBLISHED_004, "2017-11-30", "2019-11-30"),
    ("within three months", date(2018, 1, 31), "2018-01-31", "2018-04-30"),
]


@pytest.mark.parametrize(
    ("text", "reference", "start", "end"), PERIODS, ids=[p[0] for p in PERIODS]
)
def test_period_grammar(text: str, reference: date | None, start: str, end: str) -> None:
    p = parse_period(text, reference)
    assert (p.start, p.end, p.due) == (d(start), d(end), d(end))
    assert p.text == " ".join(text.split())


def test_a_date_object_is_a_one_day_window() -> None:
    assert parse_period(date(2018, 4, 30)) == Period(date(2018, 4, 30), date(2018, 4, 30))
    assert parse_period(date(2018, 4, 30)).text == "2018-04-30"


def test_an_int_is_a_calendar_year_as_yaml_reads_2018() -> None:
    assert window(2018) == (d("2018-01-01"), d("2018-12-31"))


def test_an_explicit_year_ignores_the_reference() -> None:
    assert window("April 2018", date(2030, 1, 1)) == (d("2018-04-01"), d("2018-04-30"))


def test_period_equality_compares_windows_not_wording() -> None:
    assert parse_period("by April 2018") == parse_period("April 2018")
    assert parse_period("by April 2018") != parse_period("May 2018")


def test_period_cannot_end_before_it_starts() -> None:
    with pytest.raises(ValueError):
        Period(date(2018, 2, 1), date(2018, 1, 1))


def test_fiscal_year_2020_is_april_2020_to_march_2021() -> None:
    fy = fiscal_year(2020)
    assert (fy.start, fy.end, fy.text) == (d("2020-04-01"), d("2021-03-31"), "2020/21")
    assert fiscal_year(1999).text == "1999/00"


def test_midpoint_of_a_three_month_pilot() -> None:
    assert midpoint(date(2018, 1, 31), date(2018, 4, 30)) == date(2018, 3, 16)
    assert midpoint(date(2018, 1, 1), date(2018, 1, 1)) == date(2018, 1, 1)
    assert midpoint(date(2018, 1, 1), date(2018, 1, 2)) == date(2018, 1, 1)


# -- what the grammar refuses, and how it says so ------------------------------------------

BAD_PERIODS: list[tuple[str, date | None, str, str]] = [
    (
        "end of Apirl 2018",
        None,
        'cannot read "end of Apirl 2018" as a date or period (did you mean "April"?)',
        'write "end of April 2018"',
    ),
    (
        "by Febuary 2018",
        None,
        'cannot read "by Febuary 2018" as a date or period (did you mean "February"?)',
        'write "by February 2018"',
    ),
    (
        "by autum 2018",
        None,
        'cannot read "by autum 2018" as a date or period (did you mean "autumn"?)',
        'write "by autumn 2018"',
    ),
    (
        "quater 4 of 2020/21",
        None,
        'cannot read "quater 4 of 2020/21" as a date or period (did you mean "quarter"?)',
        'write "quarter 4 of 2020/21"',
    ),
    ("soon", None, 'cannot read "soon" as a date or period', PERIOD_HINT),
    (
        "next year",
        None,
        'cannot read "next year": it counts from a reference date, and none was given',
        "pass the reference date it counts from (e.g. the publication date)",
    ),
    ("", None, 'cannot read "" as a date or period', PERIOD_HINT),
    (
        "31 February 2018",
        None,
        'cannot read "31 February 2018": February 2018 has 28 days',
        PERIOD_HINT,
    ),
    (
        "29 February 2019",
        None,
        'cannot read "29 February 2019": February 2019 has 28 days',
        PERIOD_HINT,
    ),
    ("2018-02-30", None, 'cannot read "2018-02-30": February 2018 has 28 days', PERIOD_HINT),
    ("2018-13-01", None, 'cannot read "2018-13-01": there is no month 13', PERIOD_HINT),
    (
        "Monday 30 January 2018",
        None,
        'cannot read "Monday 30 January 2018": 30 January 2018 is a Tuesday, not a Monday',
        PERIOD_HINT,
    ),
    ("Q5 2020/21", None, 'cannot read "Q5 2020/21": a quarter is 1 to 4, not 5', PERIOD_HINT),
    (
        "Quarter 0 of 2020/21",
        None,
        'cannot read "Quarter 0 of 2020/21": a quarter is 1 to 4, not 0',
        PERIOD_HINT,
    ),
    ("H3 2019", None, 'cannot read "H3 2019": a half is 1 or 2, not 3', PERIOD_HINT),
    (
        "2018/20",
        None,
        'cannot read "2018/20": 2018/20 is not a financial year: one runs from April to March '
        "of the next year, like 2018/19",
        "write 2018/19",
    ),
    (
        "Q4 2020/22",
        None,
        'cannot read "Q4 2020/22": 2020/22 is not a financial year: one runs from April to March '
        "of the next year, like 2020/21",
        "write 2020/21",
    ),
    (
        "summer 2018/19",
        None,
        'cannot read "summer 2018/19": only winter runs across two years, not summer',
        PERIOD_HINT,
    ),
    (
        "winter 2018/20",
        None,
        'cannot read "winter 2018/20": winter 2018 runs into 2019, not 20',
        "write winter 2018/19",
    ),
    (
        "from April 2022 to March 2021",
        None,
        'cannot read "from April 2022 to March 2021": the range ends before it starts',
        PERIOD_HINT,
    ),
    (
        "by February",
        None,
        'cannot read "by February": it has no year, and there is no reference date to resolve it',
        'add the year, e.g. "February 2018", or pass a reference date',
    ),
    (
        "within six months",
        None,
        'cannot read "within six months": it counts from a reference date, and none was given',
        "pass the reference date it counts from (e.g. the publication date)",
    ),
]


@pytest.mark.parametrize(
    ("text", "reference", "message", "hint"),
    BAD_PERIODS,
    ids=[b[0] or "empty" for b in BAD_PERIODS],
)
def test_bad_period_is_refused_with_a_message_and_a_fix(
    text: str, reference: date | None, message: str, hint: str
) -> None:
    with pytest.raises(DateError) as info:
        parse_period(text, reference)
    assert str(info.value) == message
    assert info.value.hint == hint
    assert info.value.text == text
    assert isinstance(info.value, ValueError)


def test_parse_period_refuses_what_is_not_text_or_a_date() -> None:
    with pytest.raises(DateError):
        parse_period(3.5)  # type: ignore[arg-type]


# -- finding periods in sentences ------------------------------------------------------------


def test_find_periods_prefers_the_longest_expression() -> None:
    found = find_periods("timetable the analysis for all staff between April and June 2021.")
    assert [w for w, _ in found] == ["between April and June 2021"]


def test_find_periods_returns_every_expression_in_text_order() -> None:
    text = (
        "We will report back to the ICIBI by December 2017 on progress, and aim to "
        "complete the implementation of all previous recommendations by April 2018."
    )
    found = find_periods(text, PUBLISHED_004)
    assert [(w, p.due) for w, p in found] == [
        ("by December 2017", d("2017-12-31")),
        ("by April 2018", d("2018-04-30")),
    ]


def test_find_periods_needs_a_cue_for_a_bare_year() -> None:
    found = find_periods("Following the 2015 ICI report into Asylum Casework. In 2016 AIC bid")
    assert [w for w, _ in found] == ["In 2016"]


def test_find_periods_does_not_read_the_verb_may_as_a_month() -> None:
    found = find_periods("a review may report by May, as results in may vary", PUBLISHED_004)
    assert [(w, p.start) for w, p in found] == [("by May", d("2018-05-01"))]


def test_find_periods_leaves_out_what_it_cannot_resolve() -> None:
    assert find_periods("will report by February") == []
    assert find_periods("within six months of the change") == []
    assert find_periods("on 31 February 2018") == []


def test_find_periods_tells_a_financial_year_from_an_iso_date() -> None:
    found = find_periods("from 2018-04-30, in 2018/19 and during 2019-20")
    assert [(w, p.start) for w, p in found] == [
        ("from 2018-04-30", d("2018-04-30")),
        ("in 2018/19", d("2018-04-01")),
        ("during 2019-20", d("2019-04-01")),
    ]


def test_find_periods_reads_inspection_periods_in_headers() -> None:
    assert [(p.start, p.end) for _, p in find_periods("**April \u2013 July 2017**")] == [
        (d("2017-04-01"), d("2017-07-31"))
    ]


def test_found_words_parse_to_the_same_period() -> None:
    text = (
        "In January 2018, LO will undertake a review ... during the remainder of 2018/19 "
        "... by the end of March 2018 ... Over the next 12 months ... by mid-summer 2018"
    )
    for words, period in find_periods(text, PUBLISHED_004):
        assert parse_period(words, PUBLISHED_004) == period


# -- spans ------------------------------------------------------------------------------------

SPANS: list[tuple[str | int, Span, str]] = [
    ("3 months", Span(months=3), "P3M"),
    ("three months", Span(months=3), "P3M"),
    ("at least three months", Span(months=3), "P3M"),
    ("P3M", Span(months=3), "P3M"),
    ("P14D", Span(days=14), "P14D"),
    ("P1Y6M", Span(years=1, months=6), "P1Y6M"),
    ("p1y", Span(years=1), "P1Y"),
    ("P2W", Span(weeks=2), "P2W"),
    ("six months", Span(months=6), "P6M"),
    ("fourteen calendar days", Span(days=14), "P14D"),
    ("14 days", Span(days=14), "P14D"),
    ("2 weeks", Span(weeks=2), "P2W"),
    ("a fortnight", Span(days=14), "P14D"),
    ("12 months", Span(months=12), "P12M"),
    ("two years", Span(years=2), "P2Y"),
    ("1 year", Span(years=1), "P1Y"),
    ("a year", Span(years=1), "P1Y"),
    ("half a year", Span(months=6), "P6M"),
    ("a quarter", Span(months=3), "P3M"),
    ("twenty-one days", Span(days=21), "P21D"),
    ("1 year and 6 months", Span(years=1, months=6), "P1Y6M"),
    ("2 weeks and 3 days", Span(weeks=2, days=3), "P17D"),
    ("7 working days", Span(working_days=7), "P7D"),
    ("ten business days", Span(working_days=10), "P10D"),
    ("working day seven", Span(working_days=7), "P7D"),
    ("working day 7", Span(working_days=7), "P7D"),
    ("by working day seven", Span(working_days=7), "P7D"),
    ("the seventh working day", Span(working_days=7), "P7D"),
    ("within 14 days.", Span(days=14), "P14D"),
    (14, Span(days=14), "P14D"),
    (0, Span(), "P0D"),
]


@pytest.mark.parametrize(("text", "span", "iso"), SPANS, ids=[str(s[0]) for s in SPANS])
def test_span_grammar(text: str | int, span: Span, iso: str) -> None:
    parsed = parse_span(text)
    assert parsed == span
    assert parsed.iso() == iso


def test_span_keeps_its_wording() -> None:
    assert parse_span("at least three months").text == "at least three months"
    assert parse_span(14).text == "14 days"


BAD_SPANS: list[tuple[Any, str, str]] = [
    (
        "3 monts",
        'cannot read "3 monts" as a length of time (did you mean "months"?)',
        'write "3 months"',
    ),
    ("three", 'cannot read "three" as a length of time', SPAN_HINT),
    ("PT5H", 'cannot read "PT5H" as a length of time', SPAN_HINT),
    ("P", 'cannot read "P" as a length of time', SPAN_HINT),
    ("", 'cannot read "" as a length of time', SPAN_HINT),
    ("soon", 'cannot read "soon" as a length of time', SPAN_HINT),
    (-3, "a length of time cannot be negative (-3 days)", SPAN_HINT),
    (True, "cannot read True as a length of time", SPAN_HINT),
]


@pytest.mark.parametrize(
    ("text", "message", "hint"), BAD_SPANS, ids=[repr(b[0]) for b in BAD_SPANS]
)
def test_bad_span_is_refused(text: Any, message: str, hint: str) -> None:
    with pytest.raises(DateError) as info:
        parse_span(text)
    assert (str(info.value), info.value.hint) == (message, hint)


def test_a_month_after_31_january_is_the_end_of_february() -> None:
    assert Span(months=1).after(date(2018, 1, 31)) == date(2018, 2, 28)
    assert Span(months=1).after(date(2020, 1, 31)) == date(2020, 2, 29)
    assert Span(months=3).after(date(2018, 1, 31)) == date(2018, 4, 30)


def test_a_year_after_29_february_is_28_february() -> None:
    assert Span(years=1).after(date(2020, 2, 29)) == date(2021, 2, 28)


def test_span_before_counts_back() -> None:
    assert Span(months=1).before(date(2018, 3, 31)) == date(2018, 2, 28)
    assert Span(working_days=7).before(date(2018, 4, 11)) == date(2018, 3, 29)
    assert parse_span("a fortnight").before(date(2018, 1, 30)) == date(2018, 1, 16)


def test_span_of_working_days_follows_the_calendar_given() -> None:
    span = parse_span("1 working day")
    assert span.after(date(2018, 12, 31)) == date(2019, 1, 2)
    assert span.after(date(2018, 12, 31), calendar_for("scotland")) == date(2019, 1, 3)


def test_calendar_parts_come_before_working_days() -> None:
    # 1 month after 2 March 2018 is Mon 2 April (Easter Monday); 1 working day on is Tue 3 April
    assert Span(months=1, working_days=1).after(date(2018, 3, 2)) == date(2018, 4, 3)


def test_find_spans_in_the_seed_sentences() -> None:
    text = (
        "it is anticipated that the trial will last at least three months to enable "
        "sufficient time ... within fourteen calendar days of receipt ... by working day "
        "seven ... ninety per cent substantive response rate"
    )
    assert [(w, s.iso()) for w, s in find_spans(text)] == [
        ("at least three months", "P3M"),
        ("fourteen calendar days", "P14D"),
        ("working day seven", "P7D"),
    ]


# -- frequencies ------------------------------------------------------------------------------

EVERY: list[tuple[str, str]] = [
    ("daily", "FREQ=DAILY"),
    ("on a daily basis", "FREQ=DAILY"),
    ("every working day", "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR"),
    ("weekly", "FREQ=WEEKLY"),
    ("every week", "FREQ=WEEKLY"),
    ("fortnightly", "FREQ=WEEKLY;INTERVAL=2"),
    ("every two weeks", "FREQ=WEEKLY;INTERVAL=2"),
    ("every other week", "FREQ=WEEKLY;INTERVAL=2"),
    ("every fortnight", "FREQ=WEEKLY;INTERVAL=2"),
    ("monthly", "FREQ=MONTHLY"),
    ("every month", "FREQ=MONTHLY"),
    ("on a monthly basis", "FREQ=MONTHLY"),
    ("meets monthly", "FREQ=MONTHLY"),
    ("Monthly.", "FREQ=MONTHLY"),
    ("every other month", "FREQ=MONTHLY;INTERVAL=2"),
    ("quarterly", "FREQ=MONTHLY;INTERVAL=3"),
    ("every quarter", "FREQ=MONTHLY;INTERVAL=3"),
    ("every three months", "FREQ=MONTHLY;INTERVAL=3"),
    ("four times a year", "FREQ=MONTHLY;INTERVAL=3"),
    ("every six months", "FREQ=MONTHLY;INTERVAL=6"),
    ("half-yearly", "FREQ=MONTHLY;INTERVAL=6"),
    ("six-monthly", "FREQ=MONTHLY;INTERVAL=6"),
    ("biannually", "FREQ=MONTHLY;INTERVAL=6"),
    ("twice a year", "FREQ=MONTHLY;INTERVAL=6"),
    ("annually", "FREQ=YEARLY"),
    ("yearly", "FREQ=YEARLY"),
    ("every year", "FREQ=YEARLY"),
    ("annual", "FREQ=YEARLY"),
    ("each year", "FREQ=YEARLY"),
    ("once a year", "FREQ=YEARLY"),
    ("every 2 weeks", "FREQ=WEEKLY;INTERVAL=2"),
    ("every 4 months", "FREQ=MONTHLY;INTERVAL=4"),
    ("every 3 years", "FREQ=YEARLY;INTERVAL=3"),
    ("biennially", "FREQ=YEARLY;INTERVAL=2"),
    ("every 10 days", "FREQ=DAILY;INTERVAL=10"),
    ("FREQ=YEARLY;BYMONTH=4", "FREQ=YEARLY;BYMONTH=4"),
    ("RRULE:freq=monthly;bymonthday=-1", "FREQ=MONTHLY;BYMONTHDAY=-1"),
    (
        "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
        "FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=9;BYMINUTE=0;BYSECOND=0",
    ),
    ("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1"),
]


@pytest.mark.parametrize(("text", "rule"), EVERY, ids=[e[0] for e in EVERY])
def test_frequency_grammar(text: str, rule: str) -> None:
    assert parse_every(text) == rule


BAD_EVERY: list[tuple[str, str, str]] = [
    (
        "FREQ=YEARLY;BYMONTH=13",
        "invalid RRULE \"FREQ=YEARLY;BYMONTH=13\": invalid 'BYMONTH': 13 (must be 1 to 12)",
        EVERY_HINT,
    ),
    (
        "FREQ=MONTHLY;INTERVAL=0",
        "invalid RRULE \"FREQ=MONTHLY;INTERVAL=0\": invalid 'INTERVAL': 0 (must be at least 1)",
        EVERY_HINT,
    ),
    (
        "FREQ=MONTHLY;BYMONTHDAY=0",
        "invalid RRULE \"FREQ=MONTHLY;BYMONTHDAY=0\": invalid 'BYMONTHDAY': 0 "
        "(must be 1 to 31 or -31 to -1)",
        EVERY_HINT,
    ),
    (
        "FREQ=FORTNIGHTLY",
        "invalid RRULE \"FREQ=FORTNIGHTLY\": invalid 'FREQ': FORTNIGHTLY",
        EVERY_HINT,
    ),
    (
        "FREQ=WEEKLY;BYDAY=XX",
        "invalid RRULE \"FREQ=WEEKLY;BYDAY=XX\": invalid 'BYDAY': XX",
        EVERY_HINT,
    ),
    (
        "FREQ=DAILY;BYHOUR=25",
        "invalid RRULE \"FREQ=DAILY;BYHOUR=25\": invalid 'BYHOUR': 25 (must be 0 to 23)",
        EVERY_HINT,
    ),
    (
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        'invalid RRULE "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30": it never occurs',
        EVERY_HINT,
    ),
    (
        "BYMONTH=4",
        'invalid RRULE "BYMONTH=4": it needs a FREQ, e.g. "FREQ=YEARLY;BYMONTH=4"',
        EVERY_HINT,
    ),
    (
        "FREQ=DAILY;COUNT=3;UNTIL=20200101",
        'invalid RRULE "FREQ=DAILY;COUNT=3;UNTIL=20200101": COUNT and UNTIL cannot both be given',
        EVERY_HINT,
    ),
    (
        "FREQ=YEARLY;FOO=1",
        "invalid RRULE \"FREQ=YEARLY;FOO=1\": unknown parameter 'FOO'",
        EVERY_HINT,
    ),
    ("monthy", 'cannot read "monthy" as a frequency (did you mean "monthly"?)', 'write "monthly"'),
    ("regularly", 'cannot read "regularly" as a frequency', EVERY_HINT),
    ("", 'cannot read "" as a frequency', EVERY_HINT),
    ("every 0 weeks", 'cannot read "every 0 weeks": an interval must be at least 1', EVERY_HINT),
]


@pytest.mark.parametrize(
    ("text", "message", "hint"), BAD_EVERY, ids=[b[0] or "empty" for b in BAD_EVERY]
)
def test_bad_frequency_is_refused(text: str, message: str, hint: str) -> None:
    with pytest.raises(DateError) as info:
        parse_every(text)
    assert (str(info.value), info.value.hint) == (message, hint)


def test_an_rrule_with_dtstart_is_refused() -> None:
    with pytest.raises(DateError, match="without DTSTART"):
        parse_every("DTSTART:20180430T090000\nRRULE:FREQ=YEARLY")


def test_find_every_in_the_seed_sentences() -> None:
    text = (
        "The Directors will meet quarterly to provide senior level oversight. A monthly "
        "audit will assure staff understanding. This will be subject to an annual review. "
        "It reports to the Head of AIC on a monthly basis, and a six-monthly summary."
    )
    assert find_every(text) == [
        ("quarterly", "FREQ=MONTHLY;INTERVAL=3"),
        ("monthly", "FREQ=MONTHLY"),
        ("annual", "FREQ=YEARLY"),
        ("on a monthly basis", "FREQ=MONTHLY"),
        ("six-monthly", "FREQ=MONTHLY;INTERVAL=6"),
    ]


# -- properties -------------------------------------------------------------------------------

MONTH_NAMES = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
YEARS = st.integers(min_value=1900, max_value=2098)
MONTHS = st.integers(min_value=1, max_value=12)


def _fy_text(y: int) -> str:
    return f"{y}/{(y + 1) % 100:02d}"


PERIOD_TEXTS = st.one_of(
    st.builds(
        lambda m, y, f: f"{f}{MONTH_NAMES[m - 1]} {y}",
        MONTHS,
        YEARS,
        st.sampled_from(["", "by ", "in ", "by the end of ", "early ", "mid-", "late "]),
    ),
    st.builds(
        lambda s, y, f: f"{f}{s} {y}",
        st.sampled_from(["spring", "summer", "autumn", "winter"]),
        YEARS,
        st.sampled_from(["", "by ", "early ", "mid-", "late ", "mid"]),
    ),
    st.builds(
        lambda y, f: f"{f}{y}", YEARS, st.sampled_from(["", "in ", "during ", "early ", "late "])
    ),
    st.builds(
        lambda y, f: f"{f}{_fy_text(y)}",
        YEARS,
        st.sampled_from(["", "FY ", "for ", "the remainder of ", "over the course of "]),
    ),
    st.builds(
        lambda q, y, fy: f"Q{q} {_fy_text(y) if fy else y}",
        st.integers(min_value=1, max_value=4),
        YEARS,
        st.booleans(),
    ),
    st.builds(lambda h, y: f"H{h} {y}", st.integers(min_value=1, max_value=2), YEARS),
    st.builds(
        lambda a, b, y: f"between {MONTH_NAMES[a - 1]} and {MONTH_NAMES[b - 1]} {y}",
        MONTHS,
        MONTHS,
        YEARS,
    ),
    st.builds(
        lambda m, f: f"{f}{MONTH_NAMES[m - 1]}",
        MONTHS,
        st.sampled_from(["", "by ", "from ", "late "]),
    ),
    st.builds(
        lambda n, u: f"within {n} {u}",
        st.integers(min_value=0, max_value=60),
        st.sampled_from(["days", "weeks", "months", "years", "working days"]),
    ),
)


@given(
    text=PERIOD_TEXTS, reference=st.dates(min_value=date(1950, 1, 1), max_value=date(2090, 12, 31))
)
def test_every_period_starts_before_it_ends_and_is_due_at_its_end(
    text: str, reference: date
) -> None:
    p = parse_period(text, reference)
    assert p.start <= p.end
    assert p.due == p.end
    found = find_periods(f"This will be done by {text}.", reference)
    assert found and found[-1][1] == p


@given(month=MONTHS, year=YEARS)
def test_a_month_and_year_ends_on_the_last_day_of_that_month(month: int, year: int) -> None:
    p = parse_period(f"{MONTH_NAMES[month - 1]} {year}")
    assert p.start == date(year, month, 1)
    assert p.end.month == month
    assert (p.end + timedelta(days=1)).day == 1


@given(year=YEARS, quarter=st.integers(min_value=1, max_value=4))
def test_fiscal_quarters_tile_the_financial_year(year: int, quarter: int) -> None:
    q = parse_period(f"Quarter {quarter} of {_fy_text(year)}")
    fy = fiscal_year(year)
    assert fy.start <= q.start <= q.end <= fy.end
    assert q.start == date(year + (quarter == 4), (3 * quarter + 1) % 12 or 12, 1)


@given(reference=st.dates(min_value=date(1950, 1, 1), max_value=date(2090, 12, 31)), month=MONTHS)
def test_a_month_without_a_year_is_the_next_one_after_the_reference_month(
    reference: date, month: int
) -> None:
    p = parse_period(f"by {MONTH_NAMES[month - 1]}", reference)
    assert p.start.month == month
    assert (reference.year, reference.month) < (p.start.year, p.start.month)
    assert p.start.year - reference.year <= 1


SOUP_WORDS = [
    "by",
    "the",
    "end",
    "of",
    "March",
    "Feb",
    "29",
    "31",
    "0",
    "2018",
    "9999",
    "2099/00",
    "2018/19",
    "2018-19",
    "Q4",
    "Q0",
    "quarter",
    "H1",
    "H3",
    "first",
    "half",
    "between",
    "and",
    "to",
    "\u2013",
    "-",
    "from",
    "within",
    "next",
    "12",
    "months",
    "working",
    "days",
    "seven",
    "a",
    "fortnight",
    "mid",
    "early",
    "late",
    "summer",
    "winter",
    "/",
    "2019/2021",
    "FY",
    "30th",
    "April",
    "May",
    "Monday",
    "P3M",
    "in",
    "over",
    "course",
    "2018-02-29",
    "2020-02-29",
    ",",
    ".",
    "every",
    "monthly",
    "FREQ=DAILY",
    "BYMONTH=13",
    ";",
    "99999999999",
]
SOUP = st.lists(st.sampled_from(SOUP_WORDS), max_size=8).map(" ".join)


@given(text=st.one_of(SOUP, st.text(max_size=30)), reference=st.one_of(st.none(), st.dates()))
def test_any_text_gives_a_value_or_a_date_error_never_a_crash(
    text: str, reference: date | None
) -> None:
    for read in (
        lambda: parse_period(text, reference),
        lambda: parse_span(text),
        lambda: parse_every(text),
    ):
        with contextlib.suppress(DateError):
            read()
    for _, p in find_periods(text, reference):
        assert p.start <= p.end
    find_spans(text)
    find_every(text)


# -- periods named from the reference date, seasons without a year, numeric dates ------------


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("by the end of the year", "2018-01-01", "2018-12-31"),
        ("by the end of this year", "2018-01-01", "2018-12-31"),
        ("later this year", "2018-01-30", "2018-12-31"),
        ("next year", "2019-01-01", "2019-12-31"),
        ("by the end of the financial year", "2017-04-01", "2018-03-31"),
        ("during this financial year", "2017-04-01", "2018-03-31"),
        ("in the next financial year", "2018-04-01", "2019-03-31"),
        ("by the end of the calendar year", "2018-01-01", "2018-12-31"),
        ("by spring", "2018-03-01", "2018-05-31"),
        ("in the autumn", "2018-09-01", "2018-11-30"),
        ("by mid-summer", "2018-07-01", "2018-07-31"),
        ("by 31/03/2019", "2019-03-31", "2019-03-31"),
        ("by 5.4.2019", "2019-04-05", "2019-04-05"),
    ],
)
def test_periods_named_from_the_reference_date(text: str, start: str, end: str) -> None:
    assert window(text, PUBLISHED_000) == (d(start), d(end))
    [(words, period)] = find_periods(f"We will do this {text}.", PUBLISHED_000)
    assert words == text and (period.start, period.end) == (d(start), d(end))


def test_a_financial_year_named_from_a_date_in_its_last_quarter() -> None:
    assert window("this financial year", date(2021, 1, 11)) == (d("2020-04-01"), d("2021-03-31"))
    assert window("this financial year", date(2021, 4, 1)) == (d("2021-04-01"), d("2022-03-31"))


@pytest.mark.parametrize(
    "text",
    [
        "during the year to March we processed 500 cases",  # a year ending: no cue "end"
        "the year ending 31 March",
        "in the year 2018/19",
        "We will spring into action",
        "paragraph 1.3 and 31/13/2019",
    ],
)
def test_what_is_not_a_named_year_or_season(text: str) -> None:
    found = [words for words, _ in find_periods(text, PUBLISHED_000)]
    assert not any(w in ("the year", "spring", "31/13/2019") for w in found), found
