"""The database adapter: engine, schema, and moving the rule set and the agenda in and out.

SQLite (``sqlite:///duly.db``) by default; PostgreSQL when ``DULY_DATABASE_URL``
names one (``postgresql://user@host/db``; the psycopg 3 driver is used). The
domain decisions live in ``models``; this module only reads and writes rows.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import islice
from operator import itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import delete, event, insert, inspect, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, SQLModel, col, create_engine, select

from models.agenda import STATES, AgendaRows, CommitmentStatus
from models.rules import Commitment, RuleSet
from models.tables import (
    AGENDA_COLUMNS,
    AgendaRow,
    CommitmentRow,
    OwnerRow,
    RecommendationRow,
    ResponseRow,
    StateChange,
    SyncMark,
)

__all__ = [
    "DEFAULT_URL",
    "StateError",
    "database_url",
    "due_items",
    "make_engine",
    "read_states",
    "select_in",
    "set_state",
    "sync_rules",
]

DEFAULT_URL = "sqlite:///duly.db"
HORIZON = timedelta(days=400)  # how far ahead the agenda is compiled
AHEAD = timedelta(days=60)  # extend it when less than this is left
COMPILE_CHUNK = 5_000  # commitments compiled and inserted at a time
MAX_IN = 10_000  # values in one ``IN (...)``: SQLite allows 32,766 bound parameters


class StateError(ValueError):
    """Raised when a state change names an unknown commitment or state."""


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("DULY_DATABASE_URL") or DEFAULT_URL


def make_engine(url: str | None = None, **kwargs: object) -> Engine:
    """An engine for ``url``; ``postgresql://`` URLs get the psycopg 3 driver."""
    url = database_url(url)
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(conn, _record):  # type: ignore[no-untyped-def]
            cursor = conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL loses nothing when a process dies (a killed tick); only a
            # power cut can lose the last commits, and then a message is sent again
            # (at least once), never lost. It spares an fsync per recorded send.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, **kwargs)


def sqlite_file_missing(url: str) -> bool:
    """True for a SQLite URL whose file does not exist yet (nothing to read)."""
    if not url.startswith("sqlite:///"):
        return False
    name = url.removeprefix("sqlite:///")
    return name not in ("", ":memory:") and not Path(name).exists()


def create_schema(engine: Engine, attempts: int = 3) -> None:
    """Create the tables that are missing (a second process doing the same is fine)."""
    for attempt in range(attempts):
        try:
            SQLModel.metadata.create_all(engine)
            return
        except DBAPIError:  # another process created a table between check and create
            if attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def read_states(session: Session, uids: set[str] | None = None) -> dict[str, CommitmentStatus]:
    """Every commitment's state (or only those of ``uids``)."""
    statement = select(
        col(CommitmentRow.uid),
        col(CommitmentRow.state),
        col(CommitmentRow.state_since),
        col(CommitmentRow.snoozed_until),
    )
    if session.autoflush:  # as session.exec would, before it reads
        session.flush()
    connection = session.connection()  # Core, streamed: no ORM work per row
    if uids is None:
        batches: Iterable[Any] = [connection.execute(statement)]
    else:
        uid = col(CommitmentRow.uid)
        batches = (
            connection.execute(statement.where(uid.in_(chunk)))
            for chunk in _chunks(sorted(uids), MAX_IN)
        )
    unchanged = CommitmentStatus()  # most commitments: one shared (frozen) status
    return {  # SQLite returns naive datetimes: they are UTC
        uid: CommitmentStatus(state, _utc(since), snoozed)
        if (state, since, snoozed) != ("open", None, None)
        else unchanged
        for rows in batches
        for uid, state, since, snoozed in rows
    }


def select_in(session: Session, statement: Any, column: Any, values: Iterable[Any]) -> list[Any]:
    """The rows of ``statement`` whose ``column`` is one of ``values``, however many:
    asked ``MAX_IN`` values at a time (one ``IN`` of them all fails past SQLite's limit
    on bound parameters, as a first catch-up of a large portfolio found)."""
    rows: list[Any] = []
    for chunk in _chunks(sorted(values), MAX_IN):
        rows.extend(session.exec(statement.where(column.in_(chunk))).all())
    return rows


