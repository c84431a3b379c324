"""models.report: states as of a date, RAG statuses, the summary and the timeline layout."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from models.report import (
    InviteReply,
    StateEvent,
    build_portfolio,
    build_report,
    build_timeline,
    end_of_day,
    reply_at,
    safe_link,
    state_at,
    states_at,
)
from models.rules import parse_rule_files
from tests.conftest import RULES

LIT = "learning-from-litigation-2018"
SLA = f"{LIT}/sla-in-place"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def event(state: str, *when: int, evidence: str | None = None) -> StateEvent:
    return StateEvent(state, utc(*when), "lo-head", f"{state} then", evidence)


def view(rules, uid: str, day: date, history=None, replies=None):
    report = build_report(
        rules, uid.split("/")[0], history or {}, end_of_day(day), replies=replies
    )
    (found,) = [c for c in report.commitments if c.uid == uid]
    return found


# -- history replay ---------------------------------------------------------------------


def test_the_state_at_an_instant_is_the_last_change_at_or_before_it():
    history = [event("done", 2018, 3, 1), event("in_progress", 2018, 1, 5)]
    assert state_at(history, utc(2018, 1, 5)).state == "in_progress"  # at: included
    assert state_at(history, utc(2018, 2, 28, 23)).state == "in_progress"
    assert state_at(history, utc(2018, 3, 1)).state == "done"
    assert state_at(history, utc(2018, 1, 4)) is None  # nothing yet: open
    assert states_at({SLA: history}, utc(2018, 2, 1))[SLA].state == "in_progress"
    assert states_at({SLA: history}, utc(2018, 1, 1)) == {}


def test_a_date_means_its_whole_day_in_london():
    assert end_of_day(date(2018, 6, 1)) > utc(2018, 6, 1, 22, 59)
    assert end_of_day(date(2018, 6, 1)) < utc(2018, 6, 1, 23, 0)  # BST: UTC+1


def test_a_change_later_the_same_day_is_in_that_days_report(seed_rules):
    history = {SLA: [event("done", 2018, 4, 20, 16, 30)]}
    assert view(seed_rules, SLA, date(2018, 4, 20), history).state == "done"
    assert view(seed_rules, SLA, date(2018, 4, 19), history).state == "open"


# -- RAG --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "rag", "reason"),
    [
        (date(2018, 4, 1), "green", "on track: due 2018-04-30"),
        (date(2018, 4, 2), "amber", "due in 28 days (2018-04-30)"),  # remind_before 28
        (date(2018, 4, 29), "amber", "due in 1 day (2018-04-30)"),
        (date(2018, 4, 30), "amber", "due today"),
        (date(2018, 5, 1), "red", "overdue by 1 day (due 2018-04-30)"),
    ],
)
def test_a_deadline_is_green_then_amber_in_its_lead_time_then_red(seed_rules, day, rag, reason):
    sla = view(seed_rules, SLA, day)
    assert (sla.rag, sla.rag_reason) == (rag, reason)
    assert sla.days_overdue == (1 if rag == "red" else None)
    assert (sla.due, sla.window_start, sla.due_text) == (
        date(2018, 4, 30),
        date(2018, 4, 1),
        "April 2018",
    )


def test_done_is_green_with_its_day_evidence_and_last_action(seed_rules):
    history = {
        SLA: [
            event("in_progress", 2018, 3, 1, evidence="https://intranet.example/draft.pdf"),
            event("done", 2018, 6, 25),
        ]
    }
    late = view(seed_rules, SLA, date(2018, 7, 1), history)
    assert (late.rag, late.rag_reason, late.completed) == (
        "green",
        "done on 2018-06-25",
        date(2018, 6, 25),
    )
    assert late.evidence == "https://intranet.example/draft.pdf"  # the last one given
    assert late.evidence_url == late.evidence
    assert late.last_action.state == "done"
    before = view(seed_rules, SLA, date(2018, 6, 1), history)
    assert (before.state, before.rag, before.completed) == ("in_progress", "red", None)


@pytest.mark.parametrize(
    ("state", "rag"),
    [("missed", "red"), ("dropped", "grey"), ("superseded", "grey"), ("in_progress", "amber")],
)
def test_states_other_than_done(seed_rules, state, rag):
    history = {SLA: [event(state, 2018, 4, 10)]}
    assert view(seed_rules, SLA, date(2018, 4, 20), history).rag == rag


def test_a_start_rule_is_met_by_starting(seed_rules):
    uid = f"{LIT}/jr-permission-review"  # "In January 2018, LO will undertake a review"
    assert view(seed_rules, uid, date(2018, 2, 1)).rag == "red"
    started = view(seed_rules, uid, date(2018, 2, 1), {uid: [event("in_progress", 2018, 1, 15)]})
    assert (started.rag, started.rag_reason) == ("green", "started on 2018-01-15")


def test_what_waits_for_another_is_green_until_that_is_done_then_has_dates(seed_rules):
    start, trial = f"{LIT}/gld-trial-start", f"{LIT}/gld-trial"
    waiting = view(seed_rules, trial, date(2018, 6, 1))
    assert (waiting.rag, waiting.due, waiting.waiting_for) == ("green", None, start)
    assert waiting.rag_reason == "waits for §2.5 (gld-trial-start)"
    history = {start: [event("done", 2018, 5, 14)]}
    running = view(seed_rules, trial, date(2018, 6, 1), history)
    # three months from the day the trial started; reminded 14 days before the end
    assert (running.window_start, running.due, running.rag) == (
        date(2018, 5, 14),
        date(2018, 8, 14),
        "green",
    )
    assert view(seed_rules, trial, date(2018, 7, 31), history).rag == "amber"
    assert view(seed_rules, trial, date(2018, 8, 15), history).rag == "red"


def test_a_dependency_is_amber_once_possible_and_red_when_the_agenda_escalates(seed_rules):
    review, start = f"{LIT}/jr-permission-review", f"{LIT}/gld-trial-start"
    history = {review: [event("done", 2018, 4, 20)]}
    ready = view(seed_rules, start, date(2018, 4, 23), history)
    assert (ready.rag, ready.window_start) == ("amber", date(2018, 4, 20))
    # escalate_after: 20 working days (7 May 2018 is a bank holiday)
    assert ready.due == date(2018, 5, 21)
    assert view(seed_rules, start, date(2018, 5, 22), history).rag == "red"
    history[start] = [event("in_progress", 2018, 5, 14)]
    assert view(seed_rules, start, date(2018, 5, 22), history).rag == "green"


def test_a_recurring_review_counts_from_what_it_waits_for_and_is_never_red(seed_rules):
    review = f"{LIT}/sla-annual-review"
    history = {SLA: [event("done", 2018, 6, 25)]}
    assert view(seed_rules, review, date(2018, 6, 1), history).waiting_for == SLA
    later = view(seed_rules, review, date(2019, 6, 1), history)
    assert (later.due, later.rag, later.recurrence) == (date(2019, 6, 25), "amber", "annually")
    after = view(seed_rules, review, date(2019, 6, 26), history)
    assert (after.due, after.rag) == (date(2020, 6, 25), "green")


def test_a_declined_invite_turns_a_commitment_amber_from_when_it_came(seed_rules):
    replies = {SLA: [InviteReply("DECLINED", utc(2018, 2, 5, 10))]}
    assert view(seed_rules, SLA, date(2018, 2, 4), replies=replies).rag == "green"
    declined = view(seed_rules, SLA, date(2018, 2, 6), replies=replies)
    assert (declined.rag, declined.rag_reason, declined.declined) == (
        "amber",
        "calendar invite declined on 2018-02-05",
        True,
    )
    assert view(seed_rules, SLA, date(2018, 5, 1), replies=replies).rag == "red"  # worse wins
    accepted = [*replies[SLA], InviteReply("ACCEPTED", utc(2018, 2, 7))]
    assert reply_at(accepted, utc(2018, 2, 8)).partstat == "ACCEPTED"


# -- a recommendation not accepted, a response not yet published ----------------------------

RESPONSE = """\
version: 1
response:
  id: tiny
  title: A tiny response
  inspectorate: ICIBI
  published: 2018-01-10
