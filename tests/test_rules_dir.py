"""The rule files in rules/ load, and the seed responses say what the documents say.

The gold files beside the seed documents (../shared/seeds/*.gold.yaml) are
hand-labelled expectations; every recommendation and status must be in the rule
files, and every dated promise gold does not mark uncertain.
"""

from __future__ import annotations

from datetime import date

import pytest
from ruamel.yaml import YAML

from tests.conftest import SEEDS

GOLD = sorted(SEEDS.glob("*.gold.yaml")) if SEEDS.is_dir() else []
pytestmark = pytest.mark.skipif(not GOLD, reason=f"no gold files at {SEEDS}")


def gold(path):
    return YAML(typ="safe").load(path.read_text())


def response_for(seed_rules, document: str):
    (response,) = [r for r in seed_rules.responses.values() if r.source == document]
    return response


def test_every_seed_document_has_a_response_file(seed_rules):
    sources = sorted(r.source for r in seed_rules.responses.values())
    assert sources == sorted(gold(p)["document"] for p in GOLD)


@pytest.mark.parametrize("path", GOLD, ids=lambda p: p.name[:3])
def test_every_recommendation_and_status_is_in_the_rules(seed_rules, path):
    expected = gold(path)
    response = response_for(seed_rules, expected["document"])
    assert response.published == expected["published"]
    assert [(r.number, r.status, r.status_text) for r in response.recommendations] == [
        (r["number"], r["status"], r["status_text"]) for r in expected["recommendations"]
    ]


@pytest.mark.parametrize("path", GOLD, ids=lambda p: p.name[:3])
def test_every_certain_dated_promise_is_in_the_rules(seed_rules, path):
    expected = gold(path)
    response = response_for(seed_rules, expected["document"])
    ours = [
        seed_rules.commitments[uid] for rec in response.recommendations for uid in rec.commitments
    ]
    missing = []
    for rec in expected["recommendations"]:
        for item in rec["commitments"]:
            if item.get("uncertain"):
                continue
            matches = [
                c
                for c in ours
                if c.para == item["para"] and item["phrase"].replace("*", "") in c.quote
            ]
            if item["kind"] == "deadline":
                matches = [
                    c
                    for c in matches
                    if c.due is not None
                    and (c.due.start, c.due.due) == (*item["window"][:1], item["due"])
                ]
            elif item["kind"] == "start":
                matches = [
                    c
                    for c in matches
                    if c.starts is not None and [c.starts.start, c.starts.end] == item["window"]
                ]
            elif item["kind"] == "recurring":
                matches = [c for c in matches if c.rrule == item["rrule"]]
            elif item["kind"] == "duration":
                matches = [
                    c
                    for c in matches
                    if c.duration is not None and c.duration.iso() == item["duration"]
                ]
            elif item["kind"] == "dependency":
                # the ordering is held by an after: on either side of it
                waited_for = {c.after for c in ours}
                matches = [c for c in matches if c.after is not None or c.uid in waited_for]
            if not matches:
                missing.append(f"{item['para']} {item['kind']}: {item['phrase']!r}")
    assert missing == []


def test_the_sla_quote_is_the_documents_own_words(seed_rules):
    text = (SEEDS / "000_9c62264519e45465.txt").read_text()
    sla = seed_rules.commitments["learning-from-litigation-2018/sla-in-place"]
    assert sla.quote in text
    assert sla.due.due == date(2018, 4, 30)
