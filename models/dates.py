"""The UK-government date grammar: periods, lengths of time and frequencies.

One grammar reads the dates in rule files (:func:`parse_period`,
:func:`parse_span`, :func:`parse_every`) and finds them in response documents
(:func:`find_periods`, :func:`find_spans`, :func:`find_every`). Both sides are
built from the same regular-expression building blocks, so a phrase that
extraction finds is a phrase that validation accepts, with the same meaning.

Conventions (those of ``seeds/GOLD-NOTES.md``):

* A fuzzy period resolves to a window plus a due date, the last day of the
  window: "by April 2018" is 1-30 April 2018, due 30 April.
* "end of March 2018" is the whole of March (due 31 March), as is "by March 2018".
* Seasons are meteorological: spring March-May, summer June-August, autumn
  September-November, winter December-February (so "winter 2018" and
  "winter 2018/19" both run from December 2018 to February 2019).
* "2018" is a calendar year; "2018/19" (or "2018-19", "2018/2019",
  "FY 2018/19") is a UK financial year, 1 April 2018 to 31 March 2019. Quarters
  and halves of a financial year count from April; of a plain year, from January.
* A month without a year is the next such month strictly after the month of
  the reference date (usually the publication date).
* "within six months", "over the next 12 months" run from the reference date.
* "this year", "next year" and "by the end of the year" are calendar years
  counted from the reference date; "this financial year" is the one the
  reference date falls in; "later this year" runs from the reference date to
  31 December. A season without a year ("by the summer") is the next one that
  starts after the reference month, as for months.
* Dates written in numbers are day first, as in the UK: "31/03/2019".

Nothing here reads the clock: every relative expression needs an explicit
reference date.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rrulestr

from models.calendar import WorkingCalendar, calendar_for

__all__ = [
    "DateError",
    "Period",
    "Span",
    "find_every",
    "find_periods",
    "find_spans",
    "fiscal_year",
    "midpoint",
    "parse_every",
    "parse_period",
    "parse_span",
]

PERIOD_HINT = (
    'write a date like 2018-04-30, a month like "April 2018", '
    'or a period like "Quarter 4 of 2020/21"'
)
SPAN_HINT = 'write a length like "3 months", "P14D", "two years" or "7 working days"'
EVERY_HINT = (
    'write a frequency like "monthly", "quarterly", "every 2 weeks", '
    'or an RRULE like "FREQ=YEARLY;BYMONTH=4"'
)
_NO_YEAR_HINT = 'add the year, e.g. "February 2018", or pass a reference date'
_NO_REFERENCE_HINT = "pass the reference date it counts from (e.g. the publication date)"


class DateError(ValueError):
    """Raised when a date expression cannot be read.

    ``text`` is the expression as given and ``hint`` a short suggested fix,
    suitable for showing under the error.
    """

    def __init__(self, message: str, *, text: str = "", hint: str = PERIOD_HINT) -> None:
        super().__init__(message)
        self.text = text
        self.hint = hint


# ---------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A window of whole days, ``start`` to ``end`` inclusive, read from ``text``.

    A fuzzy period ("by Autumn 2018") resolves to its window plus a due date,
    which is always the last day of the window. Two periods are equal when
    their windows are: ``text`` is kept for messages but not compared.

    >>> p = parse_period("by Autumn 2018")
    >>> p.start, p.due
    (datetime.date(2018, 9, 1), datetime.date(2018, 11, 30))
    """

    start: date
    end: date
    text: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"a period cannot end ({self.end}) before it starts ({self.start})")

    @property
    def due(self) -> date:
        """The date the period is due: its last day (``end``)."""
        return self.end

    @property
    def days(self) -> int:
        """The number of days in the window, both ends included."""
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class Span:
    """A length of time: calendar years, months, weeks and days, plus working days.

    Calendar parts follow :class:`dateutil.relativedelta.relativedelta`: a month
    after 31 January is the last day of February, not 3 March. Working days are
    counted on a :class:`~models.calendar.WorkingCalendar`, after the calendar
    parts. ``text`` is the wording it was read from and is not compared.

    >>> Span(months=3).after(date(2018, 1, 31))
    datetime.date(2018, 4, 30)
    >>> Span(months=1).after(date(2020, 1, 31))
    datetime.date(2020, 2, 29)
    >>> Span(working_days=7).after(date(2018, 3, 29))   # skips Good Friday and Easter Monday
    datetime.date(2018, 4, 11)
    """

    years: int = 0
    months: int = 0
    weeks: int = 0
    days: int = 0
    working_days: int = 0
    text: str = field(default="", compare=False)

    def _delta(self) -> relativedelta:
        return relativedelta(
            years=self.years, months=self.months, weeks=self.weeks, days=self.days
        )

    def after(self, d: date, calendar: WorkingCalendar | None = None) -> date:
        """The date this span after ``d``: calendar parts first, then working days.

        Month ends clip (31 January + 1 month = 28 or 29 February) and are not
        restored by a later step. Working days count from the day after, on
        ``calendar`` (England and Wales when ``None``); see
        :meth:`WorkingCalendar.add_working_days`. A span of 0 working days
        leaves the date alone (it is not rolled to a working day).

        >>> Span(years=1).after(date(2020, 2, 29))
        datetime.date(2021, 2, 28)
        """
        out: date = d + self._delta()
        if self.working_days:
            cal = calendar if calendar is not None else calendar_for("england-and-wales")
            out = cal.add_working_days(out, self.working_days)
        return out

    def before(self, d: date, calendar: WorkingCalendar | None = None) -> date:
        """The date this span before ``d``: working days first, then calendar parts.

        The reverse order of :meth:`after`, but because month ends clip,
        ``span.before(span.after(d))`` is not always ``d`` (31 March - 1 month
        = 28 February, + 1 month = 28 March).

        >>> Span(months=1).before(date(2018, 3, 31))
        datetime.date(2018, 2, 28)
        """
        out = d
        if self.working_days:
            cal = calendar if calendar is not None else calendar_for("england-and-wales")
            out = cal.add_working_days(out, -self.working_days)
        result: date = out - self._delta()
        return result

    def iso(self) -> str:
        """The span as an ISO 8601 duration, e.g. ``"P3M"``, ``"P14D"``, ``"P1Y6M"``.

        ISO 8601 has no business-day unit, so working days are written as days
        (``"P7D"`` for seven working days, as the gold files do): the result is
        a label, not a lossless encoding. Weeks are written ``"P2W"`` alone and
        folded into days when mixed with other parts.

        >>> parse_span("7 working days").iso(), parse_span("P1Y6M").iso(), Span().iso()
        ('P7D', 'P1Y6M', 'P0D')
        """
        days = self.days + self.working_days
        if self.weeks and not (self.years or self.months or days):
            return f"P{self.weeks}W"
        days += 7 * self.weeks
        out = "P"
        for n, unit in ((self.years, "Y"), (self.months, "M"), (days, "D")):
            if n:
                out += f"{n}{unit}"
        return out if out != "P" else "P0D"


