"""The report back to the inspectorate: every promise's position as of a date.

:func:`build_report` turns the rules, the recorded state history and an instant
into a :class:`ResponseReport` (one response, in the style of a Treasury Minutes
progress report); :func:`build_portfolio` does it for every response and adds the
overdue list by owner; :func:`build_timeline` lays the commitments out as bars on
a time axis for the dashboard's SVG. Rendering (Jinja2) and reading the database
are the callers' job: this module does no I/O and reads no clock.

**History replay.** The state of a commitment at instant ``T`` is the last
:class:`StateEvent` recorded at or before ``T``; with none it is ``open``. The
evidence shown is that of the last change that gave one, and the "last action"
is the last change itself, both at or before ``T``. So a report as of any date
shows the world as it was then, whatever happened later. (The rules are today's:
a commitment added to a rule file later appears in an old view too.)

**RAG status** of a commitment, as of ``T`` (``today`` is ``T``'s date in London):

- grey: its recommendation was not accepted, or it was dropped or superseded;
- green: it is done (for ``start`` and ``dependency`` rules, whose promise is to
  *begin*, ``in_progress`` also meets it), it waits for another commitment, or it
  is on track;
- red: its target date has passed and it is not met, or it was recorded missed;
- amber: the target date is within the lead time (the rule's largest
  ``remind_before``, counted as the rule counts days), or the owner declined the
  calendar invite.

The target date depends on the kind of rule: the due date of a ``deadline``; the
end of the window in which a ``start`` must begin; the end of a ``duration``
(a pilot), counted from its start or from the day what it waits for was done;
the next occurrence of a ``recurring`` series (never red: occurrences are not
recorded one by one); and for a ``dependency``, the day the agenda escalates
(``escalate_after`` after it became possible), amber from the day it became
possible.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from models.agenda import CommitmentStatus
from models.recurrence import Series
from models.rules import STATUS_LABELS, Commitment, Policy, Recommendation, Response, RuleSet

__all__ = [
    "RAG",
    "RAG_LABELS",
    "RAG_ORDER",
    "CommitmentView",
    "InviteReply",
    "OwnerOverdue",
    "Portfolio",
    "RecommendationView",
    "ResponseReport",
    "StateEvent",
    "Timeline",
    "TimelineBar",
    "build_portfolio",
    "build_report",
    "build_timeline",
    "end_of_day",
    "reply_at",
    "safe_link",
    "state_at",
    "states_at",
]

LONDON = ZoneInfo("Europe/London")

RAG = Literal["green", "amber", "red", "grey"]
RAG_ORDER: tuple[RAG, ...] = ("red", "amber", "green", "grey")
"""Worst first: a recommendation takes the worst RAG of its commitments."""
RAG_LABELS: dict[RAG, str] = {"green": "Green", "amber": "Amber", "red": "Red", "grey": "Grey"}

STATE_LABELS = {
    "open": "Open",
    "in_progress": "In progress",
    "done": "Done",
    "missed": "Missed",
    "dropped": "Dropped",
    "superseded": "Superseded",
}
_GREY_STATES = frozenset({"dropped", "superseded"})
_BEGIN_KINDS = frozenset({"start", "dependency"})  # their promise is to begin


# --------------------------------------------------------------------------------------
# Inputs: the history, and (later) the owners' replies to invites.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateEvent:
    """One recorded state change of a commitment: the state it entered, when, who, why.

    ``at`` is an aware datetime. ``evidence`` is a link or a short text, or None.
    """

    state: str
    at: datetime
    who: str
    why: str = ""
    evidence: str | None = None


@dataclass(frozen=True)
class InviteReply:
    """An owner's answer to a commitment's calendar invite, as of when it came.

    ``partstat`` is the iTIP participation status (``ACCEPTED``, ``DECLINED``,
    ``TENTATIVE``). Nothing records replies yet: callers pass none, and a decline
    will turn the commitment amber once replies are ingested.
    """

    partstat: str
    at: datetime


def end_of_day(day: date, zone: ZoneInfo = LONDON) -> datetime:
    """The last instant of ``day`` in ``zone``: a report "as at 1 June" includes 1 June.

    >>> end_of_day(date(2018, 6, 1)).isoformat()
    '2018-06-01T23:59:59.999999+01:00'
    """
    return datetime.combine(day, time.max, tzinfo=zone)


def state_at(history: Sequence[StateEvent], at: datetime) -> StateEvent | None:
    """The last change recorded at or before ``at``, or None (the commitment was open).

    ``history`` may be in any order; changes at the same instant keep their order.

    >>> from datetime import UTC
    >>> h = [StateEvent("in_progress", datetime(2018, 1, 5, tzinfo=UTC), "lo"),
    ...      StateEvent("done", datetime(2018, 3, 1, tzinfo=UTC), "lo")]
    >>> state_at(h, datetime(2018, 2, 1, tzinfo=UTC)).state
    'in_progress'
    >>> state_at(h, datetime(2018, 1, 1, tzinfo=UTC)) is None
    True
    """
    last: StateEvent | None = None
    for event in sorted(history, key=lambda e: e.at):
        if event.at > at:
            break
        last = event
    return last


def states_at(
    history: Mapping[str, Sequence[StateEvent]], at: datetime
) -> dict[str, CommitmentStatus]:
    """Every commitment's status as of ``at``, in the agenda's terms (absent: open)."""
    out: dict[str, CommitmentStatus] = {}
    for uid, events in history.items():
        last = state_at(events, at)
        if last is not None:
            out[uid] = CommitmentStatus(last.state, last.at)
    return out


def safe_link(evidence: str | None) -> str | None:
    """``evidence`` when it is an http(s) URL a page may link to, else None.

    Anything else (``javascript:``, text with spaces or quotes) is shown as text.

    >>> safe_link("https://intranet.example/sla.pdf")
    'https://intranet.example/sla.pdf'
    >>> safe_link("javascript:alert(1)") is None, safe_link("signed copy on file") is None
    (True, True)
    """
    if not evidence or any(ch in evidence for ch in " \t\r\n<>\"'`"):
        return None
    parts = urlsplit(evidence)
    return evidence if parts.scheme in ("http", "https") and parts.netloc else None


# --------------------------------------------------------------------------------------
# Outputs: what a report shows.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CommitmentView:
    """One commitment as of the report's instant: its promise, dates, state and RAG."""

    uid: str
    id: str
    response_id: str
    recommendation: str
    para: str
    quote: str
    action: str
    owner_id: str
    owner_name: str
    rule: str
    kind: str
    state: str
    state_since: datetime | None
    rag: RAG
    rag_reason: str
    due: date | None  # the target date (see the module's doc)
    due_text: str  # the period as the document wrote it, or ""
    target_note: str  # how the target date was found: "April 2018", "next; annually", ...
    window_start: date | None
    window_end: date | None
    completed: date | None  # the day it was done, when it is done
    evidence: str | None
    evidence_url: str | None
    last_action: StateEvent | None
    waiting_for: str | None  # uid of the commitment it waits for, while that is not done
    recurrence: str = ""
    declined: bool = False
    days_overdue: int | None = None

    @property
    def state_label(self) -> str:
        return STATE_LABELS.get(self.state, self.state)

    @property
    def rag_label(self) -> str:
        return RAG_LABELS[self.rag]


