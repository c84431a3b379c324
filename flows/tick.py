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
from functools import cache, partial
from typing import Any, Protocol

from sqlalchemy import bindparam, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlmodel import Session, col, select

from flows.db import lock_agenda, sync_rules
from flows.imip import imip_message
from flows.invites import invite_ics, links_for, reconcile_invites, register_invites
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
    """Enqueue what one rule has due at ``now``; record what is skipped and why.

    Bulk SQL over the pending index, whatever the number of commitments: the only
    rows read into Python are those that may be skipped (late, or whose commitment
    is no longer open) and invites (which keep their SEQUENCE); everything else
    due is enqueued by one ``INSERT ... SELECT``, unrendered. The message is
    rendered when it is sent (:func:`deliver`), and kept.
    """
    result = CheckResult(rule_id)
    lock_agenda(session, exclusive=False)  # a sync rewriting the agenda waits, or we do
    policy = rules.policies.get(rule_id)
    due = _due(rule_id, now)
    if policy is None:  # the rule is gone from the files: nothing of it is sent
        rows = session.exec(select(AgendaRow.key).where(*due)).all()
        if rows:
            session.execute(update(AgendaRow).where(*due).values(status="skipped", note=_GONE))
        result.due = len(rows)
        result.skipped = [(key, _GONE) for key in rows]
        return result
    hot = _statements(session.get_bind().dialect.name)
    params = {"rule": rule_id, "now": now}
    candidates = session.execute(hot.candidates, params).all()
    skips: list[dict[str, Any]] = []
    invites: list[tuple[str, str]] = []
    for key, uid, step, at, expires, state in candidates:
        if uid not in rules.commitments:
            reason = _GONE
        else:
            decision = decide(
                step=step,
                kind=policy.kind,
                at=_aware(at),
                expires=_aware(expires),
                state=state or "open",
                now=now,
            )
            reason = decision.reason if decision.action == "skip" else ""
        if not reason and step == "invite":
            invites.append((key, uid))
        elif reason:
            skips.append({"k": key, "note": reason})
            result.skipped.append((key, reason))
    for key, reason in register_invites(session, rules, invites, now).items():
        skips.append({"k": key, "note": reason})
        result.skipped.append((key, reason))
    if skips:
        table = AgendaRow.__table__  # type: ignore[attr-defined]
        session.execute(  # Core executemany: one statement, every row
            update(table)
            .where(table.c.key == bindparam("k"), table.c.status == "pending")
            .values(status="skipped", note=bindparam("note")),
            skips,
        )
    session.execute(hot.enqueue, {**params, "max_attempts": policy.max_attempts})
    routed = apprise_recipients(rules)
    if routed:  # the same steps, also to the apprise URLs tagged for their recipient
        session.execute(
            hot.enqueue_apprise,
            {**params, "max_attempts": policy.max_attempts, "owners": sorted(routed)},
        )
    enqueued = session.execute(hot.mark_enqueued, params)
    result.enqueued = enqueued.rowcount  # type: ignore[attr-defined]
    result.due = result.enqueued + len(result.skipped)
    return result


_GONE = "no longer in the rules"