def midpoint(start: date, end: date) -> date:
    """The day halfway from ``start`` to ``end``, rounded towards ``start``.

    >>> midpoint(date(2018, 1, 31), date(2018, 4, 30))
    datetime.date(2018, 3, 16)
    """
    return start + (end - start) // 2


def fiscal_year(start_year: int) -> Period:
    """The UK financial year that starts in ``start_year``: 1 April to 31 March.

    >>> fiscal_year(2020)
    Period(start=datetime.date(2020, 4, 1), end=datetime.date(2021, 3, 31), text='2020/21')
    """
    return Period(
        date(start_year, 4, 1),
        date(start_year + 1, 3, 31),
        f"{start_year}/{(start_year + 1) % 100:02d}",
    )


# ---------------------------------------------------------------------------
# Vocabulary
# ---------------------------------------------------------------------------

_MONTHS: dict[str, int] = {
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
    "jan": 1,
    "feb": 2,
    "mar": 3,
    "apr": 4,
    "jun": 6,
    "jul": 7,
    "aug": 8,
    "sep": 9,
    "sept": 9,
    "oct": 10,
    "nov": 11,
    "dec": 12,
}
_MONTH_NAMES = [
    "",
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
_WEEKDAYS: dict[str, int] = {
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
    "mon": 0,
    "tue": 1,
    "tues": 1,
    "wed": 2,
    "thu": 3,
    "thur": 3,
    "thurs": 3,
    "fri": 4,
    "sat": 5,
    "sun": 6,
}
_WEEKDAY_NAMES = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
_SEASONS: dict[str, int] = {"spring": 3, "summer": 6, "autumn": 9, "fall": 9, "winter": 12}

_UNITS_WORDS: dict[str, int] = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS_WORDS: dict[str, int] = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_ORDINALS: dict[str, int] = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
    "twentieth": 20,
    "final": -1,
    "last": -1,
}


def _words(words: Mapping[str, object] | list[str]) -> str:
    """``words`` as a regex alternation, longest first (without a group or boundary)."""
    return "|".join(sorted(words, key=lambda w: (-len(w), w)))


def _alts(words: Mapping[str, object] | list[str]) -> str:
    """A regex group of ``words``, longest first, ending at a word boundary."""
    return f"(?:{_words(words)})\\b"


def _number(text: str) -> int:
    """The value of a number written in digits or words ("14", "fourteen", "a", "twenty-one")."""
    t = re.sub(r"[\s-]+", " ", text.strip().lower())
    if t.isdigit():
        return int(t)
    if t in ("a", "an", "one"):
        return 1
    if t in _UNITS_WORDS:
        return _UNITS_WORDS[t]
    if t in _ORDINALS:
        return _ORDINALS[t]
    if t[:-2].isdigit() and t[-2:] in ("st", "nd", "rd", "th"):
        return int(t[:-2])
    tens, _, unit = t.partition(" ")
    return _TENS_WORDS[tens] + (_UNITS_WORDS[unit] if unit else 0)


# ---------------------------------------------------------------------------
# Regex building blocks (shared by parsing and scanning)
# ---------------------------------------------------------------------------

_MON = _alts(_MONTHS) + r"(?:\.(?=\s*\d))?"
_WEEKDAY = _alts(_WEEKDAYS)
_SEASON = _alts(_SEASONS)
_NUM = (
    rf"(?:\d+(?![\d,.]\d)|(?:{_words(_TENS_WORDS)})(?:[\s-](?:{_words(_UNITS_WORDS)}))?"
    rf"|{_words(_UNITS_WORDS)}|an?)\b"
)
_ORD = rf"(?:\d+(?:st|nd|rd|th)?|{_words(_ORDINALS)})\b"
_UNIT = (
    r"(?:(?:calendar\s+)?days?|(?:working|business)\s+days?|weeks?|fortnights?"
    r"|months?|years?|quarters?)\b"
)
_SPAN_PART = (
    rf"(?:{_NUM}[\s-]+{_UNIT}|half[\s-]+an?\s+year\b|half[\s-]year\b"
    rf"|(?:working|business)\s+day\s+{_NUM}|(?:the\s+)?{_ORD}\s+(?:working|business)\s+day\b)"
)
_ISO_DURATION = r"P(?=\d)(?:\d+Y)?(?:\d+M)?(?:\d+W)?(?:\d+D)?(?![\w])"
_SPAN_QUALIFIER = (
    r"(?:at\s+least|at\s+most|up\s+to|no\s+more\s+than|no\s+less\s+than"
    r"|a\s+minimum\s+of|a\s+maximum\s+of|about|around|approximately|roughly)"
)
_SPAN = (
    rf"(?:(?:{_SPAN_QUALIFIER}\s+)?(?:{_SPAN_PART}(?:\s*,\s*(?:and\s+)?{_SPAN_PART}"
    rf"|\s+and\s+{_SPAN_PART})*)|{_ISO_DURATION})"
)
# named version, used to read the parts of a span once the whole has matched
_SPAN_PART_NAMED = re.compile(
    rf"(?P<num>{_NUM})[\s-]+(?P<unit>{_UNIT})"
    rf"|(?P<half>half[\s-]+an?\s+year\b|half[\s-]year\b)"
    rf"|(?:working|business)\s+day\s+(?P<wdnum>{_NUM})"
    rf"|(?:the\s+)?(?P<wdord>{_ORD})\s+(?:working|business)\s+day\b",
    re.IGNORECASE,
)

_DASH = r"[-\u2010\u2011\u2012\u2013\u2014]"
_YEAR_DIGITS = r"(?:1[89]|2\d)\d\d"
# Filler words that may come before any period; they never change its meaning.
_FILLER = (
    r"(?:by|in|during|before|until|till|the|for|of|from|over|throughout|across|on|at"
    r"|around|about|approximately|circa|end|close|remainder|rest|course|duration"
    r"|whole|entirety|all|no|not|later|than)"
)
_PREFIX = rf"(?P<pre>(?:{_FILLER}\s+)*)"
# In free text, a bare year or month counts only after one of these.
_CUES = frozenset(
    {
        "by",
        "in",
        "during",
        "before",
        "until",
        "till",
        "for",
        "of",
        "from",
        "over",
        "throughout",
        "across",
        "on",
        "at",
        "end",
        "remainder",
        "rest",
        "course",
    }
)


def _year(p: str, name: str = "y") -> str:
    return rf"(?P<{p}{name}>{_YEAR_DIGITS})(?!\d)"


def _mod(p: str) -> str:
    """early / mid / late, then a separator ("mid-summer", "midsummer", "early in 2017")."""
    return (
        rf"(?P<{p}mod>early|middle|mid|late)"
        rf"(?:\s*{_DASH}\s*|\s+(?:(?:of|in)\s+)?(?:the\s+)?|(?<=mid)(?=[a-z]))"
    )