def _utc(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def agenda_horizon(session: Session, now: datetime) -> tuple[datetime, bool]:
    """How far ahead the agenda is compiled, extended (True) when it ends too soon.

    Deadlines end, but recurring series do not: every commitment's agenda is
    compiled up to one shared horizon, and when ``now`` comes within ``AHEAD`` of
    it, the horizon moves to ``now + HORIZON`` and everything is recompiled.
    """
    mark = session.get(SyncMark, "agenda_until")
    if mark is not None and mark.value >= now + AHEAD:
        return mark.value, False
    until = now + HORIZON
    if mark is None:
        mark = SyncMark(name="agenda_until", value=until)
    mark.value = until
    session.add(mark)
    return until, True


def write_agenda(
    session: Session,
    rules: RuleSet,
    uids: set[str],
    states: dict[str, CommitmentStatus],
    until: datetime,
) -> int:
    """Recompile the agenda of ``uids`` up to ``until``: pending rows are replaced,
    handled ones (enqueued or skipped) kept."""
    if not uids:
        return 0
    uid_list = sorted(uids)
    everything = len(uids) >= len(rules.commitments) and uids >= set(rules.commitments)
    if everything:  # one statement each, not one per chunk
        session.execute(delete(AgendaRow).where(col(AgendaRow.status) == "pending"))
        handled = set(session.exec(select(AgendaRow.key)).all())
    else:
        _drop_pending(session, uid_list)
        handled = set()
        for chunk in _chunks(uid_list, 500):
            handled.update(
                session.exec(
                    select(AgendaRow.key).where(col(AgendaRow.commitment_uid).in_(chunk))
                ).all()
            )
    written = 0
    compiled = AgendaRows(
        rules,
        states,
        until.date(),
        encode_date=_encoder(session, AgendaRow, "occurrence"),
        encode_instant=_encoder(session, AgendaRow, "at"),
    )
    with _indexes_after(session, AgendaRow, empty=everything and not handled):
        for chunk in _chunks(uid_list, COMPILE_CHUNK):  # memory bounded by a chunk, not by N
            rows = compiled.rows(chunk)
            if handled:
                rows = [r for r in rows if r[0] not in handled]
            _insert_agenda(session, rows)
            written += len(rows)
    return written


@contextmanager
def _indexes_after(session: Session, table: type[SQLModel], *, empty: bool) -> Iterator[None]:
    """Index the rows bulk-inserted into ``table`` once, at the end, when it was
    ``empty``: its indexes are dropped and created again in the same transaction
    (sorting once is faster than updating them row by row). Otherwise nothing.

    Only within a transaction (pysqlite runs DDL outside one as it comes), so
    a failure rolls the drop back; only the indexes the database has are dropped.
    """
    connection = session.connection()
    dbapi = connection.connection.dbapi_connection
    if not empty or not getattr(dbapi, "in_transaction", True):
        yield
        return
    sql_table = table.__table__  # type: ignore[attr-defined]
    have = {index["name"] for index in inspect(connection).get_indexes(sql_table.name)}
    dropped = [index for index in sql_table.indexes if index.name in have]
    for index in dropped:
        index.drop(connection)
    yield
    for index in dropped:
        index.create(connection)


# The columns of AgendaRows.FIELDS, in order; a new row is pending, with no note.
_AGENDA_COLUMNS = tuple(AGENDA_COLUMNS[field] for field in AgendaRows.FIELDS)


def _insert_agenda(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """INSERT agenda rows (as :class:`AgendaRows` gives them, encoded for the database)."""
    _executemany(
        session,
        AgendaRow,
        _AGENDA_COLUMNS,
        rows,
        {"status": "pending", "note": None},
    )


def _encoder(session: Session, table: type[SQLModel], column: str) -> Callable[[Any], Any]:
    """How SQLAlchemy converts a value of ``column`` for this database (its bind processor)."""
    dialect = session.get_bind().dialect
    kind = table.__table__.columns[column].type  # type: ignore[attr-defined]
    process = kind.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _unchanged


def _unchanged(value: Any) -> Any:
    return value


def _executemany(
    session: Session,
    table: type[SQLModel],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    constants: dict[str, str | None] | None = None,
) -> None:
    """INSERT rows of values already converted for the database (see :func:`_encoder`)
    straight through the DBAPI cursor, as SQLAlchemy's per-row work is the larger part
    of a bulk insert: COPY on PostgreSQL, executemany elsewhere. ``constants`` are
    the values of further columns, the same in every row."""
    connection = session.connection()
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    fixed = constants or {}
    names = ", ".join(quote(c) for c in [*columns, *fixed])
    name = quote(table.__table__.name)  # type: ignore[attr-defined]
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if dialect.name == "postgresql":  # psycopg 3
            extra = tuple(fixed.values())
            with cursor.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row((*row, *extra) if extra else row)
            return
        mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}[dialect.paramstyle]
        literals = [_literal(value) for value in fixed.values()]
        values = ", ".join([mark] * len(columns) + literals)
        cursor.executemany(f"INSERT INTO {name} ({names}) VALUES ({values})", rows)
    finally:
        cursor.close()


def _literal(value: str | None) -> str:
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def _bulk_insert(session: Session, table: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """INSERT many rows with one executemany per 20,000, without building ORM objects."""
    statement = insert(table.__table__)  # type: ignore[attr-defined]
    connection = session.connection()
    for start in range(0, len(rows), 20_000):
        connection.execute(statement, rows[start : start + 20_000])


def _fast_insert(session: Session, table: type[SQLModel], rows: Iterable[dict[str, Any]]) -> None:
    """INSERT rows that all have the same keys as :func:`_bulk_insert` does, values
    converted and missing columns given their defaults as SQLAlchemy would, but
    through :func:`_executemany`; 20,000 at a time, so ``rows`` may be a generator."""
    remaining = iter(rows)
    while chunk := list(islice(remaining, 20_000)):
        names = list(chunk[0])
        missing = [c for c in table.__table__.columns if c.name not in chunk[0]]  # type: ignore[attr-defined]
        if any(c.default is not None and not c.default.is_scalar for c in missing):
            _bulk_insert(session, table, chunk)
            continue
        defaults = {c.name: c.default.arg for c in missing if c.default is not None}
        fixed = [_encoder(session, table, name)(value) for name, value in defaults.items()]
        encoders = [(i, _encoder(session, table, name)) for i, name in enumerate(names)]
        converted = [(i, encode) for i, encode in encoders if encode is not _unchanged]
        pick = itemgetter(*names)
        values: list[tuple[Any, ...]] = []
        for row in chunk:
            value = [*pick(row), *fixed]
            for i, encode in converted:
                value[i] = encode(value[i])
            values.append(tuple(value))
        _executemany(session, table, [*names, *defaults], values)


def _upsert(session: Session, table: type[SQLModel], rows: list[dict[str, Any]]) -> None:
    """Insert the rows that are new, update those that differ, leave the rest alone."""
    columns = table.__table__.columns  # type: ignore[attr-defined]
    existing = {
        row.id: dict(row._mapping) for row in session.connection().execute(select(*columns))
    }
    new = [r for r in rows if r["id"] not in existing]
    changed = [
        r for r in rows if r["id"] in existing and existing[r["id"]] != {**existing[r["id"]], **r}
    ]
    _bulk_insert(session, table, new)
    if changed:  # ORM bulk UPDATE by primary key
        session.execute(update(table), changed)


def _drop_pending(session: Session, uids: list[str]) -> None:
    """Delete the not-yet-handled agenda rows of these commitments."""
    for chunk in _chunks(uids, 500):
        session.execute(
            delete(AgendaRow).where(
                col(AgendaRow.commitment_uid).in_(chunk), col(AgendaRow.status) == "pending"
            )
        )


def _chunks(values: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(values), size):
        yield values[i : i + size]


def _commitment_values(c: Commitment, digest: str) -> dict[str, Any]:
    """The columns of a commitment's row, from its resolved rule-file entry."""
    window = c.due or c.starts
    return {
        "response_id": c.response_id,
        "recommendation_id": f"{c.response_id}/{c.recommendation}",
        "para": c.para,
        "quote": c.quote,
        "action": c.action,
        "owner_id": c.owner,
        "rule_id": c.rule,
        "due": c.due.due if c.due else None,
        "window_start": window.start if window else None,
        "window_end": window.end if window else None,
        "rrule": c.rrule,
        "duration": c.duration.iso() if c.duration else None,
        "after_uid": c.after,
        "review": c.review,
        "digest": digest,
    }


AGENDA_LOCK = 0x64756C79  # "duly": the PostgreSQL advisory lock that guards the agenda


def lock_agenda(session: Session, *, exclusive: bool) -> None:
    """Serialise rewriting the agenda (a sync, a state change: exclusive) against
    checks reading it (shared) until the transaction ends. On PostgreSQL an advisory
    lock; SQLite already lets one writer at a time, and a stale reader retries."""
    if session.get_bind().dialect.name != "postgresql":
        return
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    session.execute(text(f"SELECT {function}(:key)"), {"key": AGENDA_LOCK})


def sync_rules(
    session: Session, rules: RuleSet, now: datetime, touched: set[str] | None = None
) -> dict[str, int]:
    """Write the rule set into the database and recompile the agenda of what changed.

    Upserts by stable id and never deletes history: a commitment removed from the
    rule files keeps its rows (and its state); only its pending agenda goes.
    Returns counts: commitments added, changed, and agenda rows written. The uids of
    the commitments added, changed or removed are added to ``touched`` when given.
    """
    if not rules.ok:
        raise ValueError("refusing to sync a rule set with errors")
    lock_agenda(session, exclusive=True)
    _upsert(
        session,
        OwnerRow,
        [
            {
                "id": o.id,
                "name": o.name,
                "email": o.email,
                "tags": list(o.tags),
                "escalate_to": o.escalate_to,
            }
            for o in rules.owners.values()
        ],
    )
    _upsert(
        session,
        ResponseRow,
        [
            {
                "id": r.id,
                "title": r.title,
                "inspectorate": r.inspectorate,
                "inspection_period": r.inspection_period,
                "published": r.published,
                "source": r.source,
            }
            for r in rules.responses.values()
        ],
    )
    _upsert(
        session,
        RecommendationRow,
        [
            {
                "id": f"{r.id}/{rec.number}",
                "response_id": r.id,
                "number": rec.number,
                "text": rec.text,
                "status": rec.status,
                "status_text": rec.status_text,
            }
            for r in rules.responses.values()
            for rec in r.recommendations
        ],
    )
    session.flush()
    digests = select(CommitmentRow.uid, CommitmentRow.digest)
    existing: dict[str, str] = {
        uid: digest for uid, digest in session.connection().execute(digests)
    }
    new: list[tuple[str, str]] = []  # (uid, digest): their rows are made as inserted
    changed_rows: list[dict[str, Any]] = []
    for uid, c in rules.commitments.items():
        digest = f"{c.digest}:{rules.policies[c.rule].digest}"
        known = existing.get(uid)
        if known == digest:
            continue
        if known is None:
            new.append((uid, digest))
        else:
            changed_rows.append({"uid": uid, **_commitment_values(c, digest)})
    with _indexes_after(session, CommitmentRow, empty=not existing):
        _fast_insert(
            session,
            CommitmentRow,
            (
                {"uid": uid, **_commitment_values(rules.commitments[uid], digest)}
                for uid, digest in new
            ),
        )
    if changed_rows:  # ORM bulk UPDATE by primary key
        session.execute(update(CommitmentRow), changed_rows)
    added, changed = len(new), len(changed_rows)
    dirty = {uid for uid, _ in new} | {r["uid"] for r in changed_rows}
    removed = set(existing) - set(rules.commitments)
    _drop_pending(session, sorted(removed))
    if touched is not None:
        touched.update(dirty, removed)
    session.flush()
    until, extended = agenda_horizon(session, now)
    if extended:
        dirty = set(rules.commitments)
    written = write_agenda(session, rules, dirty, _agenda_states(session, rules, dirty), until)
    return {"added": added, "changed": changed, "agenda": written, "removed": len(removed)}


def set_state(
    session: Session,
    rules: RuleSet,
    uid: str,
    state: str,
    *,
    who: str,
    why: str,
    now: datetime,
    evidence: str | None = None,
) -> int:
    """Record a state change in the history and recompile the agenda it affects.

    The commitment's own agenda and that of every commitment waiting for it are
    recompiled, so a done commitment gets no more reminders and its dependants
    start. Returns the number of agenda rows written.
    """
    if state not in STATES:
        raise StateError(f"unknown state {state!r}; one of: {', '.join(STATES)}")
    try:
        uid = rules.resolve(uid)
    except LookupError as exc:
        raise StateError(str(exc)) from None
    lock_agenda(session, exclusive=True)
    row = session.get(CommitmentRow, uid)
    if row is None:
        raise StateError(f"commitment '{uid}' is not in the database yet; run duly sync")
    if row.state == state:
        raise StateError(f"commitment '{uid}' is already {state}")
    row.state = state
    row.state_since = now
    session.add(row)
    session.add(
        StateChange(commitment_uid=uid, state=state, at=now, who=who, why=why, evidence=evidence)
    )
    session.flush()
    until, extended = agenda_horizon(session, now)
    affected = set(rules.commitments) if extended else {uid, *rules.dependents(uid)}
    return write_agenda(session, rules, affected, _agenda_states(session, rules, affected), until)


def _agenda_states(
    session: Session, rules: RuleSet, uids: set[str]
) -> dict[str, CommitmentStatus]:
    """The states the agendas of ``uids`` depend on: their own and their predecessors'.
    None for none (a sync that changed nothing reads nothing), all when most are."""
    if not uids:
        return {}
    if len(uids) > 10_000 or len(uids) >= len(rules.commitments):
        return read_states(session)
    return read_states(
        session, uids | {a for u in uids if (a := rules.commitments[u].after) is not None}
    )


def due_items(session: Session, rule_id: str, now: datetime) -> list[AgendaRow]:
    """Pending agenda rows of one rule due at or before ``now`` (one index range scan)."""
    statement = (
        select(AgendaRow)
        .where(
            col(AgendaRow.rule_id) == rule_id,
            col(AgendaRow.status) == "pending",
            col(AgendaRow.at) <= now,
        )
        .order_by(col(AgendaRow.at), col(AgendaRow.key))
    )
    return list(session.exec(statement).all())
