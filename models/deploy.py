"""Deploy as a diff: which Prefect deployments the rules want, and what must change.

Each rule becomes one deployment of the ``check-rule`` flow, named after the rule,
run on the rule's ``check`` schedule. A deployment's ``version`` is a hash of
exactly what Prefect stores for it (schedule, time zone, parameters, entrypoint,
work pool), so :func:`plan_deploy` can leave unchanged deployments alone: any
update on the server, even an identical one, deletes that deployment's future
scheduled runs. Editing a rule's lead times changes its agenda, not its
deployment, and so costs no scheduled run at all.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from models.rules import RuleSet

__all__ = [
    "ENTRYPOINT",
    "FLOWS",
    "FLOW_NAME",
    "REPORT_FLOW",
    "TAG",
    "DeployPlan",
    "Deployed",
    "DeploymentSpec",
    "desired_deployments",
    "plan_deploy",
    "prefect_yaml",
]

FLOW_NAME = "check-rule"
ENTRYPOINT = "flows.prefect_flows.check_rule"  # a module path: workers need no code storage
REPORT_FLOW = "report"
REPORT_ENTRYPOINT = "flows.prefect_flows.report"
REPORT_CRON = "0 8 * * 1"
"""The report back's schedule: Mondays at 08:00 (London), before the week's first checks."""
FLOWS = {FLOW_NAME: ENTRYPOINT, REPORT_FLOW: REPORT_ENTRYPOINT}
TAG = "duly"


@dataclass(frozen=True)
class DeploymentSpec:
    """One rule's deployment, as duly wants it."""

    name: str
    cron: str | None
    rrule: str | None
    timezone: str
    parameters: dict[str, str]
    description: str
    work_pool: str | None = None
    flow: str = FLOW_NAME

    @property
    def entrypoint(self) -> str:
        """The flow as a module path (``flows.prefect_flows.check_rule``)."""
        return FLOWS[self.flow]

    @property
    def version(self) -> str:
        fields = {
            "cron": self.cron,
            "rrule": self.rrule,
            "timezone": self.timezone,
            "parameters": self.parameters,
            "entrypoint": self.entrypoint,
            "work_pool": self.work_pool,
        }
        text = json.dumps(fields, sort_keys=True)
        return "duly-" + hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def schedule_text(self) -> str:
        return f"cron {self.cron}" if self.cron else f"rrule {self.rrule}"


@dataclass(frozen=True)
class Deployed:
    """A deployment found on the server (tagged ``duly``)."""

    name: str
    version: str | None
    id: str = ""


@dataclass
class DeployPlan:
    create: list[DeploymentSpec] = field(default_factory=list)
    update: list[DeploymentSpec] = field(default_factory=list)
    delete: list[Deployed] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return len(self.create) + len(self.update) + len(self.delete)


def desired_deployments(rules: RuleSet, work_pool: str | None = None) -> list[DeploymentSpec]:
    """One deployment per rule, in rule id order, then the weekly report back
    (``report``: the portfolio summary as an artifact, and the dashboard when
    ``DULY_DASHBOARD`` names a folder)."""
    specs = []
    for rule_id in sorted(rules.policies):
        policy = rules.policies[rule_id]
        check = policy.check
        specs.append(
            DeploymentSpec(
                name=rule_id,
                cron=check.cron,
                rrule=check.rrule,
                timezone=check.timezone or policy.timezone,
                parameters={"rule_name": rule_id},
                description=policy.summary or f"Checks the commitments under rule {rule_id}",
                work_pool=work_pool,
            )
        )
    specs.append(
        DeploymentSpec(
            name="report",
            cron=REPORT_CRON,
            rrule=None,
            timezone="Europe/London",
            parameters={},
            description="The report back: portfolio summary by RAG and state, overdue by owner",
            work_pool=work_pool,
            flow=REPORT_FLOW,
        )
    )
    return specs


def prefect_yaml(specs: Iterable[DeploymentSpec], pool: str = "duly") -> str:
    """The same deployments in Prefect's own ``prefect.yaml`` format, for ``prefect deploy``.

    ``prefect deploy --all`` neither deletes the deployments of removed rules nor
    validates every entry before applying the first; ``duly deploy`` does both.
    Workers find the code through ``DULY_HOME`` (the project folder).
    """
    import io

    from ruamel.yaml import YAML

    document = {
        "name": "duly",
        "prefect-version": "3.8.8",
        "build": None,
        "push": None,
        "pull": [
            {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $DULY_HOME }}"}}
        ],
        "deployments": [
            {
                "name": spec.name,
                "version": spec.version,
                "description": spec.description,
                "entrypoint": "flows/prefect_flows.py:" + spec.entrypoint.rsplit(".", 1)[1],
                "parameters": dict(spec.parameters),
                "tags": [TAG],
                "schedules": [
                    {"cron": spec.cron, "timezone": spec.timezone}
                    if spec.cron
                    else {"rrule": spec.rrule, "timezone": spec.timezone}
                ],
                "work_pool": {"name": pool},
            }
            for spec in specs
        ],
    }
    out = io.StringIO()
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 120
    out.write(
        "# Generated by `duly deploy` from rules/policies.yaml: edit the rules, not this file.\n"
        "# `prefect deploy --all` applies it, but neither removes the deployments of deleted\n"
        "# rules nor checks every entry first; `duly deploy` does both (see README).\n"
    )
    yaml.dump(document, out)
    return out.getvalue()


def plan_deploy(deployed: Iterable[Deployed], desired: Iterable[DeploymentSpec]) -> DeployPlan:
    """What to create, update and delete so the server matches ``desired``.

    >>> spec = DeploymentSpec("review-annually", "0 9 * * 1-5", None, "Europe/London",
    ...                       {"rule_name": "review-annually"}, "")
    >>> plan = plan_deploy([Deployed("review-annually", spec.version), Deployed("old", "x")],
    ...                    [spec])
    >>> (plan.unchanged, [d.name for d in plan.delete], plan.create, plan.update)
    (['review-annually'], ['old'], [], [])
    """
    current = {d.name: d for d in deployed}
    plan = DeployPlan()
    wanted = {}
    for spec in desired:
        wanted[spec.name] = spec
        existing = current.get(spec.name)
        if existing is None:
            plan.create.append(spec)
        elif existing.version != spec.version:
            plan.update.append(spec)
        else:
            plan.unchanged.append(spec.name)
    plan.delete = [d for name, d in sorted(current.items()) if name not in wanted]
    return plan
