"""``duly web`` (the pages behind the links in messages) and ``duly requests`` (more time).

Registered on the ``duly`` app by importing this module (``flows/cli.py`` does, at
its end). The pages and the commands call the same operations
(:mod:`flows.requests`), so a request granted here or on the admin page is
recorded the same way.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from flows.cli import _parse_at, _stdout, app, exit_with_error
from flows.cli_owner import DatabaseOption, RulesOption, WhoOption, _session, _who

__all__ = ["requests_app", "web"]


@app.command(rich_help_panel="Owner actions")
def web(
    host: Annotated[
        str, typer.Option(help="Address to listen on (loopback by default; put a proxy in front).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    database: DatabaseOption = None,
    paths: RulesOption = None,
    evidence: Annotated[
        Path | None,
        typer.Option(help="Folder for evidence files (default: DULY_EVIDENCE_DIR or ./evidence)."),
    ] = None,
    at: Annotated[
        str,
        typer.Option(
            help="Act as of this instant (London time), to replay history with messages "
            "from `duly tick --at`. Default: the real time."
        ),
    ] = "",
) -> None:
    """Serve the pages behind the links in reminders and invites, and the admin pages.

    Owners open a signed link, see the promise, and mark it in progress or done (with
    evidence), ask for more time, or say it is not theirs. Opening a page changes
    nothing; only its form does.

    Links are signed with DULY_SECRET_KEY, or a key kept beside the database;
    DULY_WEB_URL is the address messages link to. Admin pages need DULY_ADMIN_TOKEN.
    """
    import uvicorn

    from flows.db import database_url, sqlite_file_missing
    from flows.web import WebConfig, create_app

    url = database_url(database)
    if sqlite_file_missing(url):
        exit_with_error(f"no database at {url}; run duly sync (or duly tick) first")
    fixed = _parse_at(at) if at else None
    config = WebConfig(
        database=database,
        rules_paths=paths,
        clock=(lambda: fixed) if fixed is not None else None,
        evidence=evidence,
    )
    application = create_app(config)
    admin = "on" if os.environ.get("DULY_ADMIN_TOKEN") else "off (set DULY_ADMIN_TOKEN)"
    _stdout().print(
        f"duly web on http://{host}:{port} (database {url}; admin pages {admin}). Ctrl-C stops.",
        markup=False,
    )
    uvicorn.run(application, host=host, port=port, log_level="warning", access_log=False)


requests_app = typer.Typer(
    help="Owners' requests for more time: list them, grant or refuse one.",
    no_args_is_help=True,
)
app.add_typer(requests_app, name="requests", rich_help_panel="Owner actions")


@requests_app.command("list")
def requests_list(
    every: Annotated[bool, typer.Option("--all", help="Decided ones too.")] = False,
    paths: RulesOption = None,
    database: DatabaseOption = None,
) -> None:
    """The requests awaiting a decision (all with --all), oldest first."""
    from flows.requests import list_requests

    with _session(paths, database) as (session, rules):
        rows = list_requests(session, pending_only=not every)
        console = _stdout()
        for r in rows:
            c = rules.commitments.get(r.commitment_uid)
            due = r.due.isoformat() if r.due else "no date"
            decided = f" [{r.status} by {r.decided_by}]" if r.status != "pending" else ""
            console.print(
                f"{r.id}  {r.commitment_uid}  due {due} -> {r.until.isoformat()}  "
                f"asked by {r.asked_by}{decided}: {r.why}" + (f"  ({c.action})" if c else ""),
                markup=False,
            )
        console.print(
            f"{len(rows)} request(s){'' if every else ' awaiting a decision'}.", markup=False
        )


def _decide(
    request_id: int,
    grant: bool,
    why: str,
    who: str,
    paths: list[Path] | None,
    database: str | None,
) -> None:
    from flows.db import StateError
    from flows.requests import decide_request

    try:
        with _session(paths, database) as (session, rules):
            request = decide_request(
                session, rules, request_id, grant=grant, who=_who(who), why=why,
                now=datetime.now(UTC),
            )  # fmt: skip
            uid, until = request.commitment_uid, request.until
    except StateError as exc:
        exit_with_error(str(exc))
    if grant:
        _stdout().print(
            f"request {request_id} granted: {uid} until {until.isoformat()}. The date moves "
            "when you edit its due: in the rule file and deploy.",
            markup=False,
        )
    else:
        _stdout().print(f"request {request_id} refused: {uid}.", markup=False)


@requests_app.command("grant")
def requests_grant(
    request_id: Annotated[int, typer.Argument(help="The request's number (duly requests list).")],
    why: Annotated[str, typer.Option("--why", help="Anything to add.")] = "",
    who: WhoOption = "",
    paths: RulesOption = None,
    database: DatabaseOption = None,
) -> None:
    """Grant a request: recorded in the history. Then edit the rule file's due date."""
    _decide(request_id, True, why, who, paths, database)


@requests_app.command("refuse")
def requests_refuse(
    request_id: Annotated[int, typer.Argument(help="The request's number (duly requests list).")],
    why: Annotated[str, typer.Option("--why", help="Why it is refused (required).")] = "",
    who: WhoOption = "",
    paths: RulesOption = None,
    database: DatabaseOption = None,
) -> None:
    """Refuse a request, saying why: recorded in the history; the date stands."""
    _decide(request_id, False, why, who, paths, database)
