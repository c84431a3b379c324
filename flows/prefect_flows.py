"""The Prefect flows: thin shells over ``flows.tick``.

Prefect works at the grain of a rule: one deployment per rule runs ``check-rule``,
whose tasks are the units of I/O (sync the rules into the database, check the
rule's due steps in bulk, deliver the queued messages). Never a task per
commitment: a task run costs 10-50 ms, and a tick must not grow with them.

Configuration comes from the environment of the worker that runs the flow:
``DULY_RULES`` (the rules folder), ``DULY_DATABASE_URL`` and ``DULY_OUTBOX``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from sqlalchemy.engine import Engine

from flows.db import create_schema, make_engine
from flows.outbox import default_channel
from flows.rulefiles import load_rules
from flows.tick import check_rule as check_rule_once
from flows.tick import deliver as deliver_once
from flows.tick import in_transaction
from models.rules import RuleSet

__all__ = ["check_rule", "deliver", "report", "sync_rules"]


class RulesInvalid(RuntimeError):
    """Raised when the rule files on the worker have errors; nothing is sent."""


@cache
def _engine(url: str | None) -> Engine:
    engine = make_engine(url)
    create_schema(engine)
    return engine


def _rules() -> RuleSet:
    rules = load_rules([Path(os.environ.get("DULY_RULES", "rules"))])
    if not rules.ok:
        raise RulesInvalid("\n".join(str(p) for p in rules.errors))
    return rules


def _instant(at: str | None) -> datetime:
    if not at:
        return datetime.now(UTC)
    moment = datetime.fromisoformat(at)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@task(name="sync-rules", retries=2, retry_delay_seconds=5)
def sync_task(at: datetime) -> dict[str, int]:
    from flows.tick import sync

    rules = _rules()
    counts: dict[str, int] = in_transaction(
        lambda session: sync(session, rules, at), _engine(os.environ.get("DULY_DATABASE_URL"))
    )
    return counts


@task(name="check", retries=2, retry_delay_seconds=5)
def check_task(rule_name: str, at: datetime) -> dict[str, Any]:
    rules = _rules()
    result = in_transaction(
        lambda session: check_rule_once(session, rules, rule_name, at),
        _engine(os.environ.get("DULY_DATABASE_URL")),
    )
    return {"due": result.due}


@task(name="deliver", retries=2, retry_delay_seconds=5)
def deliver_task(at: datetime) -> dict[str, Any]:
    result = deliver_once(
        _engine(os.environ.get("DULY_DATABASE_URL")), default_channel(), at, rules=_rules()
    )
    return {
        "enqueued": result.enqueued,
        "skipped": result.skipped,
        "sent": result.sent,
        "retrying": result.retrying,
        "dead": result.dead,
        "reconciled": result.reconciled,
        "errors": result.errors,
    }


@flow(name="check-rule", log_prints=False)
def check_rule(rule_name: str, at: str | None = None) -> dict[str, Any]:
    """Check one rule's commitments as of ``at`` (default: now) and send what is due."""
    logger = get_run_logger()
    now = _instant(at)
    sync_task(now)
    checked = check_task(rule_name, now)
    sent = deliver_task(now)
    rows = [{"step": key, "outcome": "skipped", "why": why} for key, why in sent["skipped"]]
    rows += [{"step": key, "outcome": "not sent", "why": error} for key, error in sent["errors"]]
    create_table_artifact(
        key=f"duly-{rule_name}",
        table=rows or [{"step": "", "outcome": "nothing skipped", "why": ""}],
        description=(
            f"{rule_name} at {now:%Y-%m-%d %H:%M %Z}: {checked['due']} due, "
            f"{sent['enqueued']} queued, {len(sent['skipped'])} skipped; "
            f"{sent['sent']} sent, {sent['retrying']} to retry, {sent['dead']} dead-lettered"
        ),
    )
    logger.info(
        "%s: %s due, %s queued, %s skipped; %s sent",
        rule_name,
        checked["due"],
        sent["enqueued"],
        len(sent["skipped"]),
        sent["sent"],
    )
    publish_portfolio_after_check(now)
    return {**checked, **sent}


@flow(name="sync-rules", log_prints=False)
def sync_rules() -> dict[str, int]:
    """Write the rules into the database and recompile the agenda of what changed."""
    return sync_task(datetime.now(UTC))


@flow(name="deliver", log_prints=False)
def deliver() -> dict[str, Any]:
    """Send every queued delivery that is ready now."""
    return deliver_task(datetime.now(UTC))


# --------------------------------------------------------------------------------------
# The report back: the portfolio summary as a Prefect markdown artifact.
# --------------------------------------------------------------------------------------

PORTFOLIO_ARTIFACT = "duly-portfolio"


def _as_of(at: str | None) -> datetime:
    """A report's instant: now, a date (its end, London time) or an ISO date-time."""
    from models.report import LONDON, end_of_day

    if at and len(at) == 10:
        return end_of_day(datetime.fromisoformat(at).date(), LONDON)
    return _instant(at)


@task(name="portfolio-summary", retries=2, retry_delay_seconds=5)
def portfolio_task(at: datetime, out: str | None = None) -> dict[str, Any]:
    """The portfolio as of ``at`` from the rules and the state history, as Markdown.

    With ``out``, the static dashboard is written into that folder too.
    """
    from flows.report import load_history, render_portfolio_markdown, write_dashboard
    from models.report import build_portfolio

    history, replies = load_history(_engine(os.environ.get("DULY_DATABASE_URL")))
    portfolio = build_portfolio(_rules(), history, at, replies=replies)
    if out:
        write_dashboard(portfolio, Path(out))
    counts = portfolio.rag_counts
    return {
        "markdown": render_portfolio_markdown(portfolio),
        "description": (
            f"Portfolio as at {portfolio.today.isoformat()}: {portfolio.implemented} of "
            f"{portfolio.accepted} accepted recommendations done; {counts['red']} red, "
            f"{counts['amber']} amber, {counts['green']} green, {counts['grey']} grey"
        ),
        "as_of": portfolio.today.isoformat(),
        "rag": dict(counts),
        "implemented": portfolio.implemented,
        "accepted": portfolio.accepted,
    }


def publish_portfolio(at: datetime, out: str | None = None) -> dict[str, Any]:
    """Publish the portfolio summary as of ``at`` as the markdown artifact ``duly-portfolio``."""
    from prefect.artifacts import create_markdown_artifact

    summary = portfolio_task(at, out)
    create_markdown_artifact(
        key=PORTFOLIO_ARTIFACT, markdown=summary["markdown"], description=summary["description"]
    )
    return {k: v for k, v in summary.items() if k != "markdown"}


def publish_portfolio_after_check(at: datetime) -> None:
    """The summary at the end of ``check-rule``: a failure here is logged, never fails the
    check, whose messages are already sent."""
    try:
        publish_portfolio(at)
    except Exception as exc:
        get_run_logger().warning("portfolio summary not published: %s", exc)


@flow(name="report", log_prints=False)
def report(at: str | None = None, out: str | None = None) -> dict[str, Any]:
    """Publish the portfolio summary (counts by RAG and state, overdue by owner) as of
    ``at`` (a date or date-time; default now) as a markdown artifact; with ``out`` (or
    ``DULY_DASHBOARD``), also write the static dashboard into that folder."""
    summary = publish_portfolio(_as_of(at), out or os.environ.get("DULY_DASHBOARD"))
    get_run_logger().info("%s", summary["description"])
    return summary
