"""A real CalDAV server keeps duly's invites and feed events as duly meant them.

Radicale (the Python package) runs on 127.0.0.1 with its storage under the test's
temporary folder and no authentication; each test makes its own calendar with
MKCALENDAR. The invites of the seed commitments (iTIP REQUESTs, with METHOD
stripped: a CalDAV resource must not carry one, RFC 4791 §4.1) and the events of
an owner feed are PUT one resource per UID, then read back with GET and with a
REPORT calendar-query whose time-range and ``expand`` make the server itself
expand the series. An update is the same UID with SEQUENCE raised, PUT over the
old resource; a cancel is a DELETE.

Only the standard library speaks HTTP here (``http.client``). Where radicale
cannot be imported or started, the tests skip and say why.
"""

from __future__ import annotations

import base64
import dataclasses
import http.client
import socket
import subprocess
import sys
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from icalendar import Calendar, Event

from flows.feed import feed_for, open_entries
from models.agenda import CommitmentStatus
from models.dates import Period
from models.invite import CalendarEntry, calendar_entry, cancel, invite_uid, request
from models.recurrence import Series

NOW = datetime(2018, 2, 1, 9, 0, tzinfo=UTC)
ORGANIZER = "duly@homeoffice.example"
OWNER = "lo-head"
LIT = "learning-from-litigation-2018"
SLA = f"{LIT}/sla-in-place"
SLA_REVIEW = f"{LIT}/sla-annual-review"
SLA_DONE = {SLA: CommitmentStatus("done", datetime(2018, 4, 20, 14, 0, tzinfo=UTC))}
DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
STARTUP_SECONDS = 20


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------


@dataclasses.dataclass
class Server:
    port: int
    log: Path

    def call(
        self, method: str, path: str, body: bytes | None = None, **headers: str
    ) -> tuple[int, dict[str, str], bytes]:
        """One HTTP request as ``lo-head`` (any password: auth is off); status, headers, body."""
        names = {k.replace("_", "-"): v for k, v in headers.items()}
        names["Authorization"] = "Basic " + base64.b64encode(f"{OWNER}:x".encode()).decode()
        if body is not None:
            names.setdefault("Content-Type", "text/calendar; charset=utf-8")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=names)
            response = conn.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        finally:
            conn.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path) -> str:
    text = path.read_text(errors="replace") if path.exists() else "(no log)"
    return text[-2000:]


@pytest.fixture(scope="module")
def radicale(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    try:
        import radicale as package
    except ImportError as exc:  # pragma: no cover - it is in the test extras
        pytest.skip(f"CALDAV NOT TESTED: the radicale package is not installed ({exc})")
    home = tmp_path_factory.mktemp("radicale")
    port = _free_port()
    config = home / "config"
    config.write_text(
        "[server]\n"
        f"hosts = 127.0.0.1:{port}\n"
        "[auth]\n"
        "type = none\n"
        "[storage]\n"
        f"filesystem_folder = {home / 'collections'}\n"
        "[web]\n"
        "type = none\n"
        "[logging]\n"
        "level = warning\n",
        encoding="utf-8",
    )
    log = home / "radicale.log"
    with log.open("wb") as out:
        # --config alone: no /etc/radicale/config or ~/.config/radicale/config is read.
        process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=home,
        )
    server = Server(port, log)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                pytest.skip(
                    f"CALDAV NOT TESTED: radicale {package.VERSION} exited with code "
                    f"{process.returncode} at startup; its log:\n{_tail(log)}"
                )
            try:
                status, headers, _ = server.call("OPTIONS", "/")
                if status == 200 and "calendar-access" in headers.get("dav", ""):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.skip(
                    f"CALDAV NOT TESTED: radicale {package.VERSION} did not answer on "
                    f"127.0.0.1:{port} within {STARTUP_SECONDS} s; its log:\n{_tail(log)}"
                )
            time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:  # pragma: no cover - it stops in about a second
            process.kill()
            process.wait(timeout=5)


