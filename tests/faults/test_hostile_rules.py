"""Hostile rule files: a fuzzer over the seed files, named attacks, and no partial sync.

Every case goes through ``models.rules.parse_rule_files`` in memory and must come
back as a RuleSet whose problems are all ``path:line:col`` (no exception), with
no code run and bounded memory. A rule set with errors must change nothing in
the database: ``sync_rules`` refuses it, and ``duly sync``/``duly tick`` on a broken
folder leave every table as it was.

The round-trip YAML reader costs a few milliseconds per kilobyte, so a case is one
seed file cut down to its head and one or two entries (a whole response file
takes 30-300 ms here, and ten thousand of them would take many minutes). Each file
is parsed alone: references to policies and owners elsewhere are reported as
unknown, which is one more kind of problem, and keeps a case cheap. The number of
generated cases is ``DULY_FAULTS_FUZZ_CASES`` (default 10,000), stopped early at
``DULY_FAULTS_FUZZ_SECONDS`` (default 20 s); the figure printed says how many ran.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from flows.db import create_schema, make_engine, sync_rules
from flows.rulefiles import load_rules
from flows.tick import in_transaction
from models.rules import parse_rule_files
from tests.conftest import RULES

CASES = int(os.environ.get("DULY_FAULTS_FUZZ_CASES", "10000"))
SECONDS = float(os.environ.get("DULY_FAULTS_FUZZ_SECONDS", "20"))
EXECUTED: list[str] = []


def boom(*args: object) -> str:
    """What a ``!!python/object/apply`` tag in a rule file would call: must never run."""
    EXECUTED.append(repr(args))
    return "executed"


def _head_and_entries(path: Path, entries: int = 2) -> str:
    """The file's head and its first ``entries`` list items (cheap to parse, still real)."""
    lines = path.read_text().splitlines(keepends=True)
    out: list[str] = []
    items = 0
    for line in lines:
        stripped = line.lstrip()
        if stripped.startswith("- ") and len(line) - len(stripped) <= 6:
            items += 1
            if items > entries:
                break
        out.append(line)
    return "".join(out)


SEEDS = [
    (f"rules/{p.relative_to(RULES)}", _head_and_entries(p)) for p in sorted(RULES.rglob("*.yaml"))
]

HOSTILE_SCALARS = [
    "1e999999",
    "9" * 4000,
    "-" + "9" * 400,
    "0x" + "f" * 300,
    ".nan",
    "-.inf",
    "~",
    "[]",
    "{}",
    "[1, [2, [3]]]",
    "{a: {b: {c: d}}}",
    "true",
    "2018-02-30",
    "9999-12-31",
    "0001-01-01",
    "'\u202eevil\u202c'",
    "'\u0000'",
    '"\\0\\a\\x1b[31m"',
    "'\U0001f4a9' ",
    "\u00e9t\u00e9 2018",
    "'" + "x" * 20000 + "'",
    "!!python/object/apply:tests.faults.test_hostile_rules.boom [1]",
    "!!python/name:os.system",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!custom thing",
    "&anchor value",
    "*anchor",
    "<<: {x: 1}",
    "|\n  multi\n  line",
    ">-\n  folded",
    "'unterminated",
    '"unterminated',
    "[unclosed",
    "{unclosed: ",
    "@reserved",
    "`backtick",
    "%TAG ! tag:evil:",
    "---\nsecond: document",
    "\t tab",
]


