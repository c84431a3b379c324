"""One pass of duly as of an instant: sync, check every rule, deliver.

Plain bulk code over the indexed agenda, with no Prefect import: the Prefect flows
(``flows.prefect_flows``) and ``duly tick`` both call these functions.

- :func:`check_rule` selects every pending step of one rule due at or before the
  instant (a late or missed run catches up), decides send or skip for each
  (``models.tick.decide``), renders what is sent and enqueues it as a Delivery.
  The delivery key is unique, so a step is enqueued once however many checks see it.
- :func:`deliver` claims queued deliveries, sends them, and records each attempt.
  A claim is committed before the send; a claim older than ``LEASE`` is
  reconciled with the channel (did the message arrive?) before being retried, so
  a crash between "sent" and "recorded" never produces a second message on a
  channel that can tell.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import formataddr
from functools import partial
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, col, select

from flows.db import due_items, sync_rules
from flows.imip import imip_message
from flows.invites import invite_delivery, reconcile_invites
from flows.messages import SENDER, build_email, message_id, render_step
from flows.outbox import ChannelError
from models.rules import RuleSet
from models.tables import AgendaRow, CommitmentRow, Delivery
from models.tick import decide, next_attempt

__all__ = [
    "LEASE",
    "CheckResult",
    "DeliverResult",
    "check_rule",
    "deliver",
    "in_transaction",
    "sync",
    "tick",
]

LEASE = timedelta(minutes=10)
CHANNEL = "email"


class Channel(Protocol):
    name: str

    def send(self, message: Any) -> None: ...


@dataclass
class CheckResult:
    rule: str
    due: int = 0
    enqueued: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)


@dataclass
class DeliverResult:
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    reconciled: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (key, error)


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> None:
    """INSERT the deliveries, leaving alone any whose key is already there."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:  # pragma: no cover - only the two supported databases
        raise RuntimeError(f"unsupported database {dialect}")
    statement = insert(Delivery).values(rows).on_conflict_do_nothing(index_elements=["key"])
    session.execute(statement)


def check_rule(session: Session, rules: RuleSet, rule_id: str, now: datetime) -> CheckResult:
    """Enqueue what one rule has due at ``now``; record what is skipped and why."""
    result = CheckResult(rule_id)
    rows = due_items(session, rule_id, now)
    result.due = len(rows)
    if not rows:
        return result
    uids = sorted({r.commitment_uid for r in rows})
    states = dict(
        session.exec(
            select(CommitmentRow.uid, CommitmentRow.state).where(col(CommitmentRow.uid).in_(uids))
        ).all()
    )
    policy = rules.policies.get(rule_id)
    deliveries: list[dict[str, Any]] = []
    enqueued: list[str] = []
    for row in rows:
        commitment = rules.commitments.get(row.commitment_uid)
        if policy is None or commitment is None:
            reason = "no longer in the rules"
        else:
            decision = decide(
                step=row.step,
                kind=policy.kind,
                at=row.at,
                expires=row.expires,
                state=states.get(row.commitment_uid, "open"),
                now=now,
            )
            reason = decision.reason if decision.action == "skip" else ""
        if reason:
            row.status, row.note = "skipped", reason
            session.add(row)
            result.skipped.append((row.key, reason))
            continue
        assert policy is not None
        if row.step == "invite":
            invite = invite_delivery(session, rules, row, now)
            if invite is None:
                reason = "already invited, or no calendar date to invite to"
                row.status, row.note = "skipped", reason
                session.add(row)
                result.skipped.append((row.key, reason))
                continue
            deliveries.append(invite)
            enqueued.append(row.key)
            continue
        rendered = render_step(rules, row)
        recipient = rules.owners[row.recipient]
        key = f"{row.key}|{CHANNEL}"
        deliveries.append(
            {
                "key": key,
                "agenda_key": row.key,
                "commitment_uid": row.commitment_uid,
                "rule_id": rule_id,
                "step": row.step,
                "channel": CHANNEL,
                "recipient": recipient.id,
                "address": formataddr((recipient.name, recipient.email)),
                "message_id": message_id(key),
                "subject": rendered.subject,
                "body": rendered.body,
                "html": getattr(rendered, "html", None),
                "ics": None,
                "status": "queued",
                "attempts": 0,
                "max_attempts": policy.max_attempts,
                "created_at": now,
                "next_attempt_at": None,
            }
        )
        enqueued.append(row.key)
    _insert_ignoring_duplicates(session, deliveries)
    if enqueued:
        session.execute(
            update(AgendaRow)
            .where(col(AgendaRow.key).in_(enqueued), col(AgendaRow.status) == "pending")
            .values(status="enqueued")
        )
    result.enqueued = len(enqueued)
    return result


def _reconcile(session: Session, channel: Channel, now: datetime) -> int:
    """Claims older than the lease: delivered after all (the channel says so) or re-queued."""
    stale = session.exec(
        select(Delivery).where(
            col(Delivery.status) == "sending", col(Delivery.claimed_at) < now - LEASE
        )
    ).all()
    has: Callable[[str], bool] | None = getattr(channel, "has", None)
    reconciled = 0
    for delivery in stale:
        if has is not None and has(delivery.message_id):
            delivery.status, delivery.sent_at = "sent", delivery.claimed_at
            reconciled += 1
        else:
            delivery.status = "queued"
        delivery.claim = None
        session.add(delivery)
    session.commit()
    return reconciled


