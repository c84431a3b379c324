"""Running at scale: a Prefect server on PostgreSQL, the application database on
PostgreSQL, one process pool and two workers; every message arrives exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from flows.cli import app
from flows.db import make_engine
from flows.outbox import MaildirOutbox
from flows.serve import free_port, start_server, start_worker, stop, wait_healthy
from models.tables import Delivery
from tests.conftest import POSTGRES_URL


@pytest.fixture
def prefect_database() -> Iterator[str]:
    """A fresh PostgreSQL database for the Prefect server, dropped afterwards."""
    import psycopg

    name = f"duly_prefect_{uuid.uuid4().hex[:8]}"
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:  # pragma: no cover - depends on the machine
        pytest.skip(f"PostgreSQL NOT TESTED: cannot reach {POSTGRES_URL} ({exc})")
    base = dsn.rsplit("/", 1)[0].split("://", 1)[1]
    yield f"postgresql+asyncpg://{base}/{name}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _run_all(names: list[str], at: str, timeout: float) -> list[object]:
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    runs = [
        await run_deployment(f"check-rule/{n}", parameters={"rule_name": n, "at": at}, timeout=0)
        for n in names
    ]
    deadline = time.monotonic() + timeout
    async with get_client() as client:
        while time.monotonic() < deadline:
            runs = [await client.read_flow_run(r.id) for r in runs]
            if all(r.state.is_final() for r in runs):
                break
            await asyncio.sleep(1)
    return runs


def test_two_workers_on_postgresql_deliver_every_message_once(
    prefect_database, postgres_url, tmp_path, seed_rules, rules_dir
):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    home, port = tmp_path / "prefect", free_port()
    api = f"http://127.0.0.1:{port}/api"
    server = start_server(
        home,
        port,
        tmp_path / "server.log",
        {"PREFECT_API_DATABASE_CONNECTION_URL": prefect_database},
    )
    workers = []
    try:
        wait_healthy(api, server, timeout=120)
        with temporary_settings(updates={PREFECT_API_URL: api}):
            result = CliRunner().invoke(
                app,
                [
                    "deploy",
                    str(rules_dir),
                    "--database",
                    postgres_url,
                    "--pool",
                    "duly-scale",
                ],
                env={"PREFECT_API_URL": api},
            )
            assert result.exit_code == 0, result.stderr
            env = {
                "DULY_RULES": str(rules_dir),
                "DULY_DATABASE_URL": postgres_url,
                "DULY_OUTBOX": str(tmp_path / "outbox"),
            }
            workers = [
                start_worker(home, api, "duly-scale", tmp_path / f"worker-{i}.log", env, limit=2)
                for i in (1, 2)
            ]
            runs = asyncio.run(
                _run_all(sorted(seed_rules.policies), "2018-04-02T08:00:00+00:00", 240)
            )
    finally:
        for worker in workers:
            stop(worker)
        stop(server)
    assert [r.state.type.value for r in runs] == ["COMPLETED"] * 7
    split = [
        (tmp_path / f"worker-{i}.log").read_text().count("Beginning flow run") for i in (1, 2)
    ]
    received = [str(m["Message-ID"]) for m in MaildirOutbox(tmp_path / "outbox").messages()]
    engine = make_engine(postgres_url)
    with Session(engine) as session:
        deliveries = session.exec(select(Delivery)).all()
    engine.dispose()
    print(
        f"7 runs on 2 workers (split {split[0]}/{split[1]}): {len(received)} messages for "
        f"{len(deliveries)} deliveries, {len(received) - len(set(received))} duplicated"
    )
    assert sorted(received) == sorted(d.message_id for d in deliveries)
    assert len(deliveries) == 25  # 11 reminders and 14 invites
    assert {(d.status, d.attempts) for d in deliveries} == {("sent", 1)}
    assert sum(split) == 7
