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

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from models.dates import Period, midpoint
from models.recurrence import Series
from models.rules import Commitment, Policy, RuleSet

__all__ = [
    "FINISHED",
    "STATES",
    "AgendaItem",
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


class _Steps:
    """Builds the steps of one commitment under one policy."""

    def __init__(self, rules: RuleSet, c: Commitment, policy: Policy, live_from: date):
        self.c = c
        self.p = policy
        self.cal = policy.working_calendar
        self.zone = policy.zone
        self.live_from = live_from
        self.rules = rules
        self.owner = rules.owners.get(c.owner)

    # -- arithmetic --------------------------------------------------------------
    def shift(self, day: date, n: int) -> date:
        if self.p.days == "working":
            return self.cal.add_working_days(day, n)
        return day + timedelta(days=n)

    def send_day(self, day: date, *, early: bool) -> date:
        if self.p.send_on == "any-day":
            return day
        return self.cal.roll_back(day) if early else self.cal.roll_forward(day)

    def instant(self, day: date) -> datetime:
        local = datetime.combine(day, self.p.time, tzinfo=self.zone)
        return local.astimezone(UTC)

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
        if send < self.live_from:
            return None
        at = self.instant(send)
        # too late after N working days, so a bank-holiday weekend never eats a reminder
        late = self.instant(self.cal.add_working_days(send, self.p.too_late_after))
        return AgendaItem(
            at=at,
            key=f"{self.c.uid}#{step}@{occurrence.isoformat()}",
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
        chain: list[str] = []
        holder = self.owner
        while holder is not None and holder.escalate_to and holder.escalate_to not in chain:
            if holder.escalate_to == self.c.owner:
                break
            chain.append(holder.escalate_to)
            holder = self.rules.owners.get(holder.escalate_to)
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
    if status.state in FINISHED:
        return
    policy = rules.policies[c.rule]
    live_from = _live_from(rules, c, states, policy)
    if live_from is None:
        return
    steps = _Steps(rules, c, policy, live_from)
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
