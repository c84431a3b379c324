"""The agenda of the seed responses, quoted from the documents, at fixed dates."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.agenda import FINISHED, STATES, CommitmentStatus, compile_agenda

LONDON = ZoneInfo("Europe/London")
LITIGATION = "learning-from-litigation-2018"
SLA = f"{LITIGATION}/sla-in-place"
SLA_REVIEW = f"{LITIGATION}/sla-annual-review"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local_steps(rules, uid, states, start, end):
    """(step, London wall-clock time) for one commitment between two dates."""
    items = compile_agenda(rules, states, utc(*start), utc(*end))
    return [
        (i.step, i.at.astimezone(LONDON).strftime("%Y-%m-%d %H:%M"))
        for i in items
        if i.commitment == uid
    ]


def done(year: int, month: int, day: int) -> CommitmentStatus:
    return CommitmentStatus("done", utc(year, month, day, 10, 0))


def test_sla_in_place_by_april_2018_is_due_30_april(seed_rules):
    # 000 §1.3: "an updated Service Level Agreement (SLA) ... in place by April 2018"
    sla = seed_rules.commitments[SLA]
    assert (sla.due.start, sla.due.due) == (date(2018, 4, 1), date(2018, 4, 30))


def test_sla_reminders_skip_easter_and_may_bank_holidays(seed_rules):
    # 28 days before 30 April 2018 is Easter Monday (2 April), and Good Friday is
    # 30 March: the first reminder goes out on Maundy Thursday, 29 March.
    # Overdue repeats land on the early May (7th) and spring (28th) bank holidays
    # and move to the Tuesday after.
    assert local_steps(seed_rules, SLA, {}, (2018, 1, 1), (2018, 7, 1)) == [
        ("invite", "2018-01-30 09:00"),
        ("remind-28d", "2018-03-29 09:00"),
        ("remind-7d", "2018-04-23 09:00"),
        ("due", "2018-04-30 09:00"),
        ("overdue-1", "2018-05-08 09:00"),
        ("escalate", "2018-05-14 09:00"),
        ("overdue-2", "2018-05-14 09:00"),
        ("overdue-3", "2018-05-21 09:00"),
        ("overdue-4", "2018-05-29 09:00"),
    ]


def test_sla_reminders_are_9am_london_across_the_clock_change(seed_rules):
    items = [
        i
        for i in compile_agenda(seed_rules, {}, utc(2018, 1, 1), utc(2018, 5, 1))
        if i.commitment == SLA
    ]
    # 30 January is GMT (09:00 UTC); 29 March is BST (08:00 UTC).
    assert [i.at for i in items][:2] == [utc(2018, 1, 30, 9), utc(2018, 3, 29, 8)]


def test_sla_reminder_reason_names_the_promise_and_its_date(seed_rules):
    items = compile_agenda(seed_rules, {}, utc(2018, 4, 20), utc(2018, 4, 24))
    (item,) = [i for i in items if i.commitment == SLA]
    assert item.key == f"{SLA}#remind-7d@2018-04-30"
    assert item.reason == (
        "7 days before 'Updated SLA between the Home Office and the GLD in "
        "place' is due on 2018-04-30"
    )
    assert item.recipient == "lo-head"


def test_sla_escalation_goes_to_the_owners_escalate_to(seed_rules):
    items = compile_agenda(seed_rules, {}, utc(2018, 5, 14), utc(2018, 5, 15))
    escalation = next(i for i in items if i.key == f"{SLA}#escalate@2018-04-30")
    assert escalation.recipient == "lo-director"


def test_annual_review_waits_until_the_sla_is_in_place(seed_rules):
    assert local_steps(seed_rules, SLA_REVIEW, {}, (2018, 1, 1), (2020, 1, 1)) == []


def test_annual_review_series_starts_a_year_after_the_sla_is_done(seed_rules):
    # SLA in place on Friday 20 April 2018. The first review falls on Saturday
    # 20 April 2019; Good Friday 2019 is the 19th, so "on the day" goes out on the 18th.
    # In 2020, 7 days before the 20th is Easter Monday: back to Maundy Thursday, the 9th.
    states = {SLA: done(2018, 4, 20)}
    assert local_steps(seed_rules, SLA_REVIEW, states, (2018, 1, 1), (2020, 4, 30)) == [
        ("invite", "2018-04-20 09:00"),
        ("remind-28d", "2019-03-22 09:00"),
        ("remind-7d", "2019-04-12 09:00"),
        ("due", "2019-04-18 09:00"),
        ("remind-28d", "2020-03-23 09:00"),
        ("remind-7d", "2020-04-09 09:00"),
        ("due", "2020-04-20 09:00"),
    ]
    # and the SLA itself has nothing more to send
    assert local_steps(seed_rules, SLA, states, (2018, 1, 1), (2020, 4, 30)) == []


def test_review_start_in_january_2018_not_started_after_publication(seed_rules):
    # 000 §2.3 "In January 2018, LO will undertake a review": the response was
    # published on 30 January, so only the "not started" check and escalation remain.
    uid = f"{LITIGATION}/jr-permission-review"
    assert local_steps(seed_rules, uid, {}, (2018, 1, 1), (2018, 3, 1)) == [
        ("not-started", "2018-02-01 09:00"),
        ("escalate", "2018-02-07 09:00"),
    ]
    started = {uid: CommitmentStatus("in_progress", utc(2018, 1, 31))}
    assert local_steps(seed_rules, uid, started, (2018, 1, 1), (2018, 3, 1)) == []


def test_trial_lasts_three_months_from_the_day_it_starts(seed_rules):
    # 000 §2.5 "the trial will last at least three months", after the review and
    # the decision to start it.
    states = {
        f"{LITIGATION}/jr-permission-review": done(2018, 2, 15),
        f"{LITIGATION}/gld-trial-start": done(2018, 3, 1),
    }
    uid = f"{LITIGATION}/gld-trial"
    assert local_steps(seed_rules, uid, states, (2018, 1, 1), (2018, 12, 31)) == [
        ("start", "2018-03-01 09:00"),
        ("midpoint", "2018-04-16 09:00"),
        ("remind-14d", "2018-05-18 09:00"),
        ("end", "2018-06-01 09:00"),
        ("evaluate", "2018-06-29 09:00"),
    ]


def test_trial_decision_is_ready_when_the_review_is_done(seed_rules):
    states = {f"{LITIGATION}/jr-permission-review": done(2018, 2, 15)}
    uid = f"{LITIGATION}/gld-trial-start"
    assert local_steps(seed_rules, uid, states, (2018, 1, 1), (2018, 12, 31)) == [
        ("ready", "2018-02-15 09:00"),
        ("escalate", "2018-03-15 09:00"),
    ]


def test_quarter_4_of_2020_21_pilot_is_due_31_march_2021(seed_rules):
    # 001 §5.2 "we are planning to do this during Quarter 4 of 2020/21"
    pilots = [
        c
        for c in seed_rules.commitments.values()
        if c.response_id == "presenting-officer-function-2021" and c.para == "5.2"
    ]
    assert [(c.due.start, c.due.end) for c in pilots] == [(date(2021, 1, 1), date(2021, 3, 31))]


def test_quarterly_directors_meeting_is_a_three_monthly_series(seed_rules):
    # 002 §1.2 "will meet quarterly"
    (meeting,) = [
        c
        for c in seed_rules.commitments.values()
        if c.response_id == "status-review-and-removal-2018" and c.para == "1.2" and c.rrule
    ]
    assert meeting.rrule == "FREQ=MONTHLY;INTERVAL=3"


def test_plan_window_is_half_open_and_sorted(seed_rules):
    items = compile_agenda(seed_rules, {}, utc(2018, 2, 1), utc(2018, 6, 1))
    assert items == sorted(items)
    assert all(utc(2018, 2, 1) <= i.at < utc(2018, 6, 1) for i in items)
    assert len({i.key for i in items}) == len(items)


# --- properties ---------------------------------------------------------------------------

_moments = st.datetimes(
    min_value=datetime(2014, 1, 1), max_value=datetime(2023, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), start=_moments, days=st.integers(min_value=1, max_value=800))
def test_every_agenda_is_sorted_unique_and_silent_after_done(seed_rules, data, start, days):
    uids = sorted(seed_rules.commitments)
    states = {}
    for uid in data.draw(st.lists(st.sampled_from(uids), unique=True, max_size=len(uids))):
        states[uid] = CommitmentStatus(data.draw(st.sampled_from(STATES)), data.draw(_moments))
    end = start + timedelta(days=days)
    items = compile_agenda(seed_rules, states, start, end)

    assert items == sorted(items)
    assert len({i.key for i in items}) == len(items)
    for item in items:
        assert start <= item.at < end
        status = states.get(item.commitment, CommitmentStatus())
        assert status.state not in FINISHED, (
            f"{item.key} scheduled for a {status.state} commitment"
        )
        after = seed_rules.commitments[item.commitment].after
        if after is not None:
            before = states.get(after)
            assert before is not None and before.state == "done"
            assert item.at.astimezone(LONDON).date() >= before.since.astimezone(LONDON).date()


def test_end_of_march_2018_plan_is_due_on_a_saturday_so_the_notice_goes_on_maundy_thursday(
    seed_rules,
):
    # 000 §3.4 "a joint improvement plan by the end of March 2018": 31 March 2018 is a
    # Saturday and 30 March Good Friday.
    uid = f"{LITIGATION}/joint-improvement-plan"
    items = compile_agenda(seed_rules, {}, utc(2018, 3, 29), utc(2018, 3, 30))
    (due,) = [i for i in items if i.commitment == uid]
    assert (due.step, due.at) == ("due", utc(2018, 3, 29, 8))
    assert due.reason == (
        "'Improvement specialists review current mechanisms and produce a joint improvement "
        "plan' is due on Saturday, 2018-03-31"
    )


def test_escalation_climbs_the_chain_to_its_top(rules_dir):
    """Overdue past escalate_after goes to the owner's escalate_to; as long again, to
    theirs; and stops at someone who escalates to nobody."""
    from flows.rulefiles import load_rules

    owners = rules_dir / "owners.yaml"
    text = owners.read_text()
    text = text.replace(
        "    tags: [litigation, directors]\n",
        "    tags: [litigation, directors]\n    escalate_to: perm-sec\n",
        1,
    )
    text += (
        "\n  - id: perm-sec\n    name: Permanent Secretary\n"
        "    email: perm-sec@homeoffice.example\n"
    )
    owners.write_text(text)
    rules = load_rules([rules_dir])
    assert rules.ok, rules.problems
    items = compile_agenda(
        rules, {}, datetime(2018, 5, 1, tzinfo=UTC), datetime(2018, 7, 1, tzinfo=UTC)
    )
    chain = [
        (i.step, i.recipient, i.at.date().isoformat())
        for i in items
        if i.commitment == "learning-from-litigation-2018/sla-in-place"
        and i.step.startswith("escalate")
    ]
    # due Monday 30 April 2018; 14 days later, then 28: the Spring bank holiday, Monday
    # 28 May, so it goes on the Tuesday (a step after the due date moves later)
    assert chain == [
        ("escalate", "lo-director", "2018-05-14"),
        ("escalate-2", "perm-sec", "2018-05-29"),
    ]