def _fy(p: str) -> str:
    """A UK financial year: 2018/19, 2018-19, 2018/2019, FY 2018/19, FY18/19, ... year."""
    label = r"(?:FY|financial\s+year|fiscal\s+year|reporting\s+year|business\s+year)"
    return (
        rf"(?:(?:{label}\s*)?(?P<{p}f1>{_YEAR_DIGITS})\s*(?:/|{_DASH})\s*"
        rf"(?P<{p}f2>\d\d(?:\d\d)?)(?!\d)"
        rf"|FY\s*(?P<{p}s1>\d\d)\s*(?:/|{_DASH})\s*(?P<{p}s2>\d\d)(?!\d))"
        r"(?:\s+(?:financial|fiscal|reporting|business|operating|planning|budget|accounting)"
        r"\s+year\b)?"
    )


def _day(p: str) -> str:
    return rf"(?P<{p}d>[0-3]?\d)(?:st|nd|rd|th)?(?!\d)"


def _weekday(p: str) -> str:
    return rf"(?:(?P<{p}wd>{_WEEKDAY})\.?,?\s+)?"


# ---------------------------------------------------------------------------
# Period forms: one pattern and one builder each
# ---------------------------------------------------------------------------


class _Fail(Exception):
    """A form matched but its values are impossible (or need a missing reference)."""

    def __init__(self, detail: str, hint: str = PERIOD_HINT) -> None:
        super().__init__(detail)
        self.detail = detail
        self.hint = hint


@dataclass(frozen=True)
class _Ctx:
    reference: date | None
    before: date | None = None  # a yearless start of a range resolves to on or before this


_Groups = Mapping[str, "str | None"]
_Window = tuple[date, date]


@dataclass(frozen=True)
class _Form:
    name: str
    pattern: Callable[[str], str]
    build: Callable[[_Groups, _Ctx], _Window]
    cue: bool = False  # in free text, only after a cue word ("by", "in", ...)
    in_range: bool = True  # may be either end of a range
    cues: frozenset[str] = frozenset()  # in free text, only after one of these (if given)


def _month_number(name: str | None) -> int:
    return _MONTHS[(name or "").lower().rstrip(".")]


def _month_end(y: int, m: int) -> date:
    return (date(y + 1, 1, 1) if m == 12 else date(y, m + 1, 1)) - timedelta(days=1)


def _real_day(y: int, m: int, d: int) -> date:
    if not 1 <= m <= 12:
        raise _Fail(f"there is no month {m}")
    last = _month_end(y, m).day
    if not 1 <= d <= last:
        raise _Fail(f"{_MONTH_NAMES[m]} {y} has {last} days")
    return date(y, m, d)


def _check_weekday(g: _Groups, d: date) -> None:
    wd = g.get("wd")
    if wd and _WEEKDAYS[wd.lower()] != d.weekday():
        raise _Fail(
            f"{d.day} {_MONTH_NAMES[d.month]} {d.year} is a {_WEEKDAY_NAMES[d.weekday()]},"
            f" not a {_WEEKDAY_NAMES[_WEEKDAYS[wd.lower()]]}"
        )


def _month_window(y: int, m: int, mod: str | None) -> _Window:
    end = _month_end(y, m)
    if not mod:
        return date(y, m, 1), end
    mod = mod.lower()
    if mod == "early":
        return date(y, m, 1), date(y, m, 10)
    if mod in ("mid", "middle"):
        return date(y, m, 11), date(y, m, 20)
    return date(y, m, 21), end


def _yearless_year(month: int, day: int, ctx: _Ctx) -> int:
    """The year for a month (and day) written without one."""
    if ctx.before is not None:  # start of a range: the latest such date not after its end
        y = ctx.before.year
        return y if (month, day) <= (ctx.before.month, ctx.before.day) else y - 1
    if ctx.reference is None:
        raise _Fail("it has no year, and there is no reference date to resolve it", _NO_YEAR_HINT)
    ref = ctx.reference
    if day == 0:  # a whole month: the next one strictly after the reference month
        return ref.year + (1 if month <= ref.month else 0)
    return ref.year + (1 if (month, day) <= (ref.month, ref.day) else 0)


def _build(form: _Form, g: _Groups, ctx: _Ctx) -> _Window:
    """``form.build``, with dates beyond year 9999 (or before year 1) as a :class:`_Fail`."""
    try:
        return form.build(g, ctx)
    except (OverflowError, ValueError):
        raise _Fail("it falls outside the years a date can have (1 to 9999)") from None


def _b_iso(g: _Groups, ctx: _Ctx) -> _Window:
    d = _real_day(int(g["y"] or 0), int(g["m"] or 0), int(g["d"] or 0))
    return d, d


def _b_day_month_year(g: _Groups, ctx: _Ctx) -> _Window:
    d = _real_day(int(g["y"] or 0), _month_number(g["mon"]), int(g["d"] or 0))
    _check_weekday(g, d)
    return d, d


def _b_day_month(g: _Groups, ctx: _Ctx) -> _Window:
    m, day = _month_number(g["mon"]), int(g["d"] or 0)
    if not 1 <= day <= (29 if m == 2 else _month_end(2001, m).day):
        raise _Fail(f"{_MONTH_NAMES[m]} has no day {day}")
    y = _yearless_year(m, day, ctx)
    while m == 2 and day == 29 and _month_end(y, 2).day != 29:
        y += -1 if ctx.before is not None else 1
    d = _real_day(y, m, day)
    _check_weekday(g, d)
    return d, d


def _b_month(g: _Groups, ctx: _Ctx) -> _Window:
    return _month_window(int(g["y"] or 0), _month_number(g["mon"]), g.get("mod"))


def _b_bare_month(g: _Groups, ctx: _Ctx) -> _Window:
    m = _month_number(g["mon"])
    return _month_window(_yearless_year(m, 0, ctx), m, g.get("mod"))


def _b_year(g: _Groups, ctx: _Ctx) -> _Window:
    y = int(g["y"] or 0)
    return date(y, 1, 1), date(y, 12, 31)


def _b_mod_year(g: _Groups, ctx: _Ctx) -> _Window:
    y = int(g["y"] or 0)
    first = {"early": 1, "mid": 5, "middle": 5, "late": 9}[(g["mod"] or "").lower()]
    return date(y, first, 1), _month_end(y, first + 3)


