"""The ``duly`` command line.

Each command parses its arguments, calls the domain in ``models`` (through the
adapters in ``flows``) and renders the result. Heavy modules (SQLModel, Prefect)
are imported inside the commands that need them, so ``duly validate`` and
``duly plan`` start fast and never import Prefect.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # imported by the commands that need them, to start fast
    from models.agenda import AgendaItem, CommitmentStatus
    from models.problems import Problem
    from models.rules import RuleSet

EPILOG = "Exit codes: 0 success; 1 invalid rules or a failed operation; 2 usage error."

app = typer.Typer(
    name="duly",
    help="duly keeps a department's promises: rule files in, reminders and invites on time.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _stdout() -> Console:
    """Rich console for results: terminal width, or COLUMNS (default 160) when piped."""
    width = None if sys.stdout.isatty() else int(os.environ.get("COLUMNS") or 160)
    return Console(highlight=False, width=width)


err = Console(stderr=True, highlight=False, soft_wrap=True)

LONDON = ZoneInfo("Europe/London")


def exit_with_error(message: str, code: int = 1) -> NoReturn:
    """The one way out on failure: a red message on stderr and an exit code."""
    err.print(f"[red]{message}[/red]", markup=True, highlight=False)
    raise typer.Exit(code)


class PlanFormat(StrEnum):
    table = "table"
    json = "json"


RulePaths = Annotated[
    list[Path] | None,
    typer.Argument(help="Rule files or folders (default: rules/).", show_default=False),
]


def summarise(problems: Iterable[Problem], files: int) -> str:
    from models.problems import summarise as text

    return text(problems, files)


def _load(paths: list[Path] | None) -> RuleSet:
    from flows.rulefiles import load_rules

    return load_rules(paths)


def _print_problems(problems: Iterable[Problem]) -> None:
    """Errors first, then warnings, each group in file and line order."""
    for problem in sorted(problems, key=lambda p: (not p.is_error, p)):
        err.print(str(problem), markup=False)


@app.command()
def validate(
    paths: RulePaths = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="Also fail on accepted recommendations that have no dated commitment and no "
            "'undated: <reason>' (the no-date flags of a draft from duly ingest).",
        ),
    ] = False,
) -> None:
    """Check rule files and report every problem as path:line:col: message."""
    rules = _load(paths)
    problems = [*rules.problems, *(rules.strict_problems if strict else [])]
    _print_problems(problems)
    summary = summarise(problems, rules.files)
    if not rules.ok or (strict and rules.strict_problems):
        exit_with_error(f"{summary}; nothing was changed.")
    _stdout().print(
        f"{summary}: {len(rules.policies)} rules, {len(rules.owners)} owners, "
        f"{len(rules.responses)} responses, {len(rules.commitments)} commitments.",
        markup=False,
    )


def _parse_at(text: str) -> datetime:
    """--at: a date (midnight, London time) or an ISO date-time."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=LONDON)
        moment = datetime.fromisoformat(text)
    except ValueError:
        exit_with_error(
            f"--at: expected a date like 2018-02-01 or 2018-02-01T09:00, got {text!r}", 2
        )
    return moment if moment.tzinfo else moment.replace(tzinfo=LONDON)


@app.command()
def plan(
    paths: RulePaths = None,
    at: Annotated[
        str,
        typer.Option(help="Start of the plan: a date or date-time (London time). Default: now."),
    ] = "",
    days: Annotated[int, typer.Option(min=1, max=3660, help="How many days to plan.")] = 30,
    format: Annotated[PlanFormat, typer.Option("--format", "-f", help="Output format.")] = (
        PlanFormat.table
    ),
    database: Annotated[
        str | None,
        typer.Option(
            help="Read commitment states from this database (default: DULY_DATABASE_URL or "
            "sqlite:///duly.db when it exists; otherwise every commitment is open)."
        ),
    ] = None,
) -> None:
    """List what duly would send, when and to whom, and why."""
    from models.agenda import compile_agenda

    rules = _load(paths)
    if not rules.ok:
        _print_problems(rules.problems)
        exit_with_error("the rules have errors; run duly validate")
    start = _parse_at(at) if at else datetime.now(UTC)
    end = start + timedelta(days=days)
    states = _read_states(database)
    items = compile_agenda(rules, states, start, end)
    if format is PlanFormat.json:
        document = {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "items": [_plan_entry(rules, item) for item in items],
        }
        sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        return
    table = Table(title=f"duly plan: {start:%Y-%m-%d} to {end:%Y-%m-%d}, {len(items)} steps")
    for column in ("When (London)", "To", "Step", "Commitment", "Why"):
        table.add_column(column, overflow="fold")
    for item in items:
        c = rules.commitments[item.commitment]
        owner = rules.owners.get(item.recipient)
        table.add_row(
            item.at.astimezone(LONDON).strftime("%a %Y-%m-%d %H:%M"),
            owner.name if owner else item.recipient,
            item.step,
            f"{c.id} (§{c.para})",
            item.reason,
        )
    _stdout().print(table)


