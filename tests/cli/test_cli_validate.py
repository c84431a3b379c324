"""`duly validate`: exit 0 with a summary, or exit 1 with every error at path:line:col."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from flows.cli import app

LITIGATION = "rules/responses/learning-from-litigation-2018.yaml"


def run(*args: str):
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_project_rules_are_valid(monkeypatch, rules_dir):
    monkeypatch.chdir(rules_dir.parent)
    code, stdout, stderr = run("validate", "rules")
    assert code == 0
    assert stdout.strip() == (
        "7 files OK, 3 warnings: 7 rules, 10 owners, 5 responses, 41 commitments."
    )
    # the documents give no first date for three series; validate says what it assumed
    assert [line for line in stderr.splitlines() if "warning" in line][1] == (
        "rules/responses/status-review-and-removal-2018.yaml:23:9: warning: commitment "
        "'directors-meet-quarterly' says quarterly but not from when; counting from "
        "publication (2018-01-30), it first falls due on 2018-04-30"
    )


def test_an_unassigned_owner_is_a_warning_not_an_error(monkeypatch, rules_dir):
    path = rules_dir / LITIGATION.removeprefix("rules/")
    path.write_text(path.read_text().replace("owner: lo-head", "owner: unassigned", 1))
    monkeypatch.chdir(rules_dir.parent)
    code, stdout, stderr = run("validate", "rules")
    assert code == 0
    assert stdout.strip() == (
        "7 files OK, 4 warnings: 7 rules, 10 owners, 5 responses, 41 commitments."
    )
    assert (
        f"{LITIGATION}:26:16: warning: commitment 'sla-in-place' has no owner yet"
        in stderr.splitlines()
    )


# Each case: file under rules/, text replaced, its replacement, and the first line
# of stderr expected. "{line}" is the line of the replacement's first line in the
# broken file, so the cases survive edits elsewhere in the seed files.
LIT = "responses/learning-from-litigation-2018.yaml"
BROKEN = {
    "bad date": (
        LIT,
        "due: April 2018",
        "due: end of Apirl 2018",
        "{path}:{line}:14: commitment 'sla-in-place': due: cannot read \"end of Apirl 2018\" "
        'as a date or period (did you mean "April"?)',
    ),
    "unknown owner": (
        LIT,
        "owner: lo-head\n        rule: report-back-by-date\n        due: April 2018",
        "owner: lo-haed\n        rule: report-back-by-date\n        due: April 2018",
        "{path}:{line}:16: commitment 'sla-in-place' has owner: 'lo-haed', which is not an "
        "owner (did you mean 'lo-head'?)",
    ),
    "unknown rule": (
        LIT,
        "rule: review-annually",
        "rule: review-anually",
        "{path}:{line}:15: commitment 'sla-annual-review' has rule: 'review-anually', which is "
        "not a rule in the policies file (did you mean 'review-annually'?)",
    ),
    "after names no commitment": (
        LIT,
        "after: sla-in-place",
        "after: sla-in-plac",
        "{path}:{line}:16: commitment 'sla-annual-review' has after: 'sla-in-plac', which is "
        "not a commitment in this file (did you mean 'sla-in-place'?)",
    ),
    "cycle in after": (
        LIT,
        "rule: when-ready\n        after: jr-permission-review",
        "rule: when-ready\n        after: gld-intervention-bau",
        "{path}:{line+1}:16: commitment 'gld-trial-start' waits for itself through after: "
        "gld-trial-start -> gld-intervention-bau -> gld-trial -> gld-trial-start",
    ),
    "duplicate id": (
        LIT,
        "id: jr-deadlines-review",
        "id: pap-response-review",
        "{path}:{line}:13: commitment 'pap-response-review' is defined twice (first on line "
        "{first})",
    ),
    "wrong type": (
        LIT,
        'para: "7.5"',
        "para: 7.5",
        "{path}:{line}:15: commitment 'revised-concession-guidance': para: expected text, got a "
        "number 7.5",
    ),
    "unknown key": (
        LIT,
        "        due: March 2018\n",
        "        dew: March 2018\n",
        "{path}:{line}:9: commitment 'revised-concession-guidance': unknown key 'dew' (did you "
        "mean 'due'?)",
    ),
    "bad rrule": (
        "policies.yaml",
        "every: quarterly",
        "rrule: FREQ=MONTHLY;INTERVAL=3;BYMONTH=13",
        "{path}:{line}:12: rule 'meet-quarterly': rrule: invalid RRULE "
        "\"FREQ=MONTHLY;INTERVAL=3;BYMONTH=13\": invalid 'BYMONTH': 13 (must be 1 to 12)",
    ),
    "tab indentation": (
        "owners.yaml",
        "    name: Head of Litigation Operations",
        "\tname: Head of Litigation Operations",
        "{path}:{line}:1: tab character used for indentation",
    ),
    "empty file": (
        "responses/overstayers-2014.yaml",
        None,
        "",
        "{path}:1:1: file is empty",
    ),
    "bad cron": (
        "policies.yaml",
        'check: {cron: "0 9 * * 1-5"}   # the schedule',
        'check: {cron: "0 9 * * 1-8"}   # the schedule',
        "{path}:{line}:19: rule 'report-back-by-date': check: cron '0 9 * * 1-8' is not valid: "
        "Bad day-of-week",
    ),
    "unknown time zone": (
        "policies.yaml",
        "timezone: Europe/London",
        "timezone: Europe/Londn",
        "{path}:{line}:15: rule 'report-back-by-date': timezone: unknown time zone "
        "'Europe/Londn' (did you mean 'Europe/London'?)",
    ),
    "alias": (
        "owners.yaml",
        "tags: [litigation]\n    escalate_to: lo-director",
        "tags: &t [litigation]\n    escalate_to: lo-director\n    more: *t",
        "{path}:{line}:11: anchors and aliases (&name, *name) are not allowed in rule files",
    ),
    "python tag": (
        "owners.yaml",
        "tags: [litigation]\n",
        "tags: !!python/object:os.system [litigation]\n",
        "{path}:{line}:11: YAML tag !!python/object:os.system is not allowed in rule files",
    ),
    "unknown status": (
        "responses/overstayers-2014.yaml",
        "status: not_accepted",
        "status: rejected",
        "{path}:{line}:13: recommendation 1: status: expected 'accepted', 'partially_accepted' "
        "or 'not_accepted', got 'rejected'",
    ),
    "missing field": (
        LIT,
        "        action: Issue revised litigation cost and JR guidance\n",
        "",
        "{path}:{line-3}:9: commitment 'revised-concession-guidance': 'action' is missing",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_rule_file_is_reported_at_its_line(monkeypatch, rules_dir, case):
    name, old, new, template = BROKEN[case]
    path = rules_dir / name
    original = path.read_text()
    if old is None:
        broken, line = new, 1
    else:
        assert old in original, f"{old!r} not in {name}"
        broken = original.replace(old, new, 1)
        line = original[: original.index(old)].count("\n") + 1
    path.write_text(broken)
    first = original.find("id: pap-response-review")
    first = original[:first].count("\n") + 1
    expected = (
        template.replace("{line+1}", str(line + 1))
        .replace("{line-3}", str(line - 3))
        .replace("{line}", str(line))
        .replace("{first}", str(first))
        .replace("{path}", f"rules/{name}")
    )
    monkeypatch.chdir(rules_dir.parent)
    code, stdout, stderr = run("validate", "rules")
    assert code == 1
    assert stdout == ""
    assert stderr.splitlines()[0] == expected
    assert "Traceback" not in stderr
    assert stderr.rstrip().endswith("nothing was changed.")


def test_the_project_rules_pass_strict_validation(monkeypatch, rules_dir):
    # every accepted recommendation has a dated commitment or says why it has none
    monkeypatch.chdir(rules_dir.parent)
    code, stdout, _ = run("validate", "--strict", "rules")
    assert code == 0
    assert stdout.strip().startswith("7 files OK, 3 warnings")
