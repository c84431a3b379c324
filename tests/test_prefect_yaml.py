"""prefect.yaml declares the rules' deployments in Prefect's own format, and is never stale."""

from __future__ import annotations

from ruamel.yaml import YAML

from models.deploy import desired_deployments, prefect_yaml
from tests.conftest import ROOT


def test_prefect_yaml_is_generated_from_the_rules(seed_rules):
    expected = prefect_yaml(desired_deployments(seed_rules, "duly"))
    assert (ROOT / "prefect.yaml").read_text() == expected, (
        "prefect.yaml is stale: run `duly deploy` (or regenerate it) after editing the rules"
    )


def test_prefect_yaml_has_one_deployment_per_rule_on_its_schedule(seed_rules):
    document = YAML(typ="safe").load((ROOT / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in document["deployments"]}
    assert sorted(deployments) == sorted([*seed_rules.policies, "report"])
    report = deployments["report"]
    assert report["entrypoint"] == "flows/prefect_flows.py:report"
    assert report["schedules"] == [{"cron": "0 8 * * 1", "timezone": "Europe/London"}]
    sla = deployments["report-back-by-date"]
    assert sla["schedules"] == [{"cron": "0 9 * * 1-5", "timezone": "Europe/London"}]
    assert sla["parameters"] == {"rule_name": "report-back-by-date"}
    assert sla["work_pool"] == {"name": "duly"}
