"""UK working days: weekdays that are not bank holidays in a given nation.

The three UK bank-holiday calendars differ: Scotland has 2 January and
St Andrew's Day but no Easter Monday, Northern Ireland adds St Patrick's Day
and the Battle of the Boyne. Holidays come from the ``holidays`` package
(``country_holidays("GB", subdiv=...)``), including substitute ("observed")
days and one-off days such as the 2022 State Funeral.

Everything here is pure and fast: holidays are cached per (nation, year) as
frozensets, and working-day arithmetic uses a lazily grown per-nation table of
working-day ordinals, so :meth:`WorkingCalendar.add_working_days` costs a few
list look-ups however large ``n`` is.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from functools import cache

import holidays

__all__ = ["NATIONS", "CalendarError", "WorkingCalendar", "calendar_for"]

NATIONS: dict[str, str] = {
    "england-and-wales": "ENG",
    "scotland": "SCT",
    "northern-ireland": "NIR",
}
"""Calendar names accepted by :func:`calendar_for`, mapped to ``holidays`` subdivisions."""


class CalendarError(ValueError):
    """Raised when a calendar name is unknown."""

    def __init__(self, name: str) -> None:
        self.name = name
        valid = ", ".join(f'"{n}"' for n in NATIONS)
        super().__init__(f'unknown working-day calendar "{name}": use one of {valid}')


@cache
def _holiday_names(subdiv: str, year: int) -> dict[date, str]:
    """Bank holidays of one nation and year, by date (cached; treat as read-only)."""
    return dict(holidays.country_holidays("GB", subdiv=subdiv, years=year))


@cache
def _holiday_dates(subdiv: str, year: int) -> frozenset[date]:
    """The dates of :func:`_holiday_names`, as a frozenset (cached)."""
    return frozenset(_holiday_names(subdiv, year))


class _Table:
    """Working days of one nation for the whole years ``first..last``, as ordinals.

    ``count[i]`` is the number of working days in ``[base, base + i]`` and
    ``days`` lists the ordinals of the working days in order, so the k-th
    working day (1-based) of the table is ``days[k - 1]``.
    """

    __slots__ = ("base", "count", "days", "first", "last", "limit")

    def __init__(self, subdiv: str, first: int, last: int) -> None:
        self.first = first
        self.last = last
        self.base = date(first, 1, 1).toordinal()
        self.limit = date(last, 12, 31).toordinal()
        off: set[int] = set()
        for year in range(first, last + 1):
            off.update(d.toordinal() for d in _holiday_dates(subdiv, year))
        count: list[int] = []
        days: list[int] = []
        n = 0
        for o in range(self.base, self.limit + 1):
            # date.weekday() == (ordinal + 6) % 7; Mon-Fri are 0..4
            if (o + 6) % 7 < 5 and o not in off:
                n += 1
                days.append(o)
            count.append(n)
        self.count = count
        self.days = days


_TABLES: dict[str, _Table] = {}
_LOCK = threading.Lock()
_MIN_YEAR = 1
_MAX_YEAR = 9999


def _table(subdiv: str, first: int, last: int) -> _Table:
    """A table for ``subdiv`` covering at least the years ``first..last``."""
    with _LOCK:
        t = _TABLES.get(subdiv)
        if t is not None and t.first <= first and t.last >= last:
            return t
        if t is not None:
            first, last = min(first, t.first), max(last, t.last)
        first, last = max(first, _MIN_YEAR), min(last, _MAX_YEAR)
        t = _Table(subdiv, first, last)
        _TABLES[subdiv] = t
        return t


@dataclass(frozen=True)
class WorkingCalendar:
    """Working days (Monday to Friday, not a bank holiday) of one UK nation.

    ``nation`` is a key of :data:`NATIONS`; an unknown one raises
    :class:`CalendarError`. Prefer :func:`calendar_for`, which returns a shared
    instance.

    >>> cal = WorkingCalendar()
    >>> cal.add_working_days(date(2018, 3, 29), 7)   # Maundy Thursday 2018
    datetime.date(2018, 4, 11)
    """

    nation: str = "england-and-wales"

    def __post_init__(self) -> None:
        if self.nation not in NATIONS:
            raise CalendarError(self.nation)

    # -- internals ---------------------------------------------------------

    def _table_for(self, o: int) -> _Table:
        subdiv = NATIONS[self.nation]
        t = _TABLES.get(subdiv)
        if t is not None and t.base <= o <= t.limit:
            return t
        year = date.fromordinal(o).year
        return _table(subdiv, year - 1, year + 1)

    # -- queries -----------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` is a weekday and not a bank holiday in this nation.

        A holiday that falls on a weekend is not a working day either way; its
        substitute weekday (e.g. Monday 28 December 2020 for Boxing Day) is
        what makes the difference.

        >>> cal = WorkingCalendar()
        >>> cal.is_working_day(date(2018, 3, 30)), cal.is_working_day(date(2018, 3, 29))
        (False, True)
        """
        o = d.toordinal()
        if (o + 6) % 7 >= 5:
            return False
        return d not in _holiday_dates(NATIONS[self.nation], d.year)

    def holiday_name(self, d: date) -> str | None:
        """The name of the bank holiday on ``d`` in this nation, or ``None``.

        Weekend holidays keep their name (Saturday 26 December 2020 is "Boxing
        Day"); the substitute weekday is named "... (observed)".

        >>> WorkingCalendar().holiday_name(date(2020, 12, 28))
        'Boxing Day (observed)'
        >>> WorkingCalendar().holiday_name(date(2020, 12, 29)) is None
        True
        """
        return _holiday_names(NATIONS[self.nation], d.year).get(d)

    # -- arithmetic --------------------------------------------------------

    def roll_forward(self, d: date) -> date:
        """``d`` if it is a working day, else the next working day after it.

        >>> WorkingCalendar().roll_forward(date(2018, 3, 30))   # Good Friday
        datetime.date(2018, 4, 3)
        """
        return self.add_working_days(d, 0)

    def roll_back(self, d: date) -> date:
        """``d`` if it is a working day, else the last working day before it.

        >>> WorkingCalendar().roll_back(date(2018, 4, 2))   # Easter Monday
        datetime.date(2018, 3, 29)
        """
        if self.is_working_day(d):
            return d
        return self.add_working_days(d, -1)

    def add_working_days(self, d: date, n: int) -> date:
        """The ``n``-th working day after ``d`` (before it when ``n`` is negative).

        Counting starts from the day after ``d``, whatever ``d`` is: adding 1 to
        a Thursday gives the Friday, adding 1 to a Saturday gives the Monday,
        and ``-1`` from a Monday gives the Friday before. ``n == 0`` rolls
        ``d`` forward to a working day (see :meth:`roll_forward`).

        >>> cal = WorkingCalendar()
        >>> cal.add_working_days(date(2018, 3, 29), 1)   # Good Friday, Easter Monday skipped
        datetime.date(2018, 4, 3)
        >>> cal.add_working_days(date(2018, 4, 3), -1)
        datetime.date(2018, 3, 29)
        """
        o = d.toordinal()
        t = self._table_for(o)
        while True:
            c = t.count[o - t.base]  # working days in [base, d]
            if n > 0:
                k = c + n - 1
            elif n == 0:
                if c and t.days[c - 1] == o:
                    return d
                k = c
            else:
                k = c + n - (1 if c and t.days[c - 1] == o else 0)
            if 0 <= k < len(t.days):
                return date.fromordinal(t.days[k])
            # the answer lies outside the table: grow it and try again
            years = abs(n) // 250 + 2
            subdiv = NATIONS[self.nation]
            if k < 0:
                if t.first <= _MIN_YEAR:
                    raise OverflowError("date out of range")
                t = _table(subdiv, t.first - years, t.last)
            else:
                if t.last >= _MAX_YEAR:
                    raise OverflowError("date out of range")
                t = _table(subdiv, t.first, t.last + years)

    def working_days_between(self, start: date, end: date) -> int:
        """The number of working days in ``(start, end]``; negative if ``end < start``.

        ``start`` itself is not counted and ``end`` is. When ``end < start`` the
        result is minus the count in ``(end, start]``, so it is the inverse of
        :meth:`add_working_days` (``add_working_days(start, n) == end``) when
        ``end`` is a working day after ``start``, or both are working days; from
        a Saturday, one working day back is the Thursday when Friday is a
        holiday, yet no working day lies in (Thursday, Saturday].

        >>> cal = WorkingCalendar()
        >>> cal.working_days_between(date(2018, 3, 29), date(2018, 4, 11))
        7
        >>> cal.working_days_between(date(2018, 4, 11), date(2018, 3, 29))
        -7
        """
        a, b = start.toordinal(), end.toordinal()
        lo, hi = (a, b) if a <= b else (b, a)
        t = self._table_for(lo)
        if hi > t.limit:
            t = _table(NATIONS[self.nation], t.first, date.fromordinal(hi).year)
        return t.count[b - t.base] - t.count[a - t.base]

    def working_days_in(self, start: date, end: date) -> list[date]:
        """The working days in ``[start, end]`` (both ends included), in order.

        >>> [d.day for d in WorkingCalendar().working_days_in(date(2018, 3, 29), date(2018, 4, 4))]
        [29, 3, 4]
        """
        if end < start:
            return []
        a, b = start.toordinal(), end.toordinal()
        t = self._table_for(a)
        if b > t.limit:
            t = _table(NATIONS[self.nation], t.first, end.year)
        i = bisect_right(t.days, a - 1)
        j = bisect_right(t.days, b)
        return [date.fromordinal(o) for o in t.days[i:j]]


_CALENDARS: dict[str, WorkingCalendar] = {name: WorkingCalendar(name) for name in NATIONS}


def calendar_for(name: str) -> WorkingCalendar:
    """The shared :class:`WorkingCalendar` for a nation name such as ``"scotland"``.

    Names are the keys of :data:`NATIONS` (case and surrounding spaces are
    ignored); anything else raises :class:`CalendarError`, whose message lists
    the valid names.

    >>> calendar_for("Scotland").nation
    'scotland'
    >>> try:
    ...     calendar_for("wales")
    ... except CalendarError as e:
    ...     print(e)  # doctest: +NORMALIZE_WHITESPACE
    unknown working-day calendar "wales":
    use one of "england-and-wales", "scotland", "northern-ireland"
    """
    cal = _CALENDARS.get(name.strip().lower()) if isinstance(name, str) else None
    if cal is None:
        raise CalendarError(str(name))
    return cal
