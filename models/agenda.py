"""The agenda: every step that must happen for every live commitment, and when.

Given the rules, the commitments' states and a window of time,
:func:`compile_agenda` lists each reminder, due notice, overdue repeat,
escalation and invite, with its instant (UTC) and a stable idempotency key
``<commitment uid>#<step>@<occurrence>``. The same key identifies the step in the
materialised agenda table and in the delivery log, so a step is sent at most once
however often the agenda is recompiled.

What each kind of rule produces (``n`` are the rule's ``remind_before`` days):

- ``deadline``: ``invite`` when the commitment becomes live; ``remind-<n>d`` n days
  before the due date; ``due`` on it (``remind_before`` 0); ``overdue-<k>`` every
  ``overdue_every`` days after it, ``overdue_repeats`` times; ``escalate`` after
  ``escalate_after`` days, to the owner's ``escalate_to``, then ``escalate-2`` after
  as long again to *their* ``escalate_to``, and so on up the chain to its top.
- ``recurring``: per occurrence, ``remind-<n>d`` and ``due``; one ``invite`` for the
  whole series. A series with no ``starts`` first falls due one interval after the
  day it became live (an annual review of an SLA is a year after the SLA is in place).
- ``duration``: ``start``, ``midpoint`` (if asked), ``remind-<n>d`` before the end,
  ``end``, and ``evaluate`` when the evaluation is due (``evaluate_within``).
- ``start``: ``remind-<n>d`` before the period opens, ``start`` when it opens,
  ``not-started`` the day after it closes and ``escalate`` later, all only while
  the commitment is still ``open`` (``in_progress`` means it has started).
- ``dependency``: ``ready`` when the commitment it waits for is done, and
  ``escalate`` if it is still ``open`` later.

Days count as the rule says (``days: calendar`` or ``working``, UK bank holidays of
the rule's nation). With ``send_on: working-days`` a step that falls on a weekend or
bank holiday moves to a working day: earlier when it comes before or on the due
date (a reminder must never arrive late), later when it comes after.

A commitment that is done, missed, dropped or superseded has no steps. A
commitment with ``after:`` has none until that commitment is done, and nothing
dated before that day. This module does no I/O and reads no clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from models.dates import Period, midpoint
from models.recurrence import Series
from models.rules import Commitment, Policy, RuleSet

__all__ = [
    "FINISHED",
    "STATES",
    "AgendaItem",
    "AgendaRows",
    "CommitmentStatus",
    "commitment_steps",
    "compile_agenda",
]

STATES = ("open", "in_progress", "done", "missed", "dropped", "superseded")
FINISHED = frozenset({"done", "missed", "dropped", "superseded"})

_OPEN = "open"
_UNSNOOZABLE = frozenset({"invite"})
_FOREVER = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class CommitmentStatus:
    """A commitment's current state and when it entered it (aware datetime).

    ``snoozed_until`` is the day an owner asked to be left alone until: reminders
    before it are not sent (escalations and invites still are, so a snooze can
    quieten a commitment but never hide it).
    """

    state: str = _OPEN
    since: datetime | None = None
    snoozed_until: date | None = None


@dataclass(frozen=True, order=True)
class AgendaItem:
    """One step due at one instant. Ordered by instant, then key."""

    at: datetime  # aware, UTC
    key: str
    commitment: str
    rule: str
    step: str
    occurrence: date
    recipient: str  # owner id
    reason: str
    template: str
    expires: datetime  # aware, UTC: after this the step is skipped, never sent late

    def as_dict(self) -> dict[str, str]:
        return {
            "at": self.at.isoformat(),
            "key": self.key,
            "commitment": self.commitment,
            "rule": self.rule,
            "step": self.step,
            "occurrence": self.occurrence.isoformat(),
            "recipient": self.recipient,
            "reason": self.reason,
            "template": self.template,
            "expires": self.expires.isoformat(),
        }


class _Days:
    """The day arithmetic of one policy's settings, remembered: a portfolio's
    commitments share a few hundred dates, so each answer is worked out once."""

    def __init__(self, policy: Policy) -> None:
        self.working = policy.days == "working"
        self.any_day = policy.send_on == "any-day"
        self.cal = policy.working_calendar
        self.zone = policy.zone
        self.time = policy.time
        self.too_late_after = policy.too_late_after
        self._shifted: dict[tuple[date, int], date] = {}
        self._sent: dict[tuple[date, bool], date] = {}
        self._instants: dict[date, datetime] = {}
        self._late: dict[date, datetime] = {}

    def shift(self, day: date, n: int) -> date:
        shifted = self._shifted.get((day, n))
        if shifted is None:
            shifted = self.cal.add_working_days(day, n) if self.working else day + timedelta(n)
            self._shifted[day, n] = shifted
        return shifted

    def send_day(self, day: date, early: bool) -> date:
        if self.any_day:
            return day
        sent = self._sent.get((day, early))
        if sent is None:
            sent = self.cal.roll_back(day) if early else self.cal.roll_forward(day)
            self._sent[day, early] = sent
        return sent

    def instant(self, day: date) -> datetime:
        at = self._instants.get(day)
        if at is None:
            at = datetime.combine(day, self.time, tzinfo=self.zone).astimezone(UTC)
            self._instants[day] = at
        return at

    def too_late(self, send: date) -> datetime:
        """When a step sent on ``send`` is too late: N working days on."""
        late = self._late.get(send)
        if late is None:
            late = self.instant(self.cal.add_working_days(send, self.too_late_after))
            self._late[send] = late
        return late


_DAYS: dict[tuple[object, ...], _Days] = {}


def _days(policy: Policy) -> _Days:
    """The shared :class:`_Days` of every policy with ``policy``'s day settings."""
    settings = (
        policy.days,
        policy.send_on,
        policy.calendar,
        policy.timezone,
        policy.time,
        policy.too_late_after,
    )
    days = _DAYS.get(settings)
    if days is None:
        days = _DAYS[settings] = _Days(policy)
    return days


