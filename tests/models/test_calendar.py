"""UK working days: bank holidays per nation and working-day arithmetic."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.calendar import NATIONS, CalendarError, WorkingCalendar, calendar_for

ENGLAND = calendar_for("england-and-wales")
SCOTLAND = calendar_for("scotland")
NORTHERN_IRELAND = calendar_for("northern-ireland")

MAUNDY_THURSDAY_2018 = date(2018, 3, 29)
GOOD_FRIDAY_2018 = date(2018, 3, 30)
EASTER_MONDAY_2018 = date(2018, 4, 2)


# -- which days are working days ---------------------------------------------------------


def test_good_friday_and_easter_monday_2018_are_not_working_days() -> None:
    assert not ENGLAND.is_working_day(GOOD_FRIDAY_2018)
    assert not ENGLAND.is_working_day(EASTER_MONDAY_2018)
    assert ENGLAND.is_working_day(MAUNDY_THURSDAY_2018)
    assert ENGLAND.holiday_name(GOOD_FRIDAY_2018) == "Good Friday"
    assert ENGLAND.holiday_name(EASTER_MONDAY_2018) == "Easter Monday"


def test_weekends_are_not_working_days() -> None:
    assert not ENGLAND.is_working_day(date(2018, 1, 27))  # Saturday
    assert not ENGLAND.is_working_day(date(2018, 1, 28))  # Sunday
    assert ENGLAND.is_working_day(date(2018, 1, 30))  # publication day of seeds 000 and 002


def test_boxing_day_2020_substitute_is_monday_28th() -> None:
    # Boxing Day 2020 fell on a Saturday; the bank holiday moved to Monday 28 December.
    assert ENGLAND.holiday_name(date(2020, 12, 26)) == "Boxing Day"
    assert ENGLAND.holiday_name(date(2020, 12, 28)) == "Boxing Day (observed)"
    assert not ENGLAND.is_working_day(date(2020, 12, 28))
    assert ENGLAND.is_working_day(date(2020, 12, 29))


def test_christmas_2022_on_sunday_moves_to_tuesday_27th() -> None:
    assert not ENGLAND.is_working_day(date(2022, 12, 26))
    assert ENGLAND.holiday_name(date(2022, 12, 27)) == "Christmas Day (observed)"
    assert ENGLAND.is_working_day(date(2022, 12, 28))


def test_one_off_bank_holidays_state_funeral_2022_and_coronation_2023() -> None:
    for cal in (ENGLAND, SCOTLAND, NORTHERN_IRELAND):
        assert not cal.is_working_day(date(2022, 9, 19))
        assert not cal.is_working_day(date(2023, 5, 8))


def test_scotland_has_2_january() -> None:
    assert not SCOTLAND.is_working_day(date(2018, 1, 2))
    assert ENGLAND.is_working_day(date(2018, 1, 2))
    assert SCOTLAND.holiday_name(date(2018, 1, 2)) == "New Year Holiday"


def test_scotland_has_no_easter_monday_but_has_st_andrews_day() -> None:
    assert SCOTLAND.is_working_day(EASTER_MONDAY_2018)
    assert not SCOTLAND.is_working_day(date(2018, 11, 30))
    assert ENGLAND.is_working_day(date(2018, 11, 30))


def test_scotland_summer_bank_holiday_is_first_monday_of_august() -> None:
    assert not SCOTLAND.is_working_day(date(2018, 8, 6))
    assert SCOTLAND.is_working_day(date(2018, 8, 27))
    assert not ENGLAND.is_working_day(date(2018, 8, 27))


def test_northern_ireland_has_st_patricks_day_and_the_boyne() -> None:
    assert not NORTHERN_IRELAND.is_working_day(date(2021, 3, 17))
    assert not NORTHERN_IRELAND.is_working_day(date(2021, 7, 12))
    assert ENGLAND.is_working_day(date(2021, 3, 17))
    assert ENGLAND.is_working_day(date(2021, 7, 12))


def test_an_ordinary_day_has_no_holiday_name() -> None:
    assert ENGLAND.holiday_name(date(2018, 4, 3)) is None
    assert ENGLAND.holiday_name(date(2018, 3, 31)) is None  # a Saturday, but not a holiday


# -- arithmetic ----------------------------------------------------------------------------


def test_one_working_day_after_a_thursday_is_the_friday() -> None:
    assert ENGLAND.add_working_days(date(2018, 1, 25), 1) == date(2018, 1, 26)


def test_one_working_day_after_a_friday_is_the_monday() -> None:
    assert ENGLAND.add_working_days(date(2018, 1, 26), 1) == date(2018, 1, 29)


def test_one_working_day_after_maundy_thursday_2018_is_easter_tuesday() -> None:
    assert ENGLAND.add_working_days(MAUNDY_THURSDAY_2018, 1) == date(2018, 4, 3)


def test_seven_working_days_from_maundy_thursday_2018_skip_easter() -> None:
    # Counting from the day after: Tue 3, Wed 4, Thu 5, Fri 6, Mon 9, Tue 10, Wed 11 April.
    assert ENGLAND.add_working_days(MAUNDY_THURSDAY_2018, 7) == date(2018, 4, 11)
    assert ENGLAND.working_days_between(MAUNDY_THURSDAY_2018, date(2018, 4, 11)) == 7


def test_seven_working_days_from_maundy_thursday_2018_in_scotland_count_easter_monday() -> None:
    assert SCOTLAND.add_working_days(MAUNDY_THURSDAY_2018, 7) == date(2018, 4, 10)


def test_counting_starts_the_day_after_even_from_a_holiday() -> None:
    assert ENGLAND.add_working_days(GOOD_FRIDAY_2018, 1) == date(2018, 4, 3)
    assert ENGLAND.add_working_days(date(2018, 3, 31), 1) == date(2018, 4, 3)  # Saturday


def test_negative_working_days_count_back() -> None:
    assert ENGLAND.add_working_days(date(2018, 4, 3), -1) == MAUNDY_THURSDAY_2018
    assert ENGLAND.add_working_days(date(2018, 4, 11), -7) == MAUNDY_THURSDAY_2018
    assert ENGLAND.add_working_days(date(2018, 1, 29), -1) == date(2018, 1, 26)  # Mon -> Fri
    assert ENGLAND.add_working_days(EASTER_MONDAY_2018, -1) == MAUNDY_THURSDAY_2018


def test_zero_working_days_rolls_forward() -> None:
    assert ENGLAND.add_working_days(GOOD_FRIDAY_2018, 0) == date(2018, 4, 3)
    assert ENGLAND.add_working_days(MAUNDY_THURSDAY_2018, 0) == MAUNDY_THURSDAY_2018


def test_roll_forward_and_back_over_easter_2018() -> None:
    assert ENGLAND.roll_forward(GOOD_FRIDAY_2018) == date(2018, 4, 3)
    assert ENGLAND.roll_back(EASTER_MONDAY_2018) == MAUNDY_THURSDAY_2018
    assert ENGLAND.roll_forward(date(2018, 4, 3)) == date(2018, 4, 3)
    assert ENGLAND.roll_back(date(2018, 4, 3)) == date(2018, 4, 3)


def test_christmas_2020_working_days_skip_the_boxing_day_substitute() -> None:
    # Thu 24 Dec 2020 + 1: Fri 25 (Christmas), Sat, Sun, Mon 28 (Boxing Day observed) -> Tue 29.
    assert ENGLAND.add_working_days(date(2020, 12, 24), 1) == date(2020, 12, 29)


def test_working_days_across_new_year_in_scotland_skip_1_and_2_january() -> None:
    assert SCOTLAND.add_working_days(date(2018, 12, 31), 1) == date(2019, 1, 3)
    assert ENGLAND.add_working_days(date(2018, 12, 31), 1) == date(2019, 1, 2)


def test_working_days_between_is_negative_backwards_and_zero_on_the_same_day() -> None:
    assert ENGLAND.working_days_between(date(2018, 4, 11), MAUNDY_THURSDAY_2018) == -7
    assert ENGLAND.working_days_between(GOOD_FRIDAY_2018, GOOD_FRIDAY_2018) == 0
    # (Thu, Tue]: only the Tuesday counts
    assert ENGLAND.working_days_between(MAUNDY_THURSDAY_2018, date(2018, 4, 3)) == 1


def test_a_year_of_working_days_in_england_2018() -> None:
    # 261 weekdays in 2018, minus 8 bank holidays that fall on weekdays
    assert ENGLAND.working_days_between(date(2017, 12, 31), date(2018, 12, 31)) == 253


def test_large_spans_of_working_days_far_from_the_cached_years() -> None:
    start = date(2018, 1, 30)
    far = ENGLAND.add_working_days(start, 10_000)
    assert ENGLAND.working_days_between(start, far) == 10_000
    assert ENGLAND.add_working_days(far, -10_000) == start
    assert ENGLAND.add_working_days(date(1975, 6, 2), 1) == date(1975, 6, 3)


def test_working_days_in_easter_week_2018() -> None:
    days = ENGLAND.working_days_in(MAUNDY_THURSDAY_2018, date(2018, 4, 4))
    assert days == [MAUNDY_THURSDAY_2018, date(2018, 4, 3), date(2018, 4, 4)]
    assert ENGLAND.working_days_in(date(2018, 4, 4), MAUNDY_THURSDAY_2018) == []


# -- names -----------------------------------------------------------------------------------


def test_calendar_for_returns_one_shared_calendar_per_nation() -> None:
    assert calendar_for("scotland") is calendar_for(" Scotland ")
    assert calendar_for("england-and-wales") == WorkingCalendar()
    assert {calendar_for(n).nation for n in NATIONS} == set(NATIONS)


def test_unknown_calendar_name_lists_the_valid_ones() -> None:
    with pytest.raises(CalendarError) as info:
        calendar_for("wales")
    assert str(info.value) == (
        'unknown working-day calendar "wales": use one of "england-and-wales", "scotland", '
        '"northern-ireland"'
    )
    assert isinstance(info.value, ValueError)


def test_working_calendar_rejects_an_unknown_nation() -> None:
    with pytest.raises(CalendarError):
        WorkingCalendar("ENG")


# -- properties, against a plain day-by-day count ----------------------------------------------

DATES = st.dates(min_value=date(1990, 1, 1), max_value=date(2060, 12, 31))
NATION = st.sampled_from(sorted(NATIONS))


def _step_by_step(cal: WorkingCalendar, d: date, n: int) -> date:
    step = timedelta(days=1 if n > 0 else -1)
    if n == 0:
        while not cal.is_working_day(d):
            d += timedelta(days=1)
        return d
    left = abs(n)
    while left:
        d += step
        if cal.is_working_day(d):
            left -= 1
    return d


@given(nation=NATION, d=DATES, n=st.integers(min_value=-400, max_value=400))
def test_add_working_days_agrees_with_counting_day_by_day(nation: str, d: date, n: int) -> None:
    cal = calendar_for(nation)
    result = cal.add_working_days(d, n)
    assert result == _step_by_step(cal, d, n)
    assert cal.is_working_day(result)
    if n > 0 or (n < 0 and cal.is_working_day(d)):
        assert cal.working_days_between(d, result) == n
    elif n < 0:  # d itself is not a working day, so (result, d] holds one fewer
        assert cal.working_days_between(d, result) == n + 1


@given(nation=NATION, d=DATES, gap=st.integers(min_value=-60, max_value=60))
def test_working_days_between_counts_start_exclusive_end_inclusive(
    nation: str, d: date, gap: int
) -> None:
    cal = calendar_for(nation)
    end = d + timedelta(days=gap)
    lo, hi = min(d, end), max(d, end)
    count = sum(cal.is_working_day(lo + timedelta(days=i)) for i in range(1, (hi - lo).days + 1))
    assert cal.working_days_between(d, end) == (count if end >= d else -count)


@given(nation=NATION, d=DATES)
def test_rolls_land_on_the_nearest_working_day(nation: str, d: date) -> None:
    cal = calendar_for(nation)
    forward, back = cal.roll_forward(d), cal.roll_back(d)
    assert cal.is_working_day(forward) and cal.is_working_day(back)
    assert back <= d <= forward
    assert (forward == d) == cal.is_working_day(d) == (back == d)
    assert cal.working_days_between(back, forward) in (0, 1)