def _plan_entry(rules: RuleSet, item: AgendaItem) -> dict[str, Any]:
    owner = rules.owners.get(item.recipient)
    entry: dict[str, Any] = dict(item.as_dict())
    entry["local_time"] = item.at.astimezone(LONDON).isoformat()
    entry["to"] = {
        "id": item.recipient,
        "name": owner.name if owner else item.recipient,
        "email": owner.email if owner else None,
    }
    return entry


def _read_states(database: str | None) -> dict[str, CommitmentStatus]:
    from flows.db import database_url, sqlite_file_missing

    url = database_url(database)
    if sqlite_file_missing(url):
        return {}
    from sqlalchemy import inspect
    from sqlmodel import Session

    from flows.db import make_engine, read_states

    engine = make_engine(url)
    try:
        if not inspect(engine).has_table("commitment"):
            return {}
        with Session(engine) as session:
            return read_states(session)
    except Exception as exc:  # a database that cannot be read is an error, not "all open"
        exit_with_error(f"cannot read commitment states from {url}: {exc}")
    finally:
        engine.dispose()


@app.command()
def schema() -> None:
    """Print the JSON Schema of rule files, for editor checks."""
    from models.rules import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@app.command()
def sync(
    paths: RulePaths = None,
    database: Annotated[
        str | None,
        typer.Option(help="Database URL (default: DULY_DATABASE_URL or sqlite:///duly.db)."),
    ] = None,
) -> None:
    """Write the rules into the database and recompile the agenda of what changed."""
    rules = _load(paths)
    if not rules.ok:
        _print_problems(rules.problems)
        exit_with_error(f"{summarise(rules.problems, rules.files)}; nothing was changed.")
    counts = _sync(rules, database, commit=True)
    _stdout().print(
        f"synced {len(rules.commitments)} commitments: {counts['added']} new, "
        f"{counts['changed']} changed, {counts['removed']} no longer in the rules; "
        f"{counts['agenda']} agenda steps written.",
        markup=False,
    )


@app.command()
def mark(
    commitment: Annotated[str, typer.Argument(help="Commitment uid: RESPONSE/COMMITMENT.")],
    state: Annotated[
        str, typer.Argument(help="open, in_progress, done, missed, dropped or superseded.")
    ],
    why: Annotated[str, typer.Option("--why", help="Why (kept in the history).")],
    who: Annotated[str, typer.Option("--who", help="Who says so.")] = "admin",
    evidence: Annotated[str | None, typer.Option(help="A link to the evidence.")] = None,
    paths: Annotated[
        list[Path] | None, typer.Option("--rules", help="Rule files or folders (default: rules/).")
    ] = None,
    database: Annotated[str | None, typer.Option(help="Database URL.")] = None,
) -> None:
    """Record a commitment's new state (an admin's correction; owners use their links)."""
    rules = _load(paths)
    if not rules.ok:
        _print_problems(rules.problems)
        exit_with_error("the rules have errors; run duly validate")
    from sqlmodel import Session

    from flows.db import StateError, database_url, make_engine, set_state, sqlite_file_missing

    try:
        uid = rules.resolve(commitment)
    except LookupError as exc:
        exit_with_error(str(exc))
    url = database_url(database)
    if sqlite_file_missing(url):
        exit_with_error(f"no database at {url}; run duly sync first")
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            written = set_state(
                session,
                rules,
                uid,
                state,
                who=who,
                why=why,
                now=datetime.now(UTC),
                evidence=evidence,
            )
            session.commit()
    except StateError as exc:
        exit_with_error(str(exc))
    finally:
        engine.dispose()
    _stdout().print(f"{uid} is now {state}; {written} agenda steps recompiled.", markup=False)


