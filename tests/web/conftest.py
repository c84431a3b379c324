"""Fixtures for the owners' pages: a synced database, a fixed clock, the app, a live server."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, text

from tests.conftest import RULES

KEY = "a-test-key-that-is-long-enough-0123456789"
SLA = "learning-from-litigation-2018/sla-in-place"
REVIEW = "learning-from-litigation-2018/sla-annual-review"
TICK = datetime(2018, 4, 2, 8, 0, tzinfo=UTC)  # 09:00 in London: the morning of `make run`
LATER = datetime(2018, 4, 3, 9, 30, tzinfo=UTC)  # when the owner opens the link


@pytest.fixture
def web_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Every DULY_* variable the pages read, pointing into tmp_path."""
    env = {
        "DULY_SECRET_KEY": KEY,
        "DULY_DATABASE_URL": f"sqlite:///{tmp_path / 'duly.db'}",
        "DULY_EVIDENCE_DIR": str(tmp_path / "evidence"),
        "DULY_WEB_URL": "http://127.0.0.1:8000",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DULY_ADMIN_TOKEN", raising=False)
    monkeypatch.delenv("DULY_SECRET_KEY_FILE", raising=False)
    return env


@pytest.fixture
def synced(web_env: dict[str, str], seed_rules: Any) -> str:
    """The seed rules synced into a fresh SQLite database as of the tick; its URL."""
    from sqlmodel import Session

    from flows.db import create_schema, make_engine
    from flows.tick import sync

    url = web_env["DULY_DATABASE_URL"]
    engine = make_engine(url)
    create_schema(engine)
    with Session(engine) as session:
        sync(session, seed_rules, TICK)
        session.commit()
    engine.dispose()
    return url


def make_app(url: str, clock: datetime = LATER, **kwargs: Any) -> Any:
    from flows.web import WebConfig, create_app

    return create_app(WebConfig(database=url, rules_paths=[RULES], clock=lambda: clock, **kwargs))


@pytest.fixture
def client(synced: str) -> Any:
    from fastapi.testclient import TestClient

    with TestClient(make_app(synced)) as c:
        yield c


def path_of(url: str) -> str:
    """The path and query of a link, for a test client."""
    return re.sub(r"^https?://[^/]+", "", url)


def dump(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: equal dumps mean nothing changed."""
    from flows.db import make_engine

    engine = make_engine(url)
    try:
        tables = sorted(inspect(engine).get_table_names())
        with engine.connect() as conn:
            return {
                t: sorted(
                    (tuple(map(repr, r)) for r in conn.execute(text(f'SELECT * FROM "{t}"'))),
                )
                for t in tables
            }
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LiveServer:
    """uvicorn serving an app on 127.0.0.1 in a thread, stopped by :meth:`stop`."""

    def __init__(self, app: Any, port: int) -> None:
        import uvicorn

        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the web server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live() -> Iterator[Any]:
    """Start servers with ``live(app, port)``; every one is stopped after the test."""
    servers: list[LiveServer] = []

    def start(app: Any, port: int | None = None) -> LiveServer:
        server = LiveServer(app, port or free_port()).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
