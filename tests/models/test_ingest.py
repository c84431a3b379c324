"""Reading response documents into drafts: the seeds against their gold files, and the genre.

The golden tests score each seed document against its hand-labelled gold file
(../shared/seeds/*.gold.yaml). The other tests use small documents written here
in the other conventions of the genre ("Recommendation 3:", "R3.", "Response:
Partly agreed", unnumbered paragraphs, numbered lists inside a response), so
that nothing is tuned to the five seeds alone.
"""

from __future__ import annotations

import re
from datetime import date

import pytest
from ruamel.yaml import YAML

from models.dates import parse_period
from models.ingest import IngestError, ingest_text, normalise_status, written_period
from models.ingest_eval import Found, found_in, score
from tests.conftest import SEEDS

GOLD = sorted(SEEDS.glob("*.gold.yaml")) if SEEDS.is_dir() else []
needs_seeds = pytest.mark.skipif(not GOLD, reason=f"no gold files at {SEEDS}")


def gold_of(path):
    return YAML(typ="safe").load(path.read_text())


def draft_of(gold, text=None):
    text = text if text is not None else (SEEDS / gold["document"]).read_text()
    return ingest_text(text, published=gold["published"], source=gold["document"])


def scored(gold, draft):
    statuses = {r.number: r.status for r in draft.recommendations}
    return score(gold, found_in(draft), statuses)


# -- the seeds against their gold files ------------------------------------------------


@needs_seeds
@pytest.mark.parametrize("path", GOLD, ids=lambda p: p.name[:3])
def test_golden(path):
    gold = gold_of(path)
    result = scored(gold, draft_of(gold))
    assert result.status_accuracy == 1.0, result.misses
    assert result.recall >= 0.95, result.misses
    assert result.precision >= 0.90, result.misses
    assert result.exactness >= 0.95, result.misses


@needs_seeds
@pytest.mark.parametrize("path", GOLD, ids=lambda p: p.name[:3])
def test_golden_in_another_dress(path):
    """The same seed with "Recommendation N:" headings and no bold reads the same."""
    gold = gold_of(path)
    text = (SEEDS / gold["document"]).read_text().replace("**", "")
    text = re.sub(r"(?m)^[#\s-]*(\d{1,2})\.\s+(?=[A-Z])", r"Recommendation \1: ", text)
    result = scored(gold, draft_of(gold, text))
    assert result.status_accuracy == 1.0, result.misses
    assert result.recall >= 0.95, result.misses
    assert result.precision >= 0.90, result.misses


@needs_seeds
def test_the_sla_is_due_at_the_end_of_april_2018():
    gold = gold_of(SEEDS / "000_9c62264519e45465.gold.yaml")
    draft = draft_of(gold)
    (sla,) = [i for i in draft.items if i.para == "1.3" and i.kind == "deadline"]
    assert sla.due == parse_period("April 2018")
    assert "in place by April 2018" in sla.quote
    assert sla.quote[slice(*sla.marks[0])] == "by April 2018"


@needs_seeds
def test_the_vague_recommendations_are_those_with_no_new_dated_promise():
    gold = gold_of(SEEDS / "003_f63884ce698ffe91.gold.yaml")
    vague = [r.number for r in draft_of(gold).vague]
    # 12 has monthly reports from November; 1 is not accepted; 5 and 7 have dates (7's is held)
    assert vague == ["2", "3", "4", "6", "7", "8", "9", "10", "11", "13"]


@needs_seeds
def test_a_joint_response_is_shared_by_content():
    gold = gold_of(SEEDS / "001_c5cca5f3c472f86e.gold.yaml")
    draft = draft_of(gold)
    by_number = {r.number: r for r in draft.recommendations}
    assert by_number["3"].status_text == by_number["4"].status_text == "Both accepted"
    assert {i.para for i in by_number["3"].items} == {"4.2"}
    assert {i.para for i in by_number["4"].items} == {"4.3"}
    assert draft.vague == []


# -- the genre: other numbering and status conventions ----------------------------------