@pytest.fixture
def calendar(radicale: Server) -> str:
    """A fresh calendar collection of lo-head's, made with MKCALENDAR; its path."""
    path = f"/{OWNER}/duly-{uuid.uuid4().hex[:8]}/"
    body = (
        b'<?xml version="1.0" encoding="utf-8"?>'
        b'<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        b"<D:set><D:prop><D:displayname>duly</D:displayname></D:prop></D:set>"
        b"</C:mkcalendar>"
    )
    status, _, text = radicale.call("MKCALENDAR", path, body, Content_Type="application/xml")
    assert status == 201, text
    return path


# --------------------------------------------------------------------------------------
# CalDAV, a little
# --------------------------------------------------------------------------------------


def resource(data: bytes) -> bytes:
    """The calendar object as a CalDAV resource: the same VCALENDAR without METHOD."""
    cal = Calendar.from_ical(data)
    if "METHOD" in cal:
        del cal["METHOD"]
    out: bytes = cal.to_ical()
    assert b"METHOD" not in out
    return out


def split(feed: bytes) -> dict[str, bytes]:
    """A feed as one calendar object per UID (a CalDAV resource holds one UID)."""
    cal = Calendar.from_ical(feed)
    zones = cal.walk("VTIMEZONE")
    out: dict[str, bytes] = {}
    for event in cal.walk("VEVENT"):
        one = Calendar()
        for name in ("PRODID", "VERSION", "CALSCALE"):
            one.add(name, cal[name])
        for zone in zones:
            one.add_component(zone)
        one.add_component(event)
        out[str(event["UID"])] = one.to_ical()
    return out


def href(calendar: str, uid: str) -> str:
    return f"{calendar}{uid.replace('@', '-')}.ics"


def put(server: Server, path: str, data: bytes, **headers: str) -> int:
    status, _, text = server.call("PUT", path, data, **headers)
    assert status in (201, 204), (status, text)
    return status


def the_event(data: bytes) -> Event:
    cal = Calendar.from_ical(data)
    events = cal.walk("VEVENT")
    assert len(events) == 1 and "METHOD" not in cal
    event = events[0]
    assert isinstance(event, Event)
    return event


def query(server: Server, calendar: str, lo: date, hi: date, *, expand: bool) -> list[Event]:
    """REPORT calendar-query for VEVENTs in [lo, hi); with ``expand``, one per occurrence."""
    span = f'start="{lo:%Y%m%d}T000000Z" end="{hi:%Y%m%d}T000000Z"'
    data = f"<C:expand {span}/>" if expand else ""
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
        f"<D:prop><D:getetag/><C:calendar-data>{data}</C:calendar-data></D:prop>"
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f"<C:time-range {span}/>"
        "</C:comp-filter></C:comp-filter></C:filter>"
        "</C:calendar-query>"
    ).encode()
    status, _, text = server.call(
        "REPORT", calendar, body, Depth="1", Content_Type="application/xml; charset=utf-8"
    )
    assert status == 207, text
    events: list[Event] = []
    for node in ET.fromstring(text).iter(f"{{{CALDAV}}}calendar-data"):
        cal = Calendar.from_ical((node.text or "").encode())
        events.extend(e for e in cal.walk("VEVENT") if isinstance(e, Event))
    return events


def members(server: Server, calendar: str) -> list[str]:
    body = (
        b'<?xml version="1.0"?>'
        b'<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
    )
    status, _, text = server.call(
        "PROPFIND", calendar, body, Depth="1", Content_Type="application/xml"
    )
    assert status == 207, text
    hrefs = [h.text or "" for h in ET.fromstring(text).iter(f"{{{DAV}}}href")]
    return sorted(h for h in hrefs if h.rstrip("/") != calendar.rstrip("/"))


def starts(events: list[Event], uid: str) -> list[date]:
    return sorted(e["DTSTART"].dt for e in events if str(e["UID"]) == uid)


# --------------------------------------------------------------------------------------
# Invites
# --------------------------------------------------------------------------------------


