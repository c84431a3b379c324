"""`duly sync` writes the rules into the database; `duly mark` records a state change."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import ROOT

RULES = str(ROOT / "rules")
SLA = "learning-from-litigation-2018/sla-in-place"


def duly(*args: str):
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "400"})
    return result.exit_code, result.stdout, result.stderr


def test_sync_then_mark_the_sla_done_silences_it_in_the_plan(sqlite_url):
    code, stdout, stderr = duly("sync", RULES, "--database", sqlite_url)
    assert (code, stderr) == (0, "")
    assert stdout.startswith("synced 41 commitments: 41 new, 0 changed, 0 no longer in the rules;")

    code, stdout, _ = duly("sync", RULES, "--database", sqlite_url)
    assert stdout.strip() == (
        "synced 41 commitments: 0 new, 0 changed, 0 no longer in the "
        "rules; 0 agenda steps written."
    )

    code, stdout, stderr = duly(
        "mark",
        "sla-in-place",
        "done",
        "--why",
        "signed by both",
        "--who",
        "lo-head",
        "--rules",
        RULES,
        "--database",
        sqlite_url,
    )
    assert (code, stderr) == (0, "")
    assert stdout.startswith(f"{SLA} is now done; ")

    code, stdout, _ = duly(
        "plan",
        RULES,
        "--at",
        "2018-02-01",
        "--days",
        "120",
        "--format",
        "json",
        "--database",
        sqlite_url,
    )
    assert SLA not in {i["commitment"] for i in json.loads(stdout)["items"]}


def test_mark_names_an_unknown_commitment_and_suggests_one(sqlite_url):
    duly("sync", RULES, "--database", sqlite_url)
    code, stdout, stderr = duly(
        "mark", "sla-in-plce", "done", "--why", "x", "--rules", RULES, "--database", sqlite_url
    )
    assert (code, stdout) == (1, "")
    assert stderr.strip() == "no commitment 'sla-in-plce' (did you mean 'sla-in-place'?)"


def test_mark_refuses_a_state_the_commitment_already_has(sqlite_url):
    duly("sync", RULES, "--database", sqlite_url)
    code, _, stderr = duly(
        "mark", SLA, "open", "--why", "x", "--rules", RULES, "--database", sqlite_url
    )
    assert code == 1
    assert stderr.strip() == f"commitment '{SLA}' is already open"


def test_mark_before_any_sync_says_what_to_do(sqlite_url):
    code, _, stderr = duly(
        "mark", SLA, "done", "--why", "x", "--rules", RULES, "--database", sqlite_url
    )
    assert code == 1
    assert stderr.strip().endswith("run duly sync first")


def test_mark_rejects_an_unknown_state(sqlite_url):
    duly("sync", RULES, "--database", sqlite_url)
    code, _, stderr = duly(
        "mark", SLA, "finished", "--why", "x", "--rules", RULES, "--database", sqlite_url
    )
    assert code == 1
    assert stderr.strip() == (
        "unknown state 'finished'; one of: open, in_progress, done, missed, dropped, superseded"
    )