def _b_season(g: _Groups, ctx: _Ctx) -> _Window:
    name = (g["season"] or "").lower()
    y, first = int(g["y"] or 0), _SEASONS[name]
    y2 = g.get("y2")
    if y2 is not None:
        if first != 12:
            raise _Fail(f"only winter runs across two years, not {name}")
        if int(y2) not in (y + 1, (y + 1) % 100):
            raise _Fail(
                f"winter {y} runs into {y + 1}, not {y2}", f"write winter {y}/{(y + 1) % 100:02d}"
            )
    mod = (g.get("mod") or "").lower()
    offset = {"": 0, "early": 0, "mid": 1, "middle": 1, "late": 2}[mod]
    start = date(y, first, 1) + relativedelta(months=offset)
    last = start + relativedelta(months=0 if mod else 2)
    return start, _month_end(last.year, last.month)


def _fy_start(g: _Groups) -> int:
    """The start year of the financial year in ``g`` (see :func:`_fy`)."""
    if g.get("s1") is not None:
        y, second, text = 2000 + int(g["s1"] or 0), int(g["s2"] or 0), f"FY{g['s1']}/{g['s2']}"
        ok = second == (y + 1) % 100
    else:
        y, raw = int(g["f1"] or 0), g["f2"] or ""
        second, text = int(raw), f"{y}/{raw}"
        ok = second == ((y + 1) % 100 if len(raw) == 2 else y + 1)
    if not ok:
        raise _Fail(
            f"{text} is not a financial year: one runs from April to March of the "
            f"next year, like {y}/{(y + 1) % 100:02d}",
            f"write {y}/{(y + 1) % 100:02d}",
        )
    return y


def _b_fy(g: _Groups, ctx: _Ctx) -> _Window:
    p = fiscal_year(_fy_start(g))
    return p.start, p.end


def _part_of_year(g: _Groups, n: int, months: int) -> _Window:
    """The ``n``-th part (1-based) of ``months`` months of the year or financial year in g."""
    if g.get("f1") is not None or g.get("s1") is not None:
        first = date(_fy_start(g), 4, 1)
    else:
        first = date(int(g["y"] or 0), 1, 1)
    start = first + relativedelta(months=(n - 1) * months)
    last = start + relativedelta(months=months - 1)
    return start, _month_end(last.year, last.month)


def _b_quarter(g: _Groups, ctx: _Ctx) -> _Window:
    raw = g.get("qn") or g.get("qw") or g.get("qo") or ""
    n = _number(raw)
    if n == -1:
        n = 4
    if not 1 <= n <= 4:
        raise _Fail(f"a quarter is 1 to 4, not {raw}")
    return _part_of_year(g, n, 3)


def _b_half(g: _Groups, ctx: _Ctx) -> _Window:
    raw = g.get("hn") or g.get("ho") or ""
    n = _number(raw)
    if not 1 <= n <= 2:
        raise _Fail(f"a half is 1 or 2, not {raw}")
    return _part_of_year(g, n, 6)


def _reference(ctx: _Ctx) -> date:
    if ctx.reference is None:
        raise _Fail("it counts from a reference date, and none was given", _NO_REFERENCE_HINT)
    return ctx.reference


def _offset(word: str | None) -> int:
    w = " ".join((word or "").lower().split())
    return {"next": 1, "the next": 1, "the following": 1, "last": -1, "the last": -1}.get(
        w, -1 if "previous" in w else 0
    )


def _b_this_year(g: _Groups, ctx: _Ctx) -> _Window:
    """This, next or last calendar or financial year, from the reference date."""
    ref = _reference(ctx)
    n = _offset(g.get("rel"))
    if g.get("fin"):
        first = ref.year if ref.month >= 4 else ref.year - 1
        p = fiscal_year(first + n)
        start, end = p.start, p.end
    else:
        start, end = date(ref.year + n, 1, 1), date(ref.year + n, 12, 31)
    if "later" in (g.get("pre") or "").lower().split() and start <= ref <= end:
        start = ref  # "later this year": what is left of it
    return start, end


def _b_yearless_season(g: _Groups, ctx: _Ctx) -> _Window:
    """A season without a year: the next one that starts after the reference month."""
    ref = _reference(ctx)
    first = _SEASONS[(g["season"] or "").lower()]
    year = ref.year if first > ref.month else ref.year + 1
    return _b_season({**g, "y": str(year), "y2": None}, ctx)


def _b_numeric(g: _Groups, ctx: _Ctx) -> _Window:
    d = _real_day(int(g["y"] or 0), int(g["m"] or 0), int(g["d"] or 0))
    return d, d


def _b_relative(g: _Groups, ctx: _Ctx) -> _Window:
    if ctx.reference is None:
        raise _Fail("it counts from a reference date, and none was given", _NO_REFERENCE_HINT)
    return ctx.reference, _read_span(g["span"] or "").after(ctx.reference)


_QUARTER = (
    r"(?:(?:the\s+)?(?:Q(?P<{p}qn>\d+)|quarter\s+(?P<{p}qw>\d+|one|two|three|four|five)"
    r"|(?P<{p}qo>first|second|third|fourth|final|last|1st|2nd|3rd|4th)\s+quarter)\b)"
)
_HALF = r"(?:(?:the\s+)?(?:H(?P<{p}hn>\d)|(?P<{p}ho>first|second|1st|2nd)\s+half)\b)"


def _year_or_fy(p: str) -> str:
    return rf"(?:of\s+)?(?:the\s+)?(?:{_fy(p)}|(?:(?:calendar\s+)?year\s+)?{_year(p)})"