def _claim(session: Session, now: datetime, batch: int) -> list[Delivery]:
    token = uuid.uuid4().hex
    ready = (
        select(Delivery.id)
        .where(
            col(Delivery.status) == "queued",
            (col(Delivery.next_attempt_at).is_(None)) | (col(Delivery.next_attempt_at) <= now),
        )
        .order_by(col(Delivery.id))
        .limit(batch)
    )
    if session.get_bind().dialect.name == "postgresql":
        ready = ready.with_for_update(skip_locked=True)
    ids = list(session.exec(ready).all())
    if not ids:
        session.rollback()
        return []
    session.execute(
        update(Delivery)
        .where(col(Delivery.id).in_(ids), col(Delivery.status) == "queued")
        .values(status="sending", claim=token, claimed_at=now, attempts=col(Delivery.attempts) + 1)
    )
    session.commit()  # the claim is durable before anything is sent
    return list(session.exec(select(Delivery).where(col(Delivery.claim) == token)).all())


def deliver(engine: Engine, channel: Channel, now: datetime, batch: int = 100) -> DeliverResult:
    """Send every queued delivery that is ready at ``now``; record each attempt."""
    result = DeliverResult()
    with Session(engine) as session:
        result.reconciled = _reconcile(session, channel, now)
        while claimed := _claim(session, now, batch):
            for delivery in claimed:
                _send_one(session, channel, delivery, now, result)
    return result


def _message(delivery: Delivery, now: datetime) -> Any:
    """The email of a delivery: an iMIP invite when it carries an iTIP object."""
    if delivery.ics:
        return imip_message(
            ics=delivery.ics.encode("utf-8"),
            sender=SENDER,
            to=delivery.address,
            subject=delivery.subject,
            body=delivery.body,
            message_id=delivery.message_id,
            date=now.astimezone(UTC),
        )
    extra = {"html": delivery.html} if delivery.html else {}
    return build_email(
        key=delivery.key,
        to=delivery.address,
        subject=delivery.subject,
        body=delivery.body,
        at=now,
        **extra,
    )


def sync(session: Session, rules: RuleSet, now: datetime) -> dict[str, int]:
    """Write the rules into the database, then update or cancel the calendar invites
    the change affects (each update or cancel is queued as a delivery)."""
    changed: set[str] = set()
    counts = sync_rules(session, rules, now, changed)
    notices = reconcile_invites(session, rules, changed, now)
    _insert_ignoring_duplicates(session, notices)
    counts["invites"] = len(notices)
    return counts


def _send_one(
    session: Session, channel: Channel, delivery: Delivery, now: datetime, result: DeliverResult
) -> None:
    message = _message(delivery, now)
    try:
        channel.send(message)
    except ChannelError as exc:
        delivery.last_error = str(exc)
        retry = (
            None if exc.permanent else next_attempt(delivery.attempts, now, delivery.max_attempts)
        )
        if retry is None:
            delivery.status = "dead"
            result.dead += 1
        else:
            delivery.status, delivery.next_attempt_at = "queued", retry
            result.retrying += 1
        result.errors.append((delivery.key, str(exc)))
    else:
        delivery.status, delivery.sent_at, delivery.last_error = "sent", now, None
        result.sent += 1
    delivery.claim = None
    session.add(delivery)
    session.commit()


@dataclass
class TickResult:
    at: datetime
    sync: dict[str, int]
    checks: list[CheckResult]
    delivery: DeliverResult

    @property
    def due(self) -> int:
        return sum(c.due for c in self.checks)

    @property
    def enqueued(self) -> int:
        return sum(c.enqueued for c in self.checks)

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return [s for c in self.checks for s in c.skipped]


def in_transaction(work: Callable[[Session], Any], engine: Engine, attempts: int = 5) -> Any:
    """Run ``work`` in a transaction, again if a concurrent writer got there first."""
    for attempt in range(attempts):
        with Session(engine) as session:
            try:
                value = work(session)
                session.commit()
                return value
            except (IntegrityError, DBAPIError):
                session.rollback()
                if attempt == attempts - 1:
                    raise
    raise AssertionError("unreachable")


def tick(
    engine: Engine,
    rules: RuleSet,
    now: datetime,
    channel: Channel,
    only: Iterable[str] | None = None,
) -> TickResult:
    """Sync the rules, check every rule (or ``only`` these), deliver: one pass as of ``now``."""
    counts = in_transaction(lambda s: sync(s, rules, now), engine)
    checks: list[CheckResult] = []
    for rule_id in sorted(only if only is not None else rules.policies):
        checks.append(
            in_transaction(partial(check_rule, rules=rules, rule_id=rule_id, now=now), engine)
        )
    return TickResult(now, counts, checks, deliver(engine, channel, now))
