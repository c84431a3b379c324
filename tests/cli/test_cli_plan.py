"""`duly plan`: what would be sent, when, to whom and why."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from flows.cli import app
from tests.conftest import ROOT

SLA = "learning-from-litigation-2018/sla-in-place"


def plan(*args: str, database: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(
        app, ["plan", str(ROOT / "rules"), "--database", database, *args], env={"COLUMNS": "400"}
    )
    return result.exit_code, result.stdout, result.stderr


def test_plan_json_has_the_sla_reminders_for_april_2018(sqlite_url):
    code, stdout, stderr = plan(
        "--at", "2018-02-01", "--days", "120", "--format", "json", database=sqlite_url
    )
    assert (code, stderr) == (0, "")
    document = json.loads(stdout)
    assert (document["from"], document["to"]) == (
        "2018-02-01T00:00:00+00:00",
        "2018-06-01T00:00:00+01:00",
    )
    sla = [
        (i["step"], i["local_time"], i["to"]["email"])
        for i in document["items"]
        if i["commitment"] == SLA
    ]
    assert sla == [
        ("remind-28d", "2018-03-29T09:00:00+01:00", "lo-head@homeoffice.example"),
        ("remind-7d", "2018-04-23T09:00:00+01:00", "lo-head@homeoffice.example"),
        ("due", "2018-04-30T09:00:00+01:00", "lo-head@homeoffice.example"),
        ("overdue-1", "2018-05-08T09:00:00+01:00", "lo-head@homeoffice.example"),
        ("escalate", "2018-05-14T09:00:00+01:00", "lo-director@homeoffice.example"),
        ("overdue-2", "2018-05-14T09:00:00+01:00", "lo-head@homeoffice.example"),
        ("overdue-3", "2018-05-21T09:00:00+01:00", "lo-head@homeoffice.example"),
        ("overdue-4", "2018-05-29T09:00:00+01:00", "lo-head@homeoffice.example"),
    ]
    assert [i["at"] for i in document["items"]] == sorted(i["at"] for i in document["items"])


def test_plan_table_says_why_in_words(sqlite_url):
    code, stdout, _ = plan("--at", "2018-04-20", "--days", "4", database=sqlite_url)
    assert code == 0
    assert "duly plan: 2018-04-20 to 2018-04-24" in stdout
    assert (
        "7 days before 'Updated SLA between the Home Office and the GLD in place' is due on"
        in stdout
    )


def test_plan_rejects_a_date_it_cannot_read(sqlite_url):
    code, _, stderr = plan("--at", "1st of April", database=sqlite_url)
    assert code == 2
    assert stderr.strip() == (
        "--at: expected a date like 2018-02-01 or 2018-02-01T09:00, got '1st of April'"
    )


def test_plan_reads_states_from_the_database(sqlite_url, seed_rules):
    from datetime import UTC, datetime

    from sqlmodel import Session

    from flows.db import create_schema, make_engine, set_state, sync_rules

    engine = make_engine(sqlite_url)
    create_schema(engine)
    with Session(engine) as session:
        sync_rules(session, seed_rules, datetime(2018, 2, 1, tzinfo=UTC))
        set_state(
            session,
            seed_rules,
            SLA,
            "done",
            who="lo-head",
            why="signed",
            now=datetime(2018, 3, 1, 12, tzinfo=UTC),
        )
        session.commit()
    engine.dispose()
    code, stdout, _ = plan(
        "--at", "2018-03-02", "--days", "90", "--format", "json", database=sqlite_url
    )
    assert code == 0
    commitments = {i["commitment"] for i in json.loads(stdout)["items"]}
    assert SLA not in commitments


def test_validate_and_plan_never_import_prefect():
    script = (
        "import sys\n"
        "from flows.cli import app\n"
        "from typer.testing import CliRunner\n"
        f"r = CliRunner().invoke(app, ['validate', {str(ROOT / 'rules')!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        f"r = CliRunner().invoke(app, ['plan', {str(ROOT / 'rules')!r}, '--at', '2018-02-01',"
        " '--database', 'sqlite:///nonexistent-duly.db'])\n"
        "assert r.exit_code == 0, r.output\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert result.stdout.strip() == "[]"
