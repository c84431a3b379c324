"""Answers by plain email: the fallback for owners who reply instead of clicking.

A reply to a reminder whose first line is ``done``, ``in progress`` or ``more time
until DATE`` is recognised by ``duly replies ingest|watch`` (when the email has no
calendar part) and recorded the same way as the web pages and the command line
record it: :func:`flows.actions.act` for done and in progress,
:func:`flows.requests.request_more_time` for more time.

Which commitment? The reply quotes the reminder, whose last line is
``Reference: <commitment uid>#<step>@<occurrence>`` and whose links name it
(``/c/<uid>?t=...``); the first one found is taken, and a reply naming two
commitments is refused. Who? Only the owner's own address, as ``rules/owners.yaml``
gives it, in ``From``. (A From header can be forged; a mail gateway that checks
DMARC says so in ``Authentication-Results``, and a failed check is refused.)
Each email acts once: its Message-ID is remembered with the used link tokens.

Mail is untrusted input: the size and the number and nesting of MIME parts are
capped before the message is parsed, as for calendar replies.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import Message
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING

from flows.replies import MAX_DEPTH, MAX_EMAIL_BYTES, MAX_PARTS

if TYPE_CHECKING:
    from sqlmodel import Session

    from models.rules import RuleSet

__all__ = [
    "TextReply",
    "TextReplyRejected",
    "ingest_text_reply",
    "parse_text_reply",
    "record_text_reply",
]

_COMMAND = re.compile(
    r"(?P<done>done)|(?P<start>in[ -]progress)|more time until (?P<until>.+?)", re.IGNORECASE
)
_REFERENCE = re.compile(r"Reference:\s*(?P<uid>[A-Za-z0-9._-]+/[A-Za-z0-9._-]+)#")
_LINK = re.compile(r"/c/(?P<uid>[A-Za-z0-9._-]+/[A-Za-z0-9._-]+)\?t=")
_QUOTE_START = re.compile(
    r"^(>|On .+wrote:?$|-+ ?Original Message ?-+|From: |Sent: |_{5,})", re.IGNORECASE
)
_DATE_FORMATS = ("%d %B %Y", "%d %b %Y", "%d/%m/%Y", "%B %d %Y", "%B %d, %Y")


class TextReplyRejected(ValueError):
    """An emailed answer that changes nothing, and why; ``code`` names the check."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"text reply rejected ({code}): {message}")
        self.code = code


@dataclass(frozen=True)
class TextReply:
    """What an owner's emailed answer says, checked against the rules."""

    commitment: str  # uid
    owner: str  # owner id
    action: str  # "start" | "done" | "more_time"
    until: date | None  # for more time
    note: str  # the lines after the first, before the quoted reminder
    sender: str  # the From address, lower case
    message_id: str


def _date(text: str) -> date:
    text = text.strip().rstrip(".").strip()
    try:
        return date.fromisoformat(text)
    except ValueError:
        pass
    cleaned = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text)
    for fmt in _DATE_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).date()
        except ValueError:
            continue
    raise TextReplyRejected(
        "date", f"'{text}' is not a date; write it like 2018-06-29 or 29 June 2018"
    )


