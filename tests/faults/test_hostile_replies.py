"""Hostile calendar replies: mutated REPLYs, someone else's commitment, MIME bombs.

The codes of single bad REPLYs are tested in ``tests/models/test_invite.py`` and
``tests/flows/test_replies.py``; here the angle is adversarial: thousands of
mutations of a real REPLY must each end as a :class:`ReplyRejected` with a code,
or as a Reply that passes every check, never as another exception; and the caps
of ``flows/replies.py`` are attacked around their edges.
"""

from __future__ import annotations

import time
import typing
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.replies import MAX_EMAIL_BYTES, calendar_from_email, read_reply_file
from models.invite import PARTSTATS, RejectCode, ReplyRejected, parse_reply

SLA = "a9998eb11be8377d1bb46e261faf9d34@duly"
APPEALS = "0d5cc1b1f2b04e7fa0d7f35cf52c4c3e@duly"
KNOWN = {
    SLA: ("lo-head@homeoffice.example", 2),
    APPEALS: ("appeals-ops-head@homeoffice.example", 1),
}
ACCEPTED = (
    "BEGIN:VCALENDAR\r\nPRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN\r\n"
    "VERSION:2.0\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nDTSTAMP:20180130T091500Z\r\n"
    f"UID:{SLA}\r\nSUMMARY:Updated SLA in place\r\n"
    "ORGANIZER;CN=duly:mailto:duly@homeoffice.example\r\n"
    "ATTENDEE;CN=Head of Litigation Operations;PARTSTAT=ACCEPTED;ROLE=REQ-PARTIC\r\n"
    " IPANT:mailto:lo-head@homeoffice.example\r\nSEQUENCE:2\r\n"
    "DTSTART;VALUE=DATE:20180430\r\nDTEND;VALUE=DATE:20180501\r\nEND:VEVENT\r\n"
    "END:VCALENDAR\r\n"
)
CODES = set(typing.get_args(RejectCode))
TOKENS = [
    "METHOD:REQUEST",
    "METHOD:CANCEL",
    f"UID:{APPEALS}",
    "UID:",
    "UID:unknown@elsewhere",
    "SEQUENCE:3",
    "SEQUENCE:-1",
    "SEQUENCE:99999999999999999999999",
    "SEQUENCE:x",
    "DTSTAMP:20180130T091500",
    "DTSTAMP:nonsense",
    "ATTENDEE;PARTSTAT=DECLINED:mailto:appeals-ops-head@homeoffice.example",
    "ATTENDEE;PARTSTAT=ACCEPTED:mailto:LO-HEAD@homeoffice.example",
    "ATTENDEE;PARTSTAT=DELEGATED:mailto:lo-head@homeoffice.example",
    "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:lo-head@homeoffice.example",
    "ATTENDEE:http://lo-head@homeoffice.example",
    "BEGIN:VEVENT",
    "END:VEVENT",
    "BEGIN:VTODO\r\nEND:VTODO",
    "BEGIN:VCALENDAR",
    "END:VCALENDAR",
    "RECURRENCE-ID:20180430T090000Z",
    "RECURRENCE-ID;VALUE=DATE:notadate",
    "COMMENT:" + "x" * 10_000,
    "X-" + "A" * 5000 + ":1",
    "\x00",
    ";;;:::",
    " folded continuation",
]


@st.composite
def mutated_reply(draw) -> bytes:
    lines = ACCEPTED.split("\r\n")
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["replace", "insert", "delete", "truncate", "chars"]))
        i = draw(st.integers(0, len(lines) - 1))
        if kind == "replace":
            lines[i] = draw(st.sampled_from(TOKENS))
        elif kind == "insert":
            lines.insert(i, draw(st.sampled_from(TOKENS)))
        elif kind == "delete":
            del lines[i]
        elif kind == "truncate":
            lines = lines[: i + 1]
            lines[-1] = lines[-1][: draw(st.integers(0, len(lines[-1])))]
        else:
            j = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + draw(st.text(max_size=5)) + lines[i][j:]
        if not lines:
            break
    return "\r\n".join(lines).encode("utf-8", "surrogatepass")


