"""One pass of duly as of an instant: sync, check every rule, deliver.

Plain bulk code over the indexed agenda, with no Prefect import: the Prefect flows
(``flows.prefect_flows``) and ``duly tick`` both call these functions.

- :func:`check_rule` releases every pending step of one rule due at or before the
  instant (a late or missed run catches up) by moving the rule's release mark:
  one row, whatever the number of commitments.
- :func:`deliver` first queues what is released (:func:`enqueue_released`): it
  decides send or skip for each step (``models.tick.decide``) and enqueues what
  is sent as a Delivery, unrendered, in bulk. The delivery key is unique, so a
  step is enqueued once however many deliverers see it. Then it claims queued
  deliveries, renders and sends them, and records each attempt.
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
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from flows.db import lock_agenda, sync_rules
from flows.imip import imip_message
from flows.invites import invites_ics, links_for, reconcile_invites, register_invites
from flows.messages import SENDER, build_email, message_id, render_step
from flows.outbox import ChannelError
from models.rules import RuleSet
from models.tables import AgendaRow, CommitmentRow, Delivery, SyncMark
from models.tick import decide, next_attempt

__all__ = [
    "LEASE",
    "RELEASED",
    "CheckResult",
    "DeliverResult",
    "EnqueueResult",
    "check_rule",
    "deliver",
    "enqueue_released",
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
    due: int = 0  # pending steps at or before the instant, released to delivery


@dataclass
class DeliverResult:
    enqueued: int = 0  # released steps queued as deliveries
    # released steps not sent: (key, why)
    skipped: list[tuple[str, str]] = field(default_factory=list)
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
    """Release what one rule has due at ``now``: its steps at or before ``now`` go out.

    This is a rule's scheduled check, and it costs the same whatever the number of
    commitments: it moves the rule's *release mark* (a row of ``sync_mark``,
    ``released:<rule>``) up to ``now`` and counts the pending steps it covers, both
    over the pending index. A pending step at or before its rule's mark is queued:
    the agenda is the queue. :func:`deliver` then decides send or skip for each
    (``models.tick.decide``, with the commitment's state when it is sent) and
    records it as a Delivery (:func:`enqueue_released`). A mark never moves back,
    so a check for an earlier instant releases nothing new.
    """
    del rules  # a rule gone from the files is released too: its steps are skipped, with why
    release, count_due = _release_statements()
    connection = session.connection()
    connection.execute(release, {"name": RELEASED + rule_id, "now": now})
    due = connection.execute(count_due, {"rule": rule_id, "now": now}).scalar_one()
    return CheckResult(rule_id, due=due)


@cache
def _release_statements() -> tuple[Any, Any]:
    """A check's two statements, written out: a check runs in a fresh process (a
    Prefect flow run), where building and compiling expressions would cost more than
    running them. The mark only ever moves forward."""
    stamp = SyncMark.__table__.c.value.type  # type: ignore[attr-defined]
    release = text(
        "INSERT INTO sync_mark (name, value) VALUES (:name, :now) ON CONFLICT (name) "
        "DO UPDATE SET value = excluded.value WHERE sync_mark.value < excluded.value"
    ).bindparams(bindparam("now", type_=stamp))
    count_due = text(
        "SELECT count(*) FROM agenda_item "
        "WHERE rule_id = :rule AND status = 'pending' AND at <= :now"
    ).bindparams(bindparam("now", type_=stamp))
    return release, count_due


#: The name prefix of a rule's release mark in ``sync_mark``.
RELEASED = "released:"


@dataclass
class EnqueueResult:
    enqueued: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (key, reason)


def released(session: Session, now: datetime) -> dict[str, datetime]:
    """The rules with released steps still pending at ``now``: up to when each is released."""
    hot = _statements(session.get_bind().dialect.name)
    marks = session.execute(hot.marks, {"prefix": RELEASED + "%"}).all()
    found: dict[str, datetime] = {}
    for name, value in marks:
        upto = min(_aware(value), now)
        rule_id = name.removeprefix(RELEASED)
        if session.execute(hot.any_due, {"rule": rule_id, "upto": upto}).first():
            found[rule_id] = upto
    return found


def enqueue_released(
    session: Session, rules: RuleSet, now: datetime, marks: dict[str, datetime] | None = None
) -> EnqueueResult:
    """Queue every released step as a Delivery, or skip it with why, as of ``now``.

    Bulk SQL over the pending index, whatever the number of commitments: the only
    rows read into Python are those that may be skipped (late, or whose commitment
    is no longer open) and invites (which keep their SEQUENCE); everything else
    released is enqueued by one ``INSERT ... SELECT`` per rule, unrendered. The
    message is rendered when it is sent (:func:`deliver`), and kept. The delivery
    key is unique, so a step is enqueued once however many deliverers see it.
    """
    result = EnqueueResult()
    lock_agenda(session, exclusive=False)  # a sync rewriting the agenda waits, or we do
    for rule_id, upto in sorted((released(session, now) if marks is None else marks).items()):
        _enqueue_rule(session, rules, rule_id, upto, now, result)
    return result


def _enqueue_rule(
    session: Session,
    rules: RuleSet,
    rule_id: str,
    upto: datetime,
    now: datetime,
    result: EnqueueResult,
) -> None:
    """Enqueue or skip one rule's pending steps at or before ``upto``."""
    policy = rules.policies.get(rule_id)
    hot = _statements(session.get_bind().dialect.name)
    params = {"rule": rule_id, "upto": upto, "now": now}
    if policy is None:  # the rule is gone from the files: nothing of it is sent
        keys = session.execute(hot.due_keys, params).scalars().all()
        if keys:
            session.execute(hot.mark_gone, params)
        result.skipped += [(key, _GONE) for key in keys]
        return
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
    result.enqueued += enqueued.rowcount  # type: ignore[attr-defined]