MODERN = """\
Response to An inspection of the Home Office's handling of visitor visa applications

Published 14 March 2023

The Home Office welcomes the Independent Chief Inspector's report.

Recommendation 1: Within three months, produce and publish a plan to reduce the backlog.

The Home Office accepts this recommendation.

We will publish a backlog reduction plan by the end of June 2023. Progress against the plan
will be reviewed quarterly by the Visas Programme Board.

Recommendation 2: Review the guidance on evidence of funds.

The Home Office partially accepts this recommendation.

We do not agree that the guidance is unclear. However, we will review it with caseworkers and
issue an update in Autumn 2023.

Recommendation 3: Introduce a training module on family visits.

The Home Office does not accept this recommendation.

Existing training already covers family visits, and was refreshed in 2022.

Recommendation 4: Publish the service standards for priority services.

Accepted.

The Home Office will consider how best to publish this information.

Recommendation 5: Pilot video interviews.

Accepted. We will start a pilot of video interviews in January 2024. The pilot will run for
six months and will then be evaluated. Subject to the evaluation, video interviews will be
rolled out to all visa application centres by March 2025.
"""


def kinds(draft, number):
    (rec,) = [r for r in draft.recommendations if r.number == number]
    return [(i.kind, i.para) for i in rec.items]


def test_recommendation_headings_and_sentence_statuses():
    draft = ingest_text(MODERN)
    assert draft.published == date(2023, 3, 14)  # stated in the document
    assert draft.title == (
        "An inspection of the Home Office's handling of visitor visa applications"
    )
    assert [(r.number, r.status) for r in draft.recommendations] == [
        ("1", "accepted"),
        ("2", "partially_accepted"),
        ("3", "not_accepted"),
        ("4", "accepted"),
        ("5", "accepted"),
    ]
    # unnumbered response paragraphs are cited by the recommendation's number
    assert kinds(draft, "1") == [("deadline", "1"), ("recurring", "1")]
    assert kinds(draft, "2") == [("deadline", "2")]
    assert kinds(draft, "3") == []  # "refreshed in 2022" is past
    assert [r.number for r in draft.vague] == ["4"]
    due = {i.kind: i for i in draft.items if i.rec == "1"}["deadline"].due
    assert (due.start, due.end) == (date(2023, 6, 1), date(2023, 6, 30))


def test_a_pilot_its_length_and_what_waits_for_its_evaluation():
    draft = ingest_text(MODERN)
    items = draft.items
    start, pilot, rollout, condition = [i for i in items if i.rec == "5"]
    assert (start.kind, start.starts) == ("start", parse_period("January 2024"))
    assert (pilot.kind, pilot.duration.iso()) == ("duration", "P6M")
    assert items[pilot.after] is start  # a length counts from what starts it
    assert (rollout.kind, rollout.due.end) == ("deadline", date(2025, 3, 31))
    assert condition.kind == "dependency" and condition.words == "Subject to the evaluation"
    assert items[condition.after] is pilot  # the evaluation comes with the pilot
    assert items[rollout.after] is pilot


PRISONS = """\
HM Prison and Probation Service response to HM Inspectorate of Prisons report on HMP Example
Unannounced inspection 4 - 15 June 2018
Date: 2 October 2018

R1. The prison should ensure that all prisoners have at least one hour in the open air every day.
Response: Agreed.
The Governor will introduce a revised regime by 31 December 2018. Compliance will be monitored
weekly at the regime management meeting.
Target date: 31 December 2018

R2. Leaders should develop a strategy to reduce the supply of illicit drugs.
Response: Partly agreed.
A drug strategy was published in May 2018. It will be reviewed every six months by the Security
Committee, with the first review due in November 2018.

R3. All cells should have a working call bell that is answered within five minutes.
Response: Not agreed.
Call bells are answered as quickly as possible and are checked during daily management checks.

R4. Prisoners should be able to shower daily.
Response: Agreed.
The prison will work towards this.
"""


def test_agreed_partly_agreed_and_target_dates():
    draft = ingest_text(PRISONS)
    assert draft.published == date(2018, 10, 2)
    assert draft.inspectorate == "HM Inspectorate of Prisons"
    assert [r.status for r in draft.recommendations] == [
        "accepted",
        "partially_accepted",
        "not_accepted",
        "accepted",
    ]
    # "by 31 December 2018" and "Target date: 31 December 2018" are one promise
    assert kinds(draft, "1") == [("deadline", "1"), ("recurring", "1")]
    (review,) = [i for i in draft.items if i.rec == "2"]
    assert (review.rrule, review.starts) == ("FREQ=MONTHLY;INTERVAL=6", parse_period("Nov 2018"))
    (daily,) = [i for i in draft.items if i.rec == "3"]
    assert daily.held == "existing practice, not a new promise"
    assert [r.number for r in draft.vague] == ["4"]