@dataclass(frozen=True)
class RecommendationView:
    """One recommendation: the response's answer, its commitments and its progress."""

    number: str
    text: str
    status: str
    status_label: str
    status_text: str | None
    commitments: tuple[CommitmentView, ...]
    progress: str  # Implemented | Work in progress | Not accepted | ...
    rag: RAG
    target: date | None  # the latest target date of its live commitments

    @property
    def accepted(self) -> bool:
        return self.status in ("accepted", "partially_accepted")

    @property
    def implemented(self) -> bool:
        return self.progress == "Implemented"

    @property
    def rag_label(self) -> str:
        return RAG_LABELS[self.rag]


@dataclass(frozen=True)
class ResponseReport:
    """The progress report on one response, as of ``at``."""

    id: str
    title: str
    inspectorate: str
    inspection_period: str | None
    published: date
    source: str | None
    at: datetime
    today: date
    recommendations: tuple[RecommendationView, ...]

    @property
    def published_yet(self) -> bool:
        return self.published <= self.today

    @property
    def commitments(self) -> tuple[CommitmentView, ...]:
        return tuple(c for rec in self.recommendations for c in rec.commitments)

    @property
    def rag_counts(self) -> dict[RAG, int]:
        return _count_rag(self.commitments)

    @property
    def state_counts(self) -> dict[str, int]:
        return _count_states(self.commitments)

    @property
    def accepted(self) -> int:
        return sum(rec.accepted for rec in self.recommendations)

    @property
    def implemented(self) -> int:
        return sum(rec.accepted and rec.implemented for rec in self.recommendations)

    @property
    def without_commitments(self) -> int:
        return sum(rec.accepted and not rec.commitments for rec in self.recommendations)

    @property
    def summary(self) -> str:
        """The closing sentence, e.g. "5 of 7 accepted recommendations have all ... done"."""
        if not self.published_yet:
            return (
                f"Not yet published on {self.today.isoformat()} "
                f"(published {self.published.isoformat()})."
            )
        text = (
            f"{self.implemented} of {self.accepted} accepted recommendations "
            f"(fully or in part) have all commitments done"
        )
        if self.without_commitments:
            n = self.without_commitments
            text += f"; {n} {'has' if n == 1 else 'have'} no dated commitment to track"
        return text + "."

    @property
    def rag(self) -> RAG:
        return _worst(c.rag for c in self.commitments)