def _parts(message: Message) -> list[Message]:
    """Leaf parts, breadth first, within the part and depth limits."""
    leaves: list[Message] = []
    queue: list[tuple[Message, int]] = [(message, 0)]
    seen = 0
    while queue:
        part, depth = queue.pop(0)
        seen += 1
        if seen > MAX_PARTS:
            raise TextReplyRejected("mime", f"the email has over {MAX_PARTS} MIME parts")
        if part.is_multipart():
            if depth >= MAX_DEPTH:
                raise TextReplyRejected("mime", f"the email's parts nest deeper than {MAX_DEPTH}")
            children = part.get_payload()
            if isinstance(children, list):
                queue.extend((c, depth + 1) for c in children if isinstance(c, Message))
            continue
        leaves.append(part)
    return leaves


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raise TextReplyRejected("mime", "the text part cannot be decoded")
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def parse_text_reply(raw: bytes, rules: RuleSet) -> TextReply:
    """Read an owner's emailed answer; raise :class:`TextReplyRejected` saying why not.

    The first non-blank line of the plain-text part is the command: ``done``, ``in
    progress``, or ``more time until DATE`` (2018-06-29, or 29 June 2018); case and
    a full stop do not matter. The lines after it, up to the quoted reminder, are
    kept as the note. The commitment is the one the quoted reminder names; the
    sender must be its owner.
    """
    if len(raw) > MAX_EMAIL_BYTES:
        raise TextReplyRejected("too-large", f"the email is over {MAX_EMAIL_BYTES:,} bytes")
    if raw.count(b"\n--") + raw.startswith(b"--") > 2 * MAX_PARTS:
        raise TextReplyRejected("mime", f"the email has over {MAX_PARTS} MIME parts")
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    except RecursionError as exc:
        raise TextReplyRejected("mime", "the email's parts nest too deeply") from exc
    leaves = _parts(message)
    texts = [
        p
        for p in leaves
        if p.get_content_type() == "text/plain" and p.get_content_disposition() != "attachment"
    ]
    if not texts:
        raise TextReplyRejected(
            "no-text", "the email has no plain-text part (send the answer as plain text)"
        )
    body = _text(texts[0])
    lines = [line.strip() for line in body.replace("\r\n", "\n").split("\n")]
    first_index = next((i for i, line in enumerate(lines) if line), None)
    if first_index is None:
        raise TextReplyRejected("empty", "the email is empty")
    first = lines[first_index].rstrip(".!").strip()
    match = _COMMAND.fullmatch(first)
    if match is None:
        raise TextReplyRejected(
            "command",
            f"the first line is '{first[:80]}'; it must be 'done', 'in progress' or "
            "'more time until DATE'",
        )
    action = "done" if match["done"] else "start" if match["start"] else "more_time"
    until = _date(match["until"]) if match["until"] else None
    note_lines: list[str] = []
    for line in lines[first_index + 1 :]:
        if _QUOTE_START.match(line):
            break
        note_lines.append(line)
    note = "\n".join(note_lines).strip()

    everything = "\n".join(_text(p) for p in leaves if p.get_content_maintype() == "text")
    everything = everything.replace("\n> ", "\n").replace("\n>", "\n")
    found = {m["uid"] for m in _REFERENCE.finditer(everything)}
    found |= {m["uid"] for m in _LINK.finditer(everything)}
    known = sorted(uid for uid in found if uid in rules.commitments)
    if not known:
        raise TextReplyRejected(
            "commitment", "it names no commitment: reply to the reminder, keeping its text"
        )
    if len(known) > 1:
        raise TextReplyRejected("commitment", f"it names {len(known)} commitments; answer one")
    uid = known[0]
    owner = rules.owners[rules.commitments[uid].owner]
    sender = parseaddr(str(message.get("From", "")))[1].strip().lower()
    if not sender or sender != owner.email.lower():
        raise TextReplyRejected(
            "sender", f"{sender or 'no sender'} is not the owner's address for {uid}"
        )
    for result in message.get_all("Authentication-Results") or []:
        if re.search(r"\bdmarc=fail\b", str(result), re.IGNORECASE):
            raise TextReplyRejected("sender", "the mail gateway says the sender is forged")
    message_id = str(message.get("Message-ID", "")).strip()
    if not message_id:
        message_id = "sha256:" + hashlib.sha256(raw).hexdigest()
    return TextReply(uid, owner.id, action, until, note, sender, message_id)


def record_text_reply(session: Session, rules: RuleSet, reply: TextReply, now: datetime) -> str:
    """Record an emailed answer, once per email; return a line saying what it did.

    Raises :class:`TextReplyRejected` (``replayed``) for an email already recorded,
    and :class:`~flows.db.StateError` when the action makes no sense (done twice).
    """
    from flows.actions import act
    from flows.requests import request_more_time
    from models.tables import UsedToken

    token_id = "mail:" + hashlib.sha256(reply.message_id.encode()).hexdigest()[:32]
    if session.get(UsedToken, token_id) is not None:
        raise TextReplyRejected("replayed", f"the email {reply.message_id} was already recorded")
    session.add(
        UsedToken(
            token_id=token_id,
            commitment_uid=reply.commitment,
            owner_id=reply.owner,
            action=reply.action,
            used_at=now.astimezone(UTC),
        )
    )
    why = f"by email: {reply.note}" if reply.note else "by email"
    if reply.action == "more_time":
        assert reply.until is not None
        request = request_more_time(
            session,
            rules,
            reply.commitment,
            owner=reply.owner,
            who=reply.owner,
            until=reply.until,
            why=reply.note or "asked by email",
            now=now,
        )
        session.flush()
        return (
            f"{reply.commitment}: more time until {reply.until.isoformat()} asked ({request.id})"
        )
    evidence = None
    if reply.action == "done":
        evidence = reply.note or f"reply by email {reply.message_id}"
    result = act(
        session,
        rules,
        reply.commitment,
        reply.action,
        who=reply.owner,
        why=why,
        now=now,
        evidence=evidence,
    )
    session.flush()
    return f"{result.uid}: {reply.sender} says {result.state.replace('_', ' ')}"


def ingest_text_reply(
    session: Session,
    rules: RuleSet,
    source: Path,
    name: str,
    now: datetime,
) -> tuple[bool, str]:
    """For ``duly replies``: the email in ``source``, which has no calendar part, read
    as a text answer; (accepted, the line to print)."""
    from flows.db import StateError

    try:
        with source.open("rb") as handle:
            raw = handle.read(MAX_EMAIL_BYTES + 1)
        reply = parse_text_reply(raw, rules)
        line = record_text_reply(session, rules, reply, now)
    except OSError as exc:
        return False, f"{name}: cannot read it: {exc.strerror}"
    except (TextReplyRejected, StateError) as exc:
        return False, f"{name}: no calendar part, and not an answer duly reads: {exc}"
    return True, f"{name}: {line}"
