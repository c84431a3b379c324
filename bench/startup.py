"""Cold start of the `duly` CLI against `python -c 'import sqlmodel'`.

Goal (core issue): `duly --help` and `duly validate rules/` each take at most
1.5 x the time of importing sqlmodel, plus 0.5 s. Runs are alternated and the
median of each is reported, so drift on a shared machine hits all three alike.

    .venv/bin/python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DULY = [sys.executable, "-m", "flows.cli"]
COMMANDS = {
    "import sqlmodel": [sys.executable, "-c", "import sqlmodel"],
    "duly --help": [*DULY, "--help"],
    "duly validate rules/": [*DULY, "validate", "rules/"],
}


def once(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in COMMANDS}
    for command in COMMANDS.values():  # warm the file cache once
        once(command)
    for _ in range(args.runs):
        for name, command in COMMANDS.items():
            times[name].append(once(command))
    base = statistics.median(times["import sqlmodel"])
    budget = 1.5 * base + 0.5
    print(f"median of {args.runs} alternated runs")
    for name, values in times.items():
        median = statistics.median(values)
        verdict = (
            ""
            if name == "import sqlmodel"
            else (
                f"  {median / base:.2f} x sqlmodel; budget {budget:.3f} s: "
                f"{'OK' if median <= budget else 'OVER'}"
            )
        )
        print(f"  {name:<22} {median:.3f} s{verdict}")


if __name__ == "__main__":
    main()