@dataclass(frozen=True)
class OwnerOverdue:
    """One owner's overdue commitments, oldest target first."""

    owner_id: str
    owner_name: str
    commitments: tuple[CommitmentView, ...]


@dataclass(frozen=True)
class Portfolio:
    """Every response's report as of ``at``, and what is overdue, by owner."""

    at: datetime
    today: date
    reports: tuple[ResponseReport, ...]
    titles: dict[str, str] = field(default_factory=dict)  # response id -> title

    @property
    def published(self) -> tuple[ResponseReport, ...]:
        """The reports on responses published by ``today`` (later ones did not exist yet)."""
        return tuple(r for r in self.reports if r.published_yet)

    @property
    def commitments(self) -> tuple[CommitmentView, ...]:
        return tuple(c for r in self.published for c in r.commitments)

    @property
    def rag_counts(self) -> dict[RAG, int]:
        return _count_rag(self.commitments)

    @property
    def state_counts(self) -> dict[str, int]:
        return _count_states(self.commitments)

    @property
    def accepted(self) -> int:
        return sum(r.accepted for r in self.published)

    @property
    def implemented(self) -> int:
        return sum(r.implemented for r in self.published)

    @property
    def overdue_by_owner(self) -> tuple[OwnerOverdue, ...]:
        """Red commitments grouped by owner: the owner with the most first, then by name."""
        groups: dict[str, list[CommitmentView]] = {}
        for c in self.commitments:
            if c.rag == "red":
                groups.setdefault(c.owner_id, []).append(c)
        owners = [
            OwnerOverdue(
                owner_id,
                items[0].owner_name,
                tuple(sorted(items, key=lambda c: (c.due or date.max, c.uid))),
            )
            for owner_id, items in groups.items()
        ]
        owners.sort(key=lambda o: (-len(o.commitments), o.owner_name))
        return tuple(owners)


def _count_rag(views: Iterable[CommitmentView]) -> dict[RAG, int]:
    counts: dict[RAG, int] = dict.fromkeys(RAG_ORDER, 0)
    for view in views:
        counts[view.rag] += 1
    return counts


def _count_states(views: Iterable[CommitmentView]) -> dict[str, int]:
    counts = dict.fromkeys(STATE_LABELS, 0)
    for view in views:
        counts[view.state] = counts.get(view.state, 0) + 1
    return counts


def _worst(rags: Iterable[RAG]) -> RAG:
    found = set(rags)
    for rag in RAG_ORDER:
        if rag in found:
            return rag
    return "grey"


# --------------------------------------------------------------------------------------
# The computation.
# --------------------------------------------------------------------------------------


def _days(n: int, unit: str = "day") -> str:
    return f"{n} {unit}{'' if n == 1 else 's'}"


