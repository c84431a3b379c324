"""Reply files: an .ics, or the calendar part of an email, with caps against MIME bombs."""

from __future__ import annotations

import time
from email.message import EmailMessage
from pathlib import Path

import pytest

from flows.replies import MAX_EMAIL_BYTES, MAX_PARTS, calendar_from_email, read_reply_file
from models.invite import ReplyRejected, parse_reply

SLA_UID = "a9998eb11be8377d1bb46e261faf9d34@duly"
KNOWN = {SLA_UID: ("lo-head@homeoffice.example", 0)}


def reply_ics(comment: str = "See you then") -> bytes:
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nMETHOD:REPLY\r\n"
        f"BEGIN:VEVENT\r\nUID:{SLA_UID}\r\nDTSTAMP:20180131T101500Z\r\nSEQUENCE:0\r\n"
        "ATTENDEE;PARTSTAT=DECLINED:mailto:lo-head@homeoffice.example\r\n"
        f"COMMENT:{comment}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def client_email(ics: bytes, *, charset: str = "utf-8", inline: bool = True) -> bytes:
    """An email as a calendar client sends a reply: text, then the calendar part."""
    message = EmailMessage()
    message["From"] = "Head of Litigation Operations <lo-head@homeoffice.example>"
    message["To"] = "duly <duly@homeoffice.example>"
    message["Subject"] = "Declined: Updated SLA in place"
    message.set_content("I have declined this invitation.\n")
    if inline:
        message.add_alternative(
            ics.decode("utf-8"),
            subtype="calendar",
            charset=charset,
            cte="base64",
            params={"method": "REPLY"},
        )
    else:
        message.add_attachment(
            ics, maintype="application", subtype="octet-stream", filename="reply.ics"
        )
    return message.as_bytes()


def test_an_ics_file_is_read_as_it_is(tmp_path: Path):
    path = tmp_path / "reply.ics"
    path.write_bytes(b"\xef\xbb\xbf\r\n" + reply_ics())
    assert parse_reply(read_reply_file(path), known=KNOWN).partstat == "DECLINED"


def test_the_calendar_part_of_an_email_is_found_and_decoded(tmp_path: Path):
    path = tmp_path / "reply.eml"
    path.write_bytes(client_email(reply_ics()))
    data = read_reply_file(path)
    assert data.replace(b"\r\n", b"\n") == reply_ics().replace(b"\r\n", b"\n")
    got = parse_reply(data, known=KNOWN)
    assert (got.partstat, got.comment) == ("DECLINED", "See you then")


def test_an_ics_attachment_is_found_when_there_is_no_calendar_part():
    data = calendar_from_email(client_email(reply_ics(), inline=False))
    assert parse_reply(data, known=KNOWN).partstat == "DECLINED"


def test_another_charset_is_re_encoded_as_utf_8():
    data = calendar_from_email(client_email(reply_ics("Déjà en congé"), charset="iso-8859-1"))
    assert parse_reply(data, known=KNOWN).comment == "Déjà en congé"


def test_an_email_without_a_calendar_part_is_refused():
    message = EmailMessage()
    message.set_content("Sorry, I cannot make it.\n")
    with pytest.raises(ReplyRejected) as caught:
        calendar_from_email(message.as_bytes())
    assert caught.value.code == "no-calendar"


def test_a_mime_bomb_of_many_parts_is_refused_before_it_is_parsed():
    parts = "".join("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(50_000))
    raw = (
        f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n{parts}--b--\r\n'
    )
    started = time.perf_counter()
    with pytest.raises(ReplyRejected, match=f"over {MAX_PARTS} MIME parts") as caught:
        calendar_from_email(raw.encode())
    assert caught.value.code == "mime"
    assert time.perf_counter() - started < 1.0  # parsing it would take about 10 s


def test_deeply_nested_parts_are_refused():
    depth = 12
    head = "".join(
        f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n' for i in range(depth)
    )
    tail = "".join(f"--b{i}--\r\n" for i in reversed(range(depth)))
    raw = f"MIME-Version: 1.0\r\n{head}Content-Type: text/calendar\r\n\r\nx\r\n{tail}".encode()
    with pytest.raises(ReplyRejected, match="nest deeper than 8") as caught:
        calendar_from_email(raw)
    assert caught.value.code == "mime"


def test_a_huge_email_is_refused_without_reading_it_all(tmp_path: Path):
    path = tmp_path / "huge.eml"
    with path.open("wb") as handle:
        handle.write(b"Subject: big\r\n\r\n")
        handle.truncate(MAX_EMAIL_BYTES * 3)
    with pytest.raises(ReplyRejected) as caught:
        read_reply_file(path)
    assert caught.value.code == "too-large"


def test_a_huge_calendar_part_is_refused():
    padding = "COMMENT:" + "x" * 70 + "\r\n"
    big = reply_ics().replace(b"END:VEVENT", (padding * 15_000).encode() + b"END:VEVENT")
    with pytest.raises(ReplyRejected, match="calendar part is") as caught:
        calendar_from_email(client_email(big))
    assert caught.value.code == "too-large"