def _escalation_chain(rules: RuleSet, owner: str) -> tuple[str, ...]:
    """Who ``owner``'s commitments escalate to, in turn: their ``escalate_to``, then
    theirs, up to someone who escalates to nobody (or back to someone in the chain)."""
    chain: list[str] = []
    holder = rules.owners.get(owner)
    while holder is not None and holder.escalate_to and holder.escalate_to not in chain:
        if holder.escalate_to == owner:
            break
        chain.append(holder.escalate_to)
        holder = rules.owners.get(holder.escalate_to)
    return tuple(chain)


class _Steps:
    """Builds the steps of one commitment under one policy.

    What it reads of the commitment must also be in :func:`_signature` (or be one
    of the words :class:`AgendaRows` fills in: uid, action, owner), and where it
    uses ``live_from`` other than to drop what comes before it and to date the
    invite, :func:`_counts_from_live` must say so.
    """

    def __init__(
        self,
        rules: RuleSet,
        c: Commitment,
        policy: Policy,
        live_from: date,
        chain: tuple[str, ...] | None = None,
    ):
        self.c = c
        self.p = policy
        self.days = _days(policy)
        self.cal = self.days.cal
        self.live_from = live_from
        self.rules = rules
        self.chain = chain  # None: the owner's, from the rules
        # For a template (see AgendaRows): the steps sent before this day are dropped
        # (date.min: none), and ``sent`` records each step's send day by key.
        self.keep_from = live_from
        self.sent: dict[str, date] | None = None
        self.repeated = False  # two steps had one key (``sent`` only)

    # -- arithmetic --------------------------------------------------------------
    def shift(self, day: date, n: int) -> date:
        return self.days.shift(day, n)

    def send_day(self, day: date, *, early: bool) -> date:
        return self.days.send_day(day, early)

    def instant(self, day: date) -> datetime:
        return self.days.instant(day)

    def unit(self, n: int) -> str:
        kind = "working day" if self.p.days == "working" else "day"
        return f"{n} {kind}{'s' if n != 1 else ''}"

    # -- one step ----------------------------------------------------------------
    def item(
        self,
        step: str,
        day: date,
        occurrence: date,
        reason: str,
        *,
        early: bool,
        recipient: str | None = None,
        expires: datetime | None = None,
        useful_until: datetime | None = None,
    ) -> AgendaItem | None:
        send = self.send_day(day, early=early)
        if send < self.keep_from:
            return None
        at = self.instant(send)
        # too late after N working days, so a bank-holiday weekend never eats a reminder
        late = self.days.too_late(send)
        key = f"{self.c.uid}#{step}@{occurrence.isoformat()}"
        if self.sent is not None:
            self.repeated = self.repeated or key in self.sent
            self.sent.setdefault(key, send)
        return AgendaItem(
            at=at,
            key=key,
            commitment=self.c.uid,
            rule=self.p.id,
            step=step,
            occurrence=occurrence,
            recipient=recipient or self.c.owner,
            reason=reason,
            template=self.p.template,
            expires=useful_until
            if useful_until is not None
            else min(late, expires)
            if expires is not None
            else late,
        )

    def reminders(self, target: date, what: str) -> Iterator[AgendaItem | None]:
        """remind-<n>d before ``target`` and, for n = 0, ``due`` on it."""
        for n in self.p.remind_before:
            if n == 0:
                send = self.send_day(target, early=True)
                when = "today" if send == target else f"on {target:%A}"
                yield self.item(
                    "due",
                    target,
                    target,
                    f"'{self.c.action}' is due {when}, {target.isoformat()}",
                    early=True,
                )
            else:
                yield self.item(
                    f"remind-{n}d",
                    self.shift(target, -n),
                    target,
                    f"{self.unit(n)} before '{self.c.action}' {what} {target.isoformat()}",
                    early=True,
                    expires=self.instant(target) + timedelta(days=1),
                )

    def escalation(self, base: date, late_what: str) -> Iterator[AgendaItem | None]:
        """The escalation chain: ``escalate`` to the owner's escalate_to after
        ``escalate_after``, then ``escalate-2`` to theirs after as long again, and so
        on up to someone who escalates to nobody."""
        if self.p.escalate_after is None:
            return
        n = self.p.escalate_after
        chain = self.chain
        if chain is None:
            chain = _escalation_chain(self.rules, self.c.owner)
        for level, recipient in enumerate(chain, start=1):
            step = "escalate" if level == 1 else f"escalate-{level}"
            after = n * level
            source = self.c.owner if level == 1 else chain[level - 2]
            yield self.item(
                step,
                self.shift(base, after),
                base,
                f"'{self.c.action}' {late_what} {self.unit(after)} ago "
                f"({base.isoformat()}); escalated from {source}",
                early=False,
                recipient=recipient,
            )

    def invite(self, occurrence: date, what: str, *, series: bool = False) -> AgendaItem | None:
        """The calendar invite, sent when the commitment becomes live. Unlike a
        reminder it is never too late while its day is ahead (a series: ever), so a
        commitment that duly learns of late still reaches its owner's calendar."""
        if not self.p.invite:
            return None
        return self.item(
            "invite",
            self.live_from,
            occurrence,
            f"calendar invite: '{self.c.action}' {what}",
            early=False,
            useful_until=_FOREVER if series else self.instant(occurrence),
        )

    # -- kinds -------------------------------------------------------------------
    def deadline(self, end: date) -> Iterator[AgendaItem | None]:
        due = self.c.due.due if self.c.due else None
        if due is None:
            return
        yield self.invite(due, f"due {due.isoformat()}")
        yield from self.reminders(due, "is due on")
        if self.p.overdue_every:
            for k in range(1, self.p.overdue_repeats + 1):
                day = self.shift(due, k * self.p.overdue_every)
                if day > end:
                    break
                yield self.item(
                    f"overdue-{k}",
                    day,
                    due,
                    f"'{self.c.action}' was due on {due.isoformat()} and is not "
                    f"done (overdue reminder {k} of {self.p.overdue_repeats})",
                    early=False,
                )
        yield from self.escalation(due, "was due")

    def recurring(self, start: date, end: date) -> Iterator[AgendaItem | None]:
        if not self.c.rrule:
            return
        if self.c.starts is not None:
            series = Series(self.c.rrule, self.c.starts.start, include_anchor=True)
        else:
            series = Series(self.c.rrule, self.live_from, include_anchor=False)
        every = self.c.recurrence
        first = series.first()
        if first is not None:
            yield self.invite(first, f"{every} from {first.isoformat()}", series=True)
        lead = max(self.p.remind_before, default=0)
        slack = lead * 2 + 14 if self.p.days == "working" else lead + 7
        for occ in series.occurrences(start - timedelta(days=7), end + timedelta(days=slack)):
            yield from self.reminders(occ, f"({every}) falls on")

    def duration(self) -> Iterator[AgendaItem | None]:
        length = self.c.duration
        begin = self.c.starts.start if self.c.starts is not None else self.live_from
        if length is None:
            return
        finish = length.after(begin, self.cal)
        period = Period(begin, finish, length.text)
        span = f"{begin.isoformat()} to {finish.isoformat()}"
        yield self.invite(finish, f"runs {span}")
        yield self.item(
            "start",
            begin,
            finish,
            f"'{self.c.action}' starts today and runs {length.text} (to {finish.isoformat()})",
            early=False,
        )
        if self.p.midpoint:
            yield self.item(
                "midpoint",
                midpoint(begin, finish),
                finish,
                f"'{self.c.action}' is halfway ({span})",
                early=False,
            )
        yield from self.reminders(finish, "ends on")
        yield self.item(
            "end", finish, finish, f"'{self.c.action}' ends today ({span})", early=True
        )
        if self.p.evaluate_within is not None:
            due = self.p.evaluate_within.after(period.end, self.cal)
            yield self.item(
                "evaluate",
                due,
                finish,
                f"the evaluation of '{self.c.action}' ({span}) is due on {due.isoformat()}",
                early=True,
            )

    def start(self) -> Iterator[AgendaItem | None]:
        window = self.c.starts
        if window is None:
            return
        opens, closes = window.start, window.end
        for n in self.p.remind_before:
            if n:
                yield self.item(
                    f"remind-{n}d",
                    self.shift(opens, -n),
                    opens,
                    f"'{self.c.action}' is to begin {window.text} "
                    f"({opens.isoformat()} to {closes.isoformat()})",
                    early=True,
                    expires=self.instant(closes),
                )
        yield self.item(
            "start",
            opens,
            opens,
            f"'{self.c.action}' is to begin {window.text}, by {closes.isoformat()}",
            early=False,
            expires=self.instant(closes),
        )
        yield self.item(
            "not-started",
            closes + timedelta(days=1),
            opens,
            f"'{self.c.action}' was to begin {window.text} and has not been marked as started",
            early=False,
        )
        yield from self.escalation(closes, "was to begin by")

    def dependency(self) -> Iterator[AgendaItem | None]:
        yield self.item(
            "ready",
            self.live_from,
            self.live_from,
            f"'{self.c.action}' can now begin: what it waited for is done",
            early=False,
        )
        yield from self.escalation(self.live_from, "could begin")


