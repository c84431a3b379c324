"""Owner feeds: each owner's open commitments and review series as a subscribable calendar.

An owner subscribes to ``<owner id>.ics`` once and their calendar keeps itself up
to date. Every event carries the UID of the commitment's invite
(:func:`models.invite.invite_uid`), so the feed and the invites name the same
thing, and the SEQUENCE the invite last went out with, when one did.

The domain is in ``models.invite`` (:func:`~models.invite.calendar_entry`,
:func:`~models.invite.owner_feed`) and ``models.agenda``
(:func:`~models.agenda.live_from`); this module picks the open commitments,
reads states from the database and writes files, each one atomically (a
temporary file beside it, then a rename), so that a subscriber polling the
folder never reads half a feed.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from models.agenda import FINISHED, CommitmentStatus, live_from
from models.invite import CalendarEntry, calendar_entry, owner_feed
from models.rules import RuleSet

__all__ = [
    "FeedState",
    "feed_for",
    "feed_name",
    "open_entries",
    "read_feed_state",
    "write_atomic",
    "write_feeds",
]


@dataclass(frozen=True)
class FeedState:
    """What the database says: commitment states, invite SEQUENCEs, and a note for the user.

    ``note`` is set when there was nothing to read (no database yet): every
    commitment is then taken as open.
    """

    states: Mapping[str, CommitmentStatus] = field(default_factory=dict)
    sequences: Mapping[str, int] = field(default_factory=dict)
    note: str | None = None


def open_entries(
    rules: RuleSet,
    owner_id: str,
    states: Mapping[str, CommitmentStatus],
    sequences: Mapping[str, int] | None = None,
) -> list[CalendarEntry]:
    """The calendar entries of ``owner_id``'s open commitments, by date then uid.

    Open: not done, missed, dropped or superseded (a uid missing from ``states``
    is open). A commitment whose ``after:`` predecessor is not done has no date
    yet, and a kind without a day of its own (``dependency``) has none ever: both
    are left out. ``sequences`` maps uids to the SEQUENCE their invite has.
    """
    sequences = sequences or {}
    entries: list[CalendarEntry] = []
    for uid, c in rules.commitments.items():
        if c.owner != owner_id:
            continue
        status = states.get(uid)
        if status is not None and status.state in FINISHED:
            continue
        day = live_from(rules, c, states)
        if day is None:
            continue
        entry = calendar_entry(rules, c, day, sequence=sequences.get(uid, 0))
        if entry is not None:
            entries.append(entry)
    entries.sort(key=lambda e: (e.when.isoformat(), e.commitment.uid))
    return entries


def feed_name(rules: RuleSet, owner_id: str) -> str:
    """X-WR-CALNAME: what the owner's calendar client calls the feed."""
    return f"duly: {rules.owners[owner_id].name}"


def feed_for(
    rules: RuleSet,
    owner_id: str,
    states: Mapping[str, CommitmentStatus],
    now: datetime,
    sequences: Mapping[str, int] | None = None,
) -> bytes:
    """The VCALENDAR (no METHOD) of one owner's open commitments; ``now`` is the DTSTAMP."""
    if owner_id not in rules.owners:
        raise KeyError(owner_id)
    entries = open_entries(rules, owner_id, states, sequences)
    return owner_feed(entries, now=now, name=feed_name(rules, owner_id))


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader sees the old file or the new, never half.

    The bytes go to a temporary file in the same folder (same file system),
    flushed to disk, which then replaces ``path`` in one rename.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(name, 0o644)  # mkstemp makes it 0600; a feed is served to others
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def write_feeds(
    rules: RuleSet,
    owners: list[str],
    states: Mapping[str, CommitmentStatus],
    now: datetime,
    out: Path,
    sequences: Mapping[str, int] | None = None,
) -> dict[Path, int]:
    """Write ``<owner id>.ics`` into ``out`` for each of ``owners``; return path -> events.

    Every owner gets a file, an empty calendar when nothing of theirs is open, so
    a subscription never breaks and finished commitments leave the calendar.
    All feeds are built before the first is written.
    """
    built = {}
    for owner_id in owners:
        entries = open_entries(rules, owner_id, states, sequences)
        data = owner_feed(entries, now=now, name=feed_name(rules, owner_id))
        built[out / f"{owner_id}.ics"] = (data, len(entries))
    for path, (data, _) in built.items():
        write_atomic(path, data)
    return {path: count for path, (_, count) in built.items()}


def _aware(status: CommitmentStatus) -> CommitmentStatus:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    since = status.since
    if since is not None and since.tzinfo is None:
        return dataclasses.replace(status, since=since.replace(tzinfo=UTC))
    return status


def read_feed_state(url: str | None) -> FeedState:
    """States and invite SEQUENCEs from the database at ``url`` (default as other commands).

    With no database (no SQLite file yet, or no duly tables in it) every
    commitment is open, and ``note`` says so. A database that exists but cannot
    be read raises: it is an error, never "all open".
    """
    from sqlalchemy import inspect
    from sqlmodel import Session, select

    from flows.db import database_url, make_engine, read_states, sqlite_file_missing
    from models.tables import InviteRow

    url = database_url(url)
    all_open = f"no database at {url}: every commitment is taken as open"
    if sqlite_file_missing(url):
        return FeedState(note=all_open)
    engine = make_engine(url)
    try:
        tables = inspect(engine)
        if not tables.has_table("commitment"):
            return FeedState(note=all_open)
        with Session(engine) as session:
            states = {uid: _aware(s) for uid, s in read_states(session).items()}
            sequences: dict[str, int] = {}
            if tables.has_table("invite"):
                rows = session.exec(select(InviteRow.commitment_uid, InviteRow.sequence))
                sequences = {uid: sequence for uid, sequence in rows}
    finally:
        engine.dispose()
    return FeedState(states=states, sequences=sequences)
