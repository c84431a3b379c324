"""`duly deploy`: make the Prefect server's deployments match the rules, as a diff.

Order of work, so a broken rule changes nothing and a failure half way converges
on the next run:

1. every rule is validated and every Prefect schedule object built, before any
   call to the server (a bad time zone or cron is caught here);
2. the server's ``duly``-tagged deployments of ``check-rule`` are read (paged:
   the API returns at most 200 at a time) and compared by ``version``;
3. new and changed deployments are upserted (``create_deployment`` is a
   server-side upsert), then those of removed rules deleted. Unchanged ones are
   not touched: an update, even an identical one, deletes their scheduled runs.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from models.deploy import (
    FLOWS,
    TAG,
    Deployed,
    DeploymentSpec,
    DeployPlan,
    plan_deploy,
)

__all__ = ["DEFAULT_POOL", "DeployError", "apply_plan", "build_schedules", "read_plan"]

DEFAULT_POOL = "duly"
PAGE = 200


class DeployError(RuntimeError):
    """Raised when the Prefect server cannot be reached or refuses a change."""


@dataclass(frozen=True)
class Built:
    spec: DeploymentSpec
    schedules: list[Any]  # DeploymentScheduleCreate


def build_schedules(specs: list[DeploymentSpec]) -> list[Built]:
    """Every Prefect schedule object, built before any API call (and so validated)."""
    from prefect.client.schemas.actions import DeploymentScheduleCreate
    from prefect.client.schemas.schedules import CronSchedule, RRuleSchedule

    built = []
    for spec in specs:
        if spec.cron:
            schedule: Any = CronSchedule(cron=spec.cron, timezone=spec.timezone)
        else:
            schedule = RRuleSchedule(rrule=spec.rrule or "", timezone=spec.timezone)
        built.append(Built(spec, [DeploymentScheduleCreate(schedule=schedule, active=True)]))
    return built


async def _read_deployed(client: Any) -> list[Deployed]:
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterTags,
        FlowFilter,
        FlowFilterName,
    )

    found: list[Deployed] = []
    offset = 0
    while True:
        page = await client.read_deployments(
            flow_filter=FlowFilter(name=FlowFilterName(any_=sorted(FLOWS))),
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TAG])),
            limit=PAGE,
            offset=offset,
        )
        found.extend(Deployed(d.name, d.version, str(d.id)) for d in page)
        if len(page) < PAGE:
            return found
        offset += PAGE


async def _ensure_pool(client: Any, pool: str) -> None:
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

    try:
        existing = await client.read_work_pool(pool)
        if existing.is_paused:  # left paused by a stop that could not finish
            from prefect.client.schemas.actions import WorkPoolUpdate

            await client.update_work_pool(pool, WorkPoolUpdate(is_paused=False))
    except ObjectNotFound:
        with suppress(ObjectAlreadyExists):  # another deploy made it meanwhile
            await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))


async def _plan(specs: list[DeploymentSpec]) -> DeployPlan:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return plan_deploy(await _read_deployed(client), specs)


def read_plan(specs: list[DeploymentSpec]) -> DeployPlan:
    """Compare the rules' deployments with the server's."""
    try:
        return asyncio.run(_plan(specs))
    except Exception as exc:
        raise DeployError(f"cannot read deployments from the Prefect server: {exc}") from exc


async def _apply(plan: DeployPlan, built: list[Built]) -> None:
    from prefect.client.orchestration import get_client

    schedules = {b.spec.name: b.schedules for b in built}
    async with get_client() as client:
        pools = {b.spec.work_pool for b in built if b.spec.work_pool}
        for pool in sorted(pools):
            await _ensure_pool(client, pool)
        flow_ids = {name: await client.create_flow_from_name(name) for name in sorted(FLOWS)}
        for spec in [*plan.create, *plan.update]:
            await client.create_deployment(
                flow_id=flow_ids[spec.flow],
                name=spec.name,
                version=spec.version,
                description=spec.description,
                schedules=schedules[spec.name],
                parameters=spec.parameters,
                tags=[TAG],
                entrypoint=spec.entrypoint,
                work_pool_name=spec.work_pool,
                pull_steps=[],
                enforce_parameter_schema=False,
                paused=False,
            )
        from prefect.exceptions import ObjectNotFound

        for gone in plan.delete:
            with suppress(ObjectNotFound):  # deleted by someone else meanwhile
                await client.delete_deployment(UUID(gone.id))


def apply_plan(plan: DeployPlan, built: list[Built]) -> None:
    """Upsert what is new or changed, then delete what the rules no longer have."""
    try:
        asyncio.run(_apply(plan, built))
    except Exception as exc:
        raise DeployError(
            f"the Prefect server refused a change: {exc}; run duly deploy again to converge"
        ) from exc
