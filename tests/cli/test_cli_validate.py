"""`duly validate`: exit 0 with a summary, or exit 1 with every error at path:line:col."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app

LITIGATION = "rules/responses/learning-from-litigation-2018.yaml"


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def break_file(rules_dir: Path, name: str, old: str, new: str) -> None:
    path = rules_dir / name
    text = path.read_text()
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1))


def test_the_project_rules_are_valid(monkeypatch, rules_dir):
    monkeypatch.chdir(rules_dir.parent)
    code, stdout, stderr = run("validate", "rules")
    assert (code, stderr) == (0, "")
    assert stdout.startswith("7 files OK: 7 rules, 10 owners, 5 responses, ")


# Each case: (file under rules/, text to replace, replacement, expected first stderr line).
BROKEN = {
    "bad date": (
        "responses/learning-from-litigation-2018.yaml", "due: April 2018", "due: end of Apirl 2018",
        "rules/responses/learning-from-litigation-2018.yaml:28:14: commitment 'sla-in-place': "
        "due: cannot read \"end of Apirl 2018\" as a date or period (did you mean \"April\"?)",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_rule_file_is_reported_at_its_line(monkeypatch, rules_dir, case):
    name, old, new, expected = BROKEN[case]
    break_file(rules_dir, name, old, new)
    monkeypatch.chdir(rules_dir.parent)
    code, stdout, stderr = run("validate", "rules")
    assert code == 1
    assert stdout == ""
    assert stderr.splitlines()[0] == expected
    assert "Traceback" not in stderr
    assert stderr.rstrip().endswith("nothing was changed.")
