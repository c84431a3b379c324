"""A real Prefect server on loopback for the runtime tests, started once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.serve import free_port, start_server, stop, wait_healthy

SCHEDULER = {
    # enough scheduled runs to cross the next clock change (the default is 3)
    "PREFECT_SERVER_SERVICES_SCHEDULER_MIN_RUNS": "150",
    "PREFECT_SERVER_SERVICES_SCHEDULER_MAX_SCHEDULED_TIME": "P250D",
}


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture(scope="session")
def prefect_api(prefect_home: Path) -> Iterator[str]:
    """PREFECT_API_URL of a `prefect server start` child, for the whole session."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    server = start_server(prefect_home, port, prefect_home / "server.log", SCHEDULER)
    try:
        wait_healthy(url, server, timeout=120)
    except Exception:
        stop(server)
        raise
    saved = {
        k: os.environ.get(k)
        for k in (
            "PREFECT_API_URL",
            "PREFECT_HOME",
            "DO_NOT_TRACK",
            "PREFECT_SERVER_ANALYTICS_ENABLED",
        )
    }
    os.environ.update(
        {
            "PREFECT_API_URL": url,
            "PREFECT_HOME": str(prefect_home),
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    yield url
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    stop(server)


@pytest.fixture
def remove_deployments(prefect_api) -> Iterator[None]:
    """Delete every duly deployment on the session server after the test."""
    yield
    import asyncio

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags

    async def clean() -> None:
        async with get_client() as client:
            for d in await client.read_deployments(
                deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=["duly"]))
            ):
                await client.delete_deployment(d.id)

    asyncio.run(clean())