@app.command()
def tick(
    at: Annotated[
        str, typer.Option(help="The instant to run as: a date-time (London time). Default: now.")
    ] = "",
    paths: Annotated[
        list[Path] | None, typer.Option("--rules", help="Rule files or folders (default: rules/).")
    ] = None,
    database: Annotated[str | None, typer.Option(help="Database URL.")] = None,
    outbox: Annotated[
        Path | None, typer.Option(help="Maildir for messages (default: DULY_OUTBOX or ./outbox).")
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List what was skipped.")
    ] = False,
) -> None:
    """One pass as of an instant: sync the rules, check every rule, deliver what is due.

    Running it twice for the same instant sends nothing new; `--at` replays history.
    """
    rules = _load(paths)
    if not rules.ok:
        _print_problems(rules.problems)
        exit_with_error(f"{summarise(rules.problems, rules.files)}; nothing was sent.")
    now = _parse_at(at) if at else datetime.now(UTC)
    from flows.db import create_schema, database_url, make_engine
    from flows.outbox import default_channel
    from flows.tick import tick as run_tick

    channel = default_channel(outbox)
    engine = make_engine(database)
    try:
        create_schema(engine)
        result = run_tick(engine, rules, now, channel)
    except Exception as exc:
        exit_with_error(f"tick failed against {database_url(database)}: {exc}")
    finally:
        engine.dispose()
        getattr(channel, "close", lambda: None)()
    console = _stdout()
    sent = result.delivery
    console.print(
        f"tick {now.astimezone(LONDON):%Y-%m-%d %H:%M %Z}: {result.due} due, "
        f"{result.enqueued} queued, {len(result.skipped)} skipped; {sent.sent} sent "
        f"to {channel.describe()}, {sent.retrying} to retry, {sent.dead} dead-lettered.",
        markup=False,
    )
    for key, error in sent.errors:
        err.print(f"not sent: {key}: {error}", markup=False)
    if verbose:
        for key, reason in result.skipped:
            console.print(f"skipped {key}: {reason}", markup=False)