@st.composite
def mutated(draw) -> tuple[str, str]:
    path, text = draw(st.sampled_from(SEEDS))
    kind = draw(
        st.sampled_from(
            ["truncate", "scalar", "insert", "delete-line", "duplicate-line", "bytes", "nest"]
        )
    )
    lines = text.splitlines(keepends=True)
    if kind == "truncate":
        return path, text[: draw(st.integers(0, len(text)))]
    if kind == "scalar":
        targets = [i for i, line in enumerate(lines) if ": " in line]
        i = draw(st.sampled_from(targets))
        key = lines[i].split(": ", 1)[0]
        value = draw(st.sampled_from(HOSTILE_SCALARS) | st.text(max_size=40))
        lines[i] = f"{key}: {value}\n"
        return path, "".join(lines)
    if kind == "insert":
        i = draw(st.integers(0, len(lines)))
        indent = " " * draw(st.sampled_from([0, 2, 4, 6, 8, 3]))
        value = draw(st.sampled_from(HOSTILE_SCALARS))
        key = draw(st.sampled_from(["id", "version", "due", "extra", "rules", "owners", "x"]))
        lines.insert(i, f"{indent}{key}: {value}\n")
        return path, "".join(lines)
    if kind == "delete-line":
        del lines[draw(st.integers(0, len(lines) - 1))]
        return path, "".join(lines)
    if kind == "duplicate-line":
        i = draw(st.integers(0, len(lines) - 1))
        lines.insert(i, lines[i])
        return path, "".join(lines)
    if kind == "nest":
        depth = draw(st.integers(1, 5000))
        i = draw(st.sampled_from([i for i, line in enumerate(lines) if ": " in line]))
        key = lines[i].split(": ", 1)[0]
        lines[i] = f"{key}: {'[' * depth}1{']' * depth}\n"
        return path, "".join(lines)
    # bytes: random characters, including controls and odd line breaks, anywhere
    chars = st.sampled_from(list("\x00\x07\x1b\r\n\t\x85\u2028\u2029\ufeff:-[]{}&*!|>'\"#%@`"))
    edits = draw(st.lists(st.tuples(st.integers(0, len(text)), chars), min_size=1, max_size=8))
    for position, char in sorted(edits, reverse=True):
        text = text[:position] + char + text[position:]
    return path, text


class _OutOfTime(Exception):
    """The fuzzer's time budget is spent (hypothesis has no other way to stop early)."""


def _check(path: str, text: str, stats: dict[str, int]) -> None:
    rules = parse_rule_files([(path, text)])
    # YAML also breaks lines at NEL, LS and PS (U+0085, U+2028, U+2029)
    lines = sum(text.count(c) for c in "\n\r\x85\u2028\u2029") + 2
    for problem in rules.problems:
        assert problem.path == path, problem
        assert 1 <= problem.line <= lines and problem.col >= 1, (problem, len(text))
        assert problem.message.strip(), problem
        str(problem)  # renders
    if rules.ok:
        stats["still valid"] += 1
    else:
        assert rules.errors
        stats["rejected"] += 1


def test_fuzzed_rule_files_give_problems_never_crashes_or_code_execution():
    stats = {"cases": 0, "rejected": 0, "still valid": 0}
    started = time.monotonic()

    @settings(
        max_examples=CASES,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=mutated())
    def fuzz(case: tuple[str, str]) -> None:
        if time.monotonic() - started > SECONDS:
            raise _OutOfTime
        stats["cases"] += 1
        _check(*case, stats)  # any exception but a problem list is a crash, and fails

    with contextlib.suppress(_OutOfTime):
        fuzz()
    elapsed = time.monotonic() - started
    print(
        f"\nrule-file fuzzer: {stats['cases']}/{CASES} cases in {elapsed:.0f} s "
        f"({1000 * elapsed / max(stats['cases'], 1):.1f} ms each): 0 crashes, "
        f"{stats['rejected']} rejected with path:line:col problems, "
        f"{stats['still valid']} still valid; code executed: {len(EXECUTED)}"
    )
    assert not EXECUTED
    assert stats["cases"] >= 500


def _laughs(levels: int = 10) -> str:
    lines = ["version: 1", 'lol0: &lol0 "lol"']
    for i in range(1, levels):
        refs = ", ".join([f"*lol{i - 1}"] * 10)
        lines.append(f"lol{i}: &lol{i} [{refs}]")
    lines.append(f"rules: *lol{levels - 1}")
    return "\n".join(lines) + "\n"