_GONE = "no longer in the rules"


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Hot:
    marks: Any
    any_due: Any
    due_keys: Any
    mark_gone: Any
    candidates: Any
    enqueue: Any
    enqueue_apprise: Any
    mark_enqueued: Any


def _enqueue_sql(channel: str, also: str = "") -> str:
    """``INSERT ... SELECT`` of a rule's pending steps released up to ``upto`` as
    unrendered deliveries on ``channel`` (``also``: more conditions), leaving alone
    keys already there."""
    return (
        "INSERT INTO delivery (key, agenda_key, commitment_uid, rule_id, step, channel, "
        "recipient, address, subject, body, status, attempts, max_attempts, created_at) "
        f"SELECT key || '|{channel}', key, commitment_uid, rule_id, step, '{channel}', "
        "recipient, '', '', '', 'queued', 0, :max_attempts, :now "
        "FROM agenda_item WHERE rule_id = :rule AND status = 'pending' AND at <= :upto "
        f"{also}ON CONFLICT (key) DO NOTHING"
    )


@cache
def _statements(dialect: str) -> _Hot:
    """The statements of a check and of enqueueing, built once (building them costs
    more than running them on an indexed agenda); parameters ``rule``, ``upto`` (the
    release mark), ``now`` and ``max_attempts``."""
    del dialect  # the same SQL for both
    a = AgendaRow.__table__.c  # type: ignore[attr-defined]
    c = CommitmentRow.__table__.c  # type: ignore[attr-defined]
    m = SyncMark.__table__.c  # type: ignore[attr-defined]
    stamp = a.at.type
    upto, now = bindparam("upto", type_=stamp), bindparam("now", type_=stamp)
    # a rule's pending steps at or before ``upto``: one range of the partial index
    due = (a.rule_id == bindparam("rule"), a.status == "pending", a.at <= upto)
    agenda, commitment = AgendaRow.__table__, CommitmentRow.__table__  # type: ignore[attr-defined]
    marks = select(m.name, m.value).where(m.name.like(bindparam("prefix")))
    due_keys = select(a.key).where(*due)
    mark_gone = update(agenda).where(*due).values(status="skipped", note=_GONE)
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
    enqueue = text(_enqueue_sql(CHANNEL)).bindparams(
        bindparam("upto", type_=stamp), bindparam("now", type_=stamp)
    )
    enqueue_apprise = text(
        _enqueue_sql("apprise", "AND step != 'invite' AND recipient IN :owners ")
    ).bindparams(
        bindparam("upto", type_=stamp),
        bindparam("now", type_=stamp),
        bindparam("owners", expanding=True),
    )
    mark = update(agenda).where(*due).values(status="enqueued")
    return _Hot(
        marks, due_keys.limit(1), due_keys, mark_gone, candidates, enqueue, enqueue_apprise, mark
    )


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
    claimed = select(Delivery).where(col(Delivery.claim) == token)
    return list(session.exec(claimed.execution_options(populate_existing=True)).all())


def deliver(
    engine: Engine,
    channel: Channel,
    now: datetime,
    batch: int = 100,
    *,
    rules: RuleSet | None = None,
    notifier: Any = None,
) -> DeliverResult:
    """Queue what the rules' checks released, then send every queued delivery that
    is ready at ``now``; record each attempt.

    Email goes to ``channel``; deliveries for apprise to ``notifier`` (default:
    :meth:`flows.notify.AppriseChannel.from_env`). Steps queued unrendered are
    rendered from ``rules`` (default: the rule files of ``DULY_RULES``) when
    claimed, and the rendering is committed before the send.
    """
    result = DeliverResult()

    def enqueue(session: Session) -> EnqueueResult:
        nonlocal rules
        marks = released(session, now)
        if not marks:
            return EnqueueResult()
        if rules is None:
            from flows.rulefiles import load_rules

            rules = load_rules()
        return enqueue_released(session, rules, now, marks)

    queued: EnqueueResult = in_transaction(enqueue, engine)
    result.enqueued, result.skipped = queued.enqueued, queued.skipped
    # Each send is committed on its own; the claimed rows stay loaded between commits
    # instead of being read back one by one (a claim reads them afresh).
    with Session(engine, expire_on_commit=False) as session:
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
    invited = [row.commitment_uid for row in steps.values() if row.step == "invite"]
    invites = invites_ics(session, rules, invited, now) if invited else {}
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
        elif row.step == "invite" and (built := invites.get(row.commitment_uid)):
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
        retry = (
            None if exc.permanent else next_attempt(delivery.attempts, now, delivery.max_attempts)
        )
        if retry is None:
            outcome: dict[str, Any] = {"status": "dead"}
            result.dead += 1
        else:
            outcome = {"status": "queued", "next_attempt_at": retry}
            result.retrying += 1
        outcome["last_error"] = str(exc)
        result.errors.append((delivery.key, str(exc)))
    else:
        outcome = {"status": "sent", "sent_at": now, "last_error": None}
        result.sent += 1
    # one UPDATE and a commit per message: what was sent is recorded before the next
    outcome["claim"] = None
    session.execute(_RECORD, {"delivery_id": delivery.id, **outcome})
    session.commit()
    for name, value in outcome.items():  # the row as recorded, without a second write
        set_committed_value(delivery, name, value)


#: Record a send's outcome; written as Core, since the ORM's unit of work costs more
#: than the send to a local server.
_DELIVERY = Delivery.__table__  # type: ignore[attr-defined]
_RECORD = update(_DELIVERY).where(_DELIVERY.c.id == bindparam("delivery_id"))


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
        return self.delivery.enqueued

    @property
    def skipped(self) -> list[tuple[str, str]]:
        return self.delivery.skipped


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
