"""What owners do to their commitments, and what their calendars answer.

Every way progress is recorded (``duly start|done|drop|snooze``, a reply to an
invite, and the web pages of the signed links) goes through these functions, so
each records the same thing: one entry in the commitment's history with who, when
and why; the commitment's agenda recompiled (a done commitment gets no more
reminders, its dependants start); and the invite brought up to date (done early,
dropped or superseded cancels it). Each runs inside the caller's transaction and
commits nothing itself: a half-applied action is rolled back whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from flows.db import StateError, agenda_horizon, read_states, set_state, write_agenda
from flows.invites import links_for, notice_values, open_invites, reconcile_invites
from models.invite import Reply
from models.rules import RuleSet
from models.tables import CommitmentRow, InviteRow, StateChange

__all__ = [
    "ACTIONS",
    "ActionResult",
    "ReplyResult",
    "act",
    "known_invites",
    "record_reply",
]

ACTIONS = {"start": "in_progress", "done": "done", "drop": "dropped"}
"""Owner actions that move a commitment to a state; ``snooze`` moves none."""
_ESCALATING = ("DECLINED", "DELEGATED")


@dataclass
class ActionResult:
    uid: str
    state: str
    agenda: int = 0  # agenda steps recompiled
    notices: list[str] = field(default_factory=list)  # delivery keys queued


@dataclass
class ReplyResult:
    uid: str  # the commitment's
    partstat: str
    stale: bool
    notices: list[str] = field(default_factory=list)


def _queue(session: Session, rows: list[dict[str, Any]]) -> list[str]:
    from flows.tick import _insert_ignoring_duplicates

    _insert_ignoring_duplicates(session, rows)
    return [r["key"] for r in rows]


def act(
    session: Session,
    rules: RuleSet,
    commitment: str,
    action: str,
    *,
    who: str,
    why: str,
    now: datetime,
    evidence: str | None = None,
    until: date | None = None,
) -> ActionResult:
    """Carry out an owner's action on a commitment (a uid, or a unique short id).

    ``start``, ``done`` (with ``evidence``, a link or a note) and ``drop`` (a
    ``why`` is required) change its state; ``snooze`` quietens its reminders until
    the day ``until`` (escalations still go). Raises
    :class:`~flows.db.StateError` with a sentence for people when the action makes
    no sense (an unknown commitment, done twice, a snooze into the past).
    """
    try:
        uid = rules.resolve(commitment)
    except LookupError as exc:
        raise StateError(str(exc)) from None
    if action == "drop" and not why.strip():
        raise StateError("say why the commitment is dropped (--why)")
    if action == "snooze":
        return _snooze(session, rules, uid, who=who, why=why, now=now, until=until)
    if action not in ACTIONS:
        raise StateError(f"unknown action {action!r}; one of: {', '.join([*ACTIONS, 'snooze'])}")
    state = ACTIONS[action]
    written = set_state(session, rules, uid, state, who=who, why=why, now=now, evidence=evidence)
    notices = _queue(session, reconcile_invites(session, rules, {uid}, now))
    return ActionResult(uid, state, written, notices)


def _snooze(
    session: Session,
    rules: RuleSet,
    uid: str,
    *,
    who: str,
    why: str,
    now: datetime,
    until: date | None,
) -> ActionResult:
    row = session.get(CommitmentRow, uid)
    if row is None:
        raise StateError(f"commitment '{uid}' is not in the database yet; run duly sync")
    today = now.astimezone(rules.policy_of(rules.commitments[uid]).zone).date()
    if until is None or until <= today:
        raise StateError(f"snooze needs a day after today ({today.isoformat()}): --until DATE")
    row.snoozed_until = until
    session.add(row)
    session.add(
        StateChange(
            commitment_uid=uid,
            state=row.state,
            at=now,
            who=who,
            why=f"reminders snoozed until {until.isoformat()}" + (f": {why}" if why else ""),
            event="snooze",
        )
    )
    session.flush()
    horizon, _ = agenda_horizon(session, now)
    c = rules.commitments[uid]
    wanted = {uid} | ({c.after} if c.after else set())
    written = write_agenda(session, rules, {uid}, read_states(session, wanted), horizon)
    return ActionResult(uid, row.state, written)


def known_invites(session: Session) -> tuple[dict[str, tuple[str, int]], dict[str, datetime]]:
    """What :func:`models.invite.parse_reply` checks a REPLY against: the invites sent
    (UID to attendee and SEQUENCE) and the stamp of the reply recorded for each."""
    recorded = {
        uid: stamp
        for uid, stamp in session.exec(
            select(InviteRow.ical_uid, InviteRow.replied_at).where(
                col(InviteRow.replied_at).is_not(None)
            )
        ).all()
        if stamp is not None
    }
    return open_invites(session), recorded


def record_reply(session: Session, rules: RuleSet, reply: Reply, now: datetime) -> ReplyResult:
    """Record a checked REPLY in its commitment's history; a DECLINED or DELEGATED one
    notifies the owner's escalate_to (one message per reply)."""
    invite = session.exec(select(InviteRow).where(col(InviteRow.ical_uid) == reply.uid)).one()
    uid = invite.commitment_uid
    invite.partstat, invite.replied_at = reply.partstat, reply.dtstamp
    session.add(invite)
    note = reply.comment or ""
    if reply.delegated_to:
        note = (f"delegated to {', '.join(reply.delegated_to)}. " + note).strip()
    if reply.stale:
        note = (f"(answering SEQUENCE {reply.sequence}, an earlier version) " + note).strip()
    session.add(
        StateChange(
            commitment_uid=uid,
            state=reply.partstat,
            at=reply.dtstamp,
            who=reply.attendee,
            why=note,
            event="reply",
        )
    )
    result = ReplyResult(uid, reply.partstat, reply.stale)
    c = rules.commitments.get(uid)
    if reply.partstat not in _ESCALATING or c is None:
        return result
    owner = rules.owners.get(invite.attendee)
    boss = rules.owners.get(owner.escalate_to) if owner and owner.escalate_to else None
    if owner is None or boss is None:
        return result
    verb = "declined" if reply.partstat == "DECLINED" else "delegated"
    said = f' ("{reply.comment}")' if reply.comment else ""
    delegates = f" to {', '.join(reply.delegated_to)}" if reply.delegated_to else ""
    notice = notice_values(
        rules,
        commitment_uid=uid,
        step="declined",
        occurrence=reply.dtstamp.date(),
        recipient=boss,
        reason=f"{owner.name} {verb} the calendar invite for '{c.action}'{delegates} "
        f"on {reply.dtstamp:%Y-%m-%d}{said}",
        now=now,
        token=f"{reply.dtstamp:%Y%m%dT%H%M%SZ}",
        links=links_for(session, uid, boss.id, now),
    )
    result.notices = _queue(session, [notice])
    return result