def _live_from(
    rules: RuleSet, c: Commitment, states: Mapping[str, CommitmentStatus], policy: Policy
) -> date | None:
    """The day a commitment becomes live: publication, or the day its predecessor was done."""
    if c.after is None:
        return rules.responses[c.response_id].published
    before = states.get(c.after)
    if before is None or before.state != "done" or before.since is None:
        return None
    return before.since.astimezone(policy.zone).date()


def live_from(
    rules: RuleSet, c: Commitment, states: Mapping[str, CommitmentStatus]
) -> date | None:
    """The day ``c`` becomes live, or None while the commitment it waits for is not done.

    Publication of its response, or the day (in its rule's time zone) its ``after:``
    predecessor was done, as the agenda counts it; ``states`` maps uids to statuses.
    """
    return _live_from(rules, c, states, rules.policies[c.rule])


def commitment_steps(
    rules: RuleSet,
    c: Commitment,
    status: CommitmentStatus,
    states: Mapping[str, CommitmentStatus],
    start: date,
    end: date,
) -> Iterator[AgendaItem]:
    """Every step of one commitment; recurring series are expanded up to ``end``."""
    live = _live(rules, c, status, states)
    if live is not None:
        policy, live_from = live
        yield from _steps(_Steps(rules, c, policy, live_from), status, start, end)


