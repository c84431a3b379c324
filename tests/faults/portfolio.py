"""Rule folders for the fault tests: the project's rules/ plus many synthetic commitments.

:func:`write_rules` copies ``rules/`` and adds a response file whose ``n``
commitments, spread over the seed owners, are all due on one day, so that a tick
at 09:00 London on that day has ``n`` messages to send (one ``due`` notice each,
under the ``report-back-by-date`` rule). The mix of kinds is ``bench/portfolio.py``'s
business; here what matters is many messages at one instant, from real files.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from tests.conftest import RULES

LONDON = ZoneInfo("Europe/London")
DUE = date(2018, 6, 15)  # a Friday, no bank holiday
AT = datetime(2018, 6, 15, 9, 0, tzinfo=LONDON)
SEED_OWNERS = (
    "lo-head",
    "appeals-ops-head",
    "sru-head",
    "removals-casework-head",
    "aic-head",
)


def response_yaml(n: int, due: date = DUE, *, rule: str = "report-back-by-date") -> str:
    """A response file with ``n`` commitments due on ``due``."""
    lines = [
        "version: 1",
        "response:",
        "  id: synthetic-load",
        "  title: A synthetic response with many promises due on one day",
        "  inspectorate: Independent Chief Inspector of Borders and Immigration",
        "  published: 2018-01-15",
        "recommendations:",
        '  - number: "1"',
        "    text: Report back on every item.",
        "    status: accepted",
        "    commitments:",
    ]
    for i in range(n):
        lines += [
            f"      - id: item-{i:04d}",
            f'        para: "1.{i + 1}"',
            f'        quote: "We will report back on item {i} by {due:%-d %B %Y}."',
            f"        action: Report back on item {i}",
            f"        owner: {SEED_OWNERS[i % len(SEED_OWNERS)]}",
            f"        rule: {rule}",
            f"        due: {due.isoformat()}",
        ]
    return "\n".join(lines) + "\n"


def write_rules(folder: Path, n: int, due: date = DUE, *, policies: str | None = None) -> Path:
    """``rules/`` copied into ``folder`` with ``n`` more commitments due on ``due``."""
    shutil.copytree(RULES, folder)
    (folder / "responses" / "synthetic-load.yaml").write_text(response_yaml(n, due))
    if policies is not None:
        (folder / "policies.yaml").write_text(policies)
    return folder
