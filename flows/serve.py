"""`duly serve`: the long-running embedded mode, with nothing to install.

Prefect's schedules fire only when a real Prefect server runs its scheduler (the
temporary server Prefect starts by itself never does, and says nothing). So
``duly serve`` starts ``prefect server start`` on 127.0.0.1 as a child process,
with SQLite under the project's own Prefect home, waits for its health check,
deploys the rules as a diff, and starts a process worker on the ``duly`` pool.

A worker, not ``serve()``: ``serve()`` re-applies every deployment when it starts
(which deletes their scheduled runs) and pauses them all when it stops, so the
next start or another worker would find them paused. A worker does neither, and
it is the same path as running at scale. Stopping (Ctrl-C or SIGTERM) stops the
worker first, waiting for a run in flight, then the server: no orphan process.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

__all__ = [
    "ServeError",
    "Served",
    "drain",
    "free_port",
    "release",
    "start_server",
    "start_worker",
    "stop",
    "wait_healthy",
]


class ServeError(RuntimeError):
    """Raised when the local Prefect server or worker cannot be started."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def prefect_env(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for Prefect child processes: own home, no telemetry."""
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "false",
    }
    env.update(extra or {})
    return env


def _prefect() -> list[str]:
    return [sys.executable, "-m", "prefect"]


def start_server(
    home: Path, port: int, log: Path, extra: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    home.mkdir(parents=True, exist_ok=True)
    handle = open(log, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    return subprocess.Popen(
        [*_prefect(), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=prefect_env(home, extra),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_healthy(url: str, process: subprocess.Popen[bytes] | None, timeout: float = 90) -> None:
    """Wait until ``url``/health answers, or raise ServeError (naming why)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise ServeError(f"the Prefect server exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise ServeError(f"the Prefect server at {url} did not answer within {timeout:.0f} s")


def start_worker(
    home: Path, api_url: str, pool: str, log: Path, env: dict[str, str], limit: int = 4
) -> subprocess.Popen[bytes]:
    handle = open(log, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    return subprocess.Popen(
        [
            *_prefect(),
            "worker",
            "start",
            "--pool",
            pool,
            "--type",
            "process",
            "--limit",
            str(limit),
        ],
        env=prefect_env(home, {**env, "PREFECT_API_URL": api_url}),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    """Ask the child to stop (SIGINT, as Ctrl-C would), SIGKILL its group after ``timeout``."""
    if process is None or process.poll() is not None:
        return
    with suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)
    with suppress(ProcessLookupError):  # leftovers in its process group
        os.killpg(process.pid, signal.SIGKILL)


async def _in_flight(client: Any, pool: str) -> list[Any]:
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        WorkPoolFilter,
        WorkPoolFilterName,
    )
    from prefect.client.schemas.objects import StateType

    return list(
        await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                state=FlowRunFilterState(
                    type=FlowRunFilterStateType(any_=[StateType.RUNNING, StateType.PENDING])
                )
            ),
            work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[pool])),
        )
    )


async def _set_pool_paused(client: Any, pool: str, paused: bool) -> None:
    from prefect.client.schemas.actions import WorkPoolUpdate

    await client.update_work_pool(pool, WorkPoolUpdate(is_paused=paused))


def drain(pool: str, timeout: float = 60) -> int:
    """Stop the pool handing out runs, and wait for the runs in flight to finish.

    Returns how many were still running at the deadline.
    """
    from prefect.client.orchestration import get_client

    async def run() -> int:
        async with get_client() as client:
            await _set_pool_paused(client, pool, True)
            deadline = time.monotonic() + timeout
            while (running := await _in_flight(client, pool)) and time.monotonic() < deadline:
                await asyncio.sleep(1)
            return len(running)

    return asyncio.run(run())


def release(pool: str) -> int:
    """Un-pause the pool and mark any run the stop cut short as crashed (never RUNNING)."""
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    async def run() -> int:
        async with get_client() as client:
            cut_short = await _in_flight(client, pool)
            for flow_run in cut_short:
                await client.set_flow_run_state(
                    flow_run.id,
                    Crashed(message="duly serve stopped while it ran; the next check catches up"),
                    force=True,
                )
            await _set_pool_paused(client, pool, False)
            return len(cut_short)

    return asyncio.run(run())


class Served:
    """The server and worker of one `duly serve`, stopped together."""

    def __init__(self, pool: str = "duly") -> None:
        self.pool = pool
        self.server: subprocess.Popen[bytes] | None = None
        self.worker: subprocess.Popen[bytes] | None = None

    def stop(self) -> None:
        """Drain the worker (runs in flight finish), stop it, release the pool, stop the server."""
        if self.worker is not None and self.worker.poll() is None:
            with suppress(Exception):  # a dead server cannot be drained; stop anyway
                drain(self.pool)
        stop(self.worker)
        if self.worker is not None:
            with suppress(Exception):
                release(self.pool)
        stop(self.server)

    def wait(self, on_exit: Callable[[str], None]) -> int:
        """Block until SIGINT/SIGTERM or a child dies; then stop both. Returns the exit code."""
        stopping = {"signal": 0}

        def handler(signum: int, _frame: object) -> None:
            stopping["signal"] = signum

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
        code = 0
        while not stopping["signal"]:
            for name, child in (("server", self.server), ("worker", self.worker)):
                if child is not None and child.poll() is not None:
                    on_exit(f"the Prefect {name} stopped (exit code {child.returncode})")
                    stopping["signal"], code = -1, 1
            time.sleep(0.5)
        self.stop()
        return code