def _live(
    rules: RuleSet,
    c: Commitment,
    status: CommitmentStatus,
    states: Mapping[str, CommitmentStatus],
) -> tuple[Policy, date] | None:
    """The rule of a commitment that has steps, and the day it became live; None for a
    finished commitment, or one still waiting for its predecessor."""
    if status.state in FINISHED:
        return None
    policy = rules.policies[c.rule]
    live_from = _live_from(rules, c, states, policy)
    return None if live_from is None else (policy, live_from)


def _counts_from_live(kind: str, c: Commitment) -> bool:
    """Whether the steps count from the day the commitment became live: a dependency,
    a series or a duration with no dates of their own. Otherwise that day only drops
    the steps sent before it, and dates the invite."""
    return kind == "dependency" or (kind in ("recurring", "duration") and c.starts is None)


def _steps(
    steps: _Steps, status: CommitmentStatus, start: date, end: date
) -> Iterator[AgendaItem]:
    """The steps of a commitment that is not finished and is live."""
    policy = steps.p
    kind = policy.kind
    if kind in ("start", "dependency") and status.state != _OPEN:
        return
    generated = {
        "deadline": lambda: steps.deadline(end),
        "recurring": lambda: steps.recurring(start, end),
        "duration": steps.duration,
        "start": steps.start,
        "dependency": steps.dependency,
    }[kind]()
    seen: set[str] = set()
    quiet = status.snoozed_until
    for item in generated:
        if item is None or item.key in seen:
            continue
        if (
            quiet is not None
            and item.step not in _UNSNOOZABLE
            and (
                item.step.partition("-")[0] != "escalate"
                and item.at.astimezone(policy.zone).date() < quiet
            )
        ):
            continue
        seen.add(item.key)
        yield item


