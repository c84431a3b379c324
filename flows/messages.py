"""Rendering a due agenda step into an email: Jinja2 templates from templates/.

Each kind of step has its own pair of templates, found by the step's *family*:
the step name less its number (``remind-28d`` -> ``remind``, ``overdue-2`` ->
``overdue``, ``escalate-3`` -> ``escalate``; ``due``, ``invite``,
``invite-update``, ``cancel``, ``declined``, ``start``, ``not-started``,
``ready``, ``midpoint``, ``end`` and ``evaluate`` are families as they stand).
The rule's ``template:`` (its kind by default) names a folder that may refine
any family: ``<template>/<family>.txt.j2`` is tried before ``<family>.txt.j2``,
and likewise for ``.html.j2``. Every family template extends ``base.txt.j2`` or
``base.html.j2``, which hold the wording shared by all messages.

The first line the plain-text template renders is ``Subject: ...``; the rest is
the body. The HTML variant is rendered with autoescaping on (a quoted document
may contain markup); the plain text with it off. Rendering is strict: a template
that names a value the context lacks fails loudly instead of sending a message
with a hole in it.
"""

from __future__ import annotations

import email.policy
import hashlib
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

from models.rules import STATUS_LABELS, RuleSet
from models.tables import AgendaRow

__all__ = [
    "EMAIL_POLICY",
    "LINK_ACTIONS",
    "TEMPLATES",
    "Rendered",
    "build_email",
    "header_safe",
    "message_id",
    "render_step",
    "step_family",
]

TEMPLATES = Path(
    os.environ.get("DULY_TEMPLATES", Path(__file__).resolve().parents[1] / "templates")
)
SENDER = os.environ.get("DULY_FROM", "duly <duly@localhost>")
LONDON = ZoneInfo("Europe/London")

LINK_ACTIONS: tuple[tuple[str, str], ...] = (
    ("in_progress", "Mark in progress"),
    ("done", "Mark done (with evidence)"),
    ("more_time", "Ask for more time"),
    ("not_mine", "This is not mine"),
)
"""The actions a message can link to, in the order shown, with their labels."""

_FAMILY = re.compile(r"(?P<family>[a-z][a-z-]*?)(?:-(?P<n>\d+)d?)?")
_SPACE = re.compile(r"\s+")


class _FoldedOnce(BaseHeader):
    """A header that keeps its folded form for each way of folding it.

    Folding walks the header's parse tree again for every message it is written
    in; what comes out depends on the line length, the line separator and whether
    UTF-8 is allowed (``email._header_value_parser._refold_parse_tree``), and on
    nothing else of the policy.
    """

    def fold(self, *, policy: Policy) -> str:
        key = (policy.max_line_length, policy.linesep, getattr(policy, "utf8", False))
        folds: dict[tuple[int | None, str, bool], str] = self.__dict__.setdefault("_folds", {})
        folded = folds.get(key)
        if folded is None:
            folded = folds[key] = super().fold(policy=policy)
        return folded


class _Headers(HeaderRegistry):
    """The standard header factory, remembering what it makes.

    ``HeaderRegistry`` creates a new class for every header and parses every value
    afresh, which made up most of the cost of building a message. A run of messages
    repeats most headers (From, Date, the MIME headers, a recipient's To); header
    objects are immutable, so one serves every message that has it. The last
    ``_MAX_REMEMBERED`` used are kept.
    """

    _MAX_REMEMBERED = 512

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[BaseHeader]] = {}
        self._made: dict[tuple[str, str], BaseHeader] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> type[BaseHeader]:
        key = name.lower()
        made = self._classes.get(key)
        if made is None:
            standard = super().__getitem__(name)
            made = self._classes[key] = type(standard.__name__, (_FoldedOnce, standard), {})
        return made

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if type(value) is not str:
            return super().__call__(name, value)
        key = (name, value)
        with self._lock:
            header = self._made.pop(key, None)
        if header is None:
            header = super().__call__(name, value)
        with self._lock:
            self._made[key] = header  # the most recently used last
            if len(self._made) > self._MAX_REMEMBERED:
                del self._made[next(iter(self._made))]
        return header


EMAIL_POLICY = email.policy.default.clone(header_factory=_Headers())
"""``email.policy.default``, with a header factory that remembers the headers it made:
the messages are the same, built several times faster."""


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    html: str