_SINGLE_FORMS: list[_Form] = [
    _Form(
        "iso", lambda p: rf"(?P<{p}y>{_YEAR_DIGITS})-(?P<{p}m>\d\d)-(?P<{p}d>\d\d)(?!\d)", _b_iso
    ),
    _Form(
        "dmy",
        lambda p: (
            rf"{_weekday(p)}(?:the\s+)?{_day(p)}(?:\s+of)?\s+"
            rf"(?P<{p}mon>{_MON}),?\s+{_year(p)}"
        ),
        _b_day_month_year,
    ),
    _Form(
        "mdy",
        lambda p: rf"{_weekday(p)}(?P<{p}mon>{_MON})\s+{_day(p)},?\s+{_year(p)}",
        _b_day_month_year,
    ),
    _Form("quarter", lambda p: _QUARTER.format(p=p) + r"\s+" + _year_or_fy(p), _b_quarter),
    _Form("half", lambda p: _HALF.format(p=p) + r"\s+" + _year_or_fy(p), _b_half),
    _Form(
        "season",
        lambda p: (
            rf"(?:{_mod(p)})?(?P<{p}season>{_SEASON})(?:\s+of)?\s+"
            rf"{_year(p)}(?:\s*/\s*(?P<{p}y2>\d\d(?:\d\d)?)(?!\d))?"
        ),
        _b_season,
    ),
    _Form("fy", _fy, _b_fy),
    _Form(
        "numeric",
        lambda p: (
            (rf"(?P<{p}d>[0-3]?\d)\s*(?P<sep>[/.])\s*(?P<{p}m>[01]?\d)\s*(?P=sep)\s*{_year(p)}")
            .replace("(?P<sep>", f"(?P<{p}sep>")
            .replace("(?P=sep)", f"(?P={p}sep)")
        ),
        _b_numeric,
    ),
    _Form(
        "month", lambda p: rf"(?:{_mod(p)})?(?P<{p}mon>{_MON}),?\s+(?:of\s+)?{_year(p)}", _b_month
    ),
    _Form("myear", lambda p: rf"{_mod(p)}{_year(p)}", _b_mod_year),
    _Form(
        "dm",
        lambda p: rf"{_weekday(p)}(?:the\s+)?{_day(p)}(?:\s+of)?\s+(?P<{p}mon>{_MON})",
        _b_day_month,
        cue=True,
    ),
    _Form("year", lambda p: rf"(?:(?:calendar\s+)?year\s+)?{_year(p)}", _b_year, cue=True),
    _Form("bmonth", lambda p: rf"(?:{_mod(p)})?(?P<{p}mon>{_MON})", _b_bare_month, cue=True),
    _Form(
        "bseason",
        lambda p: rf"(?:{_mod(p)})?(?:the\s+)?(?P<{p}season>{_SEASON})(?!\s+(?:of\s+)?\d)",
        _b_yearless_season,
        cue=True,
        in_range=False,
    ),
    _Form(
        "this_year",
        lambda p: (
            rf"(?P<{p}rel>this|the\s+current|current|next|the\s+next|the\s+following"
            rf"|last|the\s+last|previous|the\s+previous)\s+(?:calendar\s+)?"
            rf"(?:(?P<{p}fin>financial|fiscal|business|reporting)\s+)?year\b"
        ),
        _b_this_year,
        in_range=False,
    ),
    _Form(
        "the_year",
        lambda p: (
            rf"the\s+(?:calendar\s+)?(?:(?P<{p}fin>financial|fiscal|business|reporting)\s+)?"
            r"year\b(?!\s+(?:to|ending|ended|of|\d))"
        ),
        _b_this_year,
        in_range=False,
        cues=frozenset({"end"}),
    ),
]
_YEARLESS = frozenset({"dm", "bmonth"})
_RELATIVE = frozenset({"relative", "bseason", "this_year", "the_year"})


def _range_pattern(p: str) -> str:
    def side(role: str) -> str:
        alts = [
            rf"(?P<{p}{role}{i}>{f.pattern(f'{p}{role}{i}_')})"
            for i, f in enumerate(_SINGLE_FORMS)
            if f.in_range
        ]
        return "(?:" + "|".join(alts) + ")"

    sep = rf"(?:\s+(?:to|until|till|through)\s+|\s*{_DASH}\s*)"
    return (
        rf"(?:between\s+{side('a')}\s+and\s+{side('b')}"
        rf"|(?:from\s+)?{side('c')}{sep}{side('d')})"
    )


def _side(g: _Groups, roles: str) -> tuple[_Form, _Groups]:
    """The single form that matched one end of a range, and its groups."""
    for role in roles:
        for i, f in enumerate(_SINGLE_FORMS):
            if g.get(f"{role}{i}") is not None:
                prefix = f"{role}{i}_"
                return f, {k[len(prefix) :]: v for k, v in g.items() if k.startswith(prefix)}
    raise AssertionError("a range matched without its ends")  # pragma: no cover


def _b_range(g: _Groups, ctx: _Ctx) -> _Window:
    fa, ga = _side(g, "ac")
    fb, gb = _side(g, "bd")
    b_start, b_end = _build(fb, gb, ctx)
    a_ctx = _Ctx(ctx.reference, before=b_start) if fa.name in _YEARLESS else ctx
    a_start, _ = _build(fa, ga, a_ctx)
    if b_end < a_start:
        raise _Fail("the range ends before it starts")
    return a_start, b_end


_FORMS: list[_Form] = [
    _Form("range", _range_pattern, _b_range, in_range=False),
    *_SINGLE_FORMS,
    _Form(
        "relative",
        lambda p: (
            r"(?:(?:(?:within|in|over|during|for|throughout|across)\s+)?(?:the\s+)?"
            rf"(?:next|coming|following)|within|in)\s+(?P<{p}span>{_SPAN})(?:['\u2019]s?)?(?:\s+time\b)?"
        ),
        _b_relative,
        in_range=False,
    ),
]

_FLAGS = re.IGNORECASE
_FULL: list[tuple[_Form, re.Pattern[str]]] = [
    (f, re.compile(rf"\s*{_PREFIX}(?:{f.pattern('')})\s*[.,;:]?\s*", _FLAGS)) for f in _FORMS
]
_SCAN: list[tuple[_Form, re.Pattern[str]]] = [
    (
        f,
        re.compile(
            rf"(?<![\w/])(?<!\d{_DASH}){_PREFIX}(?:{f.pattern('')})"
            rf"(?![\w])(?!\s*(?:/|{_DASH})\s*\d)",
            _FLAGS,
        ),
    )
    for f in _FORMS
]


# ---------------------------------------------------------------------------
# Periods
# ---------------------------------------------------------------------------

_SUGGEST = [
    *(_MONTH_NAMES[1:]),
    "spring",
    "summer",
    "autumn",
    "winter",
    "quarter",
    "financial",
    "reporting",
    "between",
    "during",
    "early",
    "late",
    "months",
    "weeks",
    "years",
    "working",
    "fortnight",
]
_KNOWN_WORDS = frozenset(
    w.lower()
    for w in [
        *_MONTHS,
        *_SEASONS,
        *_WEEKDAYS,
        *_UNITS_WORDS,
        *_TENS_WORDS,
        *_ORDINALS,
        *_SUGGEST,
        "within",
        "next",
        "coming",
        "following",
        "half",
        "year",
        "month",
        "week",
        "days",
        "calendar",
        "fiscal",
        "business",
        "fortnights",
        "quarters",
        "financial",
        "between",
        "from",
        "middle",
    ]
)


_SPAN_WORDS = [
    "days",
    "weeks",
    "fortnight",
    "months",
    "years",
    "quarters",
    "working",
    "calendar",
    "business",
    "least",
]
_EVERY_WORDS = [
    "daily",
    "weekly",
    "fortnightly",
    "monthly",
    "quarterly",
    "annually",
    "annual",
    "yearly",
    "every",
    "each",
    "biannually",
    "biennially",
    "twice",
]


def _did_you_mean(text: str, vocabulary: list[str]) -> tuple[str, str] | None:
    """A misspelt word in ``text`` and its likely correction from ``vocabulary``, if any."""
    lowered = [v.lower() for v in vocabulary]
    for word in re.findall(r"[A-Za-z]{4,}", text):
        low = word.lower()
        if low in lowered or low in _KNOWN_WORDS or re.fullmatch(_FILLER, low, _FLAGS):
            continue
        close = difflib.get_close_matches(low, lowered, n=1, cutoff=0.75)
        if close:
            fix = vocabulary[lowered.index(close[0])]
            if word[0].islower():
                fix = fix.lower()
            elif word[0].isupper():
                fix = fix[0].upper() + fix[1:]
            return word, fix
    return None


