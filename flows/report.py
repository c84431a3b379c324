"""Reports and the dashboard: the state history in, Markdown and HTML out.

The domain (states as of a date, RAG, the timeline's layout) is in
``models.report``; this module reads the history from the database, renders the
Jinja2 templates in ``templates/`` and writes files.

Two template environments: HTML (``*.html.j2``) autoescapes everything, because
the text comes from documents; Markdown (``*.md.j2``) escapes every value it
prints (Markdown punctuation and angle brackets get a backslash), so a quote
that contains ``<script>`` or ``[a](javascript:...)`` reads as text wherever the
Markdown is rendered (the Prefect UI renders artifacts).
"""

from __future__ import annotations

import os
import re
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from sqlalchemy import inspect
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from models.report import (
    RAG_LABELS,
    RAG_ORDER,
    InviteReply,
    Portfolio,
    ResponseReport,
    StateEvent,
    build_timeline,
)
from models.tables import StateChange

__all__ = [
    "TEMPLATES",
    "history_from",
    "load_history",
    "md_escape",
    "read_history",
    "read_replies",
    "render_portfolio_markdown",
    "render_report",
    "write_dashboard",
]

TEMPLATES = Path(
    os.environ.get("DULY_TEMPLATES", Path(__file__).resolve().parents[1] / "templates")
)
LONDON = ZoneInfo("Europe/London")
Format = Literal["md", "html"]

RAG_MEANINGS = {
    "red": "overdue",
    "amber": "due soon, or invite declined",
    "green": "done or on track",
    "grey": "not accepted, dropped or superseded",
}


# --------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------


def read_history(session: Session) -> dict[str, list[StateEvent]]:
    """Every recorded state change, by commitment uid, oldest first."""
    rows = session.exec(
        select(StateChange)
        .where(col(StateChange.event) == "state")
        .order_by(col(StateChange.at), col(StateChange.id))
    ).all()
    history: dict[str, list[StateEvent]] = {}
    for row in rows:
        history.setdefault(row.commitment_uid, []).append(
            StateEvent(row.state, _aware(row.at), row.who, row.why, row.evidence)
        )
    return history


def read_replies(session: Session) -> dict[str, list[InviteReply]]:
    """The owners' replies to calendar invites, by commitment uid, oldest first.

    ``duly replies`` records each accepted REPLY in the history as an event of
    kind "reply" whose state is the PARTSTAT; ``models.report`` turns a DECLINED
    one into amber.
    """
    rows = session.exec(
        select(StateChange)
        .where(col(StateChange.event) == "reply")
        .order_by(col(StateChange.at), col(StateChange.id))
    ).all()
    replies: dict[str, list[InviteReply]] = {}
    for row in rows:
        replies.setdefault(row.commitment_uid, []).append(InviteReply(row.state, _aware(row.at)))
    return replies


def load_history(
    engine: Engine,
) -> tuple[dict[str, list[StateEvent]], dict[str, list[InviteReply]]]:
    """History and replies from a database; a database with no tables yet has none."""
    if not inspect(engine).has_table(StateChange.__tablename__):
        return {}, {}
    with Session(engine) as session:
        return read_history(session), read_replies(session)


def history_from(
    url: str | None,
) -> tuple[dict[str, list[StateEvent]], dict[str, list[InviteReply]], str | None]:
    """History and replies from the database at ``url`` (default: DULY_DATABASE_URL).

    The third value is a note for the user when there is nothing to read (no
    database file yet): every commitment is then shown open.
    """
    from flows.db import database_url, make_engine, sqlite_file_missing

    url = database_url(url)
    if sqlite_file_missing(url):
        return {}, {}, f"no database at {url}: no history, every commitment is shown open"
    engine = make_engine(url)
    try:
        history, replies = load_history(engine)
    finally:
        engine.dispose()
    return history, replies, None


def _aware(moment: datetime) -> datetime:
    """SQLite may hand back naive datetimes; they were stored in UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#!~])")


def md_escape(value: object) -> str:
    r"""A value as Markdown text: whitespace collapsed, punctuation backslash-escaped.

    >>> md_escape("<script>alert('x')</script> [a](javascript:x)")
    "\\<script\\>alert('x')\\</script\\> \\[a\\](javascript:x)"
    """
    text = " ".join(str(value).split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def _md_finalize(value: Any) -> Any:
    """Every value a Markdown template prints is escaped, unless marked safe."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return str(value)
    return md_escape(value)


def _day(value: date | datetime | None) -> str:
    """30 April 2018 (a datetime is shown as its London date)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(LONDON).date()
    return f"{value.day} {value:%B %Y}"


def _iso(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(LONDON).date()
    return value.isoformat()


def _plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _globals() -> dict[str, Any]:
    return {
        "RAG_ORDER": RAG_ORDER,
        "RAG_LABELS": RAG_LABELS,
        "RAG_MEANINGS": RAG_MEANINGS,
    }


@cache
def _environment(folder: str, kind: Format) -> Environment:
    if kind == "html":
        env = Environment(
            loader=FileSystemLoader(folder),
            undefined=StrictUndefined,
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
    else:
        env = Environment(
            loader=FileSystemLoader(folder),
            undefined=StrictUndefined,
            autoescape=False,
            finalize=_md_finalize,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters["raw"] = Markup  # template text that is Markdown on purpose
    env.filters["day"] = _day
    env.filters["iso"] = _iso
    env.filters["plural"] = _plural
    env.globals.update(_globals())
    return env


def _render(kind: Format, name: str, **context: Any) -> str:
    return _environment(str(TEMPLATES), kind).get_template(name).render(**context)


def _tidy_markdown(text: str) -> str:
    """One blank line between blocks, one newline at the end."""
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def render_report(report: ResponseReport, fmt: Format = "md") -> str:
    """One response's progress report as Markdown or a standalone HTML page."""
    if fmt == "md":
        return _tidy_markdown(_render("md", "report.md.j2", r=report))
    return _render("html", "report.html.j2", r=report, root="", nav=False)


def render_portfolio_markdown(portfolio: Portfolio, limit: int = 50) -> str:
    """The portfolio summary (counts by RAG and state per response, and what is overdue).

    At most ``limit`` responses and owners are listed (those with the most overdue
    first, when there are more), so the summary stays readable at any scale.
    """
    return _tidy_markdown(_render("md", "dashboard/portfolio.md.j2", p=portfolio, limit=limit))


def write_dashboard(portfolio: Portfolio, out: Path) -> list[Path]:
    """Write the static site into ``out`` and return the files written.

    ``index.html`` (the portfolio), ``overdue.html`` (by owner), ``timeline.html``
    (the Gantt-style SVG) and ``responses/<id>.html`` (each response's report).
    Pages link to each other relatively and load nothing from elsewhere, so the
    folder opens from disk.
    """
    responses = out / "responses"
    responses.mkdir(parents=True, exist_ok=True)
    timeline = build_timeline(portfolio)
    pages: dict[Path, str] = {
        out / "index.html": _render("html", "dashboard/index.html.j2", p=portfolio, root=""),
        out / "overdue.html": _render("html", "dashboard/overdue.html.j2", p=portfolio, root=""),
        out / "timeline.html": _render(
            "html", "dashboard/timeline.html.j2", p=portfolio, t=timeline, root=""
        ),
    }
    for report in portfolio.reports:
        pages[responses / f"{report.id}.html"] = _render(
            "html", "report.html.j2", r=report, root="../", nav=True
        )
    for path, text in pages.items():
        path.write_text(text, encoding="utf-8")
    return list(pages)