def _local_day(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


@dataclass(frozen=True)
class _Target:
    """When a commitment is due and from when it is amber, as of a date."""

    due: date | None = None
    amber_from: date | None = None
    window_start: date | None = None
    window_end: date | None = None
    waiting_for: str | None = None
    red_possible: bool = True
    note: str = ""  # how the target date was found, for a reader


class _Reporter:
    """Builds the views of one rule set as of one instant."""

    def __init__(
        self,
        rules: RuleSet,
        history: Mapping[str, Sequence[StateEvent]],
        at: datetime,
        replies: Mapping[str, Sequence[InviteReply]],
        zone: ZoneInfo,
    ) -> None:
        self.rules = rules
        self.history = history
        self.at = at
        self.replies = replies
        self.zone = zone
        self.today = _local_day(at, zone)
        self.states = states_at(history, at)

    # -- dates -----------------------------------------------------------------------
    def _shift(self, policy: Policy, day: date, n: int) -> date:
        if policy.days == "working":
            return policy.working_calendar.add_working_days(day, n)
        return day + timedelta(days=n)

    def _lead_start(self, policy: Policy, day: date) -> date:
        """The first day of the lead time before ``day``: its largest ``remind_before``."""
        lead = max(policy.remind_before, default=0)
        return self._shift(policy, day, -lead) if lead else day

    def _live_from(self, c: Commitment) -> date | None:
        """Publication, or the day what ``c`` waits for was done (as the agenda counts it)."""
        if c.after is None:
            return self.rules.responses[c.response_id].published
        before = self.states.get(c.after)
        if before is None or before.state != "done" or before.since is None:
            return None
        return _local_day(before.since, self.rules.policies[c.rule].zone)

    def _target(self, c: Commitment, policy: Policy) -> _Target:
        live = self._live_from(c)
        waiting = c.after if live is None else None
        kind = policy.kind
        if kind == "deadline":
            if c.due is None:
                return _Target(waiting_for=waiting)
            due = c.due.due
            lead = self._lead_start(policy, due)
            return _Target(due, lead, c.due.start, c.due.end, waiting, note=c.due.text)
        if kind == "start":
            if c.starts is None:
                return _Target(waiting_for=waiting)
            window = c.starts
            return _Target(
                window.end,
                self._lead_start(policy, window.start),
                window.start,
                window.end,
                waiting,
                note=f"to begin in {window.text}" if window.text else "",
            )
        if kind == "duration":
            begin = c.starts.start if c.starts is not None else live
            if begin is None or c.duration is None:
                return _Target(waiting_for=waiting)
            finish = c.duration.after(begin, policy.working_calendar)
            lead = self._lead_start(policy, finish)
            note = f"{c.duration.text or c.duration.iso()} from {begin.isoformat()}"
            return _Target(finish, lead, begin, finish, waiting, note=note)
        if kind == "recurring":
            if live is None or not c.rrule:
                return _Target(waiting_for=waiting)
            if c.starts is not None:
                series = Series(c.rrule, c.starts.start, include_anchor=True)
            else:
                series = Series(c.rrule, live, include_anchor=False)
            upcoming = next(iter(series.occurrences(self.today, date.max)), None)
            if upcoming is None:
                return _Target(window_start=series.anchor, red_possible=False)
            return _Target(
                upcoming,
                self._lead_start(policy, upcoming),
                series.anchor,
                None,
                red_possible=False,
                note=f"next; {c.recurrence}",
            )
        # dependency: possible from `live`; escalated `escalate_after` days later
        if live is None:
            return _Target(waiting_for=waiting)
        escalates: date | None = None
        note = ""
        if policy.escalate_after is not None:
            escalates = self._shift(policy, live, policy.escalate_after)
            unit = "working day" if policy.days == "working" else "day"
            note = f"{_days(policy.escalate_after, unit)} after it could begin, {live.isoformat()}"
        return _Target(escalates, live, live, escalates, note=note)

    # -- one commitment -----------------------------------------------------------------
    def commitment(self, c: Commitment, rec: Recommendation) -> CommitmentView:
        policy = self.rules.policies[c.rule]
        events = self.history.get(c.uid, ())
        last = state_at(events, self.at)
        state = last.state if last is not None else "open"
        since = last.at if last is not None else None
        since_day = _local_day(since, self.zone) if since is not None else None
        evidence = next(
            (
                e.evidence
                for e in sorted(events, key=lambda e: e.at, reverse=True)
                if e.at <= self.at and e.evidence
            ),
            None,
        )
        reply = reply_at(self.replies.get(c.uid, ()), self.at)
        declined = reply is not None and reply.partstat.upper() == "DECLINED"
        target = self._target(c, policy)
        met = state == "done" or (policy.kind in _BEGIN_KINDS and state == "in_progress")
        rag, reason, overdue = self._rag(rec, state, since_day, met, target, declined, reply)
        owner = self.rules.owners.get(c.owner)
        period = c.due or c.starts
        return CommitmentView(
            uid=c.uid,
            id=c.id,
            response_id=c.response_id,
            recommendation=c.recommendation,
            para=c.para,
            quote=c.quote,
            action=c.action,
            owner_id=c.owner,
            owner_name=owner.name if owner else c.owner,
            rule=c.rule,
            kind=policy.kind,
            state=state,
            state_since=since,
            rag=rag,
            rag_reason=reason,
            due=target.due,
            due_text=period.text if period is not None else "",
            target_note=target.note,
            window_start=target.window_start,
            window_end=target.window_end,
            completed=since_day if state == "done" else None,
            evidence=evidence,
            evidence_url=safe_link(evidence),
            last_action=last,
            waiting_for=target.waiting_for,
            recurrence=c.recurrence,
            declined=declined,
            days_overdue=overdue,
        )

    def _rag(
        self,
        rec: Recommendation,
        state: str,
        since: date | None,
        met: bool,
        target: _Target,
        declined: bool,
        reply: InviteReply | None,
    ) -> tuple[RAG, str, int | None]:
        """The RAG status, why, and the days overdue (red only)."""
        on = f" on {since.isoformat()}" if since else ""
        if rec.status == "not_accepted":
            return "grey", "recommendation not accepted", None
        if state in _GREY_STATES:
            return "grey", f"{STATE_LABELS[state].lower()}{on}", None
        if state == "done":
            return "green", f"done{on}", None
        if state == "missed":
            return "red", f"recorded as missed{on}", None
        if met:
            return "green", f"started{on}", None
        due = target.due
        if due is None:
            if target.waiting_for is not None:
                waits = self.rules.commitments.get(target.waiting_for)
                what = f"§{waits.para} ({waits.id})" if waits else target.waiting_for
                return "green", f"waits for {what}", None
            return "green", "no target date", None
        late = (self.today - due).days
        if late > 0 and target.red_possible:
            return "red", f"overdue by {_days(late)} (due {due.isoformat()})", late
        if declined and reply is not None:
            when = _local_day(reply.at, self.zone).isoformat()
            return "amber", f"calendar invite declined on {when}", None
        if target.amber_from is not None and self.today >= target.amber_from:
            if late == 0:
                return "amber", "due today", None
            return "amber", f"due in {_days(-late)} ({due.isoformat()})", None
        return "green", f"on track: due {due.isoformat()}", None

    # -- one recommendation, one response -----------------------------------------------
    def recommendation(self, rec: Recommendation) -> RecommendationView:
        views = tuple(
            self.commitment(self.rules.commitments[uid], rec)
            for uid in rec.commitments
            if uid in self.rules.commitments
        )
        live = [v for v in views if v.rag != "grey"]
        if rec.status == "not_accepted":
            progress = "Not accepted"
        elif not views:
            progress = "No dated commitments"
        elif not live:
            progress = "Superseded or dropped"
        elif all(v.state == "done" for v in live):
            progress = "Implemented"
        else:
            progress = "Work in progress"
        # a recurring series has no end: its next occurrence is not the recommendation's target
        dues = [v.due for v in live if v.due is not None and v.kind != "recurring"]
        return RecommendationView(
            number=rec.number,
            text=rec.text,
            status=rec.status,
            status_label=STATUS_LABELS.get(rec.status, rec.status),
            status_text=rec.status_text,
            commitments=views,
            progress=progress,
            rag=_worst(v.rag for v in views),
            target=max(dues) if dues else None,
        )

    def response(self, response: Response) -> ResponseReport:
        published = response.published <= self.today
        return ResponseReport(
            id=response.id,
            title=response.title,
            inspectorate=response.inspectorate,
            inspection_period=response.inspection_period,
            published=response.published,
            source=response.source,
            at=self.at,
            today=self.today,
            recommendations=(
                tuple(self.recommendation(rec) for rec in response.recommendations)
                if published
                else ()
            ),
        )


def reply_at(replies: Sequence[InviteReply], at: datetime) -> InviteReply | None:
    """The last reply to an invite received at or before ``at``, or None."""
    last: InviteReply | None = None
    for reply in sorted(replies, key=lambda r: r.at):
        if reply.at > at:
            break
        last = reply
    return last


def build_report(
    rules: RuleSet,
    response_id: str,
    history: Mapping[str, Sequence[StateEvent]],
    at: datetime,
    *,
    replies: Mapping[str, Sequence[InviteReply]] | None = None,
    zone: ZoneInfo = LONDON,
) -> ResponseReport:
    """The progress report on one response as of ``at`` (aware).

    ``history`` maps commitment uids to their recorded changes (any order);
    ``replies`` maps them to the owners' replies to invites. A response published
    after ``at`` has no recommendations in its report: they did not exist yet.
    Raises KeyError for an unknown response id.
    """
    reporter = _Reporter(rules, history, at, replies or {}, zone)
    return reporter.response(rules.responses[response_id])


def build_portfolio(
    rules: RuleSet,
    history: Mapping[str, Sequence[StateEvent]],
    at: datetime,
    *,
    replies: Mapping[str, Sequence[InviteReply]] | None = None,
    zone: ZoneInfo = LONDON,
) -> Portfolio:
    """Every response's progress report as of ``at``, in rule-file order."""
    reporter = _Reporter(rules, history, at, replies or {}, zone)
    reports = tuple(reporter.response(r) for r in rules.responses.values())
    return Portfolio(
        at=at,
        today=reporter.today,
        reports=reports,
        titles={r.id: r.title for r in reports},
    )


# --------------------------------------------------------------------------------------
# The timeline: bars on a time axis, laid out for an SVG.
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineBar:
    """One commitment's row: its window as a bar, its due date and completion as marks.

    x positions are in SVG user units; None where there is nothing to draw (a
    commitment that waits for another has no window yet).
    """

    view: CommitmentView
    y: float
    x_start: float | None
    x_end: float | None
    x_due: float | None
    x_done: float | None
    ongoing: bool  # a recurring series: the bar runs on past the end of the axis

    @property
    def width(self) -> float:
        if self.x_start is None or self.x_end is None:
            return 0.0
        return max(self.x_end - self.x_start, 2.0)


@dataclass(frozen=True)
class TimelineGroup:
    """A response's heading row in the timeline."""

    report: ResponseReport
    y: float


@dataclass(frozen=True)
class Timeline:
    """The layout of the Gantt-style timeline over every published response."""

    start: date
    end: date
    width: float
    height: float
    label_width: float
    row_height: float
    top: float
    x_today: float
    ticks: tuple[tuple[float, str], ...]
    groups: tuple[TimelineGroup, ...]
    bars: tuple[TimelineBar, ...]


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _add_months(day: date, n: int) -> date:
    month = day.month - 1 + n
    return date(day.year + month // 12, month % 12 + 1, 1)


def build_timeline(
    portfolio: Portfolio,
    *,
    label_width: float = 360.0,
    plot_width: float = 840.0,
    row_height: float = 22.0,
    top: float = 34.0,
) -> Timeline:
    """Lay out one bar per commitment of every published response, grouped by response.

    The axis runs from the first month that any window, due date or publication
    touches to a month after the latest of them and the report's date; ticks fall
    on years (on quarters when the axis is shorter than three years).
    """
    reports = portfolio.published
    days: list[date] = [portfolio.today]
    for report in reports:
        days.append(report.published)
        for c in report.commitments:
            days.extend(d for d in (c.window_start, c.window_end, c.due, c.completed) if d)
    start = _month_start(min(days))
    end = _add_months(max(days), 2)
    span = max((end - start).days, 1)

    def x(day: date) -> float:
        offset = (min(max(day, start), end) - start).days
        return round(label_width + plot_width * offset / span, 1)

    ticks: list[tuple[float, str]] = []
    step = 12 if span > 3 * 366 else 3
    tick = _month_start(start)
    while (tick.month - 1) % step:
        tick = _add_months(tick, 1)
    while tick <= end:
        ticks.append((x(tick), f"{tick.year}" if step == 12 else f"{tick:%b %Y}"))
        tick = _add_months(tick, step)

    groups: list[TimelineGroup] = []
    bars: list[TimelineBar] = []
    y = top
    for report in reports:
        groups.append(TimelineGroup(report, y))
        y += row_height
        for c in report.commitments:
            ongoing = c.kind == "recurring" and c.window_start is not None
            bar_start: date | None = c.window_start
            bar_end: date | None = c.window_end
            if bar_end is None and ongoing:
                bar_end = end
            if bar_start is None and c.due is not None:
                bar_start = c.due
            if bar_end is None and bar_start is not None:
                bar_end = c.due or bar_start
            bars.append(
                TimelineBar(
                    view=c,
                    y=y,
                    x_start=x(bar_start) if bar_start else None,
                    x_end=x(bar_end) if bar_end else None,
                    x_due=x(c.due) if c.due else None,
                    x_done=x(c.completed) if c.completed else None,
                    ongoing=ongoing,
                )
            )
            y += row_height
    return Timeline(
        start=start,
        end=end,
        width=label_width + plot_width + 40,  # room for the last tick's label
        height=y + 10,
        label_width=label_width,
        row_height=row_height,
        top=top,
        x_today=x(portfolio.today),
        ticks=tuple(ticks),
        groups=tuple(groups),
        bars=tuple(bars),
    )