NAMED_ATTACKS = {
    "billion laughs": _laughs(),
    "python object tag": (
        "version: 1\nrules:\n  - !!python/object/apply:tests.faults.test_hostile_rules.boom"
        " [rm -rf]\n"
    ),
    "python object on a value": (
        "version: 1\nowners:\n  - id: x\n    name: !!python/object/new:"
        "tests.faults.test_hostile_rules.boom [x]\n    email: x@example.org\n"
    ),
    "deep nesting, flow": "version: 1\nrules: " + "[" * 100_000 + "]" * 100_000 + "\n",
    "deep nesting, block": "version: 1\n" + "".join(" " * i + "a:\n" for i in range(0, 2000, 1)),
    "a million-byte string": "version: 1\nrules: '" + "x" * 999_000 + "'\n",
    "over a megabyte": "version: 1\nrules: '" + "x" * 1_100_000 + "'\n",
    "huge integer": "version: 1" + "0" * 5000 + "\nrules: []\n",
    "several documents": "version: 1\nrules: []\n---\nversion: 1\nowners: []\n",
    "empty": "",
    "only a BOM": "\ufeff",
    "not a mapping": "- 1\n- 2\n",
    "nul bytes": "version: 1\x00\nrules: []\n",
    "lone surrogate": "version: 1\nrules: ['\ud800']\n",
    "tab indentation": "version: 1\nrules:\n\t- id: x\n",
}


