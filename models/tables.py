"""The SQL tables (SQLModel): responses, commitments with their state history, the
materialised agenda and the delivery log.

Times are aware datetimes; SQLModel stores them in UTC (``timestamptz`` on
PostgreSQL, UTC text on SQLite) and returns them aware, in UTC. The
agenda table carries the index a tick uses: "pending items of rule R due at or
before T" is one range scan, whatever the number of commitments.

Defining tables is not I/O; creating them is done by ``flows.db``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, Index, UniqueConstraint, text
from sqlalchemy.types import JSON
from sqlmodel import Field, SQLModel

from models.agenda import AgendaItem

__all__ = [
    "AGENDA_COLUMNS",
    "AgendaRow",
    "CommitmentRow",
    "Delivery",
    "InviteRow",
    "OwnerRow",
    "RecommendationRow",
    "ResponseRow",
    "StateChange",
    "SyncMark",
    "TimeRequest",
    "UsedToken",
    "agenda_values",
]


class OwnerRow(SQLModel, table=True):
    __tablename__ = "owner"

    id: str = Field(primary_key=True)
    name: str
    email: str
    tags: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    escalate_to: str | None = None


class ResponseRow(SQLModel, table=True):
    __tablename__ = "response"

    id: str = Field(primary_key=True)
    title: str
    inspectorate: str
    inspection_period: str | None = None
    published: date
    source: str | None = None


class RecommendationRow(SQLModel, table=True):
    __tablename__ = "recommendation"

    id: str = Field(primary_key=True)  # "<response id>/<number>"
    response_id: str = Field(foreign_key="response.id", index=True)
    number: str
    text: str
    status: str  # accepted | partially_accepted | not_accepted
    status_text: str | None = None


class CommitmentRow(SQLModel, table=True):
    __tablename__ = "commitment"

    uid: str = Field(primary_key=True)  # "<response id>/<commitment id>"
    response_id: str = Field(foreign_key="response.id", index=True)
    recommendation_id: str = Field(foreign_key="recommendation.id")
    para: str
    quote: str
    action: str
    owner_id: str = Field(foreign_key="owner.id", index=True)
    rule_id: str = Field(index=True)
    due: date | None = None
    window_start: date | None = None
    window_end: date | None = None
    rrule: str | None = None
    duration: str | None = None  # ISO 8601, e.g. P3M
    after_uid: str | None = Field(default=None, index=True)
    review: bool = False
    state: str = Field(default="open", index=True)
    state_since: datetime | None = None
    snoozed_until: date | None = None  # reminders (not escalations) wait until this day
    digest: str = ""  # hash of the commitment's rule-file entry, to recompile only what changed


class StateChange(SQLModel, table=True):
    """The history of a commitment: every state it entered, who said so, when and why."""

    __tablename__ = "state_change"

    id: int | None = Field(default=None, primary_key=True)
    commitment_uid: str = Field(foreign_key="commitment.uid", index=True)
    state: str
    at: datetime
    who: str
    why: str = ""
    evidence: str | None = None
    # "state": the commitment entered ``state``. "reply": the owner answered its
    # invite, ``state`` holding the PARTSTAT. "snooze": reminders wait until a day.
    event: str = "state"


class AgendaRow(SQLModel, table=True):
    """One materialised agenda step; its key is the step's idempotency key."""

    __tablename__ = "agenda_item"
    __table_args__ = (
        Index(
            "ix_agenda_pending_due",
            "rule_id",
            "at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    key: str = Field(primary_key=True)
    commitment_uid: str = Field(index=True)
    rule_id: str
    step: str
    occurrence: date
    at: datetime
    expires: datetime
    recipient: str
    reason: str
    template: str
    status: str = "pending"  # pending | enqueued | skipped
    note: str | None = None  # why it was skipped


class Delivery(SQLModel, table=True):
    """One message sent or to be sent: the audit trail.

    ``key`` (``<agenda key>|<channel>``) is unique: however many ticks see a step,
    it is enqueued once. An agenda step is queued unrendered (one bulk INSERT) and
    rendered when first claimed, before it is sent; a notice (an invite update, a
    cancel, a decline) is rendered when queued. Either way the row keeps exactly
    what was sent. A sender first *claims* a row (status
    ``sending``), then sends, then records ``sent``; a claim older than its lease
    is reconciled with the channel (the Message-ID is derived from the key)
    before it is tried again.
    """

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("key", name="uq_delivery_key"),
        Index("ix_delivery_ready", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str
    agenda_key: str = Field(index=True)
    commitment_uid: str = Field(index=True)
    rule_id: str
    step: str
    channel: str  # "email"
    recipient: str  # owner id
    address: str = ""  # where the channel sends it
    message_id: str | None = None  # set when rendered, before the first send
    subject: str = ""  # "" until rendered: a due step is queued in bulk, rendered on claim
    body: str = ""
    html: str | None = None  # the HTML variant of body, when the templates have one
    ics: str | None = None  # an iTIP object (REQUEST or CANCEL): the message is an invite
    status: str = "queued"  # queued | sending | sent | dead
    attempts: int = 0
    max_attempts: int = 5
    last_error: str | None = None
    created_at: datetime
    next_attempt_at: datetime | None = None
    claim: str | None = None
    claimed_at: datetime | None = None
    sent_at: datetime | None = None


class InviteRow(SQLModel, table=True):
    """The calendar invite duly last sent for a commitment: to whom, at which SEQUENCE.

    One row per commitment that has been invited. ``fingerprint`` sums up what
    the attendee's calendar shows (date, series, wording); when the rules change
    it, an update goes out with ``sequence`` raised; when the owner changes, the
    former attendee gets a CANCEL. ``method`` is what was last sent: REQUEST, or
    CANCEL once the invite is withdrawn. The owner's latest answer is kept here
    too (its history is in ``state_change``).
    """

    __tablename__ = "invite"

    commitment_uid: str = Field(primary_key=True)
    ical_uid: str = Field(index=True)  # models.invite.invite_uid(commitment_uid)
    attendee: str  # owner id
    email: str  # the address the invite was sent to, which a REPLY must come from
    sequence: int = 0
    method: str = "REQUEST"  # REQUEST | CANCEL
    fingerprint: str = ""
    sent_at: datetime
    partstat: str | None = None  # ACCEPTED | DECLINED | TENTATIVE | DELEGATED
    replied_at: datetime | None = None  # the DTSTAMP of the reply recorded


class SyncMark(SQLModel, table=True):
    """Small facts about the database itself: how far ahead the agenda is compiled."""

    __tablename__ = "sync_mark"

    name: str = Field(primary_key=True)
    value: datetime


#: Each field of an :class:`~models.agenda.AgendaItem` and its column in ``agenda_item``.
AGENDA_COLUMNS = {
    "key": "key",
    "commitment": "commitment_uid",
    "rule": "rule_id",
    "step": "step",
    "occurrence": "occurrence",
    "at": "at",
    "expires": "expires",
    "recipient": "recipient",
    "reason": "reason",
    "template": "template",
}


def agenda_values(item: AgendaItem) -> dict[str, Any]:
    """The column values of an agenda step's row, pending (for bulk inserts)."""
    values = {column: getattr(item, field) for field, column in AGENDA_COLUMNS.items()}
    return {**values, "status": "pending", "note": None}


class TimeRequest(SQLModel, table=True):
    """An owner's request for more time on a commitment, and an admin's decision.

    A request never moves a date: the rule files say what was promised, so an
    admin who grants one edits the due date there. ``status`` is ``pending``,
    ``granted`` or ``refused``; each request and each decision is also in the
    commitment's history (``state_change``).
    """

    __tablename__ = "time_request"

    id: int | None = Field(default=None, primary_key=True)
    commitment_uid: str = Field(foreign_key="commitment.uid", index=True)
    owner_id: str  # the owner the link or email was for
    asked_by: str
    asked_at: datetime
    until: date  # the date proposed
    due: date | None = None  # the due date when asked
    why: str = ""
    status: str = Field(default="pending", index=True)  # pending | granted | refused
    decided_by: str | None = None
    decided_at: datetime | None = None
    decision_why: str | None = None


class UsedToken(SQLModel, table=True):
    """An action link (or an emailed answer) that has acted: it never acts again."""

    __tablename__ = "used_token"

    token_id: str = Field(primary_key=True)  # models.tokens.token_id, or "mail:<digest>"
    commitment_uid: str = Field(index=True)
    owner_id: str
    action: str
    used_at: datetime
