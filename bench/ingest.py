"""Ingesting a 200-page response: goal under 2 s (the ingest issue).

Builds a synthetic response from the seed documents: one header, then the
recommendations of all five seeds repeated, renumbered so that every
recommendation and paragraph number is new (rec 1 of the third copy of seed
000 becomes, say, rec 43, and its paragraph 1.3 becomes 43.3), until the text
is about 200 pages of 500 words. Then times, in one process, what `duly
ingest` does with the text: draft it and write the YAML. The median of
several runs is reported, and separately the time that `duly validate`'s
reader (the one every rule file goes through) takes to check the draft.

    .venv/bin/python bench/ingest.py [--pages 200] [--runs 5]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT.parent / "shared" / "seeds"
sys.path.insert(0, str(ROOT))

from flows.ingest import check, render  # noqa: E402
from models.ingest import ingest_text  # noqa: E402

WORDS_PER_PAGE = 500
_FIRST_REC = re.compile(r"(?m)^[#\s*-]*1\.\s+\**[A-Z]")
_NUMBER = re.compile(r"(?m)^([#\s*-]*)(\d{1,3})(?=\.(?:\d{1,3})?[\s*])")


def synthetic(pages: int) -> str:
    """A response of about ``pages`` pages built from the seeds, every number made new."""
    seeds = sorted(SEEDS.glob("*.txt"))
    if not seeds:
        sys.exit(f"no seed documents in {SEEDS}")
    first = seeds[0].read_text()
    start = _FIRST_REC.search(first)
    header = first[: start.start()] if start else ""
    bodies = []
    for path in seeds:
        text = path.read_text()
        m = _FIRST_REC.search(text)
        bodies.append(text[m.start() :] if m else text)
    parts = [header]
    offset = words = 0
    while words < pages * WORDS_PER_PAGE:
        for body in bodies:
            last = 0

            def renumber(m: re.Match[str], offset: int = offset) -> str:
                nonlocal last
                last = max(last, int(m.group(2)))
                return f"{m.group(1)}{int(m.group(2)) + offset}"

            chunk = _NUMBER.sub(renumber, body)
            parts.append(chunk)
            words += len(chunk.split())
            offset += last
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    text = synthetic(args.pages)
    pages = len(text.split()) / WORDS_PER_PAGE
    ingest_times, check_times = [], []
    for _ in range(args.runs):
        began = time.perf_counter()
        draft = ingest_text(text, published=date(2014, 1, 1), source="synthetic.txt")
        yaml_text = render(draft)
        drafted = time.perf_counter()
        rules, _ = check(yaml_text, "synthetic.yaml", ROOT / "rules")
        ingest_times.append(drafted - began)
        check_times.append(time.perf_counter() - drafted)
    assert rules.ok, [str(p) for p in rules.errors[:5]]
    median = statistics.median(ingest_times)
    print(
        f"ingest of a {pages:.0f}-page response ({len(text):,} characters, "
        f"{len(draft.recommendations)} recommendations, {len(draft.items)} commitments, "
        f"{len(yaml_text):,} characters of YAML): median {median:.2f} s over {args.runs} runs; "
        f"goal < 2 s: {'met' if median < 2 else 'NOT met'}"
    )
    print(
        f"then checking the draft as duly validate does (the rule-file reader): median "
        f"{statistics.median(check_times):.2f} s"
    )


if __name__ == "__main__":
    main()