@pytest.mark.parametrize("name", NAMED_ATTACKS)
def test_named_attacks_are_problems_in_bounded_time_and_memory(name):
    text = NAMED_ATTACKS[name]
    tracemalloc.start()
    try:
        rules = parse_rule_files([("rules/policies.yaml", text)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    started = time.perf_counter()  # timed apart: tracing every allocation is slow itself
    parse_rule_files([("rules/policies.yaml", text)])
    elapsed = time.perf_counter() - started
    print(
        f"\n{name}: {len(text):,} bytes -> {len(rules.errors)} error(s) "
        f"({rules.errors[0].message[:70] if rules.errors else '-'}), "
        f"{elapsed:.2f} s, peak {peak / 1e6:.1f} MB"
    )
    assert not rules.ok and all(p.line >= 1 for p in rules.problems)
    assert not EXECUTED
    assert peak < 64e6, f"{name} used {peak / 1e6:.0f} MB"
    assert elapsed < 10


def test_a_yaml_merge_key_is_read_without_error():
    """Not an attack (no alias is involved), but worth knowing: ``<<`` merges silently."""
    text = "version: 1\nowners:\n  - <<: {id: x, name: y}\n    email: x@example.org\n"
    rules = parse_rule_files([("rules/owners.yaml", text)])
    assert rules.ok and rules.owners["x"].name == "y"


def test_an_absurdly_long_timezone_is_a_problem_not_a_crash():
    text = "version: 1\nrules:\n  - id: r\n    kind: deadline\n    timezone: '" + "x" * 300
    rules = parse_rule_files([("rules/policies.yaml", text + "'\n")])
    assert not rules.ok and "timezone" in rules.errors[0].message


@pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="models.rules screens anchors, tags and depth but not the number of nodes: a "
    "200 kB flow list of 100,000 numbers takes ~170 MB while it is read (a 1 MB one, "
    "under MAX_FILE_BYTES, took 72 s and 1.1 GB here); this test reads 60 kB",
)
def test_many_small_nodes_are_refused_before_the_round_trip_load():
    text = "version: 1\nrules: [" + "1," * 30_000 + "1]\n"
    tracemalloc.start()
    try:
        rules = parse_rule_files([("rules/policies.yaml", text)])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\n30,000 list items ({len(text):,} bytes): peak {peak / 1e6:.0f} MB")
    assert not rules.ok
    assert peak < 16e6, f"{peak / 1e6:.0f} MB for {len(text):,} bytes"


# -- no partial syncs ------------------------------------------------------------------


def _dump(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return list(db.iterdump())


BROKEN = {
    "a truncated response": lambda d: _truncate(d / "responses" / "overstayers-2014.yaml"),
    "an unknown owner": lambda d: _replace(
        d / "responses" / "overstayers-2014.yaml", "owner: ", "owner: nobody-"
    ),
    "a python tag in policies": lambda d: _replace(
        d / "policies.yaml",
        "kind: deadline",
        "kind: !!python/object/apply:tests.faults.test_hostile_rules.boom [x]",
    ),
}


def _truncate(path: Path) -> None:
    """Cut the file inside a quoted string half-way down (a copy interrupted)."""
    text = path.read_text()
    cut = text.index('quote: "', len(text) // 2) + 20
    path.write_text(text[:cut])


def _replace(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text().replace(old, new, 1))


def test_a_rule_set_with_errors_is_never_partly_synced(tmp_path, rules_dir):
    """sync_rules refuses every broken rule set the fuzzer can make, and the CLI too."""
    database = tmp_path / "duly.db"
    engine = make_engine(f"sqlite:///{database}")
    create_schema(engine)
    now = datetime(2018, 4, 2, 8, tzinfo=UTC)
    in_transaction(lambda s: sync_rules(s, load_rules([rules_dir]), now), engine)
    before = _dump(database)

    # in process: fifty broken rule sets, each offered to sync_rules
    rng = random.Random(7)
    full = {str(p): p.read_text() for p in rules_dir.rglob("*.yaml")}
    refused = 0
    for _ in range(50):
        sources = dict(full)
        victim = rng.choice(sorted(sources))
        text = sources[victim]
        sources[victim] = text[: rng.randrange(len(text))] + rng.choice(["\t", "[", ": :", "&a"])
        rules = parse_rule_files(sources.items())
        if rules.ok:  # the cut fell where the file still reads
            continue
        with pytest.raises(ValueError, match="refusing to sync a rule set with errors"):
            in_transaction(lambda s, r=rules: sync_rules(s, r, now), engine)
        refused += 1
    engine.dispose()
    assert refused >= 30
    assert _dump(database) == before

    # the commands, on broken folders, all at once (each is a new process)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DULY_")}
    url = f"sqlite:///{database}"
    runs = []
    for i, (name, breaks) in enumerate(BROKEN.items()):
        broken = tmp_path / f"broken-{i}"
        broken.mkdir()
        folder = broken / "rules"
        import shutil

        shutil.copytree(rules_dir, folder)
        breaks(folder)
        for command in (
            ["sync", str(folder), "--database", url],
            ["tick", "--at", "2018-04-02T09:00", "--rules", str(folder), "--database", url],
        ):
            runs.append(
                (
                    name,
                    command[0],
                    subprocess.Popen(
                        [sys.executable, "-m", "flows.cli", *command],
                        cwd=broken,
                        env={**env, "DULY_OUTBOX": str(broken / "outbox")},
                        stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE,
                        text=True,
                    ),
                )
            )
    results = [
        (name, command, p.communicate(timeout=300), p.returncode) for name, command, p in runs
    ]
    after = _dump(database)
    print(
        f"\n{refused} broken rule sets refused by sync_rules; {len(results)} duly sync/tick "
        f"runs on broken folders exited {sorted({code for *_, code in results})}; "
        f"database dump {'unchanged' if after == before else 'CHANGED'} "
        f"({len(before)} statements); code executed: {len(EXECUTED)}"
    )
    for name, command, (out, err), code in results:
        assert code == 1, (name, command, out, err)
        assert "nothing was" in err, (name, command, err)
        assert ":" in err.splitlines()[0]  # path:line:col first
    assert after == before
    assert not EXECUTED
    assert not any((tmp_path / f"broken-{i}" / "outbox").exists() for i in range(len(BROKEN)))