def _unreadable(
    text: str, what: str, hint: str, vocabulary: list[str], reparse: Callable[[str], object]
) -> DateError:
    message = f'cannot read "{text}" as {what}'
    guess = _did_you_mean(text, vocabulary)
    if guess is not None:
        word, fix = guess
        message += f' (did you mean "{fix}"?)'
        fixed = text.replace(word, fix, 1)
        try:
            reparse(fixed)
        except DateError:
            pass
        else:
            hint = f'write "{fixed}"'
    return DateError(message, text=text, hint=hint)


def parse_period(text: str | date | int, reference: date | None = None) -> Period:
    """Read one date or period, such as "by the end of March 2018" or "Q4 2020/21".

    The whole text must be one expression, optionally with filler words around
    it ("by", "in", "during", "before", "the", "for", "of", "end of", ...) and a
    trailing full stop; to find expressions inside a sentence use
    :func:`find_periods`. A ``date`` is the one-day window on that date, an
    ``int`` a calendar year (YAML reads ``2018`` as a number).

    ``reference`` (usually the publication date) resolves a month written
    without a year (the next such month strictly after the reference month)
    and relative periods ("within six months": reference to reference + span).
    Without it those raise :class:`DateError`. It never changes a period that
    has its own year.

    Note that "before April 2018" is read like "by April 2018" (due 30 April),
    and "end of March 2018" is all of March, due 31 March.

    >>> q4 = parse_period("during Quarter 4 of 2020/21")
    >>> print(q4.start, q4.end, q4.due)
    2021-01-01 2021-03-31 2021-03-31
    >>> parse_period("by February", reference=date(2017, 11, 30)).due
    datetime.date(2018, 2, 28)
    >>> parse_period("Over the next 12 months", reference=date(2017, 11, 30)).end
    datetime.date(2018, 11, 30)
    >>> try:
    ...     parse_period("end of Apirl 2018")
    ... except DateError as e:
    ...     print(e)
    ...     print(e.hint)
    cannot read "end of Apirl 2018" as a date or period (did you mean "April"?)
    write "end of April 2018"
    """
    if isinstance(text, datetime):
        text = text.date()
    if isinstance(text, date):
        return Period(text, text, text.isoformat())
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if not isinstance(text, str):
        raise DateError(f"cannot read {text!r} as a date or period", text=repr(text))
    return _parse_period_text(text, reference)


@lru_cache(maxsize=8192)
def _parse_period_text(text: str, reference: date | None) -> Period:
    """:func:`parse_period` for text, cached: rule files repeat the same few dates."""
    shown = " ".join(text.split())
    ctx = _Ctx(reference)
    failure: _Fail | None = None
    for form, regex in _FULL:
        m = regex.fullmatch(text)
        if m is None:
            continue
        try:
            start, end = _build(form, m.groupdict(), ctx)
        except _Fail as exc:
            failure = failure or exc
            continue
        return Period(start, end, shown)
    if failure is not None:
        raise DateError(f'cannot read "{shown}": {failure.detail}', text=text, hint=failure.hint)
    raise _unreadable(
        shown,
        "a date or period",
        PERIOD_HINT,
        _SUGGEST,
        lambda t: parse_period(t, reference or date(2000, 1, 1)),
    )


_BLOCKED = object()  # a match that is wrong (31 February) or unresolved: it hides its words


def _scan(
    text: str,
    scans: list[tuple[_Form, re.Pattern[str]]],
    build: Callable[[_Form, re.Match[str]], object | None],
) -> Iterator[tuple[str, object]]:
    """Longest non-overlapping matches of ``scans`` in ``text`` that ``build`` accepts.

    ``build`` returns the value of a match, ``None`` to ignore it, or ``_BLOCKED``
    for a match that is left out but still keeps shorter matches off its words
    (so "31 February 2018" does not come back as "February 2018").
    """
    found: list[tuple[int, int, bool, int, object]] = []
    for rank, (form, regex) in enumerate(scans):
        for m in regex.finditer(text):
            value = build(form, m)
            if value is not None:
                found.append((m.start(), m.end(), value is _BLOCKED, rank, value))
    found.sort(key=lambda c: (c[0] - c[1], c[2], c[0], c[3]))
    taken: list[tuple[int, int, object]] = []
    for start, end, _, _, value in found:
        if all(end <= s or start >= e for s, e, _ in taken):
            taken.append((start, end, value))
    for start, end, value in sorted(taken, key=lambda t: t[0]):
        if value is not _BLOCKED:
            yield text[start:end], value


def find_periods(text: str, reference: date | None = None) -> list[tuple[str, Period]]:
    """Every date or period in free ``text``, as (matched words, Period), in text order.

    Where expressions overlap the longest wins ("between April and June 2021"
    beats "June 2021"). The matched words include the cue before the
    expression ("by the end of March 2018"). To avoid false hits, a bare year
    or a month without a year counts only after a cue word such as "by",
    "in", "during", "from" or "for" ("in 2016", not "the 2015 report"), and a
    month without a year must be capitalised ("by May", not "may"). Expressions
    that cannot be resolved (no reference for "by February" or "within six
    months", or an impossible date) are left out rather than raised.

    >>> [(words, str(p.start), str(p.due)) for words, p in
    ...  find_periods("We will report back to the ICIBI by December 2017 on progress")]
    [('by December 2017', '2017-12-01', '2017-12-31')]
    >>> [w for w, _ in find_periods("Following the 2015 ICI report, in 2016 we may act")]
    ['in 2016']
    """
    ctx = _Ctx(reference)

    def build(form: _Form, m: re.Match[str]) -> object | None:
        g = m.groupdict()
        if form.cue or form.cues:
            words = set((g.get("pre") or "").lower().split())
            if not words & (form.cues or _CUES):
                return None
            mon = g.get("mon")
            if mon is not None and not mon[0].isupper():
                return None
        try:
            start, end = _build(form, g, ctx)
        except _Fail:
            return _BLOCKED
        return Period(start, end, m.group(0))

    return [(words, p) for words, p in _scan(text, _SCAN, build) if isinstance(p, Period)]


# ---------------------------------------------------------------------------
# Spans
# ---------------------------------------------------------------------------

_ISO_DURATION_NAMED = re.compile(
    r"P(?:(?P<y>\d+)Y)?(?:(?P<m>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?", re.IGNORECASE
)


