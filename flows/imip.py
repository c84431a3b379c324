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

from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime

from icalendar import Calendar

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
    method = calendar_method(ics)
    message = EmailMessage()
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