def test_mutated_replies_are_rejected_with_a_code_or_fully_checked():
    outcomes: dict[str, int] = {}

    @settings(
        max_examples=1500, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(data=mutated_reply())
    def fuzz(data: bytes) -> None:
        try:
            reply = parse_reply(data, known=KNOWN)
        except ReplyRejected as exc:
            assert exc.code in CODES and str(exc).startswith(f"REPLY rejected ({exc.code}): ")
            outcomes[exc.code] = outcomes.get(exc.code, 0) + 1
            return
        # a REPLY that got through says what duly sent, from whom it was sent to
        invited, current = KNOWN[reply.uid]
        assert reply.attendee == invited
        assert reply.partstat in PARTSTATS and 0 <= reply.sequence <= current
        assert reply.stale == (reply.sequence < current)
        outcomes["accepted"] = outcomes.get("accepted", 0) + 1

    started = time.perf_counter()
    fuzz()
    print(
        f"\nREPLY fuzzer: {sum(outcomes.values())} mutations in "
        f"{time.perf_counter() - started:.0f} s, 0 crashes: "
        f"{dict(sorted(outcomes.items()))}"
    )
    assert outcomes.get("accepted", 0) < sum(outcomes.values())


def test_a_property_given_twice_is_malformed_not_a_crash():
    data = ACCEPTED.replace("SEQUENCE:2", "SEQUENCE:2\r\nSEQUENCE:1").encode()
    with pytest.raises(ReplyRejected) as caught:
        parse_reply(data, known=KNOWN)
    assert caught.value.code == "malformed"


def test_a_reply_for_someone_elses_commitment_is_refused():
    # the appeals head answers the SLA invite (a forward, or a spoof): the UID is known
    forged = ACCEPTED.replace("lo-head@", "appeals-ops-head@")
    with pytest.raises(ReplyRejected) as caught:
        parse_reply(forged.encode(), known=KNOWN)
    assert caught.value.code == "attendee" and caught.value.uid == SLA
    assert "sent to lo-head@homeoffice.example" in str(caught.value)
    # and the SLA owner answering the appeals invite
    swapped = ACCEPTED.replace(SLA, APPEALS)
    with pytest.raises(ReplyRejected) as caught:
        parse_reply(swapped.encode(), known=KNOWN)
    assert caught.value.code == "attendee"


@pytest.mark.parametrize(
    ("sequence", "outcome"), [(0, "stale"), (1, "stale"), (2, "current"), (3, "sequence")]
)
def test_sequence_older_is_stale_newer_is_refused(sequence, outcome):
    data = ACCEPTED.replace("SEQUENCE:2", f"SEQUENCE:{sequence}").encode()
    if outcome == "sequence":
        with pytest.raises(ReplyRejected) as caught:
            parse_reply(data, known=KNOWN)
        assert caught.value.code == "sequence"
    else:
        assert parse_reply(data, known=KNOWN).stale == (outcome == "stale")


def test_a_huge_ics_file_is_refused_without_reading_it(tmp_path: Path):
    path = tmp_path / "reply.ics"
    with path.open("wb") as handle:
        handle.write(ACCEPTED.encode().replace(b"END:VEVENT", b"COMMENT:"))
        handle.truncate(MAX_EMAIL_BYTES * 20)  # sparse: 100 MB on paper
    started = time.perf_counter()
    with pytest.raises(ReplyRejected) as caught:
        read_reply_file(path)
    assert caught.value.code == "too-large"
    assert time.perf_counter() - started < 1


def test_a_mime_bomb_inside_the_size_cap_is_refused_quickly():
    # 99 parts pass the part cap: each holds a base64 blob that decodes under the cap
    blob = "QUFB" * 1000
    parts = "".join(
        f"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n{blob}\r\n"
        for _ in range(90)
    )
    raw = (
        f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n{parts}--b--\r\n'
    ).encode()
    started = time.perf_counter()
    with pytest.raises(ReplyRejected) as caught:
        calendar_from_email(raw)
    assert caught.value.code == "no-calendar"
    assert time.perf_counter() - started < 1


def test_a_mime_bomb_with_bare_cr_line_endings_is_refused_before_it_is_parsed():
    parts = "".join("--b\rContent-Type: text/plain\r\rx\r" for _ in range(8000))
    raw = (
        f'MIME-Version: 1.0\rContent-Type: multipart/mixed; boundary="b"\r\r{parts}--b--\r'
    ).encode()
    started = time.perf_counter()
    with pytest.raises(ReplyRejected) as caught:
        calendar_from_email(raw)
    elapsed = time.perf_counter() - started
    print(
        f"\n8,000 parts with bare CR ({len(raw):,} bytes): {caught.value.code} in {elapsed:.2f} s"
    )
    assert caught.value.code == "mime"
    assert elapsed < 0.5, f"parsed for {elapsed:.1f} s before refusing"
