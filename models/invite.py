"""Calendar invites: iTIP (RFC 5546) objects for commitments, built and read with icalendar.

A commitment goes into its owner's calendar as one event (one series for a
recurring promise), invited by duly as ORGANIZER with the owner as the single
ATTENDEE. The event's UID is derived from the commitment's uid and never
changes (:func:`invite_uid`); every update is a new REQUEST with a higher
SEQUENCE, and a dropped, superseded or reassigned commitment gets a CANCEL with
a higher SEQUENCE again. The owner's calendar client answers with a REPLY, which
:func:`parse_reply` accepts only from the invited attendee, for a UID duly sent
and a SEQUENCE it has reached. :func:`owner_feed` lists the same events, with the
same UIDs, as a subscribable calendar.

Timing, decided here once: a commitment is an **all-day event** on the day it
falls due (``DTSTART;VALUE=DATE``), marked free (``TRANSP:TRANSPARENT``). The
documents promise days ("by April 2018"), not hours, and an invented 09:00
meeting would block a slot in the owner's diary that nobody booked. A date has no
time zone, so every client puts it on the same calendar day; its alarm rings at
09:00 wherever the owner is, n days before. :func:`calendar_entry` makes that
choice for each kind of rule. A caller that knows a real meeting time passes a
``datetime`` instead: the event is then timed in ``timezone`` (Europe/London by
default) with a VTIMEZONE from :func:`vtimezone`, and the clients read the same
instants across both clock changes (``tests/models/test_invite_clients.py``).

Four things real clients disagree on, and how this module avoids them:

- icalendar's own VTIMEZONE (``Timezone.from_tzid``, ``add_missing_timezones``)
  lists every clock change in one multi-value RDATE, which ical.js reads as its
  first value only. :func:`vtimezone` writes one STANDARD and one DAYLIGHT
  observance with yearly RRULEs (``BYMONTH=10;BYDAY=-1SU``), derived from zoneinfo.
- RFC 5545 lets a DTSTART that is not an occurrence of its RRULE count as one
  anyway, and clients disagree on whether it does; so a series must start on one
  of its own occurrences, and :class:`CalendarEntry` refuses one that does not.
  Series rules come from :class:`~models.recurrence.Series`, already clipped so
  that 29 February and the 31st read the same everywhere.
- A wall time that the clocks repeat (01:30 on the last Sunday of October in
  London) is its first occurrence for RFC 5545 and icalendar, the second for
  ical.js and libical; a skipped one (01:30 in late March) has no reading at all.
  Timed events at such times, or series that can run into them, are refused.
- ical.js ignores BYSETPOS unless BYDAY alone picks the days, so the clipped
  rule for a series on the 29th or 30th (``BYMONTHDAY=30,-1;BYSETPOS=1``) shows
  twice in 31-day months there; it is written as ``BYMONTHDAY=30`` plus RDATEs for
  the ends of February (:meth:`CalendarEntry.written_rrule`).

Pure: no I/O, no clock. ``now`` (the DTSTAMP) is passed in and must be aware.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil.rrule import rrule, rrulestr
from icalendar import (
    Alarm,
    Calendar,
    Component,
    Event,
    Timezone,
    TimezoneDaylight,
    TimezoneStandard,
    vCalAddress,
    vRecur,
)

from models.recurrence import Series
from models.rules import Commitment, Owner, RuleSet

__all__ = [
    "ALL_DAY",
    "MAX_REPLY_BYTES",
    "PARTSTATS",
    "PRODID",
    "CalendarEntry",
    "Reply",
    "ReplyRejected",
    "calendar_entry",
    "cancel",
    "invite_cancel",
    "invite_request",
    "invite_uid",
    "owner_feed",
    "parse_reply",
    "request",
    "vtimezone",
]

PRODID = "-//duly//commitment invites//EN"
ALL_DAY = timedelta(days=1)
MAX_REPLY_BYTES = 1_000_000
"""The largest REPLY :func:`parse_reply` reads; a real one is a few kilobytes."""
PARTSTATS = ("ACCEPTED", "DECLINED", "TENTATIVE", "DELEGATED")
"""The answers a REPLY may carry. NEEDS-ACTION is no answer, and is refused."""
RDATE_YEARS = 25
"""How many years of RDATEs complete a month-end series (see ``written_rrule``)."""
_SINGLE = ("UID", "SEQUENCE", "DTSTAMP", "RECURRENCE-ID", "DTSTART", "ORGANIZER")
"""Properties a VEVENT carries at most once (RFC 5545); twice makes a REPLY malformed."""
ALARM_AT = time(9, 0)
"""When the alarm of an all-day event rings: local time, on the day it names."""


def invite_uid(commitment_uid: str) -> str:
    """The iCalendar UID of a commitment's event: the same for ever, whatever changes.

    A hash, so the UID says nothing about the commitment to a mail server and is
    a valid UID whatever characters the commitment's uid holds.

    >>> invite_uid("learning-from-litigation-2018/sla-in-place")
    'a9998eb11be8377d1bb46e261faf9d34@duly'
    """
    return hashlib.sha256(commitment_uid.encode()).hexdigest()[:32] + "@duly"


def _zone(tzid: str) -> ZoneInfo:
    try:
        return ZoneInfo(tzid)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tzid!r}") from exc


# --------------------------------------------------------------------------------------
# The event
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CalendarEntry:
    """One commitment as a calendar event: when, for how long, how it recurs.

    ``when`` is a ``date`` for an all-day event (``duration`` then counts whole
    days, one by default) or a ``datetime`` for a timed one: naive means wall
    time in ``timezone``, aware is converted to it. ``rrule`` (without DTSTART)
    makes the event a series and ``when`` must be its first occurrence; an
    UNTIL must be a date for an all-day series and a UTC time for a timed one,
    as RFC 5545 requires and clients assume. ``sequence`` is the SEQUENCE to
    write. ``alarm_days_before`` adds a display alarm that many days before
    (09:00 local for an all-day event); ``None`` adds none.

    Raises ValueError when any of that does not hold, so a wrong event is never built.
    """

    commitment: Commitment
    response_title: str
    when: date | datetime
    duration: timedelta = ALL_DAY
    rrule: str | None = None
    sequence: int = 0
    timezone: str = "Europe/London"
    alarm_days_before: int | None = 7

    def __post_init__(self) -> None:
        _zone(self.timezone)
        if self.sequence < 0:
            raise ValueError(f"SEQUENCE cannot be negative, got {self.sequence}")
        if self.alarm_days_before is not None and not 0 <= self.alarm_days_before <= 3660:
            raise ValueError(f"alarm_days_before must be 0..3660, got {self.alarm_days_before}")
        if self.all_day:
            if self.duration < ALL_DAY or self.duration % ALL_DAY:
                raise ValueError(f"an all-day event lasts whole days, not {self.duration}")
        else:
            if self.duration <= timedelta(0):
                raise ValueError(f"an event must last some time, not {self.duration}")
            self._check_clock_changes()
        if self.rrule is not None:
            self._check_rrule(self.rrule)

    @property
    def all_day(self) -> bool:
        """True for a ``date`` (all-day) event, False for a timed one."""
        return not isinstance(self.when, datetime)

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.timezone)

    def _wall(self) -> datetime:
        assert isinstance(self.when, datetime)
        if self.when.tzinfo is None:
            return self.when
        return self.when.astimezone(self.zone).replace(tzinfo=None)

    @property
    def start(self) -> date | datetime:
        """DTSTART: the date, or the aware datetime in ``timezone``."""
        if self.all_day:
            return self.when
        return self._wall().replace(tzinfo=self.zone)

    @property
    def end(self) -> date | datetime:
        """DTEND: the day after the last day, or the start plus ``duration`` (elapsed time)."""
        start = self.start
        if isinstance(start, datetime):
            return (start.astimezone(UTC) + self.duration).astimezone(self.zone)
        return start + self.duration

    def _check_clock_changes(self) -> None:
        """Refuse wall times that a clock change skips or repeats: clients read them apart.

        RFC 5545 takes a repeated time (01:30 on the last Sunday of October in
        London) as its first occurrence, as icalendar does; ical.js and libical
        take the second. A series is refused when any occurrence at its time of
        day could run into such an hour, over the years :func:`vtimezone` covers.
        """
        zone = self.zone
        wall = self._wall()
        end = self.end
        assert isinstance(end, datetime)
        for label, moment in (("starts", wall), ("ends", end.replace(tzinfo=None))):
            if not _exists_once(zone, moment):
                raise ValueError(
                    f"the event {label} at {moment:%Y-%m-%d %H:%M}, which the clocks skip or "
                    f"repeat in {zone.key}; calendar clients read such a time differently"
                )
        if self.rrule is None:
            return
        length = self.duration
        for change in _changes(zone.key, wall.year - 1, max(wall.year + 2, 2040)):
            lo = (change.at + min(change.before, change.after)).replace(tzinfo=None)
            hi = (change.at + max(change.before, change.after)).replace(tzinfo=None)
            for back in range(length.days + 2):
                begin = datetime.combine(lo.date() - timedelta(days=back), wall.time())
                if begin < hi and begin + length >= lo:
                    raise ValueError(
                        f"a series at {wall:%H:%M} for {length} runs into the clock change "
                        f"of {lo:%Y-%m-%d} ({lo:%H:%M} to {hi:%H:%M} in {zone.key}); calendar "
                        "clients read such times differently, so pick another time of day"
                    )

    def _check_rrule(self, text: str) -> None:
        try:
            recur = vRecur.from_ical(text)
        except ValueError as exc:
            raise ValueError(f"RRULE {text!r} is not valid: {exc}") from exc
        if "DTSTART" in text.upper():
            raise ValueError("give the RRULE without DTSTART: the event's start is its DTSTART")
        until = recur.get("UNTIL")
        for value in until or ():
            if self.all_day and isinstance(value, datetime):
                raise ValueError(f"RRULE {text!r}: UNTIL of an all-day series must be a date")
            if not self.all_day and (
                not isinstance(value, datetime) or value.utcoffset() != timedelta(0)
            ):
                raise ValueError(f"RRULE {text!r}: UNTIL of a timed series must be in UTC")
        first = self._first_occurrence(text)
        start = self.start
        wall = (
            datetime.combine(start, time())
            if not isinstance(start, datetime)
            else start.replace(tzinfo=None)
        )
        if first != wall:
            raise ValueError(
                f"the series starts on {wall:%Y-%m-%d}, which is not an occurrence of "
                f"{text} (its first is {first:%Y-%m-%d} if any); clients disagree on such "
                "a start, so give the first occurrence"
            )

    def written_rrule(self) -> tuple[str, list[date | datetime]]:
        """The RRULE as written for clients, and the RDATEs that complete it.

        ical.js ignores BYSETPOS unless BYDAY alone picks the days, so the clipped
        month-end rule of :class:`~models.recurrence.Series`
        (``BYMONTHDAY=30,-1;BYSETPOS=1``: the 30th, or the last day of a shorter
        month) would show on the 30th *and* the 31st there. It is written as
        ``BYMONTHDAY=30``, which every client reads alike, plus one RDATE for each
        occurrence that rule misses (the ends of February) for
        :data:`RDATE_YEARS` years from the start. A start on such a day is one of
        those RDATEs too, so that every client counts it once (a DTSTART outside
        its RRULE alone is counted by some and not others). Any other rule is
        written as given.
        """
        assert self.rrule is not None
        plain = _unclipped(self.rrule)
        if plain is None:
            return self.rrule, []
        start = self.start
        naive = start.replace(tzinfo=None) if isinstance(start, datetime) else start
        first = naive if isinstance(naive, datetime) else datetime.combine(naive, time())
        horizon = first.replace(year=first.year + RDATE_YEARS, day=1)
        rule = self.rrule if self.all_day else _naive_until(self.rrule, self.zone)
        wanted = set(_between(rule, first, horizon))
        written = set(_between(_unclipped(rule) or plain, first, horizon))
        if not written <= wanted:  # pragma: no cover - a rule _unclipped should not pass
            raise ValueError(f"cannot write {self.rrule} without BYSETPOS")
        extra: list[date | datetime] = []
        for moment in sorted(wanted - written):
            if isinstance(start, datetime):
                extra.append(moment.replace(tzinfo=self.zone))
            else:
                extra.append(moment.date())
        return plain, extra

    def _first_occurrence(self, text: str) -> datetime | None:
        start = self.start
        if isinstance(start, datetime):
            dtstart = start.replace(tzinfo=None)
            text = _naive_until(text, self.zone)
        else:
            dtstart = datetime.combine(start, time())
        parsed = rrulestr(text, dtstart=dtstart)
        assert isinstance(parsed, rrule)
        for moment in parsed:
            return moment
        return None

    def event(
        self,
        *,
        now: datetime,
        status: Literal["CONFIRMED", "CANCELLED"] = "CONFIRMED",
        organizer: tuple[str, str] | None = None,
        attendee: Owner | None = None,
        comment: str | None = None,
    ) -> Event:
        """The VEVENT (no VTIMEZONE: :func:`_calendar` adds those)."""
        c = self.commitment
        ev = Event()
        ev.add("uid", invite_uid(c.uid))
        ev.add("dtstamp", _utc(now))
        ev.add("sequence", self.sequence)
        ev.add("summary", c.action)
        ev.add("description", self.description())
        ev.add("dtstart", self.start)
        ev.add("dtend", self.end)
        if self.rrule is not None:
            rule, extra = self.written_rrule()
            ev.add("rrule", vRecur.from_ical(rule))
            for day in extra:  # one value per RDATE: multi-value ones are misread
                ev.add("rdate", day)
        ev.add("status", status)
        ev.add("transp", "TRANSPARENT" if self.all_day else "OPAQUE")
        if comment:
            ev.add("comment", comment)
        if organizer is not None:
            email, name = organizer
            who = vCalAddress(f"mailto:{email}")
            who.params["CN"] = name
            ev.add("organizer", who)
        if attendee is not None:
            guest = vCalAddress(f"mailto:{attendee.email}")
            guest.params["CN"] = attendee.name
            guest.params["ROLE"] = "REQ-PARTICIPANT"
            guest.params["PARTSTAT"] = "NEEDS-ACTION"
            guest.params["RSVP"] = "TRUE"
            ev.add("attendee", guest)
        if self.alarm_days_before is not None and status != "CANCELLED":
            ev.add_component(self._alarm(self.alarm_days_before))
        return ev

    def _alarm(self, days: int) -> Alarm:
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        # Relative to the start: midnight for an all-day event, so ring at 09:00 instead.
        shift = timedelta(hours=ALARM_AT.hour, minutes=ALARM_AT.minute) if self.all_day else None
        trigger = -timedelta(days=days) + (shift or timedelta(0))
        alarm.add("trigger", trigger)
        when = "on the day" if days == 0 else f"in {days} day{'s' if days != 1 else ''}"
        alarm.add("description", f"Due {when}: {self.commitment.action}")
        return alarm

    def description(self) -> str:
        """DESCRIPTION: the words promised, where they are, and which commitment this is."""
        c = self.commitment
        lines = [
            f'"{c.quote}"',
            f"Paragraph {c.para}, recommendation {c.recommendation}: {self.response_title}",
        ]
        if self.rrule is not None and c.rrule:
            lines.append(f"Recurs {c.recurrence}.")
        lines.append(f"Commitment: {c.uid}")
        return "\n".join(lines)


def _exists_once(zone: ZoneInfo, wall: datetime) -> bool:
    """True when the wall time ``wall`` happens exactly once in ``zone``."""
    first = wall.replace(tzinfo=zone, fold=0).utcoffset()
    return first == wall.replace(tzinfo=zone, fold=1).utcoffset()


def _rule_parts(text: str) -> dict[str, str]:
    parts: dict[str, str] = {}
    for chunk in text.strip().split(";"):
        if chunk:
            name, _, value = chunk.partition("=")
            parts[name.strip().upper()] = value.strip().upper()
    return parts


def _unclipped(text: str) -> str | None:
    """``FREQ=MONTHLY;BYMONTHDAY=30,-1;BYSETPOS=1`` as ``...;BYMONTHDAY=30``, else None."""
    parts = _rule_parts(text)
    days = parts.get("BYMONTHDAY", "").split(",")
    if (
        parts.get("FREQ") != "MONTHLY"
        or parts.get("BYSETPOS") != "1"
        or len(days) != 2
        or days[1] != "-1"
        or not days[0].isdigit()
        or set(parts) - {"FREQ", "INTERVAL", "BYMONTHDAY", "BYSETPOS", "UNTIL", "WKST"}
    ):
        return None
    parts["BYMONTHDAY"] = days[0]
    del parts["BYSETPOS"]
    return ";".join(f"{k}={v}" for k, v in parts.items())


def _between(text: str, first: datetime, horizon: datetime) -> list[datetime]:
    parsed = rrulestr(text, dtstart=first, ignoretz=True)
    assert isinstance(parsed, rrule)
    return list(parsed.between(first, horizon, inc=True))


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime (DTSTAMP is written in UTC)")
    return now.astimezone(UTC)


def _naive_until(text: str, zone: ZoneInfo) -> str:
    """``text`` with a UTC UNTIL rewritten as wall time in ``zone``, for a naive dateutil."""
    parts = []
    for chunk in text.split(";"):
        name, _, value = chunk.partition("=")
        if name.strip().upper() == "UNTIL" and value.strip().upper().endswith("Z"):
            moment = datetime.strptime(value.strip().upper(), "%Y%m%dT%H%M%SZ")
            local = moment.replace(tzinfo=UTC).astimezone(zone).replace(tzinfo=None)
            chunk = f"UNTIL={local:%Y%m%dT%H%M%S}"
        parts.append(chunk)
    return ";".join(parts)


def calendar_entry(
    rules: RuleSet,
    commitment: Commitment,
    live_from: date,
    *,
    sequence: int = 0,
) -> CalendarEntry | None:
    """The event of a commitment under its rule, or None when it has no date of its own.

    ``live_from`` is the day the commitment became live (its response's
    publication, or the day the commitment it waits for was done), as the agenda
    counts it. All events are all-day (see the module doc):

    - ``deadline``: the due date.
    - ``recurring``: a series from its first occurrence, counted as the agenda
      does (from ``starts``, or one interval after ``live_from``), with the
      clipped RRULE of :class:`~models.recurrence.Series`.
    - ``duration``: the day it ends (``starts`` or ``live_from`` plus its length).
    - ``start``: the last day of the window it must begin in.
    - ``dependency``: None; it can begin any day once ready.

    The alarm is the rule's shortest lead time that is not 0, or none.
    """
    policy = rules.policy_of(commitment)
    title = rules.response_of(commitment).title
    leads = [n for n in policy.remind_before if n > 0]
    alarm = min(leads) if leads else None
    kind = policy.kind
    rule: str | None = None
    if kind == "deadline":
        if commitment.due is None:
            return None
        day = commitment.due.due
    elif kind == "recurring":
        if not commitment.rrule:
            return None
        if commitment.starts is not None:
            series = Series(commitment.rrule, commitment.starts.start, include_anchor=True)
        else:
            series = Series(commitment.rrule, live_from, include_anchor=False)
        first = series.first()
        if first is None:
            return None
        day, rule = first, series.rrule_text
    elif kind == "duration":
        if commitment.duration is None:
            return None
        begin = commitment.starts.start if commitment.starts is not None else live_from
        day = commitment.duration.after(begin, policy.working_calendar)
    elif kind == "start":
        if commitment.starts is None:
            return None
        day = commitment.starts.end
    else:
        return None
    return CalendarEntry(
        commitment=commitment,
        response_title=title,
        when=day,
        rrule=rule,
        sequence=sequence,
        timezone=policy.timezone,
        alarm_days_before=alarm,
    )


# --------------------------------------------------------------------------------------
# VTIMEZONE
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Change:
    """One clock change: the UTC instant, offsets either side, and how to name the day."""

    at: datetime  # aware, UTC
    before: timedelta
    after: timedelta
    daylight: bool
    name: str

    @property
    def onset(self) -> datetime:
        """The wall time just before the change, as DTSTART of an observance says it."""
        return (self.at + self.before).replace(tzinfo=None)

    @property
    def key(self) -> tuple[bool, int, time, timedelta, timedelta, str]:
        return (self.daylight, self.onset.month, self.onset.time(), self.before, self.after,
                self.name)  # fmt: skip

    @property
    def rules(self) -> list[str]:
        """The ways to say which day of the month this is, preferred first."""
        day = self.onset.date()
        weekday = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")[day.weekday()]
        following = day.replace(day=28) + timedelta(days=4)
        last = (following - timedelta(days=following.day)).day
        return [
            f"BYDAY=-{(last - day.day) // 7 + 1}{weekday}",
            f"BYDAY={(day.day - 1) // 7 + 1}{weekday}",
            f"BYMONTHDAY={day.day}",
        ]


def _state(zone: ZoneInfo, moment: datetime) -> tuple[timedelta, bool, str]:
    local = moment.astimezone(zone)
    return (local.utcoffset() or timedelta(0), bool(local.dst()), local.tzname() or "")


@lru_cache(maxsize=64)
def _changes(tzid: str, first_year: int, last_year: int) -> tuple[_Change, ...]:
    """Every clock change of ``tzid`` in the years ``first_year..last_year``, in order."""
    zone = ZoneInfo(tzid)
    out: list[_Change] = []
    day = datetime(first_year, 1, 1, tzinfo=UTC)
    stop = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    state = _state(zone, day)
    while day < stop:
        following = day + timedelta(days=1)
        new = _state(zone, following)
        if new != state:
            lo, hi = 0, 86_400  # seconds into the day: state at lo is old, at hi new
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _state(zone, day + timedelta(seconds=mid)) == state:
                    lo = mid
                else:
                    hi = mid
            at = day + timedelta(seconds=hi)
            out.append(_Change(at, state[0], new[0], new[1], new[2]))
            state = new
        day = following
    return tuple(out)


def vtimezone(tzid: str, since: date, until: date | None = None) -> Timezone:
    """A compact VTIMEZONE for ``tzid``, right from ``since`` on, that every client reads.

    One STANDARD and one DAYLIGHT observance with a yearly RRULE per run of years
    that keep the same rule (one of each for Europe/London since 1996), derived
    from zoneinfo over the years from the one before ``since`` to 2040 (or
    ``until``); the last rule found is taken to go on for ever, as zoneinfo's
    own rule does. A zone without clock changes gets one STANDARD observance.
    Instants before ``since`` may be wrong: pass the earliest date of the events.

    >>> text = vtimezone("Europe/London", date(2018, 4, 30)).to_ical().decode()
    >>> print(text.replace("\\r", "").strip())
    BEGIN:VTIMEZONE
    TZID:Europe/London
    BEGIN:DAYLIGHT
    DTSTART:20170326T010000
    RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
    TZNAME:BST
    TZOFFSETFROM:+0000
    TZOFFSETTO:+0100
    END:DAYLIGHT
    BEGIN:STANDARD
    DTSTART:20171029T020000
    RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
    TZNAME:GMT
    TZOFFSETFROM:+0100
    TZOFFSETTO:+0000
    END:STANDARD
    END:VTIMEZONE
    """
    zone = _zone(tzid)
    first_year = since.year - 1
    last_year = max(first_year + 2, 2040, until.year if until else 0)
    changes = _changes(zone.key, first_year, last_year)
    tz = Timezone()
    tz.add("tzid", zone.key)
    start = datetime.combine(since, time(), tzinfo=zone)
    if not changes or changes[0].at > start.astimezone(UTC):
        # Nothing says which offset holds on `since`: open with the one in force.
        opening = datetime(first_year, 1, 1, tzinfo=zone)
        offset, daylight, name = _state(zone, opening.astimezone(UTC))
        tz.add_component(
            _observance(daylight, opening.replace(tzinfo=None), offset, offset, name, None)
        )
    for run in _runs(changes):
        head, tail = run[0], run[-1]
        rule = None
        if tail.at.year == last_year or len(run) > 1:
            common = [r for r in head.rules if all(r in c.rules for c in run)]
            rule = f"FREQ=YEARLY;BYMONTH={head.onset.month};{common[0]}"
            if tail.at.year != last_year:
                # A day after the last onset: readers that compare UNTIL (UTC) with the
                # onset's local time, as icalendar's does, would drop an exact UNTIL.
                rule += f";UNTIL={tail.at + timedelta(days=1):%Y%m%dT%H%M%SZ}"
        tz.add_component(
            _observance(head.daylight, head.onset, head.before, head.after, head.name, rule)
        )
    return tz


def _runs(changes: Sequence[_Change]) -> list[list[_Change]]:
    """Group changes into runs that one yearly RRULE describes (same kind, day rule, times)."""
    runs: list[list[_Change]] = []
    open_runs: dict[tuple[bool, int, time, timedelta, timedelta, str], list[_Change]] = {}
    for change in changes:
        run = open_runs.get(change.key)
        if (
            run is not None
            and run[-1].at.year == change.at.year - 1
            and any(r in change.rules for r in run[0].rules if all(r in c.rules for c in run))
        ):
            run.append(change)
            continue
        run = [change]
        runs.append(run)
        open_runs[change.key] = run
    return runs


def _observance(
    daylight: bool,
    onset: datetime,
    before: timedelta,
    after: timedelta,
    name: str,
    rule: str | None,
) -> Component:
    part: Component = TimezoneDaylight() if daylight else TimezoneStandard()
    part.add("dtstart", onset)
    part.add("tzname", name)
    part.add("tzoffsetfrom", before)
    part.add("tzoffsetto", after)
    if rule is not None:
        part.add("rrule", vRecur.from_ical(rule))
    return part


def _bytes(cal: Calendar) -> bytes:
    data: bytes = cal.to_ical()
    return data


def _calendar(method: str | None, events: Iterable[tuple[CalendarEntry, Event]]) -> Calendar:
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    if method is not None:
        cal.add("method", method)
    pairs = list(events)
    earliest: dict[str, date] = {}  # every TZID written (UTC is written as Z, without one)
    for entry, event in pairs:
        tzid = event["DTSTART"].params.get("TZID")
        start = entry.start
        if tzid and isinstance(start, datetime):
            earliest[tzid] = min(start.date(), earliest.get(tzid, start.date()))
    for key in sorted(earliest):
        cal.add_component(vtimezone(key, earliest[key]))
    for _, event in pairs:
        cal.add_component(event)
    return cal


# --------------------------------------------------------------------------------------
# REQUEST, CANCEL, feed
# --------------------------------------------------------------------------------------


def invite_request(
    commitment: Commitment,
    owner: Owner,
    organizer_email: str,
    *,
    response_title: str,
    sequence: int,
    now: datetime,
    when: date | datetime,
    duration: timedelta = ALL_DAY,
    rrule: str | None = None,
    timezone: str = "Europe/London",
    alarm_days_before: int | None = 7,
    organizer_name: str = "duly",
) -> bytes:
    """An iTIP REQUEST inviting ``owner`` to the commitment's event (or series).

    The first invite has ``sequence`` 0; every later change (new date, new
    owner, new wording) is sent with the SEQUENCE raised, and the UID stays
    :func:`invite_uid` of the commitment. See :class:`CalendarEntry` for
    ``when``, ``duration``, ``rrule`` and the alarm. ``now`` is the DTSTAMP.
    """
    entry = CalendarEntry(
        commitment=commitment,
        response_title=response_title,
        when=when,
        duration=duration,
        rrule=rrule,
        sequence=sequence,
        timezone=timezone,
        alarm_days_before=alarm_days_before,
    )
    return request(entry, owner, organizer_email, now=now, organizer_name=organizer_name)


def request(
    entry: CalendarEntry,
    owner: Owner,
    organizer_email: str,
    *,
    now: datetime,
    organizer_name: str = "duly",
) -> bytes:
    """:func:`invite_request` for a ready :class:`CalendarEntry` (from :func:`calendar_entry`)."""
    event = entry.event(now=now, organizer=(organizer_email, organizer_name), attendee=owner)
    return _bytes(_calendar("REQUEST", [(entry, event)]))


def invite_cancel(
    commitment: Commitment,
    owner: Owner,
    organizer_email: str,
    *,
    response_title: str,
    sequence: int,
    now: datetime,
    when: date | datetime,
    duration: timedelta = ALL_DAY,
    rrule: str | None = None,
    timezone: str = "Europe/London",
    reason: str | None = None,
    organizer_name: str = "duly",
) -> bytes:
    """An iTIP CANCEL of the commitment's event (the whole series), sent to ``owner``.

    ``owner`` is the attendee who was invited (the former owner when a commitment
    is reassigned: they get this CANCEL and the new owner a REQUEST, both with
    the raised SEQUENCE). ``sequence`` must be higher than the last REQUEST's;
    the caller stores it. The event's dates are repeated so that a client that
    never saw the invite still shows what was cancelled; ``reason`` goes in a COMMENT.
    """
    entry = CalendarEntry(
        commitment=commitment,
        response_title=response_title,
        when=when,
        duration=duration,
        rrule=rrule,
        sequence=sequence,
        timezone=timezone,
        alarm_days_before=None,
    )
    return cancel(
        entry, owner, organizer_email, now=now, reason=reason, organizer_name=organizer_name
    )


def cancel(
    entry: CalendarEntry,
    owner: Owner,
    organizer_email: str,
    *,
    now: datetime,
    reason: str | None = None,
    organizer_name: str = "duly",
) -> bytes:
    """:func:`invite_cancel` for a ready :class:`CalendarEntry`; its alarm is left out."""
    event = entry.event(
        now=now,
        status="CANCELLED",
        organizer=(organizer_email, organizer_name),
        attendee=owner,
        comment=reason,
    )
    return _bytes(_calendar("CANCEL", [(entry, event)]))


def owner_feed(
    entries: Iterable[CalendarEntry], *, now: datetime, name: str | None = None
) -> bytes:
    """A subscribable calendar (no METHOD) of ``entries``, with the UIDs their invites have.

    Meant for one owner's open commitments and series; which those are is the
    caller's choice. There is no ORGANIZER or ATTENDEE (a feed invites nobody),
    and two entries for one commitment are refused (ValueError): a UID names one
    event. ``name`` becomes X-WR-CALNAME, the name clients show for the feed.
    """
    pairs = []
    seen: set[str] = set()
    for entry in entries:
        if entry.commitment.uid in seen:
            raise ValueError(f"two feed entries for {entry.commitment.uid}")
        seen.add(entry.commitment.uid)
        pairs.append((entry, entry.event(now=now)))
    cal = _calendar(None, pairs)
    if name:
        cal.add("x-wr-calname", name)
    return _bytes(cal)


# --------------------------------------------------------------------------------------
# REPLY
# --------------------------------------------------------------------------------------

RejectCode = Literal[
    "too-large",
    "malformed",
    "not-a-reply",
    "events",
    "unknown-uid",
    "attendee",
    "partstat",
    "sequence",
    "replayed",
    "mime",
    "no-calendar",
]


class ReplyRejected(ValueError):
    """A REPLY that changes nothing, and why; ``code`` says which check it failed.

    Codes: ``too-large``, ``malformed``, ``not-a-reply`` (METHOD is not REPLY),
    ``events`` (not exactly one VEVENT), ``unknown-uid``, ``attendee`` (not the
    invited attendee: spoofed, or a forward), ``partstat``, ``sequence`` (higher
    than any duly sent), ``replayed`` (no newer than the reply already recorded);
    and, from reading an email (``flows/replies.py``), ``mime`` and ``no-calendar``.
    ``uid`` is the UID the REPLY named, when it got that far.
    """

    def __init__(self, code: RejectCode, message: str, *, uid: str | None = None) -> None:
        super().__init__(f"REPLY rejected ({code}): {message}")
        self.code: RejectCode = code
        self.uid = uid


@dataclass(frozen=True)
class Reply:
    """An owner's answer to an invite, checked.

    ``attendee`` is the address as invited (lower case, without ``mailto:``).
    ``stale`` is True when the REPLY answers an older SEQUENCE than the current
    one: the owner answered an earlier version (before the date moved, say),
    which is still their answer until they answer again. ``delegated_to`` lists
    the delegates of a DELEGATED reply. ``recurrence_id`` is set when the answer
    is for one occurrence of a series only.
    """

    uid: str
    attendee: str
    partstat: str
    sequence: int
    dtstamp: datetime  # aware, UTC
    comment: str | None = None
    delegated_to: tuple[str, ...] = ()
    recurrence_id: date | datetime | None = None
    stale: bool = False


def _address(value: object) -> str | None:
    """The email of a ``mailto:`` calendar address, lower case; None for any other URI."""
    text = str(value).strip()
    if text[:7].lower() != "mailto:":
        return None
    email = text[7:].strip().lower()
    return email if "@" in email else None


def parse_reply(
    data: bytes,
    *,
    known: Mapping[str, tuple[str, int]],
    recorded: Mapping[str, datetime] | None = None,
) -> Reply:
    """Check an iTIP REPLY and return what it says; raise :class:`ReplyRejected` otherwise.

    ``known`` maps each UID duly has invited someone to (see :func:`invite_uid`)
    to ``(attendee email, current SEQUENCE)``. The REPLY must be METHOD:REPLY with
    exactly one VEVENT, a known UID, the invited attendee (emails compared
    without case), a SEQUENCE no higher than the current one (older is accepted
    and marked ``stale``), a DTSTAMP in UTC and a PARTSTAT of :data:`PARTSTATS`
    (DELEGATED with DELEGATED-TO). A REPLY has one ATTENDEE; a DELEGATED one may
    also list its delegates. ``recorded`` maps a UID to the DTSTAMP of the reply
    already recorded for it: one stamped at or before that is ``replayed`` (the
    same file ingested twice, or mail delivered out of order), so ingesting is
    idempotent. Input over :data:`MAX_REPLY_BYTES` is refused before it is parsed.
    """
    if len(data) > MAX_REPLY_BYTES:
        raise ReplyRejected(
            "too-large", f"{len(data):,} bytes is over the limit of {MAX_REPLY_BYTES:,}"
        )
    try:
        cal = Calendar.from_ical(data)
    except Exception as exc:  # icalendar raises ValueError, and others on odd input
        raise ReplyRejected("malformed", f"not an iCalendar object: {exc}") from exc
    if not isinstance(cal, Calendar) or cal.name != "VCALENDAR":
        raise ReplyRejected("malformed", "the object is not a VCALENDAR")
    if isinstance(cal.get("METHOD"), list):
        raise ReplyRejected("malformed", "METHOD given more than once")
    method = str(cal.get("METHOD", "")).strip().upper()
    if method != "REPLY":
        raise ReplyRejected("not-a-reply", f"METHOD is {method or 'missing'}, not REPLY")
    events = [c for c in cal.subcomponents if c.name == "VEVENT"]
    others = sorted({str(c.name) for c in cal.subcomponents if c.name in ("VTODO", "VJOURNAL")})
    if len(events) != 1 or others:
        found = f"{len(events)} VEVENTs" + (f" and {', '.join(others)}" if others else "")
        raise ReplyRejected("events", f"a REPLY carries exactly one VEVENT, this has {found}")
    event = events[0]
    assert isinstance(event, Event)
    twice = sorted(n for n in _SINGLE if isinstance(event.get(n), list))
    if twice:
        raise ReplyRejected("malformed", f"{', '.join(twice)} given more than once")
    uid = str(event.get("UID", "")).strip()
    if not uid:
        raise ReplyRejected("malformed", "the VEVENT has no UID")
    if uid not in known:
        raise ReplyRejected("unknown-uid", f"UID {uid} is not an invite duly sent", uid=uid)
    broken = sorted({str(name) for name, _ in [*cal.errors, *event.errors]})
    if broken:
        raise ReplyRejected("malformed", f"unreadable {', '.join(broken)}", uid=uid)
    invited, current = known[uid]
    invited = invited.strip().lower()
    attendee, delegates = _replying_attendee(event, invited, uid)
    params = attendee.params
    partstat = str(params.get("PARTSTAT", "")).strip().upper()
    if partstat not in PARTSTATS:
        raise ReplyRejected(
            "partstat",
            f"PARTSTAT is {partstat or 'missing'}; a reply is one of {', '.join(PARTSTATS)}",
            uid=uid,
        )
    if partstat == "DELEGATED" and not delegates:
        raise ReplyRejected("partstat", "DELEGATED without a mailto: DELEGATED-TO", uid=uid)
    raw_sequence = event.get("SEQUENCE", 0)
    sequence = int(raw_sequence)
    if sequence < 0:
        raise ReplyRejected("malformed", f"SEQUENCE {sequence} is negative", uid=uid)
    if sequence > current:
        raise ReplyRejected(
            "sequence",
            f"SEQUENCE {sequence} is newer than the {current} duly sent for {uid}",
            uid=uid,
        )
    stamp = event.get("DTSTAMP")
    moment = stamp.dt if stamp is not None else None
    if not isinstance(moment, datetime) or moment.utcoffset() != timedelta(0):
        raise ReplyRejected("malformed", "DTSTAMP is missing or not a UTC date-time", uid=uid)
    moment = moment.astimezone(UTC)
    last = (recorded or {}).get(uid)
    if last is not None and moment <= last:
        raise ReplyRejected(
            "replayed",
            f"stamped {moment:%Y-%m-%dT%H:%M:%SZ}, no newer than the reply recorded "
            f"at {last.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
            uid=uid,
        )
    comments = event.get("COMMENT")
    if comments is None:
        comment = None
    else:
        items = comments if isinstance(comments, list) else [comments]
        comment = "\n".join(str(c) for c in items).strip() or None
    recurrence = event.get("RECURRENCE-ID")
    return Reply(
        uid=uid,
        attendee=invited,
        partstat=partstat,
        sequence=sequence,
        dtstamp=moment,
        comment=comment,
        delegated_to=delegates,
        recurrence_id=recurrence.dt if recurrence is not None else None,
        stale=sequence < current,
    )


def _replying_attendee(
    event: Event, invited: str, uid: str
) -> tuple[vCalAddress, tuple[str, ...]]:
    """The invited ATTENDEE of a REPLY and its delegates; anyone else there is refused."""
    raw = event.get("ATTENDEE")
    attendees: list[vCalAddress] = (
        [] if raw is None else list(raw) if isinstance(raw, list) else [raw]
    )
    mine = [a for a in attendees if _address(a) == invited]
    if not mine:
        named = ", ".join(str(a) for a in attendees) or "no ATTENDEE"
        raise ReplyRejected("attendee", f"from {named}, but {uid} was sent to {invited}", uid=uid)
    if len(mine) > 1:
        raise ReplyRejected("attendee", f"{invited} appears {len(mine)} times", uid=uid)
    attendee = mine[0]
    to = attendee.params.get("DELEGATED-TO")
    targets = [] if to is None else list(to) if isinstance(to, list) else [to]
    delegates = tuple(d for d in (_address(t) for t in targets) if d is not None)
    for other in attendees:
        if other is attendee:
            continue
        if _address(other) not in delegates:
            raise ReplyRejected(
                "attendee",
                f"a REPLY speaks for one attendee; it also names {other}",
                uid=uid,
            )
    return attendee, delegates