def _read_span(text: str) -> Span:
    """The Span of a text already matched by the span grammar."""
    shown = " ".join(text.split())
    iso = _ISO_DURATION_NAMED.fullmatch(text.strip())
    if iso is not None:
        return Span(
            years=int(iso["y"] or 0),
            months=int(iso["m"] or 0),
            weeks=int(iso["w"] or 0),
            days=int(iso["d"] or 0),
            text=shown,
        )
    total = {"years": 0, "months": 0, "weeks": 0, "days": 0, "working_days": 0}
    for m in _SPAN_PART_NAMED.finditer(text):
        if m["half"]:
            total["months"] += 6
        elif m["wdnum"] or m["wdord"]:
            total["working_days"] += _number(m["wdnum"] or m["wdord"])
        else:
            n, unit = _number(m["num"]), re.sub(r"\s+", " ", m["unit"].lower()).rstrip("s")
            if unit in ("working day", "business day"):
                total["working_days"] += n
            elif unit in ("day", "calendar day"):
                total["days"] += n
            elif unit == "fortnight":
                total["days"] += 14 * n
            elif unit == "quarter":
                total["months"] += 3 * n
            else:
                total[unit + "s"] += n
    return Span(text=shown, **total)


_SPAN_FILLER = (
    r"(?:by|within|after|for|over|in|of|the|a\s+period\s+of|lasting|last|lasts"
    r"|period|duration|up\s+to)"
)
_SPAN_FULL = re.compile(rf"\s*(?:{_SPAN_FILLER}\s+)*(?P<span>{_SPAN})\s*\.?\s*", _FLAGS)
_SPAN_SCAN = re.compile(rf"(?<![\w/,.]){_SPAN}(?![\w])", _FLAGS)


def parse_span(text: str | int) -> Span:
    """Read a length of time: "3 months", "fourteen calendar days", "P1Y6M", "working day seven".

    An ``int`` is a number of calendar days. "working day seven" and "by
    working day seven" mean seven *working* days (counted from the day after
    the start); "a fortnight" is 14 days; "half a year" is six months. A
    qualifier such as "at least" is accepted and ignored: the span is the
    stated length.

    >>> parse_span("at least three months")
    Span(years=0, months=3, weeks=0, days=0, working_days=0, text='at least three months')
    >>> parse_span("by working day seven").working_days
    7
    >>> parse_span(14).iso()
    'P14D'
    """
    if isinstance(text, bool) or not isinstance(text, (str, int)):
        raise DateError(
            f"cannot read {text!r} as a length of time", text=repr(text), hint=SPAN_HINT
        )
    if isinstance(text, int):
        if text < 0:
            raise DateError(
                f"a length of time cannot be negative ({text} days)",
                text=str(text),
                hint=SPAN_HINT,
            )
        return Span(days=text, text=f"{text} days")
    return _parse_span_text(text)


@lru_cache(maxsize=4096)
def _parse_span_text(text: str) -> Span:
    m = _SPAN_FULL.fullmatch(text)
    shown = " ".join(text.split())
    if m is None:
        raise _unreadable(shown, "a length of time", SPAN_HINT, _SPAN_WORDS, parse_span)
    span = _read_span(m["span"])
    return Span(span.years, span.months, span.weeks, span.days, span.working_days, shown)


def find_spans(text: str) -> list[tuple[str, Span]]:
    """Every length of time in free ``text``, as (matched words, Span), in text order.

    >>> [(words, span.iso()) for words, span in
    ...  find_spans("the trial will last at least three months to enable")]
    [('at least three months', 'P3M')]
    """
    return [
        (words, _read_span(words))
        for words, _ in _scan(text, [(_FORMS[0], _SPAN_SCAN)], lambda f, m: m.group(0))
    ]


# ---------------------------------------------------------------------------
# Frequencies
# ---------------------------------------------------------------------------

_BASIS = r"(?:\s+basis\b)"
_EVERY_FORMS: list[tuple[str, str]] = [
    ("FREQ=DAILY;BYDAY=MO,TU,WE,TH,FR", r"(?:every|each)\s+(?:working|business)\s+day\b"),
    (
        "FREQ=WEEKLY;INTERVAL=2",
        rf"fortnightly\b|(?:every|each|once\s+a)\s+fortnight\b"
        rf"|every\s+(?:other|second|2nd)\s+week\b|(?:on\s+)?a\s+fortnightly{_BASIS}",
    ),
    (
        "FREQ=MONTHLY;INTERVAL=6",
        r"half[\s-]yearly\b|six[\s-]monthly\b|semi[\s-]?annual(?:ly)?\b|bi-?annual(?:ly)?\b"
        r"|twice[\s-](?:a\s+|per\s+|each\s+|every\s+)?year(?:ly)?\b"
        r"|every\s+(?:other|second|2nd)\s+quarter\b",
    ),
    ("FREQ=MONTHLY;INTERVAL=2", r"every\s+(?:other|second|2nd)\s+month\b"),
    ("FREQ=YEARLY;INTERVAL=2", r"biennial(?:ly)?\b|every\s+(?:other|second|2nd)\s+year\b"),
    ("FREQ=DAILY", rf"daily\b|(?:every|each|once\s+a|per)\s+day\b|(?:on\s+)?a\s+daily{_BASIS}"),
    (
        "FREQ=WEEKLY",
        rf"weekly\b|(?:every|each|once\s+a|per)\s+week\b|(?:on\s+)?a\s+weekly{_BASIS}",
    ),
    (
        "FREQ=MONTHLY",
        rf"monthly\b|(?:every|each|once\s+a|per)\s+(?:calendar\s+)?month\b"
        rf"|(?:on\s+)?a\s+monthly{_BASIS}",
    ),
    (
        "FREQ=MONTHLY;INTERVAL=3",
        rf"quarterly\b|(?:every|each|once\s+a|per)\s+quarter\b|(?:on\s+)?a\s+quarterly{_BASIS}",
    ),
    (
        "FREQ=YEARLY",
        rf"annual(?:ly)?\b|yearly\b|(?:every|each|once\s+a|per)\s+(?:year|annum)\b"
        rf"|(?:on\s+)?an?\s+(?:annual|yearly){_BASIS}",
    ),
]
_EVERY_N = (
    rf"every\s+(?P<n>{_NUM})[\s-]+(?P<unit>days?|weeks?"
    r"|fortnights?|months?|quarters?|years?)\b"
)
_TIMES_A_YEAR = (
    r"(?P<k>twice|three\s+times|four\s+times|six\s+times|twelve\s+times)"
    r"\s+(?:a|per|each)\s+year\b"
)
_EVERY_ALL = "|".join(
    [f"(?P<e{i}>{pattern})" for i, (_, pattern) in enumerate(_EVERY_FORMS)]
    + [f"(?P<every_n>{_EVERY_N})", f"(?P<times>{_TIMES_A_YEAR})"]
)
_EVERY_FILLER = (
    r"(?:will|be|is|are|meets?|met|meeting|meetings|held|reviewed|reviews?|reported"
    r"|reports?|checked|audited|audits?|updated|published|runs?|repeated|repeats?"
    r"|recurring|recurs?|occurs?|occurring|happens?|takes?|place|then|thereafter"
    r"|and|subject|to|an?|the|on|basis|once)"
)
_EVERY_FULL = re.compile(
    rf"\s*(?:{_EVERY_FILLER}\s+)*(?:{_EVERY_ALL})(?:\s+{_EVERY_FILLER})*\s*\.?\s*", _FLAGS
)
_EVERY_SCAN = re.compile(rf"(?<![\w-])(?:{_EVERY_ALL})(?![\w-])", _FLAGS)
_TIMES = {"twice": 2, "three times": 3, "four times": 4, "six times": 6, "twelve times": 12}
_RRULE_DTSTART = datetime(2000, 1, 1)
_RRULE_RANGES: dict[str, tuple[int, int | None, bool]] = {  # name: (low, high, signed)
    "INTERVAL": (1, None, False),
    "COUNT": (1, None, False),
    "BYMONTH": (1, 12, False),
    "BYMONTHDAY": (1, 31, True),
    "BYYEARDAY": (1, 366, True),
    "BYWEEKNO": (1, 53, True),
    "BYSETPOS": (1, 366, True),
    "BYHOUR": (0, 23, False),
    "BYMINUTE": (0, 59, False),
    "BYSECOND": (0, 60, False),
}


