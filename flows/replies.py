"""Owners' replies as files: an .ics as it is, or the calendar part of an email (.eml).

Reading is the shell's job; what a REPLY says, and whether to believe it, is
:func:`models.invite.parse_reply`'s. Mail is untrusted input, so everything here is
capped before it is parsed: the file's size, the number of MIME parts (the
standard library takes about 0.2 ms per part, so a few megabytes of empty parts
would take a minute) and their nesting (deep nesting exhausts its recursion).
Every refusal is a :class:`~models.invite.ReplyRejected` naming the reason.
"""

from __future__ import annotations

import email
import email.policy
from email.message import Message
from pathlib import Path

from models.invite import MAX_REPLY_BYTES, ReplyRejected

__all__ = ["MAX_EMAIL_BYTES", "MAX_PARTS", "calendar_from_email", "read_reply_file"]

MAX_EMAIL_BYTES = 5_000_000
"""The largest email read; a reply with its quoted invite is a few tens of kilobytes."""
MAX_PARTS = 100
"""The most MIME parts (counted by boundary lines, before parsing) an email may have."""
MAX_DEPTH = 8
"""How deeply multiparts may nest."""
_CALENDAR_TYPES = ("text/calendar", "application/ics")


def read_reply_file(path: Path) -> bytes:
    """The iCalendar bytes of a reply file: an .ics itself, or the calendar part of an email.

    A file that starts (after blank lines) with ``BEGIN:VCALENDAR`` is taken as
    iCalendar, anything else as an email. Only as many bytes as the cap allows
    are read, so a huge file is refused without being loaded.
    """
    with path.open("rb") as handle:
        data = handle.read(MAX_EMAIL_BYTES + 1)
    if len(data) > MAX_EMAIL_BYTES:
        raise ReplyRejected("too-large", f"{path.name} is over {MAX_EMAIL_BYTES:,} bytes")
    if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:15].upper() == b"BEGIN:VCALENDAR":
        return data
    return calendar_from_email(data)


def calendar_from_email(raw: bytes) -> bytes:
    """The iCalendar part of an email, as UTF-8 bytes.

    The first ``text/calendar`` part is taken (clients send the REPLY there and
    often again as an attachment), else the first ``application/ics`` or ``.ics``
    attachment. Transfer encodings are undone and other charsets re-encoded to
    UTF-8. Raises :class:`~models.invite.ReplyRejected`: ``too-large`` for an
    email over :data:`MAX_EMAIL_BYTES` or a calendar part over
    :data:`~models.invite.MAX_REPLY_BYTES`, ``mime`` for more than
    :data:`MAX_PARTS` parts, nesting deeper than :data:`MAX_DEPTH` or a part that
    cannot be decoded, ``no-calendar`` when there is no calendar part.
    """
    if len(raw) > MAX_EMAIL_BYTES:
        raise ReplyRejected(
            "too-large", f"the email is {len(raw):,} bytes, over {MAX_EMAIL_BYTES:,}"
        )
    # a line starting "--", whatever ends lines: LF, CRLF, or a bare CR the parser accepts
    boundaries = raw.count(b"\n--") + raw.count(b"\r--")
    boundaries += raw.startswith(b"--")
    if boundaries > 2 * MAX_PARTS:
        raise ReplyRejected("mime", f"the email has over {MAX_PARTS} MIME parts")
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    except RecursionError as exc:
        raise ReplyRejected("mime", "the email's parts nest too deeply") from exc
    part = _calendar_part(message)
    if part is None:
        raise ReplyRejected("no-calendar", "the email has no text/calendar or .ics part")
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raise ReplyRejected("mime", "the calendar part cannot be decoded")
    if len(payload) > MAX_REPLY_BYTES:
        raise ReplyRejected(
            "too-large", f"the calendar part is {len(payload):,} bytes, over {MAX_REPLY_BYTES:,}"
        )
    charset = (part.get_content_charset() or "utf-8").lower()
    if charset in ("utf-8", "utf8", "us-ascii", "ascii"):
        return payload
    try:
        return payload.decode(charset).encode("utf-8")
    except (LookupError, UnicodeDecodeError) as exc:
        raise ReplyRejected("mime", f"the calendar part is not valid {charset}") from exc


def _calendar_part(message: Message) -> Message | None:
    """The first calendar part, breadth first, within the part and depth limits."""
    attachment: Message | None = None
    queue: list[tuple[Message, int]] = [(message, 0)]
    seen = 0
    while queue:
        part, depth = queue.pop(0)
        seen += 1
        if seen > MAX_PARTS:
            raise ReplyRejected("mime", f"the email has over {MAX_PARTS} MIME parts")
        if part.is_multipart():
            if depth >= MAX_DEPTH:
                raise ReplyRejected("mime", f"the email's parts nest deeper than {MAX_DEPTH}")
            children = part.get_payload()
            assert isinstance(children, list)
            queue.extend((child, depth + 1) for child in children if isinstance(child, Message))
            continue
        kind = part.get_content_type()
        if kind == "text/calendar":
            return part
        name = (part.get_filename() or "").lower()
        if attachment is None and (kind in _CALENDAR_TYPES or name.endswith(".ics")):
            attachment = part
    return attachment