NUMBERED = """\
The Home Office response to the Independent Chief Inspector of Borders and Immigration's report:
An inspection of Border Force operations at Example Port

Recommendation 1
Ensure that all officers complete mandatory training.

1.1 Accepted.
1.2 Border Force will ensure that all officers have completed the mandatory training modules by
31 March 2020. Compliance will be reported to the Border Force Board every month.
1.3 A new training tracker will be in place by Spring 2020.

Recommendation 2
Improve the management information on passenger queues.

2.1 Partially accepted.
2.2 We will review the data we collect during 2020/21 and report our findings to the Director.
1. The review will be led by the Head of Performance.
2. It will cover all ports, and was first proposed in 2018.

Recommendation 3
Review the staffing model.

3.1 Accepted.
3.2 Border Force is reviewing its staffing model.
"""


def test_numbered_paragraphs_without_bold_and_lists_inside_a_response():
    draft = ingest_text(NUMBERED, published=date(2019, 11, 1))
    assert draft.inspectorate == "Independent Chief Inspector of Borders and Immigration"
    assert [(r.number, r.status, r.text) for r in draft.recommendations] == [
        ("1", "accepted", "Ensure that all officers complete mandatory training."),
        ("2", "partially_accepted", "Improve the management information on passenger queues."),
        ("3", "accepted", "Review the staffing model."),
    ]
    assert kinds(draft, "1") == [("deadline", "1.2"), ("recurring", "1.2"), ("deadline", "1.3")]
    assert kinds(draft, "2") == [("deadline", "2.2")]
    spring = next(i for i in draft.items if i.para == "1.3").due
    assert (spring.start, spring.end) == (date(2020, 3, 1), date(2020, 5, 31))


def test_a_numbered_list_in_a_response_is_not_a_recommendation():
    text = """\
1. Reduce the backlog.
1.1 Accepted.
1.2 We will take the following steps:
1. recruit 500 decision makers by September 2022;
2. report progress to the Board monthly.
2. Publish a service standard.
2.1 Not accepted.
"""
    draft = ingest_text(text, published=date(2022, 5, 5))
    assert [(r.number, r.status) for r in draft.recommendations] == [
        ("1", "accepted"),
        ("2", "not_accepted"),
    ]
    assert kinds(draft, "1") == [("deadline", "1.2"), ("recurring", "1.2")]


def test_a_summary_of_statuses_first_then_the_detail():
    text = """\
Summary of recommendations
Recommendation 1: Reduce the backlog. Accepted.
Recommendation 2: Publish a standard. Not accepted.

Recommendation 1: Reduce the backlog.
Accepted.
We will clear the backlog by March 2020, and report to the Board monthly.

Recommendation 2: Publish a standard.
Not accepted.
A standard would not help.
"""
    draft = ingest_text(
        text + "Recommendation 1 is covered above, by March 2020.\n", published=date(2019, 6, 1)
    )
    assert [(r.number, r.status, r.text) for r in draft.recommendations] == [
        ("1", "accepted", "Reduce the backlog."),
        ("2", "not_accepted", "Publish a standard."),
    ]
    assert kinds(draft, "1") == [("recurring", "1"), ("deadline", "1")]
    assert kinds(draft, "2") == [("deadline", "2")]  # a sentence naming rec 1, under rec 2


@pytest.mark.parametrize(
    ("printed", "status"),
    [
        ("Accepted.", "accepted"),
        ("Fully accepted", "accepted"),
        ("Agreed", "accepted"),
        ("Both accepted", "accepted"),
        ("Partially Accepted.", "partially_accepted"),
        ("Accepted in part", "partially_accepted"),
        ("Partly agreed", "partially_accepted"),
        ("Accepted in principle", "partially_accepted"),
        ("Not accepted", "not_accepted"),
        ("Rejected", "not_accepted"),
        ("The Home Office does not accept this recommendation", "not_accepted"),
        ("The Department partially accepts this recommendation", "partially_accepted"),
    ],
)
def test_status_variants(printed, status):
    assert normalise_status(printed) == status


