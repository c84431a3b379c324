"""`duly deploy` against a real local Prefect server: a diff that never loses a run."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from flows.cli import app

LONDON = ZoneInfo("Europe/London")
# Deployment names are global on the server; every test uses its own pool name so
# their deployments can be told apart, and deletes what it made.


def duly(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "400"})
    return result.exit_code, result.stdout, result.stderr


async def _deployments() -> dict[str, object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    async with get_client() as client:
        found = await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=["duly"]))
        )
        return {d.name: d for d in found}


def deployments() -> dict[str, object]:
    return asyncio.run(_deployments())


async def _scheduled(name: str) -> list[object]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    async with get_client() as client:
        return list(
            await client.read_flow_runs(
                deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[name])),
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])
                    )
                ),
                sort=FlowRunSort.EXPECTED_START_TIME_ASC,
                limit=200,
            )
        )


def scheduled(name: str, at_least: int = 1, timeout: float = 90) -> list[object]:
    """The scheduled runs of a deployment, once the server's scheduler has made them."""
    deadline = time.monotonic() + timeout
    while True:
        runs = asyncio.run(_scheduled(name))
        if len(runs) >= at_least or time.monotonic() > deadline:
            return runs
        time.sleep(1)


@pytest.fixture
def deployed(prefect_api, rules_dir: Path, sqlite_url, remove_deployments):
    """The seed rules deployed (and removed again after the test)."""
    code, _stdout, stderr = duly("deploy", str(rules_dir), "--database", sqlite_url)
    assert code == 0, stderr
    return rules_dir


def test_deploy_makes_one_deployment_per_rule_and_the_report_and_a_second_deploy_changes_nothing(
    deployed, sqlite_url
):
    assert sorted(deployments()) == [
        "meet-quarterly",
        "monthly-check",
        "pilot-lasts-three-months",
        "report",
        "report-back-by-date",
        "review-annually",
        "start-in-period",
        "when-ready",
    ]
    code, stdout, _ = duly("deploy", str(deployed), "--database", sqlite_url)
    assert code == 0
    assert stdout.splitlines()[0] == (
        "deployments: 0 to create, 0 to change, 0 to delete, 8 unchanged"
    )
    assert stdout.splitlines()[-1] == "deployed: 0 changes applied."


def test_schedules_fire_at_9_london_on_both_sides_of_the_clock_change(deployed):
    # The server's own scheduler made these runs: it runs, and in London time.
    runs = scheduled("report-back-by-date", at_least=100)
    starts = [r.expected_start_time for r in runs]
    assert {s.astimezone(LONDON).strftime("%H:%M") for s in starts} == {"09:00"}
    assert datetime(2027, 3, 26, 9, 0, tzinfo=UTC) in starts  # Friday, GMT
    assert datetime(2027, 3, 29, 8, 0, tzinfo=UTC) in starts  # Monday, BST


def test_editing_one_rule_changes_only_its_deployment(deployed, sqlite_url):
    untouched = {r.id for r in scheduled("report-back-by-date", at_least=50)}
    before = deployments()
    policies = deployed / "policies.yaml"
    text = policies.read_text()
    start = text.index("  - id: review-annually")
    edited = text[:start] + text[start:].replace(
        '{cron: "0 9 * * 1-5"}', '{cron: "0 10 * * 1-5"}', 1
    )
    policies.write_text(edited)

    code, stdout, _ = duly("deploy", str(deployed), "--database", sqlite_url)
    assert code == 0
    assert stdout.splitlines()[:2] == [
        "deployments: 0 to create, 1 to change, 0 to delete, 7 unchanged",
        "  ~ review-annually              cron 0 10 * * 1-5 (Europe/London)",
    ]
    after = deployments()
    assert after["review-annually"].version != before["review-annually"].version
    assert {n: d.version for n, d in after.items() if n != "review-annually"} == {
        n: d.version for n, d in before.items() if n != "review-annually"
    }
    # the other deployments keep their scheduled runs (an update would have deleted them)
    assert {r.id for r in scheduled("report-back-by-date")} >= untouched


def test_a_removed_rule_loses_its_deployment(deployed, sqlite_url):
    policies = deployed / "policies.yaml"
    original = policies.read_text()
    policies.write_text(
        original
        + """
  - id: quarterly-stocktake
    kind: recurring
    every: quarterly
    check: {cron: "0 9 1 * *"}
"""
    )
    code, stdout, _ = duly("deploy", str(deployed), "--database", sqlite_url)
    assert "  + quarterly-stocktake" in stdout
    assert "quarterly-stocktake" in deployments()

    policies.write_text(original)
    code, stdout, _ = duly("deploy", str(deployed), "--database", sqlite_url)
    assert code == 0
    assert stdout.splitlines()[:2] == [
        "deployments: 0 to create, 0 to change, 1 to delete, 8 unchanged",
        "  - quarterly-stocktake",
    ]
    assert "quarterly-stocktake" not in deployments()


def test_a_broken_rule_file_changes_nothing_at_all(deployed, sqlite_url):
    before = {n: (d.version, d.updated) for n, d in deployments().items()}
    policies = deployed / "policies.yaml"
    text = policies.read_text()
    policies.write_text(
        text.replace('cron: "0 9 * * 1-5"', 'cron: "0 10 * * 1-5"', 1).replace(
            "every: quarterly", "every: quartely", 1
        )
    )
    code, stdout, stderr = duly("deploy", str(deployed), "--database", sqlite_url)
    assert code == 1
    assert stdout == ""
    assert stderr.strip().endswith("1 error in 1 file, 2 warnings; nothing was deployed.")
    assert {n: (d.version, d.updated) for n, d in deployments().items()} == before