def test_every_invite_of_an_owner_is_stored_and_read_back_as_sent(radicale, calendar, seed_rules):
    owner = seed_rules.owners[OWNER]
    entries = open_entries(seed_rules, OWNER, SLA_DONE)
    assert {e.commitment.uid for e in entries} >= {SLA_REVIEW}
    sent: dict[str, CalendarEntry] = {}
    for entry in entries:
        uid = invite_uid(entry.commitment.uid)
        invite = request(entry, owner, ORGANIZER, now=NOW)
        assert b"\r\nMETHOD:REQUEST\r\n" in invite
        assert put(radicale, href(calendar, uid), resource(invite), If_None_Match="*") == 201
        sent[uid] = entry
    assert members(radicale, calendar) == sorted(href(calendar, u) for u in sent)
    for uid, entry in sent.items():
        status, headers, data = radicale.call("GET", href(calendar, uid))
        assert status == 200 and headers["content-type"].startswith("text/calendar")
        event = the_event(data)
        assert str(event["UID"]) == uid
        assert event["SEQUENCE"] == 0
        assert event["DTSTART"].dt == entry.when
        assert not isinstance(event["DTSTART"].dt, datetime)  # all-day, as sent
        assert str(event["ATTENDEE"]) == f"mailto:{owner.email}"
        assert str(event["ORGANIZER"]) == f"mailto:{ORGANIZER}"
    review = the_event(radicale.call("GET", href(calendar, invite_uid(SLA_REVIEW)))[2])
    assert review["RRULE"].to_ical() == b"FREQ=YEARLY"
    assert review["DTSTART"].dt == date(2019, 4, 20)


def test_the_server_expands_the_annual_sla_review_on_the_right_days(
    radicale, calendar, seed_rules
):
    owner = seed_rules.owners[OWNER]
    entry = calendar_entry(seed_rules, seed_rules.commitments[SLA_REVIEW], date(2018, 4, 20))
    assert entry is not None
    uid = invite_uid(SLA_REVIEW)
    put(radicale, href(calendar, uid), resource(request(entry, owner, ORGANIZER, now=NOW)))
    shown = query(radicale, calendar, date(2019, 1, 1), date(2025, 1, 1), expand=True)
    assert starts(shown, uid) == [date(y, 4, 20) for y in range(2019, 2025)]
    assert {e["RECURRENCE-ID"].dt for e in shown} == set(starts(shown, uid))
    assert all("RRULE" not in e for e in shown)


# --------------------------------------------------------------------------------------
# The feed
# --------------------------------------------------------------------------------------


def test_feed_events_keep_their_uids_and_series_expand_on_the_server(
    radicale, calendar, seed_rules
):
    feed = feed_for(seed_rules, OWNER, SLA_DONE, NOW)
    objects = split(feed)
    assert invite_uid(SLA) not in objects  # done: not in the feed
    assert invite_uid(SLA_REVIEW) in objects
    for uid, data in objects.items():
        put(radicale, href(calendar, uid), data, If_None_Match="*")
    for uid, data in objects.items():
        sent, back = the_event(data), the_event(radicale.call("GET", href(calendar, uid))[2])
        for name in ("UID", "SEQUENCE", "SUMMARY", "DESCRIPTION"):
            assert str(back[name]) == str(sent[name])
        assert back["DTSTART"].dt == sent["DTSTART"].dt
        assert "ATTENDEE" not in back

    # Without expand, the time-range still finds the series by its later occurrences...
    found = query(radicale, calendar, date(2023, 1, 1), date(2024, 1, 1), expand=False)
    assert [str(e["UID"]) for e in found] == [invite_uid(SLA_REVIEW)]
    assert found[0]["DTSTART"].dt == date(2019, 4, 20) and "RRULE" in found[0]
    # ...and with it, the server lists each occurrence from 2019 to 2024.
    shown = query(radicale, calendar, date(2019, 1, 1), date(2025, 1, 1), expand=True)
    assert starts(shown, invite_uid(SLA_REVIEW)) == [date(y, 4, 20) for y in range(2019, 2025)]
    # The deadlines of 2018 are outside that range, and inside one of their own.
    early = query(radicale, calendar, date(2018, 1, 1), date(2018, 5, 1), expand=True)
    assert {str(e["UID"]) for e in early} == set(objects) - {invite_uid(SLA_REVIEW)}


