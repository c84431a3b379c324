"""Rendering a due agenda step into an email: Jinja2 templates from templates/.

The first line a template renders is ``Subject: ...``; the rest is the body.
Rendering is strict: a template that names a value the context lacks fails
loudly instead of sending a message with a hole in it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from models.rules import STATUS_LABELS, Commitment, RuleSet
from models.tables import AgendaRow

__all__ = ["TEMPLATES", "Rendered", "build_email", "message_id", "render_step"]

TEMPLATES = Path(
    os.environ.get("DULY_TEMPLATES", Path(__file__).resolve().parents[1] / "templates")
)
SENDER = os.environ.get("DULY_FROM", "duly <duly@localhost>")
LONDON = ZoneInfo("Europe/London")
_STEP_LABELS = {"due": "Due", "invite": "Promise recorded", "escalate": "Escalation"}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


def message_id(key: str) -> str:
    """The Message-ID of a delivery: derived from its key, so a resend is recognisable."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@duly>"


@cache
def _environment(folder: str) -> Environment:
    return Environment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # plain text; the HTML variant escapes
    )


def _commitment_context(rules: RuleSet, c: Commitment) -> dict[str, Any]:
    period = c.due or c.starts
    return {
        "uid": c.uid,
        "id": c.id,
        "para": c.para,
        "quote": c.quote,
        "action": c.action,
        "due": c.due.due.isoformat() if c.due else "",
        "window": f"{period.start.isoformat()} to {period.end.isoformat()}"
        if period and period.start != period.end
        else "",
        "every": c.recurrence,
    }


def render_step(rules: RuleSet, row: AgendaRow) -> Rendered:
    """Subject and body of the message for one due agenda step."""
    c = rules.commitments[row.commitment_uid]
    response = rules.responses[c.response_id]
    rec = next(r for r in response.recommendations if r.number == c.recommendation)
    owner = rules.owners[c.owner]
    recipient = rules.owners.get(row.recipient, owner)
    context = {
        "key": row.key,
        "step": row.step,
        "step_label": _STEP_LABELS.get(row.step, "Reminder"),
        "reason": row.reason,
        "occurrence": row.occurrence.isoformat(),
        "escalated": row.recipient != c.owner,
        "commitment": _commitment_context(rules, c),
        "response": {
            "id": response.id,
            "title": response.title,
            "inspectorate": response.inspectorate,
            "published": response.published.isoformat(),
        },
        "recommendation": {
            "number": rec.number,
            "text": rec.text,
            "status_label": STATUS_LABELS[rec.status].lower(),
        },
        "owner": {"name": owner.name, "email": owner.email},
        "recipient": {"name": recipient.name, "email": recipient.email},
    }
    template = _environment(str(TEMPLATES)).get_template(f"{row.template}.txt.j2")
    text = template.render(context)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"template {row.template}.txt.j2 must start with 'Subject: '")
    return Rendered(first.removeprefix("Subject: ").strip(), body.lstrip("\n"))


def build_email(*, key: str, to: str, subject: str, body: str, at: datetime) -> EmailMessage:
    """An RFC 5322 message whose Message-ID is derived from the delivery key.

    ``to`` is a full address (``Name <user@example.org>``). The body is sent as
    8-bit UTF-8 text, readable as it stands in any mail client or on disk.
    """
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(at.astimezone(LONDON))
    message["Message-ID"] = message_id(key)
    message.set_content(body, cte="8bit")
    return message
