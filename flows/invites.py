"""Calendar invites as deliveries: the first REQUEST, every update, every CANCEL.

The ``invite`` table remembers, per commitment, what the owner's calendar was
last sent: to whom (owner and address), at which SEQUENCE, and a fingerprint of
what the event shows. Three things produce an invite message, all as ordinary
Delivery rows (unique keys, so each is sent once however often it is produced):

- the agenda's ``invite`` step (:func:`invite_delivery`): the first REQUEST;
- :func:`reconcile_invites`, after the rules change or a commitment's state
  changes: a REQUEST with SEQUENCE raised when the date, the series or the
  wording changed (``invite-update@<sequence>``); a CANCEL to the former attendee
  and a REQUEST to the new one when the owner changed; a CANCEL when the
  commitment was dropped or superseded, or done before its day
  (``cancel@<sequence>``);
- nothing else: a reply never sends an invite.

What the messages say is rendered here, when they are queued, from the rules as
they are then, so the delivery log keeps exactly what the attendee was sent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, datetime
from email.utils import formataddr, parseaddr
from typing import Any

from sqlmodel import Session, col, select

from flows.db import read_states, select_in
from flows.messages import SENDER, message_id, render_step
from models.agenda import CommitmentStatus, _live_from
from models.invite import CalendarEntry, calendar_entry, cancel, invite_uid, request
from models.rules import Commitment, Owner, RuleSet
from models.tables import AgendaRow, InviteRow

__all__ = [
    "CANCELLING_STATES",
    "CHANNEL",
    "entry_for",
    "invites_ics",
    "links_for",
    "notice_values",
    "open_invites",
    "organizer",
    "reconcile_invites",
    "register_invites",
]

CHANNEL = "email"
CANCELLING_STATES = frozenset({"dropped", "superseded"})
"""States that withdraw an invite; ``done`` withdraws it only before the event's day."""


def organizer() -> tuple[str, str]:
    """duly's own address and name, as ORGANIZER: from ``DULY_FROM``."""
    name, email = parseaddr(SENDER)
    return email, name or "duly"


def entry_for(
    rules: RuleSet,
    c: Commitment,
    states: dict[str, CommitmentStatus],
    *,
    sequence: int = 0,
) -> CalendarEntry | None:
    """The calendar event of a commitment now, or None when it has no date (yet)."""
    policy = rules.policy_of(c)
    if not policy.invite:
        return None
    live_from = _live_from(rules, c, states, policy)
    if live_from is None:
        return None
    return calendar_entry(rules, c, live_from, sequence=sequence)


