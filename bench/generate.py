"""Write a synthetic portfolio of N commitments: duly rule files, or a loaded database,
and the same deadlines as a Remind file.

    bench/generate.py N --out DIR            # DIR/owners.yaml, policies.yaml, responses/*.yaml
                                             # and DIR/deadlines.rem
    bench/generate.py N --database URL       # sync it straight into a database (large N)

The portfolio is ``bench.portfolio.synthetic_rules(N)``: the seeds' mix of kinds
(mostly deadlines; annual, quarterly and monthly series; pilots; work due to start
in a period; about 10% waiting for another commitment), due dates over ten years
from 2018, 5,000 owners. The rule files load back into the same commitments
(``duly validate DIR`` passes), so what ``bench/run`` measures from memory is what
an admin's files would give.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.portfolio import remind_file, synthetic_rules  # noqa: E402
from models.rules import Commitment, RuleSet  # noqa: E402

__all__ = ["write_rule_files"]


def _quoted(text: str) -> str:
    """A YAML double-quoted scalar (the generated text has no quote or backslash)."""
    if '"' in text or "\\" in text:
        raise ValueError(f"cannot quote {text!r}")
    return f'"{text}"'


def _commitment_lines(c: Commitment) -> list[str]:
    lines = [
        f"      - id: {c.id}",
        f"        para: {_quoted(c.para)}",
        f"        quote: {_quoted(c.quote)}",
        f"        action: {_quoted(c.action)}",
        f"        owner: {c.owner}",
        f"        rule: {c.rule}",
    ]
    if c.due is not None:
        lines.append(f"        due: {_quoted(c.due.text)}")
    if c.starts is not None:
        lines.append(f"        starts: {_quoted(c.starts.text)}")
    if c.duration is not None:
        lines.append(f"        duration: {_quoted(c.duration.text)}")
    if c.after is not None:
        lines.append(f"        after: {c.after.rpartition('/')[2]}")
    return lines


def write_rule_files(rules: RuleSet, out: Path) -> int:
    """Write ``rules`` as rule files under ``out``; returns the number of files.

    The project's own ``rules/policies.yaml`` is copied, owners go to
    ``owners.yaml``, and each response to ``responses/<id>.yaml``.
    """
    (out / "responses").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "rules" / "policies.yaml", out / "policies.yaml")
    owners = ["# Synthetic owners for the benchmarks.", "version: 1", "owners:"]
    for o in rules.owners.values():
        owners += [
            f"  - id: {o.id}",
            f"    name: {_quoted(o.name)}",
            f"    email: {o.email}",
        ]
        if o.escalate_to:
            owners.append(f"    escalate_to: {o.escalate_to}")
    (out / "owners.yaml").write_text("\n".join(owners) + "\n")
    for response in rules.responses.values():
        lines = [
            "# A synthetic response for the benchmarks (bench/generate.py).",
            "version: 1",
            "response:",
            f"  id: {response.id}",
            f"  title: {_quoted(response.title)}",
            f"  inspectorate: {_quoted(response.inspectorate)}",
            f"  published: {response.published.isoformat()}",
            f"  source: {response.source}",
            "recommendations:",
        ]
        for rec in response.recommendations:
            lines += [
                f"  - number: {_quoted(rec.number)}",
                f"    text: {_quoted(rec.text)}",
                f"    status: {rec.status}",
                "    commitments:",
            ]
            for uid in rec.commitments:
                lines += _commitment_lines(rules.commitments[uid])
        (out / "responses" / f"{response.id}.yaml").write_text("\n".join(lines) + "\n")
    return 2 + len(rules.responses)


def main() -> None:
    parser = argparse.ArgumentParser(description="a synthetic portfolio of N commitments")
    parser.add_argument("n", type=int, help="the number of commitments")
    parser.add_argument("--out", type=Path, help="write rule files and deadlines.rem here")
    parser.add_argument("--database", help="sync the portfolio straight into this database URL")
    args = parser.parse_args()
    if args.out is None and args.database is None:
        parser.error("give --out DIR, --database URL, or both")
    start = time.perf_counter()
    rules = synthetic_rules(args.n)
    print(f"{args.n:,} commitments built in {time.perf_counter() - start:.1f} s")
    if args.out is not None:
        files = write_rule_files(rules, args.out)
        deadlines = remind_file(rules, args.out / "deadlines.rem")
        print(f"{files:,} rule files and {deadlines:,} Remind deadlines in {args.out}")
    if args.database is not None:
        from sqlmodel import Session

        from flows.db import create_schema, make_engine, sync_rules

        engine = make_engine(args.database)
        create_schema(engine)
        start = time.perf_counter()
        with Session(engine) as session:
            counts = sync_rules(session, rules, datetime.now(UTC))
            session.commit()
        engine.dispose()
        print(
            f"synced into {args.database}: {counts['added']:,} commitments, "
            f"{counts['agenda']:,} agenda steps, in {time.perf_counter() - start:.1f} s"
        )


if __name__ == "__main__":
    main()
