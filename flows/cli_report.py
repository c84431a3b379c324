"""``duly report`` and ``duly dashboard``: the report back to the inspectorate.

Registered on the ``duly`` app by importing this module (``flows/cli.py`` does,
at its end). Heavy modules (SQLModel, Jinja2) are imported inside the commands,
so ``duly validate`` and ``duly plan`` do not pay for them.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from flows.cli import app, err, exit_with_error

if TYPE_CHECKING:
    from models.report import InviteReply, StateEvent
    from models.rules import RuleSet

__all__ = ["dashboard", "report"]

LONDON = ZoneInfo("Europe/London")


class ReportFormat(StrEnum):
    md = "md"
    html = "html"


AtOption = Annotated[
    str,
    typer.Option(
        "--at",
        help="Show the world as of this date (its end, London time) or date-time. Default: now.",
    ),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        help="Read the state history from this database (default: DULY_DATABASE_URL or "
        "sqlite:///duly.db; with none, every commitment is shown open)."
    ),
]
RulesOption = Annotated[
    list[Path] | None,
    typer.Option("--rules", help="Rule files or folders (default: rules/)."),
]


def parse_as_of(text: str) -> datetime:
    """--at: a date means the end of that day in London; a date-time is taken as given.

    Naive date-times are London time. Exits with code 2 on anything else.
    """
    from models.report import end_of_day

    if not text:
        return datetime.now(LONDON)
    try:
        if len(text) == 10:
            return end_of_day(date.fromisoformat(text), LONDON)
        moment = datetime.fromisoformat(text)
    except ValueError:
        exit_with_error(
            f"--at: expected a date like 2018-06-01 or 2018-06-01T09:00, got {text!r}", 2
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=LONDON)


def _rules(paths: list[Path] | None) -> RuleSet:
    from flows.rulefiles import load_rules

    rules = load_rules(paths)
    if not rules.ok:
        for problem in rules.errors:
            err.print(str(problem), markup=False)
        exit_with_error("the rules have errors; run duly validate")
    return rules


def _history(
    database: str | None,
) -> tuple[dict[str, list[StateEvent]], dict[str, list[InviteReply]]]:
    from flows.db import database_url
    from flows.report import history_from

    try:
        history, replies, note = history_from(database)
    except Exception as exc:  # a database that cannot be read is an error, not "all open"
        exit_with_error(f"cannot read the state history from {database_url(database)}: {exc}")
    if note:
        err.print(note, markup=False)
    return history, replies


@app.command()
def report(
    response: Annotated[str, typer.Argument(help="The response id, as in its rule file.")],
    at: AtOption = "",
    format: Annotated[
        ReportFormat, typer.Option("--format", "-f", help="Markdown or a standalone HTML page.")
    ] = ReportFormat.md,
    database: DatabaseOption = None,
    paths: RulesOption = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """The progress report on one response, for the inspectorate, as of a date.

    Per recommendation: its text, the response and progress. Per commitment: the
    promise quoted with its paragraph, owner, target date, state, RAG status,
    evidence and last action. Closes with how many accepted recommendations are done.
    """
    from flows.report import render_report
    from models.problems import did_you_mean
    from models.report import build_report

    as_of = parse_as_of(at)
    rules = _rules(paths)
    if response not in rules.responses:
        exit_with_error(f"no response '{response}'{did_you_mean(response, rules.responses)}")
    history, replies = _history(database)
    text = render_report(
        build_report(rules, response, history, as_of, replies=replies), format.value
    )
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    err.print(f"wrote {output}", markup=False)


@app.command()
def dashboard(
    at: AtOption = "",
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the site (created if missing).")
    ] = Path("site"),
    database: DatabaseOption = None,
    paths: RulesOption = None,
) -> None:
    """Write a static dashboard that opens from disk: portfolio, overdue, timeline, reports."""
    from flows.report import write_dashboard
    from models.report import build_portfolio

    as_of = parse_as_of(at)
    rules = _rules(paths)
    history, replies = _history(database)
    portfolio = build_portfolio(rules, history, as_of, replies=replies)
    try:
        written = write_dashboard(portfolio, out)
    except OSError as exc:
        exit_with_error(f"cannot write the dashboard into {out}: {exc}")
    counts = portfolio.rag_counts
    typer.echo(
        f"dashboard as at {portfolio.today.isoformat()}: {len(written)} pages in {out} "
        f"(index.html, overdue.html, timeline.html and {len(portfolio.reports)} response "
        f"pages); {len(portfolio.commitments)} commitments: {counts['red']} red, "
        f"{counts['amber']} amber, {counts['green']} green, {counts['grey']} grey."
    )


def _register_on_main() -> None:
    """Under ``python -m flows.cli`` the running module is ``__main__``, not ``flows.cli``:
    give its app the same commands."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    other = getattr(main, "app", None)
    if spec is not None and spec.name == "flows.cli" and other is not None and other is not app:
        other.command()(report)
        other.command()(dashboard)


_register_on_main()
