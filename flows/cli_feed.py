"""``duly feed``: an owner's open commitments as a calendar they can subscribe to.

Registered on the ``duly`` app by importing this module (``flows/cli.py`` does,
at its end). The logic is in ``flows/feed.py``; SQLModel is imported only when
the command runs.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from flows.cli import _load, _print_problems, app, err, exit_with_error
from flows.cli_report import parse_as_of

__all__ = ["feed"]


@app.command()
def feed(
    owner: Annotated[
        str | None,
        typer.Argument(help="The owner id, as in owners.yaml; the feed goes to stdout."),
    ] = None,
    all_owners: Annotated[
        bool, typer.Option("--all", help="Every owner: one <owner id>.ics each, in --out.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Folder to write <owner id>.ics into (created if missing)."),
    ] = None,
    at: Annotated[
        str,
        typer.Option(
            "--at",
            help="DTSTAMP of the events: a date (its end, London time) or date-time. "
            "Default: now.",
        ),
    ] = "",
    database: Annotated[
        str | None,
        typer.Option(
            help="Read commitment states from this database (default: DULY_DATABASE_URL or "
            "sqlite:///duly.db; with none, every commitment is open)."
        ),
    ] = None,
    paths: Annotated[
        list[Path] | None,
        typer.Option("--rules", help="Rule files or folders (default: rules/)."),
    ] = None,
) -> None:
    """A subscribable calendar (.ics) of an owner's open commitments and review series.

    The events have the UIDs of their invites. Done, missed, dropped and superseded
    commitments are left out, and so are those still waiting for another to be done.
    """
    from flows.feed import feed_for, read_feed_state, write_feeds
    from models.problems import did_you_mean

    if all_owners == (owner is not None):
        exit_with_error("give one OWNER, or --all with --out DIR", 2)
    if all_owners and out is None:
        exit_with_error("--all writes one file per owner: give --out DIR", 2)
    now = parse_as_of(at)
    rules = _load(paths)
    if not rules.ok:
        _print_problems(rules.problems)
        exit_with_error("the rules have errors; run duly validate")
    if owner is not None and owner not in rules.owners:
        exit_with_error(
            f"no owner '{owner}'{did_you_mean(owner, rules.owners)}; "
            f"the owners are: {', '.join(sorted(rules.owners))}",
            2,
        )
    from flows.db import database_url

    try:
        state = read_feed_state(database)
    except Exception as exc:  # a database that cannot be read is an error, not "all open"
        exit_with_error(f"cannot read commitment states from {database_url(database)}: {exc}")
    if state.note:
        err.print(state.note, markup=False)
    try:
        if owner is not None and out is None:
            sys.stdout.buffer.write(feed_for(rules, owner, state.states, now, state.sequences))
            sys.stdout.flush()
            return
        assert out is not None
        owners = sorted(rules.owners) if all_owners else [owner or ""]
        written = write_feeds(rules, owners, state.states, now, out, state.sequences)
    except OSError as exc:
        exit_with_error(f"cannot write the feeds into {out}: {exc}")
    for path, count in written.items():
        typer.echo(f"{path}: {count} event{'s' if count != 1 else ''}")


def _register_on_main() -> None:
    """Under ``python -m flows.cli`` the running module is ``__main__``, not ``flows.cli``:
    give its app the same command."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    other = getattr(main, "app", None)
    if spec is not None and spec.name == "flows.cli" and other is not None and other is not app:
        other.command()(feed)


_register_on_main()