recommendations:
  - number: 1
    text: Do a thing.
    status: not_accepted
    commitments:
      - id: thing
        para: "1.2"
        quote: "we will nevertheless look at it by March 2018"
        action: Look at it
        owner: lo-head
        rule: report-back-by-date
        due: March 2018
  - number: 2
    text: Do another thing.
    status: accepted
    commitments:
      - id: other
        para: "2.2"
        quote: "by April 2018"
        action: The other thing
        owner: lo-head
        rule: report-back-by-date
        due: April 2018
  - number: 3
    text: Think about it.
    status: partially_accepted
"""


@pytest.fixture(scope="module")
def tiny():
    sources = [(p.name, p.read_text()) for p in (RULES / "policies.yaml", RULES / "owners.yaml")]
    rules = parse_rule_files([*sources, ("tiny.yaml", RESPONSE)])
    assert rules.ok, rules.errors
    return rules


def test_a_recommendation_not_accepted_is_grey_and_the_summary_counts_accepted_ones(tiny):
    history = {"tiny/other": [event("done", 2018, 4, 3)]}
    report = build_report(tiny, "tiny", history, end_of_day(date(2018, 5, 1)))
    not_accepted, done, thinking = report.recommendations
    assert (not_accepted.progress, not_accepted.rag, not_accepted.commitments[0].rag) == (
        "Not accepted",
        "grey",
        "grey",
    )
    assert (done.progress, done.rag, done.target) == ("Implemented", "green", date(2018, 4, 30))
    assert (thinking.progress, thinking.rag) == ("No dated commitments", "grey")
    assert report.summary == (
        "1 of 2 accepted recommendations (fully or in part) have all commitments done; "
        "1 has no dated commitment to track."
    )
    assert report.rag_counts == {"red": 0, "amber": 0, "green": 1, "grey": 1}


def test_a_response_published_after_the_date_is_not_in_its_view(seed_rules):
    report = build_report(
        seed_rules, "presenting-officer-function-2021", {}, end_of_day(date(2018, 6, 1))
    )
    assert (report.published_yet, report.recommendations) == (False, ())
    assert report.summary == "Not yet published on 2018-06-01 (published 2021-01-11)."
    portfolio = build_portfolio(seed_rules, {}, end_of_day(date(2018, 6, 1)))
    assert report.id not in {r.id for r in portfolio.published}
    assert len(portfolio.reports) == len(seed_rules.responses)


# -- the portfolio and the timeline -------------------------------------------------------


def test_the_overdue_list_groups_red_commitments_by_owner(seed_rules):
    portfolio = build_portfolio(seed_rules, {}, end_of_day(date(2018, 6, 1)))
    owners = {o.owner_id: o for o in portfolio.overdue_by_owner}
    assert SLA in {c.uid for c in owners["lo-head"].commitments}
    assert all(c.rag == "red" for o in owners.values() for c in o.commitments)
    assert sum(len(o.commitments) for o in owners.values()) == portfolio.rag_counts["red"]
    dues = [c.due for c in owners["lo-head"].commitments]
    assert dues == sorted(dues)


def test_the_timeline_has_one_bar_per_commitment_in_order_on_one_axis(seed_rules):
    portfolio = build_portfolio(seed_rules, {}, end_of_day(date(2018, 6, 1)))
    timeline = build_timeline(portfolio)
    assert [b.view.uid for b in timeline.bars] == [c.uid for c in portfolio.commitments]
    assert len({b.y for b in timeline.bars}) == len(timeline.bars)
    sla = next(b for b in timeline.bars if b.view.uid == SLA)
    assert sla.x_start < sla.x_due == sla.x_end  # due on the window's last day
    assert sla.x_start < timeline.x_today
    waiting = next(b for b in timeline.bars if b.view.id == "gld-trial")
    assert waiting.x_start is None and waiting.width == 0
    assert timeline.label_width <= min(x for x, _ in timeline.ticks)
    assert max(x for x, _ in timeline.ticks) <= timeline.width
    assert timeline.start <= date(2014, 12, 17)  # the 2014 response's publication


def test_only_http_links_are_links():
    assert safe_link("http://intranet.example/x") == "http://intranet.example/x"
    for text in (None, "", "javascript:alert(1)", "data:text/html,x", "https://a b", "file:///x"):
        assert safe_link(text) is None
