"""A rule's deployment run by a worker, and `duly serve` from start to SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import app
from flows.outbox import MaildirOutbox
from flows.serve import free_port, start_server, start_worker, stop, wait_healthy
from tests.conftest import ROOT


async def _run_and_wait(name: str, parameters: dict[str, str], timeout: float) -> object:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    flow_run = await run_deployment(name, parameters=parameters, timeout=0)
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while time.monotonic() < deadline:
            flow_run = await client.read_flow_run(flow_run.id)
            if flow_run.state.is_final():
                return flow_run
            await asyncio.sleep(0.5)
    return flow_run


async def _artifact(key: str) -> object:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        (artifact,) = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), limit=1
        )
        return artifact


def test_a_worker_runs_a_rule_and_publishes_what_it_did(
    prefect_api, prefect_home, rules_dir, sqlite_url, tmp_path, remove_deployments
):
    outbox = tmp_path / "outbox"
    result = CliRunner().invoke(
        app, ["deploy", str(rules_dir), "--database", sqlite_url, "--pool", "duly-worker-test"]
    )
    assert result.exit_code == 0, result.stderr
    env = {
        "DULY_RULES": str(rules_dir),
        "DULY_DATABASE_URL": sqlite_url,
        "DULY_OUTBOX": str(outbox),
    }
    worker = start_worker(
        prefect_home, prefect_api, "duly-worker-test", tmp_path / "worker.log", env, limit=2
    )
    try:
        flow_run = asyncio.run(
            _run_and_wait(
                "check-rule/report-back-by-date",
                {"rule_name": "report-back-by-date", "at": "2018-04-02T08:00:00+00:00"},
                120,
            )
        )
    finally:
        stop(worker)
    assert flow_run.state.type.value == "COMPLETED", (tmp_path / "worker.log").read_text()
    subjects = sorted(str(m["Subject"]) for m in MaildirOutbox(outbox).messages())
    # the 11 reminders of that morning less the monthly one (another rule), and 10 invites
    assert len(subjects) == 20
    assert (
        "Reminder: Updated SLA between the Home Office and the GLD in place (due 2018-04-30)"
    ) in subjects
    artifact = asyncio.run(_artifact("duly-report-back-by-date"))
    assert artifact.description.startswith(
        "report-back-by-date at 2018-04-02 08:00 UTC: 75 due, 20 queued, 55 skipped; 20 sent"
    )


def processes_with_home(home: Path) -> list[int]:
    """Pids whose environment names this Prefect home (Linux /proc)."""
    marker = f"PREFECT_HOME={home}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


async def _paused(pool: str) -> tuple[bool, list[bool]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    async with get_client() as client:
        work_pool = await client.read_work_pool(pool)
        deployments = await client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=["duly"]))
        )
        return work_pool.is_paused, [d.paused for d in deployments]


def test_duly_serve_runs_a_rule_and_stops_cleanly_on_sigterm(tmp_path, rules_dir):
    home, port = tmp_path / "prefect", free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "DULY_DATABASE_URL": f"sqlite:///{tmp_path / 'duly.db'}",
        "DULY_OUTBOX": str(tmp_path / "outbox"),
        "COLUMNS": "200",
    }
    env.pop("PREFECT_API_URL", None)
    log = tmp_path / "serve.log"
    with open(log, "wb") as handle:
        serve = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "flows.cli",
                "serve",
                str(rules_dir),
                "--port",
                str(port),
                "--home",
                str(home),
            ],
            cwd=ROOT,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "Ctrl-C stops" not in log.read_text() and time.monotonic() < deadline:
            assert serve.poll() is None, log.read_text()
            time.sleep(0.5)
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api}):  # this serve's own server
            flow_run = asyncio.run(
                _run_and_wait(
                    "check-rule/report-back-by-date",
                    {"rule_name": "report-back-by-date", "at": "2018-04-02T08:00:00+00:00"},
                    120,
                )
            )
        assert flow_run.state.type.value == "COMPLETED", log.read_text()
        assert len(MaildirOutbox(tmp_path / "outbox").messages()) == 20
        assert processes_with_home(home)  # the server and the worker
    finally:
        serve.send_signal(signal.SIGTERM)
        code = serve.wait(90)
    assert code == 0, log.read_text()
    assert log.read_text().rstrip().endswith("duly serve: stopped.")
    assert processes_with_home(home) == []  # no orphan server, worker or flow run

    # the next start finds nothing paused: neither the pool nor a deployment
    server = start_server(home, port, tmp_path / "again.log")
    try:
        wait_healthy(api, server, timeout=120)
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: api}):
            assert asyncio.run(_paused("duly")) == (False, [False] * 8)  # 7 rules, report
    finally:
        stop(server)