def _fingerprint(entry: CalendarEntry, owner: Owner) -> str:
    """What the attendee's calendar shows, summed up: a change means an update."""
    c = entry.commitment
    parts = [
        str(entry.when),
        entry.rrule or "",
        str(entry.alarm_days_before),
        c.action,
        c.quote,
        c.para,
        entry.response_title,
        owner.id,
        owner.email.lower(),
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def links_for(
    session: Session, commitment_uid: str, recipient: str, now: datetime
) -> dict[str, str]:
    """The signed action links of a message to ``recipient`` (flows.links), signed with
    the key of the database this session works on."""
    from flows.links import action_links, secret_key

    url = session.get_bind().engine.url.render_as_string(hide_password=False)
    cache = session.info.setdefault("duly_link_keys", {})
    if url not in cache:
        cache[url] = secret_key(url)
    return action_links(commitment_uid, recipient, now, key=cache[url])


def notice_values(
    rules: RuleSet,
    *,
    commitment_uid: str,
    step: str,
    occurrence: date,
    recipient: Owner,
    reason: str,
    now: datetime,
    ics: bytes | None = None,
    token: str | None = None,
    max_attempts: int | None = None,
    links: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The Delivery row of a message that is not an agenda step (an update, a cancel,
    a decline), rendered now. Its key is ``<uid>#<step>@<token>|email``: the token
    (a SEQUENCE, a reply's stamp) makes the event's message unique."""
    c = rules.commitments[commitment_uid]
    policy = rules.policy_of(c)
    agenda_key = f"{commitment_uid}#{step}@{token or occurrence.isoformat()}"
    row = AgendaRow(
        key=agenda_key,
        commitment_uid=commitment_uid,
        rule_id=c.rule,
        step=step,
        occurrence=occurrence,
        at=now,
        expires=now,
        recipient=recipient.id,
        reason=reason,
        template=policy.template,
    )
    rendered = render_step(rules, row, links=links)
    key = f"{agenda_key}|{CHANNEL}"
    return {
        "key": key,
        "agenda_key": agenda_key,
        "commitment_uid": commitment_uid,
        "rule_id": c.rule,
        "step": step,
        "channel": CHANNEL,
        "recipient": recipient.id,
        "address": formataddr((recipient.name, recipient.email)),
        "message_id": message_id(key),
        "subject": rendered.subject,
        "body": rendered.body,
        "html": getattr(rendered, "html", None),
        "ics": ics.decode("utf-8") if ics is not None else None,
        "status": "queued",
        "attempts": 0,
        "max_attempts": max_attempts or policy.max_attempts,
        "created_at": now,
        "next_attempt_at": None,
    }


def register_invites(
    session: Session, rules: RuleSet, steps: list[tuple[str, str]], now: datetime
) -> dict[str, str]:
    """Record the first REQUEST of each due agenda ``invite`` step ``(key, commitment
    uid)`` in the invite table, in bulk. Returns the steps not to send, with why
    (already invited, or no calendar date); the others are queued like any step and
    their iTIP object is built when they are claimed (:func:`invites_ics`)."""
    if not steps:
        return {}
    skips: dict[str, str] = {}
    for start in range(0, len(steps), _REGISTER_CHUNK):  # memory bounded by a chunk
        _register(session, rules, steps[start : start + _REGISTER_CHUNK], now, skips)
    return skips


_REGISTER_CHUNK = 10_000


def _register(
    session: Session,
    rules: RuleSet,
    steps: list[tuple[str, str]],
    now: datetime,
    skips: dict[str, str],
) -> None:
    uids = {uid for _, uid in steps}
    known: dict[str, InviteRow] = {
        row.commitment_uid: row
        for row in select_in(session, select(InviteRow), col(InviteRow.commitment_uid), uids)
    }
    wanted = set(uids)
    for uid in uids:
        after = rules.commitments[uid].after
        if after:
            wanted.add(after)
    states = read_states(session, wanted)
    for key, uid in steps:
        before = known.get(uid)
        if before is not None and before.method == "REQUEST":
            skips[key] = "already invited: its updates keep the calendar current"
            continue
        c = rules.commitments[uid]
        sequence = 0 if before is None else before.sequence + 1
        entry = entry_for(rules, c, states, sequence=sequence)
        if entry is None:
            skips[key] = "no calendar date to invite to yet"
            continue
        known[uid] = _remember(
            session, before, c, rules.owners[c.owner], entry, sequence, "REQUEST", now
        )
    session.flush()  # written; the rows need not stay in memory (a catch-up has many)
    for row in known.values():
        session.expunge(row)


def invites_ics(
    session: Session, rules: RuleSet, commitment_uids: Iterable[str], now: datetime
) -> dict[str, tuple[bytes, Owner] | None]:
    """The REQUEST of each commitment's invite as registered (its SEQUENCE and
    attendee), built now, or None when it was withdrawn or has no date any more.
    Read in two queries whatever their number (two per commitment, one at a time,
    cost more than building the objects)."""
    uids = sorted(set(commitment_uids))
    built: dict[str, tuple[bytes, Owner] | None] = dict.fromkeys(uids)
    requests = select(InviteRow).where(col(InviteRow.method) == "REQUEST")
    invited = select_in(session, requests, col(InviteRow.commitment_uid), uids)
    todo = [
        (c, owner, row.sequence)
        for row in invited
        if (c := rules.commitments.get(row.commitment_uid)) is not None
        and (owner := rules.owners.get(row.attendee)) is not None
    ]
    wanted = {c.uid for c, _, _ in todo} | {c.after for c, _, _ in todo if c.after}
    states = read_states(session, wanted)
    email, name = organizer()
    for c, owner, sequence in todo:
        entry = entry_for(rules, c, states, sequence=sequence)
        if entry is not None:
            built[c.uid] = request(entry, owner, email, now=now, organizer_name=name), owner
    return built


def _remember(
    session: Session,
    known: InviteRow | None,
    c: Commitment,
    owner: Owner,
    entry: CalendarEntry,
    sequence: int,
    method: str,
    now: datetime,
) -> InviteRow:
    row = known or InviteRow(
        commitment_uid=c.uid, ical_uid=invite_uid(c.uid), attendee=owner.id, email="", sent_at=now
    )
    row.attendee, row.email = owner.id, owner.email
    row.sequence, row.method, row.sent_at = sequence, method, now
    row.fingerprint = _fingerprint(entry, owner)
    if method == "REQUEST" and (known is None or known.attendee != owner.id):
        row.partstat, row.replied_at = None, None  # a new attendee has not answered yet
    session.add(row)
    return row


def reconcile_invites(
    session: Session, rules: RuleSet, uids: set[str] | None, now: datetime
) -> list[dict[str, Any]]:
    """Updates and cancels for the invites of ``uids`` (None: every invited commitment)
    whose calendar no longer matches the rules and states. Returns the deliveries to
    queue; the invite table is updated in the same transaction."""
    statement = select(InviteRow).where(col(InviteRow.method) == "REQUEST")
    if uids is None:
        invited = list(session.exec(statement).all())
    else:
        invited = select_in(session, statement, col(InviteRow.commitment_uid), uids)
    if not invited:
        return []
    wanted = {i.commitment_uid for i in invited}
    wanted |= {
        c.after for i in invited if (c := rules.commitments.get(i.commitment_uid)) and c.after
    }
    states = read_states(session, wanted)
    deliveries: list[dict[str, Any]] = []
    email, name = organizer()
    for known in invited:
        c = rules.commitments.get(known.commitment_uid)
        if c is None:
            continue  # removed from the rules: nothing to build a CANCEL from; kept as sent
        status = states.get(c.uid, CommitmentStatus())
        former = rules.owners.get(known.attendee)
        owner = rules.owners[c.owner]
        entry = entry_for(rules, c, states, sequence=known.sequence + 1)
        if entry is None:
            continue
        local_today = now.astimezone(rules.policy_of(c).zone).date()
        first_day = entry.when if isinstance(entry.when, date) else entry.when.date()
        withdrawn = status.state in CANCELLING_STATES or (
            status.state == "done" and local_today < first_day and entry.rrule is None
        )
        sequence = known.sequence + 1
        why: str | None = None  # why the invite as sent is withdrawn, if it is
        if withdrawn:
            why = {
                "done": "it was done early",
                "dropped": "the commitment was dropped",
                "superseded": "the commitment was superseded",
            }[status.state]
        elif _fingerprint(entry, owner) == known.fingerprint:
            continue
        elif known.attendee != c.owner or known.email.lower() != owner.email.lower():
            why = f"the commitment is now {owner.name}'s"
        if why is not None:  # a CANCEL to the attendee as invited
            target = former or owner
            deliveries.append(
                notice_values(
                    rules,
                    commitment_uid=c.uid,
                    step="cancel",
                    occurrence=first_day,
                    recipient=target,
                    reason=f"the calendar invite is withdrawn: {why}",
                    now=now,
                    ics=_cancel_to(entry, target, known.email, now, why, email, name),
                    token=str(sequence),
                )
            )
        if withdrawn:
            _remember(session, known, c, target, entry, sequence, "CANCEL", now)
            continue
        ics = request(entry, owner, email, now=now, organizer_name=name)
        deliveries.append(
            notice_values(
                rules,
                commitment_uid=c.uid,
                step="invite-update",
                occurrence=first_day,
                recipient=owner,
                reason=f"the calendar invite is updated: '{c.action}' now falls on "
                f"{first_day.isoformat()}",
                now=now,
                ics=ics,
                token=str(sequence),
                links=links_for(session, c.uid, owner.id, now),
            )
        )
        _remember(session, known, c, owner, entry, sequence, "REQUEST", now)
    return deliveries


def _cancel_to(
    entry: CalendarEntry,
    attendee: Owner,
    address: str,
    now: datetime,
    why: str,
    organizer_email: str,
    organizer_name: str,
) -> bytes:
    """A CANCEL addressed to the attendee as invited (their address then, not now)."""
    as_invited = Owner(attendee.id, attendee.name, address, attendee.tags, attendee.escalate_to)
    return cancel(
        entry, as_invited, organizer_email, now=now, reason=why, organizer_name=organizer_name
    )


def open_invites(session: Session) -> dict[str, tuple[str, int]]:
    """``{invite UID: (attendee email, SEQUENCE)}`` of every invite not withdrawn."""
    rows = session.exec(
        select(InviteRow.ical_uid, InviteRow.email, InviteRow.sequence).where(
            col(InviteRow.method) == "REQUEST"
        )
    ).all()
    return {uid: (email, sequence) for uid, email, sequence in rows}