def _every_rule(m: re.Match[str]) -> str:
    for i, (rule, _) in enumerate(_EVERY_FORMS):
        if m[f"e{i}"] is not None:
            return rule
    if m["times"] is not None:
        k = _TIMES[re.sub(r"\s+", " ", m["k"].lower())]
        return "FREQ=YEARLY" if k == 1 else f"FREQ=MONTHLY;INTERVAL={12 // k}"
    n, unit = _number(m["n"]), re.sub(r"\s+", " ", m["unit"].lower()).rstrip("s")
    freq, n = {
        "day": ("DAILY", n),
        "week": ("WEEKLY", n),
        "fortnight": ("WEEKLY", 2 * n),
        "month": ("MONTHLY", n),
        "quarter": ("MONTHLY", 3 * n),
        "year": ("YEARLY", n),
    }[unit]
    if n < 1:
        raise _Fail("an interval must be at least 1", EVERY_HINT)
    return f"FREQ={freq}" + (f";INTERVAL={n}" if n > 1 else "")


def _check_rrule(text: str) -> str:
    """Validate an RRULE (without DTSTART) and return it tidied (upper case, no "RRULE:")."""
    rule = re.sub(r"\s+", "", text).upper()
    rule = rule.removeprefix("RRULE:")

    def bad(detail: str) -> DateError:
        return DateError(f'invalid RRULE "{text.strip()}": {detail}', text=text, hint=EVERY_HINT)

    if "DTSTART" in rule or "\n" in text.strip():
        raise bad("give the rule alone, without DTSTART (the start comes from the commitment)")
    parts: dict[str, str] = {}
    for part in filter(None, rule.split(";")):
        name, eq, value = part.partition("=")
        if not eq or not value:
            raise bad(f"'{part}' is not NAME=VALUE")
        if name in parts:
            raise bad(f"'{name}' is given twice")
        parts[name] = value
    if "FREQ" not in parts:
        raise bad('it needs a FREQ, e.g. "FREQ=YEARLY;BYMONTH=4"')
    if "COUNT" in parts and "UNTIL" in parts:
        raise bad("COUNT and UNTIL cannot both be given")
    for name, (low, high, signed) in _RRULE_RANGES.items():
        for value in filter(None, parts.get(name, "").split(",")):
            try:
                n = int(value)
            except ValueError:
                raise bad(f"invalid '{name}': {value}") from None
            size = abs(n) if signed else n
            if size < low or (high is not None and size > high):
                bounds = f"at least {low}" if high is None else f"{low} to {high}"
                bounds += f" or -{high} to -{low}" if signed else ""
                raise bad(f"invalid '{name}': {value} (must be {bounds})")
    try:
        parsed = rrulestr(rule, dtstart=_RRULE_DTSTART)
    except (ValueError, TypeError) as exc:
        raise bad(str(exc)) from None
    never = "UNTIL" not in parts and isinstance(parsed, rrule)
    if never and parsed.after(_RRULE_DTSTART, inc=True) is None:
        raise bad("it never occurs")
    return rule


def parse_every(text: str) -> str:
    """Read a frequency ("monthly", "every two weeks", "twice a year") as RRULE text.

    The result has no DTSTART: the series starts where the commitment says.
    Quarterly is ``FREQ=MONTHLY;INTERVAL=3`` (the gold convention) and six-monthly
    ``FREQ=MONTHLY;INTERVAL=6``. "every working day" is weekdays only: an RRULE
    cannot leave out bank holidays, so a caller that must skip them has to roll
    the dates itself. An RRULE given as such ("FREQ=YEARLY;BYMONTH=4", with or
    without "RRULE:") is checked (with dateutil, plus the RFC 5545 ranges that
    dateutil lets through, such as BYMONTH=13) and returned in upper case.

    >>> parse_every("will meet quarterly")
    'FREQ=MONTHLY;INTERVAL=3'
    >>> parse_every("every 2 weeks"), parse_every("subject to an annual review")
    ('FREQ=WEEKLY;INTERVAL=2', 'FREQ=YEARLY')
    >>> try:
    ...     parse_every("FREQ=YEARLY;BYMONTH=13")
    ... except DateError as e:
    ...     print(e)
    invalid RRULE "FREQ=YEARLY;BYMONTH=13": invalid 'BYMONTH': 13 (must be 1 to 12)
    """
    if not isinstance(text, str):
        raise DateError(f"cannot read {text!r} as a frequency", text=repr(text), hint=EVERY_HINT)
    return _parse_every_text(text)


@lru_cache(maxsize=4096)
def _parse_every_text(text: str) -> str:
    if "=" in text:
        return _check_rrule(text)
    shown = " ".join(text.split())
    m = _EVERY_FULL.fullmatch(text)
    if m is None:
        raise _unreadable(shown, "a frequency", EVERY_HINT, _EVERY_WORDS, parse_every)
    try:
        return _every_rule(m)
    except _Fail as exc:
        raise DateError(f'cannot read "{shown}": {exc.detail}', text=text, hint=exc.hint) from None


def find_every(text: str) -> list[tuple[str, str]]:
    """Every frequency in free ``text``, as (matched words, RRULE text), in text order.

    >>> find_every("A monthly audit will assure staff understanding")
    [('monthly', 'FREQ=MONTHLY')]
    """

    def build(form: _Form, m: re.Match[str]) -> object | None:
        try:
            return _every_rule(m)
        except _Fail:
            return _BLOCKED

    return [(words, str(rule)) for words, rule in _scan(text, [(_FORMS[0], _EVERY_SCAN)], build)]
