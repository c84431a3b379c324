"""iMIP (RFC 6047): a calendar invite as an email that clients open with Accept and Decline.

The message is ``multipart/mixed``: a ``multipart/alternative`` with the text for
people (``text/plain``) and the invite itself (``text/calendar; method=REQUEST;
charset=utf-8``), then the same object as an ``invite.ics`` attachment
(``application/ics``) for clients that only look at attachments. The MIME
``method`` parameter is read from the object's METHOD, so the two always agree
(RFC 6047 requires it, and Outlook ignores an invite where they differ).
Apprise cannot set that parameter, which is why invites go out as these
messages over SMTP (or into the Maildir outbox), through the same channel
interface as every other message.
"""

from __future__ import annotations

import re
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from icalendar import Calendar

from flows.messages import EMAIL_POLICY

__all__ = ["ATTACHMENT", "calendar_method", "imip_message"]

ATTACHMENT = "invite.ics"


def calendar_method(ics: bytes) -> str:
    """The METHOD of an iCalendar object, upper case (REQUEST, CANCEL, REPLY...).

    Raises ValueError when the object cannot be read or has no METHOD (a feed
    has none, and is not something to send as an invite).
    """
    cal = Calendar.from_ical(ics)
    if not isinstance(cal, Calendar):
        raise ValueError("not a VCALENDAR")
    method = str(cal.get("METHOD", "")).strip().upper()
    if not method:
        raise ValueError("the calendar has no METHOD: it is not an iTIP message")
    return method


_UNFOLD = re.compile(rb"\r?\n[ \t]")
_LINE = re.compile(rb"([A-Za-z0-9-]+)(?:;[^:\"]*(?:\"[^\"]*\"[^:\"]*)*)?:(.*)", re.DOTALL)
_WORD = re.compile(rb"[A-Za-z-]+")


def _plain_method(ics: bytes) -> str | None:
    """The METHOD of an object shaped as duly writes them, read without parsing it all.

    Parsing the whole object (:func:`calendar_method`) took more time than the
    rest of building the message. This reads the calendar's own METHOD when the
    object is plainly one VCALENDAR (every line ``NAME[;params]:value``, BEGIN and
    END balanced, one METHOD, a bare word); it answers None on anything else, which
    :func:`calendar_method` then judges as before.
    """
    try:
        ics.decode("utf-8")
    except UnicodeDecodeError:
        return None
    lines = _UNFOLD.sub(b"", ics).splitlines()
    if not lines or lines[0] != b"BEGIN:VCALENDAR" or lines[-1] != b"END:VCALENDAR":
        return None
    open_: list[bytes] = []  # the components open at this line, outermost first
    methods: list[bytes] = []
    for number, line in enumerate(lines):
        match = _LINE.fullmatch(line)
        if match is None:
            return None
        name, value = match[1].upper(), match[2]
        if name == b"BEGIN":
            if not open_ and number > 0:
                return None  # a second object after the first
            open_.append(value.upper())
        elif name == b"END":
            if not open_ or open_.pop() != value.upper():
                return None
        elif not open_:
            return None  # a property outside the calendar
        elif name == b"METHOD" and len(open_) == 1:
            methods.append(value)
    if open_ or len(methods) != 1 or _WORD.fullmatch(methods[0]) is None:
        return None
    return methods[0].decode("ascii").upper()


def imip_message(
    *,
    ics: bytes,
    sender: str,
    to: str,
    subject: str,
    body: str,
    message_id: str,
    date: datetime,
) -> EmailMessage:
    """An email carrying the iTIP object ``ics`` (from :mod:`models.invite`).

    ``sender`` and ``to`` are full addresses (``Name <user@example.org>``); the
    ORGANIZER and ATTENDEE inside ``ics`` are what calendar clients act on, so
    they should be the same people. ``message_id`` is used as given (derive it
    from the delivery key, so a resend is recognised); ``date`` must be aware.
    """
    method = _plain_method(ics) or calendar_method(ics)
    message = EmailMessage(policy=EMAIL_POLICY)
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = message_id
    message.set_content(body, cte="8bit")
    message.add_alternative(
        ics.decode("utf-8"),
        subtype="calendar",
        charset="utf-8",
        cte="8bit",
        params={"method": method},
    )
    message.add_attachment(ics, maintype="application", subtype="ics", filename=ATTACHMENT)
    return message