def _quiet_prefect() -> None:
    """No telemetry attempts (there is no network), before Prefect is imported."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")


@app.command()
def deploy(
    paths: RulePaths = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the diff and change nothing.")
    ] = False,
    pool: Annotated[str, typer.Option(help="The Prefect work pool (type process).")] = "duly",
    database: Annotated[str | None, typer.Option(help="Database URL.")] = None,
) -> None:
    """Make the Prefect deployments (one per rule) and the database match the rules.

    Validates everything first: if any rule is invalid, nothing changes at all.
    Unchanged deployments are not touched (an update would drop their scheduled runs).
    """
    rules = _load(paths)
    if not rules.ok:
        _print_problems(rules.problems)
        exit_with_error(f"{summarise(rules.problems, rules.files)}; nothing was deployed.")
    _quiet_prefect()
    from flows.deploy import DeployError, apply_plan, build_schedules, read_plan
    from models.deploy import DeployPlan, desired_deployments, prefect_yaml

    specs = desired_deployments(rules, work_pool=pool)
    try:
        built = build_schedules(specs)
    except Exception as exc:
        exit_with_error(f"cannot build the deployments: {exc}; nothing was deployed.")
    console = _stdout()
    if not os.environ.get("PREFECT_API_URL"):
        if not dry_run:
            exit_with_error(
                "no Prefect server: set PREFECT_API_URL (see README, Running at scale), or "
                "run duly serve, which starts one; nothing was deployed."
            )
        console.print(
            "no Prefect server (PREFECT_API_URL is unset): every deployment is shown as new.",
            markup=False,
        )
        plan = DeployPlan(create=list(specs))
    else:
        try:
            plan = read_plan(specs)
        except DeployError as exc:
            exit_with_error(f"{exc}; nothing was deployed.")
    counts = _sync(rules, database, commit=not dry_run)
    console.print(
        f"deployments: {len(plan.create)} to create, {len(plan.update)} to change, "
        f"{len(plan.delete)} to delete, {len(plan.unchanged)} unchanged",
        markup=False,
    )
    for mark, items in (("+", plan.create), ("~", plan.update)):
        for spec in items:
            console.print(
                f"  {mark} {spec.name:<28} {spec.schedule_text} ({spec.timezone})", markup=False
            )
    for gone in plan.delete:
        console.print(f"  - {gone.name}", markup=False)
    console.print(
        f"commitments: {counts['added']} new, {counts['changed']} changed, "
        f"{counts['removed']} no longer in the rules",
        markup=False,
    )
    project_file = (paths[0] if paths else Path("rules")).resolve().parent / "prefect.yaml"
    generated = prefect_yaml(specs, pool)
    stale = not project_file.exists() or project_file.read_text() != generated
    if dry_run:
        if stale:
            console.print(f"{project_file.name} is out of date with the rules.", markup=False)
        console.print("dry run: nothing was changed.", markup=False)
        return
    try:
        apply_plan(plan, built)
    except DeployError as exc:
        exit_with_error(str(exc))
    if stale:
        project_file.write_text(generated)
        console.print(
            f"wrote {project_file.name} (the same deployments for `prefect deploy`).", markup=False
        )
    console.print(f"deployed: {plan.changes} changes applied.", markup=False)


def _sync(rules: RuleSet, database: str | None, *, commit: bool) -> dict[str, int]:
    """Sync the rules into the database; without ``commit``, only count what would change."""
    from sqlalchemy import inspect
    from sqlmodel import Session

    from flows.db import create_schema, database_url, make_engine, sqlite_file_missing, sync_rules

    url = database_url(database)
    if not commit and sqlite_file_missing(url):  # a dry run creates nothing, not even a file
        return {"added": len(rules.commitments), "changed": 0, "removed": 0, "agenda": 0}
    engine = make_engine(url)
    try:
        if not commit and not inspect(engine).has_table("commitment"):
            return {"added": len(rules.commitments), "changed": 0, "removed": 0, "agenda": 0}
        create_schema(engine)
        if commit:  # again if a concurrent sync or tick got there first
            from flows.tick import in_transaction

            now = datetime.now(UTC)
            counts: dict[str, int] = in_transaction(
                lambda session: sync_rules(session, rules, now), engine
            )
        else:
            with Session(engine) as session:
                counts = sync_rules(session, rules, datetime.now(UTC))
                session.rollback()
    except Exception as exc:
        exit_with_error(f"cannot sync into {database_url(database)}: {exc}; nothing was changed")
    finally:
        engine.dispose()
    return counts


@app.command()
def serve(
    paths: RulePaths = None,
    port: Annotated[int, typer.Option(help="Port of the local Prefect server.")] = 4200,
    pool: Annotated[str, typer.Option(help="The Prefect work pool.")] = "duly",
    home: Annotated[
        Path, typer.Option(help="Prefect home for the local server (its SQLite database).")
    ] = Path(".prefect"),
) -> None:
    """Run duly: a local Prefect server, the rules deployed, and a worker running them.

    If PREFECT_API_URL is set, that server is used instead of starting one.
    Ctrl-C or SIGTERM stops the worker (after any run in flight) and the server.
    """
    rules = _load(paths)
    if not rules.ok:
        _print_problems(rules.problems)
        exit_with_error(f"{summarise(rules.problems, rules.files)}; nothing was started.")
    _quiet_prefect()
    from flows.db import database_url
    from flows.serve import Served, ServeError, start_server, start_worker, wait_healthy

    home = home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    served = Served(pool)
    console = _stdout()
    api_url = os.environ.get("PREFECT_API_URL")
    try:
        if not api_url:
            api_url = f"http://127.0.0.1:{port}/api"
            served.server = start_server(home, port, home / "server.log")
        wait_healthy(api_url, served.server)
        os.environ["PREFECT_API_URL"] = api_url
        env = {
            "DULY_RULES": str((paths[0] if paths else Path("rules")).resolve()),
            "DULY_DATABASE_URL": _absolute(database_url(None)),
            "DULY_OUTBOX": str(Path(os.environ.get("DULY_OUTBOX", "outbox")).resolve()),
        }
        os.environ.update(env)
        deploy(paths=paths, dry_run=False, pool=pool, database=env["DULY_DATABASE_URL"])
        served.worker = start_worker(home, api_url, pool, home / "worker.log", env)
    except (ServeError, typer.Exit) as exc:
        served.stop()
        if isinstance(exc, typer.Exit):
            raise
        exit_with_error(f"duly serve: {exc} (see {home / 'server.log'})")
    console.print(
        f"duly serve: Prefect server {api_url}, {len(rules.policies)} rules deployed, worker "
        f"on pool {pool!r}; messages go to {env['DULY_OUTBOX']}. Ctrl-C stops.",
        markup=False,
    )
    code = served.wait(lambda message: err.print(message, markup=False))
    console.print("duly serve: stopped.", markup=False)
    raise typer.Exit(code)


def _absolute(url: str) -> str:
    """A SQLite URL with an absolute path, so child processes find the same file."""
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        name = url.removeprefix("sqlite:///")
        if name and name != ":memory:":
            return f"sqlite:///{Path(name).resolve()}"
    return url


# --------------------------------------------------------------------------------------
# Documents in, rules out: duly ingest and duly ingest-eval
# --------------------------------------------------------------------------------------


@app.command()
def ingest(
    document: Annotated[
        Path, typer.Argument(help="The response document: .txt, .md, .docx or .html.")
    ],
    published: Annotated[
        str | None,
        typer.Option(
            help="Publication date (YYYY-MM-DD): the reference for 'by February' or "
            "'over the next 12 months'. Default: the date the document states."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            help="Write the draft here, e.g. rules/responses/NAME.yaml (NAME becomes the "
            "response id). Default: print it.",
        ),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain", help="Show the sentence each item came from, the words read highlighted."
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite OUTPUT if it exists.")] = False,
    rules_dir: Annotated[
        Path | None,
        typer.Option(
            "--rules",
            help="Folder holding policies.yaml and owners.yaml to check the draft with "
            "(default: found above OUTPUT, else DULY_RULES or rules/).",
        ),
    ] = None,
) -> None:
    """Draft a rule file from a published response: recommendations, statuses, promises.

    Every commitment cites its paragraph and quotes its sentence; doubtful readings
    are marked review: true, owners are left 'unassigned', and accepted
    recommendations with no dated commitment are flagged no-date.
    """
    import re

    from flows.ingest import UnreadableDocument, check, read_document, render, summary_lines
    from models.ingest import IngestError, ingest_text

    reference = None
    if published is not None:
        try:
            reference = date.fromisoformat(published)
        except ValueError:
            exit_with_error(f"--published: expected a date like 2018-01-30, got {published!r}", 2)
    if not document.is_file():
        exit_with_error(f"{document}: no such file")
    if output is not None and output.exists() and not force:
        exit_with_error(f"{output} exists; pass --force to overwrite it")
    try:
        text = read_document(document)
    except (OSError, UnreadableDocument, ValueError) as exc:
        exit_with_error(f"cannot read {document}: {exc}")
    stem = output.stem if output is not None else ""
    try:
        draft = ingest_text(
            text,
            published=reference,
            source=document.name,
            response_id=stem if re.fullmatch(r"[a-z0-9][a-z0-9-]*", stem) else None,
        )
    except IngestError as exc:
        exit_with_error(f"{document}: {exc}")
    yaml_text = render(draft)
    shown = str(output) if output is not None else f"{draft.response_id}.yaml"
    rules, found = check(yaml_text, shown, _ingest_rules_dir(rules_dir, output))
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(yaml_text, encoding="utf-8")
        console = _stdout()
    else:
        sys.stdout.write(yaml_text)
        console = Console(stderr=True, highlight=False, soft_wrap=True)
    if explain:
        _explain(console, draft)
    for line in summary_lines(draft):
        console.print(line, markup=False)
    _print_problems(rules.errors)
    warnings = len(rules.warnings)
    checked = (
        "passes duly validate" if found else "passes the rule-file checks (no policies found)"
    )
    verdict = (
        f"{checked} ({warnings} warnings: owners unassigned, series with no first date)"
        if rules.ok
        else f"fails duly validate: {len(rules.errors)} errors (a bug in duly ingest)"
    )
    where = f"wrote {output}" if output is not None else "draft"
    console.print(f"{where}: {verdict}.", markup=False)
    if not rules.ok:
        raise typer.Exit(1)


def _ingest_rules_dir(given: Path | None, output: Path | None) -> Path | None:
    """Where policies.yaml and owners.yaml are: given, above the output, or the default."""
    from flows.rulefiles import DEFAULT_RULES

    if given is not None:
        return given
    if output is not None:
        for parent in list(output.resolve().parents)[:3]:
            if (parent / "policies.yaml").is_file():
                return parent
    return DEFAULT_RULES if (DEFAULT_RULES / "policies.yaml").is_file() else None


def _explain(console: Console, draft: Any) -> None:
    """Each item with the sentence it came from, the words read highlighted."""
    from rich.text import Text

    items = draft.items
    plain = console.color_system is None
    for rec in draft.recommendations:
        status = (rec.status or "no status found").replace("_", " ")
        console.print(Text(f"rec {rec.number} ({status})", style="bold"))
        for item in rec.items:
            value = ""
            if item.due is not None:
                value = f"due {item.due.end.isoformat()}"
            if item.starts is not None:
                value += f" starts {item.starts.start.isoformat()}"
            if item.rrule:
                value += f" {item.rrule}"
            if item.duration is not None:
                value += f" {item.duration.iso()}"
            if item.after is not None:
                value += f" after {items[item.after].id}"
            head = Text(f"  §{item.para} ")
            head.append(item.kind, style="cyan")
            head.append(f" {value.strip()}  -> {item.id if item.held is None else 'held back'}")
            if item.review:
                head.append("  review", style="yellow")
            console.print(head)
            body = Text("    ")
            start = 0
            for s, e in sorted(item.marks):
                body.append(item.quote[start:s])
                word = item.quote[s:e]
                body.append(f"[{word}]" if plain else word, style="bold black on yellow")
                start = e
            body.append(item.quote[start:])
            console.print(body)
            console.print(
                Text(
                    f"    {item.note}" + (f"; held: {item.held}" if item.held else ""), style="dim"
                )
            )


@app.command("ingest-eval")
def ingest_eval(
    golds: Annotated[
        list[Path],
        typer.Argument(help="Gold files (*.gold.yaml); each names the document beside it."),
    ],
    baseline: Annotated[
        bool,
        typer.Option(
            "--baseline/--no-baseline",
            help="Also score dateparser.search.search_dates on the same sentences.",
        ),
    ] = True,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also list the baseline's misses.")
    ] = False,
) -> None:
    """Score duly ingest against hand-labelled gold files, with a generic date parser as baseline.

    Status accuracy; commitment recall and precision (same paragraph, same kind;
    uncertain gold items are optional); exact dates (due and window, RRULE, duration).
    """
    from flows.ingest import UnreadableDocument, evaluate
    from models.ingest import IngestError
    from models.ingest_eval import total

    console = _stdout()
    results = []
    for path in golds:
        try:
            results.append(evaluate(path, baseline=baseline))
        except (OSError, ValueError, KeyError, UnreadableDocument, IngestError) as exc:
            exit_with_error(f"{path}: {exc}")
    width = max(len(r.name) for r in results) if results else 5
    ours = total([r.ours for r in results], "all")
    console.print("duly ingest", markup=False)
    for r in results:
        console.print(f"  {r.name:<{width}}  {r.ours.line()}", markup=False)
    console.print(f"  {'all':<{width}}  {ours.line()}", markup=False)
    base = None
    if baseline:
        base = total([r.baseline for r in results if r.baseline is not None], "all")
        console.print(
            "baseline: dateparser.search.search_dates on the same sentences (every date it "
            "finds read as a deadline due that day; statuses not read)",
            markup=False,
        )
        for r in results:
            if r.baseline is not None:
                console.print(
                    f"  {r.name:<{width}}  {r.baseline.line(statuses=False)}", markup=False
                )
        console.print(f"  {'all':<{width}}  {base.line(statuses=False)}", markup=False)
    console.print(f"misses ({len(ours.misses)}):", markup=False)
    for miss in ours.misses:
        console.print(f"  {miss}", markup=False)
    if base is not None and verbose:
        console.print(f"baseline misses ({len(base.misses)}):", markup=False)
        for miss in base.misses:
            console.print(f"  {miss}", markup=False)


# registers feed; start, done, drop, snooze, replies; report, dashboard; web, requests
from flows import cli_feed, cli_owner, cli_report, cli_web  # noqa: E402,F401


def main() -> None:
    app()


if __name__ == "__main__":
    main()