def message_id(key: str) -> str:
    """The Message-ID of a delivery: derived from its key, so a resend is recognisable."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@duly>"


def header_safe(text: str) -> str:
    """One line fit for a mail header: every run of whitespace (CR, LF, tabs) one space."""
    return _SPACE.sub(" ", text).strip()


def step_family(step: str) -> tuple[str, int | None]:
    """The family of a step and its number: ``remind-28d`` -> (``remind``, 28)."""
    match = _FAMILY.fullmatch(step)
    if match is None:
        raise ValueError(f"not a step name: {step!r}")
    n = match["n"]
    return match["family"], int(n) if n is not None else None


@cache
def _environment(folder: str, html: bool) -> Environment:
    env = Environment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=html,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["day"] = _day
    env.filters["oneline"] = header_safe
    return env


def _day(value: date) -> str:
    """30 April 2018 -> 'Monday 30 April 2018'."""
    return f"{value:%A} {value.day} {value:%B %Y}"


def _template(rule_template: str, family: str, suffix: str) -> Template:
    env = _environment(str(TEMPLATES), suffix == "html")
    names = [f"{rule_template}/{family}.{suffix}.j2", f"{family}.{suffix}.j2"]
    return env.select_template(names)


def _links(links: Mapping[str, str] | None) -> list[dict[str, str]]:
    if not links:
        return []
    unknown = sorted(set(links) - {action for action, _ in LINK_ACTIONS})
    if unknown:
        raise ValueError(f"unknown link actions: {', '.join(unknown)}")
    shown = []
    for action, label in LINK_ACTIONS:
        url = links.get(action)
        if url is None:
            continue
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"the {action} link must be an http(s) URL")
        shown.append({"action": action, "label": label, "url": url})
    return shown


def _local_day(at: datetime | None, zone: ZoneInfo) -> date | None:
    if at is None:
        return None
    if at.tzinfo is None:  # SQLite hands back naive UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(zone).date()


def _context(rules: RuleSet, row: AgendaRow, links: Mapping[str, str] | None) -> dict[str, Any]:
    c = rules.commitments[row.commitment_uid]
    response = rules.responses[c.response_id]
    rec = next(r for r in response.recommendations if r.number == c.recommendation)
    policy = rules.policies.get(row.rule_id) or rules.policies.get(c.rule)
    owner = rules.owners[c.owner]
    recipient = rules.owners.get(row.recipient, owner)
    family, number = step_family(row.step)
    zone = policy.zone if policy is not None else LONDON
    sent_on = _local_day(row.at, zone)
    due = c.due.due if c.due else None
    occurrence = row.occurrence or due or sent_on
    period = c.due or c.starts
    waits_for = rules.commitments.get(c.after) if c.after else None
    return {
        "key": row.key,
        "step": row.step,
        "family": family,
        "number": number,  # remind-28d: 28; overdue-2: 2; escalate-3: 3
        "level": (number or 1) if family == "escalate" else None,
        "reason": header_safe(row.reason or ""),
        "occurrence": occurrence,
        "sent_on": sent_on,
        "due": due,
        "days_overdue": (sent_on - due).days
        if due is not None and sent_on is not None and sent_on > due
        else None,
        "days_late": (sent_on - occurrence).days
        if sent_on is not None and occurrence is not None and sent_on > occurrence
        else None,
        "escalated": row.recipient != c.owner,
        "rule": {
            "id": policy.id if policy else row.rule_id,
            "kind": policy.kind if policy else "",
            "days": policy.days if policy else "calendar",
            "overdue_repeats": policy.overdue_repeats if policy else 0,
        },
        "commitment": {
            "uid": c.uid,
            "id": c.id,
            "para": c.para,
            "quote": c.quote,
            "action": c.action,
            "window": (period.start, period.end)
            if period and period.start != period.end
            else None,
            "window_text": period.text if period else "",
            "every": c.recurrence,
            "waits_for": waits_for.action if waits_for else "",
        },
        "response": {
            "id": response.id,
            "title": response.title,
            "inspectorate": response.inspectorate,
            "published": response.published,
        },
        "recommendation": {
            "number": rec.number,
            "text": rec.text,
            "status_label": STATUS_LABELS[rec.status].lower(),
        },
        "owner": {"name": owner.name, "email": owner.email},
        "recipient": {"name": recipient.name, "email": recipient.email},
        "links": _links(links),
    }


def render_step(
    rules: RuleSet, row: AgendaRow, links: Mapping[str, str] | None = None
) -> Rendered:
    """Subject, plain-text body and HTML body of the message for one agenda step.

    ``row`` may be an unsaved row built for a notice outside the agenda
    (``declined``, ``cancel``, ``invite-update``). ``links`` maps the actions of
    :data:`LINK_ACTIONS` to URLs; when given, both variants show them.
    """
    context = _context(rules, row, links)
    family = context["family"]
    rule_template = row.template or (rules.policies[row.rule_id].template)
    text_template = _template(rule_template, family, "txt")
    text = text_template.render(context)
    first, _, body = text.partition("\n")
    if not first.startswith("Subject: "):
        raise ValueError(f"template {text_template.name} must start with 'Subject: '")
    subject = header_safe(first.removeprefix("Subject: "))
    html = _template(rule_template, family, "html").render(context, subject=subject)
    return Rendered(subject, body.lstrip("\n"), html)


def build_email(
    *, key: str, to: str, subject: str, body: str, at: datetime, html: str | None = None
) -> EmailMessage:
    """An RFC 5322 message whose Message-ID is derived from the delivery key.

    ``to`` is a full address (``Name <user@example.org>``). The body is sent as
    8-bit UTF-8 text, readable as it stands in any mail client or on disk; with
    ``html`` the message is multipart/alternative, the text first. The subject is
    made one line whatever it holds.
    """
    message = EmailMessage(policy=EMAIL_POLICY)
    message["From"] = SENDER
    message["To"] = to
    message["Subject"] = header_safe(subject)
    message["Date"] = format_datetime(at.astimezone(LONDON))
    message["Message-ID"] = message_id(key)
    message.set_content(body, cte="8bit")
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message