# -- many commitments at once, as table rows ------------------------------------------
#
# A commitment's steps depend on its rule, dates, state, the day it became live and
# how long its owner's escalation chain is; its uid, action, owner and the people in
# that chain are only words put into the keys, reasons and recipients. So the steps
# are worked out once per such signature, as a template, with marks where those words
# go (mark i is "\x00<i>\x00": 0 the action, 1 the owner, 2... the chain), and each
# commitment's rows are the template with its own words filled in.

_MARK = re.compile("\x00([0-9]+)\x00")
_ACTION, _OWNER, _CHAIN = 0, 1, 2  # the words' places: (action, owner, *chain)


def _mark(place: int) -> str:
    return f"\x00{place}\x00"


def _format(reason: str) -> str:
    """A marked reason as a format string: the marks become ``{i}``, braces are doubled."""
    parts = _MARK.split(reason)  # text, place, text, place, ..., text
    return "".join(
        part.replace("{", "{{").replace("}", "}}") if k % 2 == 0 else f"{{{part}}}"
        for k, part in enumerate(parts)
    )


def _signature(
    c: Commitment,
    kind: str,
    status: CommitmentStatus,
    live_from: date | None,
    start: date,
    chain: int,
) -> tuple[object, ...] | None:
    """What a commitment's steps depend on besides its words (see :class:`_Steps`), or
    None when its own texts could be mistaken for marks (then it has no template).
    ``live_from`` is None for a template that drops steps before it when filled in.
    Periods and spans compare without their wording, which reasons quote: it is added."""
    due, starts, length, rrule = c.due, c.starts, c.duration, c.rrule
    texts = (due.text if due else "", starts.text if starts else "", length.text if length else "")
    if "\x00" in "".join(texts) or (rrule is not None and "\x00" in rrule):
        return None
    since = start if kind == "recurring" else None  # only a series counts from ``start``
    return (
        c.rule,
        (due.start, due.end) if due else None,  # a Period hashes slowly
        (starts.start, starts.end) if starts else None,
        length,
        texts,
        rrule,
        live_from,
        since,
        status.state,
        status.snoozed_until,
        chain,
    )