def test_a_29_february_series_expands_to_the_end_of_february_on_the_server(
    radicale, calendar, seed_rules
):
    review = dataclasses.replace(
        seed_rules.commitments[SLA_REVIEW], starts=Period(date(2024, 2, 29), date(2024, 2, 29))
    )
    entry = calendar_entry(seed_rules, review, date(2018, 1, 30))
    assert entry is not None
    assert entry.rrule == Series("FREQ=YEARLY", date(2024, 2, 29)).rrule_text
    uid = invite_uid(SLA_REVIEW)
    owner = seed_rules.owners[OWNER]
    put(radicale, href(calendar, uid), resource(request(entry, owner, ORGANIZER, now=NOW)))
    shown = query(radicale, calendar, date(2024, 1, 1), date(2029, 1, 1), expand=True)
    assert starts(shown, uid) == [
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2026, 2, 28),
        date(2027, 2, 28),
        date(2028, 2, 29),
    ]


# --------------------------------------------------------------------------------------
# Update and cancel
# --------------------------------------------------------------------------------------


def test_an_update_replaces_the_event_and_a_cancel_deletes_it(radicale, calendar, seed_rules):
    owner = seed_rules.owners[OWNER]
    sla = seed_rules.commitments[SLA]
    uid = invite_uid(SLA)
    path = href(calendar, uid)
    first = calendar_entry(seed_rules, sla, date(2018, 1, 30))
    assert first is not None and first.when == date(2018, 4, 30)
    put(radicale, path, resource(request(first, owner, ORGANIZER, now=NOW)), If_None_Match="*")
    _, headers, _ = radicale.call("GET", path)
    old_etag = headers["etag"]

    # The date moves to June: the same UID, SEQUENCE 1, PUT over the old version.
    moved = dataclasses.replace(sla, due=Period(date(2018, 6, 1), date(2018, 6, 30)))
    second = calendar_entry(seed_rules, moved, date(2018, 1, 30), sequence=1)
    assert second is not None
    update = resource(request(second, owner, ORGANIZER, now=datetime(2018, 3, 1, tzinfo=UTC)))
    assert put(radicale, path, update, If_Match=old_etag) == 204
    status, headers, data = radicale.call("GET", path)
    event = the_event(data)
    assert (status, str(event["UID"]), event["SEQUENCE"]) == (200, uid, 1)
    assert event["DTSTART"].dt == date(2018, 6, 30)
    assert headers["etag"] != old_etag
    assert members(radicale, calendar) == [path]  # replaced, not added
    shown = query(radicale, calendar, date(2018, 1, 1), date(2019, 1, 1), expand=True)
    assert [(str(e["UID"]), e["DTSTART"].dt) for e in shown] == [(uid, date(2018, 6, 30))]
    # A writer still holding the first version cannot overwrite the update.
    stale = resource(request(first, owner, ORGANIZER, now=NOW))
    status, _, _ = radicale.call("PUT", path, stale, If_Match=old_etag)
    assert status == 412
    # Nor can the same UID be stored twice under another name.
    status, _, _ = radicale.call("PUT", f"{calendar}copy.ics", update, If_None_Match="*")
    assert status == 409

    # Dropped: the CANCEL goes out with SEQUENCE 2, and the stored event is deleted.
    gone = dataclasses.replace(second, sequence=2)
    notice = Calendar.from_ical(cancel(gone, owner, ORGANIZER, now=NOW, reason="dropped"))
    assert str(notice["METHOD"]) == "CANCEL"
    cancelled = the_event(resource(notice.to_ical()))
    assert (str(cancelled["UID"]), cancelled["SEQUENCE"]) == (uid, 2)
    status, _, _ = radicale.call("DELETE", path, If_Match=headers["etag"])
    assert status in (200, 204)
    assert radicale.call("GET", path)[0] == 404
    assert members(radicale, calendar) == []
    assert query(radicale, calendar, date(2018, 1, 1), date(2019, 1, 1), expand=True) == []
