"""bench/generate.py: the synthetic portfolio as rule files loads back to the same
commitments, and so to the same agenda, as the in-memory one bench/run measures."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.portfolio import synthetic_rules
from flows.rulefiles import load_rules
from models.agenda import compile_agenda

ROOT = Path(__file__).resolve().parents[1]


def test_generated_rule_files_load_back_to_the_same_portfolio(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "generate.py"), "120", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.splitlines()[1] == (f"5 rule files and 82 Remind deadlines in {tmp_path}")
    memory = synthetic_rules(120)
    files = load_rules([tmp_path])
    assert files.ok, [str(p) for p in files.errors]
    assert sorted(p.name for p in (tmp_path / "responses").iterdir()) == [
        "response-0.yaml",
        "response-1.yaml",
        "response-2.yaml",
    ]

    def fields(rules):
        return {
            uid: (c.owner, c.rule, c.due, c.starts, c.duration, c.rrule, c.after)
            for uid, c in rules.commitments.items()
        }

    assert fields(files) == fields(memory)
    window = (datetime(2018, 1, 1, tzinfo=UTC), datetime(2031, 1, 1, tzinfo=UTC))
    assert compile_agenda(files, {}, *window) == compile_agenda(memory, {}, *window)
    # the same deadlines, for Remind: each reminded from 28 days before its due date
    rem = (tmp_path / "deadlines.rem").read_text().splitlines()
    first = memory.commitments["response-0/c0"].due.due
    assert rem[0] == f"REM {first.day} {first:%b} {first.year} +28 MSG response-0/c0 due %b"
    assert len(rem) == 82