def _due(rule_id: str, now: datetime) -> tuple[Any, ...]:
    """The pending steps of a rule due at or before ``now``: one range of the partial index."""
    return (
        col(AgendaRow.rule_id) == rule_id,
        col(AgendaRow.status) == "pending",
        col(AgendaRow.at) <= now,
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Hot:
    candidates: Any
    enqueue: Any
    enqueue_apprise: Any
    mark_enqueued: Any


def _enqueue_sql(channel: str, also: str = "") -> str:
    """``INSERT ... SELECT`` of a rule's pending due steps as unrendered deliveries on
    ``channel`` (``also``: more conditions), leaving alone keys already there."""
    return (
        "INSERT INTO delivery (key, agenda_key, commitment_uid, rule_id, step, channel, "
        "recipient, address, subject, body, status, attempts, max_attempts, created_at) "
        f"SELECT key || '|{channel}', key, commitment_uid, rule_id, step, '{channel}', "
        "recipient, '', '', '', 'queued', 0, :max_attempts, :now "
        "FROM agenda_item WHERE rule_id = :rule AND status = 'pending' AND at <= :now "
        f"{also}ON CONFLICT (key) DO NOTHING"
    )


@cache
def _statements(dialect: str) -> _Hot:
    """The three statements of a check, built once (building them costs more than
    running them on an indexed agenda); parameters ``rule``, ``now``, ``max_attempts``."""
    del dialect  # the same SQL for both
    a = AgendaRow.__table__.c  # type: ignore[attr-defined]
    c = CommitmentRow.__table__.c  # type: ignore[attr-defined]
    now = bindparam("now", type_=a.at.type)
    due = (a.rule_id == bindparam("rule"), a.status == "pending", a.at <= now)
    agenda, commitment = AgendaRow.__table__, CommitmentRow.__table__  # type: ignore[attr-defined]
    candidates = (
        select(a.key, a.commitment_uid, a.step, a.at, a.expires, c.state)  # type: ignore[call-overload]
        .select_from(agenda.outerjoin(commitment, c.uid == a.commitment_uid))
        .where(
            *due,
            (a.step == "invite") | (a.expires < now) | (c.state != "open") | c.uid.is_(None),
        )
        .order_by(a.at, a.key)
    )
    # Written out: SQLAlchemy cannot cache an INSERT ... SELECT ... ON CONFLICT, and
    # compiling it again on every check cost more than running it.
    now_param = bindparam("now", type_=a.at.type)
    enqueue = text(_enqueue_sql(CHANNEL)).bindparams(now_param)
    enqueue_apprise = text(
        _enqueue_sql("apprise", "AND step != 'invite' AND recipient IN :owners ")
    ).bindparams(now_param, bindparam("owners", expanding=True))
    mark = update(AgendaRow.__table__).where(*due).values(status="enqueued")  # type: ignore[attr-defined]
    return _Hot(candidates, enqueue, enqueue_apprise, mark)


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
        if has is not None and delivery.message_id and has(delivery.message_id):
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


def deliver(
    engine: Engine,
    channel: Channel,
    now: datetime,
    batch: int = 100,
    *,
    rules: RuleSet | None = None,
    notifier: Any = None,
) -> DeliverResult:
    """Send every queued delivery that is ready at ``now``; record each attempt.

    Email goes to ``channel``; deliveries for apprise to ``notifier`` (default:
    :meth:`flows.notify.AppriseChannel.from_env`). Steps queued unrendered are
    rendered from ``rules`` (default: the rule files of ``DULY_RULES``) when
    claimed, and the rendering is committed before the send.
    """
    result = DeliverResult()
    with Session(engine) as session:
        result.reconciled = _reconcile(session, channel, now)
        while claimed := _claim(session, now, batch):
            if any(not d.subject for d in claimed):
                if rules is None:
                    from flows.rulefiles import load_rules

                    rules = load_rules()
                _render(session, rules, claimed, now, result)
            for delivery in claimed:
                if delivery.status != "sending":
                    continue
                if delivery.channel == "apprise":
                    if notifier is None:
                        from flows.notify import AppriseChannel

                        notifier = AppriseChannel.from_env() or _Unconfigured()
                    _send_one(session, _AppriseAdapter(notifier, rules), delivery, now, result)
                else:
                    _send_one(session, channel, delivery, now, result)
    return result


def _render(
    session: Session,
    rules: RuleSet,
    claimed: list[Delivery],
    now: datetime,
    result: DeliverResult,
) -> None:
    """Render the claimed deliveries that were queued unrendered, and commit it."""
    todo = [d for d in claimed if not d.subject]
    steps = {
        row.key: row
        for row in session.exec(
            select(AgendaRow).where(col(AgendaRow.key).in_([d.agenda_key for d in todo]))
        ).all()
    }
    for delivery in todo:
        row = steps.get(delivery.agenda_key)
        recipient = rules.owners.get(delivery.recipient)
        if (
            row is None
            or recipient is None
            or delivery.commitment_uid not in rules.commitments
            or delivery.rule_id not in rules.policies
        ):
            delivery.status, delivery.claim = "dead", None
            delivery.last_error = "no longer in the rules: not sent"
            result.dead += 1
            result.errors.append((delivery.key, delivery.last_error))
        elif row.step == "invite" and (
            built := invite_ics(session, rules, row.commitment_uid, now)
        ):
            ics, attendee = built
            links = links_for(session, delivery.commitment_uid, attendee.id, now)
            rendered = render_step(rules, row, links=links)
            delivery.subject, delivery.body = rendered.subject, rendered.body
            delivery.ics = ics.decode("utf-8")
            delivery.address = formataddr((attendee.name, attendee.email))
        elif row.step == "invite":
            delivery.status, delivery.claim = "dead", None
            delivery.last_error = "the invite was withdrawn before it was sent: not sent"
            result.dead += 1
            result.errors.append((delivery.key, delivery.last_error))
        else:
            links = links_for(session, delivery.commitment_uid, recipient.id, now)
            rendered = render_step(rules, row, links=links)
            delivery.subject, delivery.body = rendered.subject, rendered.body
            delivery.html = getattr(rendered, "html", None)
            delivery.address = (
                f"apprise: {', '.join(recipient.tags)}"
                if delivery.channel == "apprise"
                else formataddr((recipient.name, recipient.email))
            )
        delivery.message_id = delivery.message_id or message_id(delivery.key)
        session.add(delivery)
    session.commit()


def _message(delivery: Delivery, now: datetime) -> Any:
    """The email of a delivery: an iMIP invite when it carries an iTIP object."""
    if delivery.ics:
        return imip_message(
            ics=delivery.ics.encode("utf-8"),
            sender=SENDER,
            to=delivery.address,
            subject=delivery.subject,
            body=delivery.body,
            message_id=delivery.message_id or message_id(delivery.key),
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


class _Unconfigured:
    """What apprise deliveries meet when no apprise URL is configured any more."""

    def notify(self, **_: Any) -> None:
        raise ChannelError(
            "apprise is not configured (DULY_APPRISE_CONFIG or DULY_APPRISE_URLS)", permanent=True
        )


class _AppriseAdapter:
    """An apprise notifier behind the channel interface: it takes the delivery itself."""

    name = "apprise"

    def __init__(self, notifier: Any, rules: RuleSet | None):
        self.notifier, self.rules = notifier, rules

    def send(self, delivery: Delivery) -> None:
        owner = self.rules.owners.get(delivery.recipient) if self.rules else None
        self.notifier.notify(
            title=delivery.subject,
            body=delivery.body,
            html=delivery.html,
            tags=owner.tags if owner else (),
            key=delivery.key,
        )


def apprise_recipients(rules: RuleSet) -> frozenset[str]:
    """The owners that the configured apprise URLs reach (by their tags); none when
    apprise is not configured (``DULY_APPRISE_CONFIG``, ``DULY_APPRISE_URLS``)."""
    import os

    config = (os.environ.get("DULY_APPRISE_CONFIG", ""), os.environ.get("DULY_APPRISE_URLS", ""))
    if not any(config):
        return frozenset()
    owners = tuple((o.id, o.tags) for o in rules.owners.values())
    return _routed(owners, config)


@cache
def _routed(
    owners: tuple[tuple[str, tuple[str, ...]], ...], config: tuple[str, str]
) -> frozenset[str]:
    from flows.notify import AppriseChannel

    del config  # part of the cache key: from_env reads the same variables
    notifier = AppriseChannel.from_env()
    if notifier is None:
        return frozenset()
    return frozenset(owner for owner, tags in owners if notifier.routes(tags))


def _send_one(
    session: Session, channel: Channel, delivery: Delivery, now: datetime, result: DeliverResult
) -> None:
    message = delivery if isinstance(channel, _AppriseAdapter) else _message(delivery, now)
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
    return TickResult(now, counts, checks, deliver(engine, channel, now, rules=rules))
