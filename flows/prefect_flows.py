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
from flows.outbox import default_outbox
from flows.rulefiles import load_rules
from flows.tick import check_rule as check_rule_once
from flows.tick import deliver as deliver_once
from flows.tick import in_transaction
from models.rules import RuleSet

__all__ = ["check_rule", "deliver", "sync_rules"]


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
    from flows.db import sync_rules as sync

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
    return {"due": result.due, "enqueued": result.enqueued, "skipped": result.skipped}


@task(name="deliver", retries=2, retry_delay_seconds=5)
def deliver_task(at: datetime) -> dict[str, Any]:
    result = deliver_once(_engine(os.environ.get("DULY_DATABASE_URL")), default_outbox(), at)
    return {
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
    rows = [{"step": key, "outcome": "skipped", "why": why} for key, why in checked["skipped"]]
    rows += [{"step": key, "outcome": "not sent", "why": error} for key, error in sent["errors"]]
    create_table_artifact(
        key=f"duly-{rule_name}",
        table=rows or [{"step": "", "outcome": "nothing skipped", "why": ""}],
        description=(
            f"{rule_name} at {now:%Y-%m-%d %H:%M %Z}: {checked['due']} due, "
            f"{checked['enqueued']} queued, {len(checked['skipped'])} skipped; "
            f"{sent['sent']} sent, {sent['retrying']} to retry, {sent['dead']} dead-lettered"
        ),
    )
    logger.info(
        "%s: %s due, %s queued, %s skipped; %s sent",
        rule_name,
        checked["due"],
        checked["enqueued"],
        len(checked["skipped"]),
        sent["sent"],
    )
    return {**checked, **sent}


@flow(name="sync-rules", log_prints=False)
def sync_rules() -> dict[str, int]:
    """Write the rules into the database and recompile the agenda of what changed."""
    return sync_task(datetime.now(UTC))


@flow(name="deliver", log_prints=False)
def deliver() -> dict[str, Any]:
    """Send every queued delivery that is ready now."""
    return deliver_task(datetime.now(UTC))
