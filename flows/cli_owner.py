"""``duly start|done|drop|snooze`` and ``duly replies``: progress, from owners and calendars.

Registered on the ``duly`` app by importing this module (``flows/cli.py`` does, at
its end). The commands are thin: :mod:`flows.actions` does the work, in one
transaction per action or reply, so a failure changes nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flows.cli import _load, _parse_at, _print_problems, _stdout, app, err, exit_with_error

if TYPE_CHECKING:
    from sqlmodel import Session

    from models.rules import RuleSet

__all__ = ["done", "drop", "replies_app", "snooze", "start"]

RulesOption = Annotated[
    list[Path] | None, typer.Option("--rules", help="Rule files or folders (default: rules/).")
]
DatabaseOption = Annotated[str | None, typer.Option(help="Database URL.")]
WhoOption = Annotated[
    str, typer.Option("--who", help="Who says so (kept in the history). Default: $USER.")
]
AtOption = Annotated[
    str, typer.Option("--at", help="When it happened (London time). Default: now.")
]


def _who(who: str) -> str:
    return who or os.environ.get("USER") or "owner"


@contextmanager
def _session(paths: list[Path] | None, database: str | None) -> Iterator[tuple[Session, RuleSet]]:
    """The rules and a session on the database, which must exist; committed on success."""
    rules = _load(paths)
    if not rules.ok:
        _print_problems(rules.problems)
        exit_with_error("the rules have errors; run duly validate")
    from sqlmodel import Session

    from flows.db import create_schema, database_url, make_engine, sqlite_file_missing

    url = database_url(database)
    if sqlite_file_missing(url):
        exit_with_error(f"no database at {url}; run duly sync first")
    engine = make_engine(url)
    try:
        create_schema(engine)  # adds tables a newer duly has; never drops any
        with Session(engine) as session:
            yield session, rules
            session.commit()
    finally:
        engine.dispose()


def _act(
    action: str,
    commitment: str,
    *,
    why: str,
    who: str,
    at: str,
    paths: list[Path] | None,
    database: str | None,
    evidence: str | None = None,
    until: date | None = None,
) -> None:
    from flows.actions import act
    from flows.db import StateError

    now = _parse_at(at) if at else datetime.now(UTC)
    try:
        with _session(paths, database) as (session, rules):
            result = act(
                session,
                rules,
                commitment,
                action,
                who=_who(who),
                why=why,
                now=now,
                evidence=evidence,
                until=until,
            )
    except StateError as exc:
        exit_with_error(str(exc))
    what = (
        f"{result.uid} reminders snoozed until {until.isoformat()}"
        if action == "snooze" and until
        else f"{result.uid} is now {result.state}"
    )
    extra = f"; {len(result.notices)} calendar message(s) queued" if result.notices else ""
    _stdout().print(f"{what}; {result.agenda} agenda steps recompiled{extra}.", markup=False)


@app.command(rich_help_panel="Owner actions")
def start(
    commitment: Annotated[str, typer.Argument(help="Commitment: RESPONSE/ID, or a unique ID.")],
    why: Annotated[str, typer.Option("--why", help="What has begun.")] = "",
    who: WhoOption = "",
    at: AtOption = "",
    paths: RulesOption = None,
    database: DatabaseOption = None,
) -> None:
    """Mark a commitment in progress: its start reminders stop."""
    _act("start", commitment, why=why, who=who, at=at, paths=paths, database=database)


@app.command(rich_help_panel="Owner actions")
def done(
    commitment: Annotated[str, typer.Argument(help="Commitment: RESPONSE/ID, or a unique ID.")],
    evidence: Annotated[
        str, typer.Option("--evidence", help="A link to, or a note of, the evidence.")
    ],
    why: Annotated[str, typer.Option("--why", help="Anything to add.")] = "",
    who: WhoOption = "",
    at: AtOption = "",
    paths: RulesOption = None,
    database: DatabaseOption = None,
) -> None:
    """Mark a commitment done, with its evidence: no more reminders, and done early
    cancels its invite."""
    if not evidence.strip():
        exit_with_error("done needs --evidence: a link to, or a note of, what shows it is done")
    _act(
        "done",
        commitment,
        why=why,
        who=who,
        at=at,
        paths=paths,
        database=database,
        evidence=evidence,
    )


@app.command(rich_help_panel="Owner actions")
def drop(
    commitment: Annotated[str, typer.Argument(help="Commitment: RESPONSE/ID, or a unique ID.")],
    why: Annotated[str, typer.Option("--why", help="Why it is dropped (required).")],
    who: WhoOption = "",
    at: AtOption = "",
    paths: RulesOption = None,
    database: DatabaseOption = None,
) -> None:
    """Drop a commitment: no more reminders, and its invite is cancelled."""
    _act("drop", commitment, why=why, who=who, at=at, paths=paths, database=database)


@app.command(rich_help_panel="Owner actions")
def snooze(
    commitment: Annotated[str, typer.Argument(help="Commitment: RESPONSE/ID, or a unique ID.")],
    until: Annotated[str, typer.Option("--until", help="The day reminders resume (YYYY-MM-DD).")],
    why: Annotated[str, typer.Option("--why", help="Why.")] = "",
    who: WhoOption = "",
    at: AtOption = "",
    paths: RulesOption = None,
    database: DatabaseOption = None,
) -> None:
    """Hold a commitment's reminders until a day (escalations still go)."""
    try:
        day = date.fromisoformat(until)
    except ValueError:
        exit_with_error(f"--until {until!r} is not a date (YYYY-MM-DD)")
    _act("snooze", commitment, why=why, who=who, at=at, paths=paths, database=database, until=day)