Encode = Callable[[Any], Any]
# (key after the uid, step, occurrence, at (None: when it becomes live), expires,
#  recipient's place in the words, reason's format string, the day it is sent: a
#  commitment live after it has no such step; date.max in a template made for one day)
_Entry = tuple[str, str, Any, Any, Any, int, str, date]


def _same(value: Any) -> Any:
    return value


class AgendaRows:
    """The agenda-table rows of many commitments, as :func:`commitment_steps` gives
    them, each commitment's steps from its response's publication up to ``end``.

    A row is a tuple in the order of :attr:`FIELDS` (an :class:`AgendaItem`'s fields).
    Dates and instants go through ``encode_date`` and ``encode_instant`` (for the
    database's own format; unchanged by default) once per distinct value. Keep one
    instance for the commitments of one compile: templates are shared between calls.
    """

    FIELDS = (
        "key",
        "commitment",
        "rule",
        "step",
        "occurrence",
        "at",
        "expires",
        "recipient",
        "reason",
        "template",
    )
    MAX_TEMPLATES = 1 << 16  # then start afresh: memory stays bounded

    def __init__(
        self,
        rules: RuleSet,
        states: Mapping[str, CommitmentStatus],
        end: date,
        *,
        encode_date: Encode = _same,
        encode_instant: Encode = _same,
    ) -> None:
        self.rules = rules
        self.states = states
        self.end = end
        self.encode_date = encode_date
        self.encode_instant = encode_instant
        self._templates: dict[tuple[object, ...], tuple[_Entry, ...]] = {}
        self._chains: dict[str, tuple[str, ...]] = {}
        self._encoded: dict[date, Any] = {}
        self._invited: dict[tuple[str, date], Any] = {}
        # signatures whose steps share keys: their templates are made for one day
        self._one_day: set[tuple[object, ...]] = set()

    def rows(self, uids: Iterable[str]) -> list[tuple[Any, ...]]:
        """The rows of these commitments' steps, commitment by commitment."""
        rules, states = self.rules, self.states
        chains = self._chains
        rows: list[tuple[Any, ...]] = []
        add = rows.append
        unknown = CommitmentStatus()
        for uid in uids:
            c = rules.commitments[uid]
            status = states.get(uid, unknown)
            live = _live(rules, c, status, states)
            if live is None:
                continue
            policy, live_from = live
            start = rules.responses[c.response_id].published
            chain = chains.get(c.owner)
            if chain is None:
                chain = chains[c.owner] = _escalation_chain(rules, c.owner)
            template = self._template(c, policy, status, live_from, start, len(chain))
            if template is None:  # its rows come straight from its steps
                steps = _Steps(rules, c, policy, live_from, chain)
                rows.extend(self._row(item) for item in _steps(steps, status, start, self.end))
                continue
            words = (c.action, c.owner, *chain)
            message = policy.template
            for suffix, step, occurrence, at, expires, recipient, reason, sent in template:
                if sent < live_from:
                    continue
                add(
                    (
                        uid + suffix,
                        uid,
                        c.rule,
                        step,
                        occurrence,
                        self._invite_at(policy, live_from) if at is None else at,
                        expires,
                        words[recipient],
                        reason.format(*words),
                        message,
                    )
                )
        return rows

    def _template(
        self,
        c: Commitment,
        policy: Policy,
        status: CommitmentStatus,
        live_from: date,
        start: date,
        chain: int,
    ) -> tuple[_Entry, ...] | None:
        """The template of ``c``'s steps (made now if need be), or None if it has none.

        Unless the steps count from the day ``c`` became live, one template serves
        every such day: it keeps the steps sent before it, with their send days,
        and the invite's instant is left to fill in.
        """
        templates = self._templates
        free = not _counts_from_live(policy.kind, c)
        signature = _signature(c, policy.kind, status, None if free else live_from, start, chain)
        if signature is not None and signature in self._one_day:
            free = False
            signature = _signature(c, policy.kind, status, live_from, start, chain)
        if signature is None:
            return None
        template = templates.get(signature)
        if template is not None:
            return template
        if len(templates) >= self.MAX_TEMPLATES:
            templates.clear()
        stand_in = replace(c, uid="", action=_mark(_ACTION), owner=_mark(_OWNER))
        marks = tuple(_mark(_CHAIN + level) for level in range(chain))
        steps = _Steps(self.rules, stand_in, policy, live_from, marks)
        if free:
            steps.keep_from = date.min
            steps.sent = {}
        items = list(_steps(steps, status, start, self.end))
        if steps.repeated:  # which of two steps with one key is kept depends on the day
            self._one_day.add(signature)
            return self._template(c, policy, status, live_from, start, chain)
        sent = steps.sent or {}
        entries: list[_Entry] = []
        for item in items:
            live_day = free and item.step == "invite"  # sent the day it becomes live
            entries.append(
                (
                    item.key,  # "#<step>@<occurrence>": the uid goes before it
                    item.step,
                    self._encode(item.occurrence, self.encode_date),
                    None if live_day else self._encode(item.at, self.encode_instant),
                    self._encode(item.expires, self.encode_instant),
                    int(_MARK.fullmatch(item.recipient)[1]),  # type: ignore[index]
                    _format(item.reason),
                    date.max if live_day else sent.get(item.key, date.max),
                )
            )
        template = templates[signature] = tuple(entries)
        return template

    def _invite_at(self, policy: Policy, live_from: date) -> Any:
        """The instant of the invite of a commitment live from ``live_from``: that day."""
        at = self._invited.get((policy.id, live_from))
        if at is None:
            days = _days(policy)
            at = days.instant(days.send_day(live_from, early=False))
            at = self._invited[policy.id, live_from] = self._encode(at, self.encode_instant)
        return at

    def _row(self, item: AgendaItem) -> tuple[Any, ...]:
        return (
            item.key,
            item.commitment,
            item.rule,
            item.step,
            self.encode_date(item.occurrence),
            self.encode_instant(item.at),
            self.encode_instant(item.expires),
            item.recipient,
            item.reason,
            item.template,
        )

    def _encode(self, value: date, encode: Encode) -> Any:
        encoded = self._encoded.get(value, self)
        if encoded is self:
            encoded = self._encoded[value] = encode(value)
        return encoded


def compile_agenda(
    rules: RuleSet, states: Mapping[str, CommitmentStatus], start: datetime, end: datetime
) -> list[AgendaItem]:
    """Every step with ``start <= at < end`` for every live commitment, sorted.

    ``states`` maps commitment uids to their status; a uid not in it is ``open``.
    ``start`` and ``end`` are aware datetimes.
    """
    items: list[AgendaItem] = []
    first, last = start.date() - timedelta(days=1), end.date() + timedelta(days=1)
    for uid, c in rules.commitments.items():
        status = states.get(uid, CommitmentStatus())
        for item in commitment_steps(rules, c, status, states, first, last):
            if start <= item.at < end:
                items.append(item)
    items.sort()
    return items
