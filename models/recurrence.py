"""Recurring series: "review annually", "meet quarterly", "a monthly audit".

A series is an RFC 5545 RRULE (without DTSTART) plus an anchor date. It is the
same text that goes into the calendar invite, so what duly reminds about and
what the owner's calendar shows are one series, not two computations.

The trap this module exists for: RFC 5545 *skips* an occurrence that does not
exist, it does not clip it. ``FREQ=YEARLY`` anchored on 29 February gives leap
years only (and ical.js reads it differently again), and ``FREQ=MONTHLY``
anchored on 31 January skips every short month. A promise made on those days
still falls due every year or month, so :func:`anchored_rrule` rewrites such a
rule into a form that clips and that calendar clients read the same way:

>>> anchored_rrule("FREQ=YEARLY", date(2024, 2, 29))
'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-1'
>>> anchored_rrule("FREQ=MONTHLY", date(2018, 1, 31))
'FREQ=MONTHLY;BYMONTHDAY=-1'
>>> anchored_rrule("FREQ=MONTHLY", date(2021, 1, 30))
'FREQ=MONTHLY;BYMONTHDAY=30,-1;BYSETPOS=1'
>>> anchored_rrule("FREQ=YEARLY", date(2018, 4, 30))
'FREQ=YEARLY'
"""

from __future__ import annotations

import calendar as _calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import MAXYEAR, date, datetime, time, timedelta

from dateutil.rrule import rrule, rrulestr

__all__ = ["Series", "anchored_rrule", "describe_rrule"]

_BY_DAY_PARTS = ("BYMONTHDAY", "BYDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS")
# A rule of only FREQ and INTERVAL, as _check_rrule writes it: counted without dateutil.
_PLAIN = re.compile(r"FREQ=(DAILY|WEEKLY|MONTHLY|YEARLY)(?:;INTERVAL=([1-9][0-9]*))?")
_LAST_YEAR = date(MAXYEAR, 1, 1)


def _parts(rule: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for chunk in rule.strip().split(";"):
        if chunk:
            name, _, value = chunk.partition("=")
            parts[name.strip().upper()] = value.strip()
    return parts


def anchored_rrule(rule: str, anchor: date) -> str:
    """Return ``rule`` rewritten so that it clips to month ends instead of skipping.

    Only plain MONTHLY rules anchored on the 29th, 30th or 31st, and plain YEARLY
    rules anchored on 29 February, are changed; a rule that already says which
    days it means (BYMONTHDAY, BYDAY, ...) is left exactly as written.
    """
    parts = _parts(rule)
    freq = parts.get("FREQ")
    if freq not in ("MONTHLY", "YEARLY") or any(p in parts for p in _BY_DAY_PARTS):
        return rule
    if anchor.day < 29:
        return rule
    if freq == "YEARLY":
        # Only February changes length from year to year.
        if (anchor.month, anchor.day) != (2, 29) or "BYMONTH" in parts:
            return rule
        return f"{rule.rstrip(';')};BYMONTH=2;BYMONTHDAY=-1"
    last = _calendar.monthrange(anchor.year, anchor.month)[1]
    extra: list[str] = []
    if anchor.day == last:
        extra.append("BYMONTHDAY=-1")
    else:
        extra.extend([f"BYMONTHDAY={anchor.day},-1", "BYSETPOS=1"])
    return ";".join([rule.rstrip(";"), *extra])


_FREQ_WORDS = {
    "DAILY": ("daily", "days"),
    "WEEKLY": ("weekly", "weeks"),
    "MONTHLY": ("monthly", "months"),
    "YEARLY": ("annually", "years"),
}


def describe_rrule(rule: str) -> str:
    """Say a simple rule in words, for reminders and plans.

    >>> describe_rrule("FREQ=MONTHLY;INTERVAL=3")
    'quarterly'
    >>> describe_rrule("FREQ=YEARLY")
    'annually'
    >>> describe_rrule("FREQ=WEEKLY;INTERVAL=2")
    'every 2 weeks'
    """
    parts = _parts(rule)
    freq = parts.get("FREQ", "")
    interval = int(parts.get("INTERVAL", "1") or 1)
    if freq == "MONTHLY" and interval == 3:
        return "quarterly"
    if freq not in _FREQ_WORDS:
        return rule
    once, many = _FREQ_WORDS[freq]
    return once if interval == 1 else f"every {interval} {many}"


@dataclass(frozen=True)
class Series:
    """A recurring promise: an RRULE and the date it counts from.

    ``include_anchor`` says whether the anchor is itself an occurrence. A series
    given an explicit first date ("monthly from November 2014") includes it; a
    series that starts when something else is done ("an annual review" of an
    SLA) first falls due one interval later.
    """

    rule: str
    anchor: date
    include_anchor: bool = True

    @property
    def rrule_text(self) -> str:
        """The RRULE as calendar clients should receive it (clipped, see module doc)."""
        return anchored_rrule(self.rule, self.anchor)

    def _rrule(self) -> rrule:
        start = datetime.combine(self.anchor, time())
        parsed = rrulestr(self.rrule_text, dtstart=start)
        assert isinstance(parsed, rrule)
        return parsed

    def occurrences(self, start: date, end: date) -> Iterator[date]:
        """Yield every occurrence on or after ``start`` and on or before ``end``."""
        plain = self._plain()
        if plain is not None:  # up to the last year, where dateutil takes over
            lo = max(start, self.anchor)
            for day in plain:
                if day > end:
                    return
                if day < lo or (day == self.anchor and not self.include_anchor):
                    continue
                yield day
            if end < _LAST_YEAR:
                return
            start = max(start, _LAST_YEAR)
        lo = datetime.combine(max(start, self.anchor), time())
        hi = datetime.combine(end, time())
        for moment in self._rrule().xafter(lo, inc=True):
            if moment > hi:
                return
            day = moment.date()
            if day == self.anchor and not self.include_anchor:
                continue
            yield day

    def _plain(self) -> Iterator[date] | None:
        """The occurrences from the anchor until the year 9999, as dateutil counts
        them, for a rule of only FREQ and INTERVAL whose day every period has (a
        monthly rule on a day up to the 28th; yearly, not on 29 February); None for
        any other rule. dateutil repeats the anchor's weekday (weekly), day of the
        month (monthly), or day and month (yearly) every INTERVAL periods.
        """
        match = _PLAIN.fullmatch(self.rrule_text)
        if match is None:
            return None
        freq, interval, anchor = match[1], int(match[2] or 1), self.anchor
        if freq in ("DAILY", "WEEKLY"):
            return _every_days(anchor, interval * (7 if freq == "WEEKLY" else 1))
        if (freq == "MONTHLY" and anchor.day > 28) or (anchor.month, anchor.day) == (2, 29):
            return None
        return _every_months(anchor, interval * (12 if freq == "YEARLY" else 1))

    def first(self) -> date | None:
        """The first occurrence, or None for a rule that never occurs."""
        for day in self.occurrences(self.anchor, date.max):
            return day
        return None


def _every_days(anchor: date, days: int) -> Iterator[date]:
    """``anchor`` and every ``days`` days after it, before the year 9999."""
    step = timedelta(days=days)
    day = anchor
    while day < _LAST_YEAR:
        yield day
        if _LAST_YEAR - day <= step:
            return
        day += step


def _every_months(anchor: date, months: int) -> Iterator[date]:
    """``anchor`` and the same day every ``months`` months (a day every month has),
    before the year 9999."""
    index = anchor.year * 12 + anchor.month - 1
    while index // 12 < MAXYEAR:
        yield date(index // 12, index % 12 + 1, anchor.day)
        index += months