def test_past_events_are_left_out():
    text = """\
Recommendation 1: Improve the process.
Accepted. A forum was established early in 2017. Our new system (JIRA) introduced in 2017/18
already helps. We updated the scripts in April 2017. The team will report by June 2018.
"""
    draft = ingest_text(text, published=date(2018, 1, 30))
    assert [i.words for i in draft.items] == ["by June 2018"]


def test_work_already_done_this_year_is_not_a_promise():
    text = """\
Recommendation 1: Improve the process.
Accepted. LO has undertaken work this year to improve its data. We will publish the results by
the end of the year, and the guidance later this year.
"""
    draft = ingest_text(text, published=date(2018, 1, 30))
    assert [(i.words, i.due.start, i.due.end) for i in draft.items] == [
        ("by the end of the year", date(2018, 1, 1), date(2018, 12, 31)),
        ("later this year", date(2018, 1, 30), date(2018, 12, 31)),
    ]


def test_a_dependency_without_a_prerequisite_is_held_not_invented():
    text = """\
Recommendation 1: Publish guidance.
Accepted. Before any guidance is published, the unit will recruit more staff. The guidance will
be published by Autumn 2018.
"""
    draft = ingest_text(text, published=date(2018, 1, 30))
    dependency, deadline = draft.items
    assert dependency.kind == "dependency" and dependency.after is None
    assert dependency.held is not None
    assert deadline.held is None and deadline.due.end == date(2018, 11, 30)
    assert draft.vague == []


def test_a_month_without_a_year_and_a_relative_period_are_marked_for_review():
    text = """\
Recommendation 1: Report back.
Accepted. A review will report by February. Over the next 12 months, staff will be trained.
"""
    draft = ingest_text(text, published=date(2017, 11, 30))
    february, year = draft.items
    assert february.due.end == date(2018, 2, 28) and february.review
    assert (year.due.start, year.due.end) == (date(2017, 11, 30), date(2018, 11, 30))
    assert year.review and "counted from publication" in year.note


def test_what_cannot_be_drafted_says_why():
    with pytest.raises(IngestError, match="no recommendations found"):
        ingest_text("Some text with no recommendations at all.", published=date(2018, 1, 1))
    with pytest.raises(IngestError, match="pass --published"):
        ingest_text("Recommendation 1: Do it.\nAccepted. By May 2019.")


@pytest.mark.parametrize(
    ("words", "written"),
    [
        ("by the end of March 2018", "end of March 2018"),
        ("during Quarter 4 of 2020/21", "Quarter 4 of 2020/21"),
        ("by mid-summer 2018", "mid-summer 2018"),
        ("by February", "February 2018"),
        ("Over the next 12 months", "Over the next 12 months"),
        ("between April and June 2021", "between April and June 2021"),
        ("later this year", "later this year"),
        ("by the end of the year", "2017"),
        ("by 31/03/2019", "31/03/2019"),
    ],
)
def test_a_draft_writes_dates_that_read_back_the_same(words, written):
    reference = date(2017, 11, 30)
    period = parse_period(words, reference)
    assert written_period(period, words, reference) == written
    assert parse_period(written, reference) == period


def test_the_scorer_counts_uncertain_items_as_optional():
    gold = {
        "recommendations": [
            {
                "number": "1",
                "status": "accepted",
                "commitments": [
                    {"para": "1.2", "kind": "deadline", "due": date(2018, 4, 30)},
                    {
                        "para": "1.2",
                        "kind": "recurring",
                        "rrule": "FREQ=YEARLY",
                        "uncertain": True,
                    },
                    {"para": "1.3", "kind": "start", "window": [date(2018, 1, 1)] * 2},
                ],
            }
        ]
    }
    found = [
        Found("1.2", "deadline", due=date(2018, 4, 30)),
        Found("1.2", "recurring", rrule="FREQ=YEARLY"),  # optional: not a false positive
        Found("1.4", "deadline", due=date(2018, 5, 31)),  # a false positive
    ]
    result = score(gold, found, {"1": "accepted"})
    assert (result.matched, result.certain, result.false, result.optional_found) == (1, 2, 1, 1)
    assert (result.recall, result.precision, result.exactness) == (0.5, 0.5, 1.0)
    assert any(m.startswith("not found: rec 1 1.3 start") for m in result.misses)