replies_app = typer.Typer(
    help="Owners' answers to calendar invites: .ics or .eml files, or a Maildir.",
    no_args_is_help=True,
)
app.add_typer(replies_app, name="replies", rich_help_panel="Owner actions")


def _ingest_one(
    session: Session, rules: RuleSet, source: Path, name: str, now: datetime
) -> tuple[bool, str]:
    """Check and record one reply file; (accepted, the line to print)."""
    from flows.actions import known_invites, record_reply
    from flows.replies import read_reply_file
    from models.invite import ReplyRejected, parse_reply

    try:
        data = read_reply_file(source)
        known, recorded = known_invites(session)
        reply = parse_reply(data, known=known, recorded=recorded)
    except ReplyRejected as exc:
        if exc.code == "no-calendar":  # a plain answer: done, in progress, more time until
            from flows.text_replies import ingest_text_reply

            return ingest_text_reply(session, rules, source, name, now)
        return False, f"{name}: {exc}"
    except OSError as exc:
        return False, f"{name}: cannot read it: {exc.strerror}"
    result = record_reply(session, rules, reply, now)
    session.flush()
    line = f"{name}: {result.uid}: {reply.attendee} {reply.partstat}"
    if reply.stale:
        line += f" (for SEQUENCE {reply.sequence}, an earlier version)"
    if result.notices:
        line += "; escalated"
    return True, line


def _ingest(
    items: list[tuple[str, Path]],
    paths: list[Path] | None,
    database: str | None,
    now: datetime,
) -> tuple[int, int, list[str]]:
    """Each reply in its own transaction: a bad one is refused, the others still count."""
    accepted = rejected = 0
    done_names: list[str] = []
    console = _stdout()
    for name, source in items:
        with _session(paths, database) as (session, rules):
            ok, line = _ingest_one(session, rules, source, name, now)
            if not ok:
                session.rollback()
        if ok:
            accepted += 1
            done_names.append(name)
            console.print(line, markup=False)
        else:
            rejected += 1
            err.print(f"rejected {line}", markup=False)
    return accepted, rejected, done_names


@replies_app.command("ingest")
def replies_ingest(
    files: Annotated[list[Path], typer.Argument(help="REPLY files: .ics, or emails (.eml).")],
    paths: RulesOption = None,
    database: DatabaseOption = None,
) -> None:
    """Record owners' answers to invites. A reply is believed only from the invited
    attendee, for an invite duly sent, at its current or an older SEQUENCE."""
    items = [(str(f), f) for f in files]
    accepted, rejected, _ = _ingest(items, paths, database, datetime.now(UTC))
    _stdout().print(f"{accepted} recorded, {rejected} rejected.", markup=False)
    if rejected:
        raise typer.Exit(1)


@replies_app.command("watch")
def replies_watch(
    maildir: Annotated[Path, typer.Argument(help="A Maildir whose new/ holds the replies.")],
    interval: Annotated[float, typer.Option(help="Seconds between looks.")] = 60.0,
    once: Annotated[bool, typer.Option("--once", help="Look once, then stop.")] = False,
    paths: RulesOption = None,
    database: DatabaseOption = None,
) -> None:
    """Poll a mail folder: each new message is ingested, then moved to cur/ (seen), so
    it is read once; a rejected one is moved too, with the reason on stderr."""
    if not (maildir / "new").is_dir():
        exit_with_error(f"{maildir} is not a Maildir (it has no new/ folder)")
    (maildir / "cur").mkdir(exist_ok=True)
    while True:
        names = sorted(p for p in (maildir / "new").iterdir() if p.is_file())
        items = [(p.name, p) for p in names]
        if items:
            _ingest(items, paths, database, datetime.now(UTC))
            for p in names:  # seen, whatever the verdict: a bad reply is not retried forever
                p.replace(maildir / "cur" / f"{p.name}:2,S")
        if once:
            return
        time.sleep(interval)
