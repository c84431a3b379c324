"""Messages: one template pair per step family, plain text and HTML, safe headers."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from jinja2 import TemplateNotFound

from flows import messages
from flows.messages import build_email, message_id, render_step, step_family
from models.agenda import compile_agenda
from models.tables import AgendaRow, agenda_values

SLA = "learning-from-litigation-2018/sla-in-place"
ACTION = "Updated SLA between the Home Office and the GLD in place"
LINKS = {
    "in_progress": "https://duly.example/a/in_progress?t=abc&x=1",
    "done": "https://duly.example/a/done?t=abc",
    "more_time": "https://duly.example/a/more_time?t=abc",
    "not_mine": "https://duly.example/a/not_mine?t=abc",
}


@pytest.fixture(scope="module")
def sla_rows(seed_rules) -> dict[str, AgendaRow]:
    """The SLA's agenda in spring 2018, as the rows the database would hold."""
    items = compile_agenda(
        seed_rules, {}, datetime(2018, 1, 1, tzinfo=UTC), datetime(2018, 6, 1, tzinfo=UTC)
    )
    rows = {}
    for item in items:
        if item.commitment == SLA:
            values = agenda_values(item)
            rows[item.step] = AgendaRow(**values)
    return rows


def lead(body: str) -> str:
    """The paragraph after 'Dear ...', unwrapped."""
    return " ".join(body.split("\n\n")[1].split())


def test_step_families():
    assert step_family("remind-28d") == ("remind", 28)
    assert step_family("due") == ("due", None)
    assert step_family("overdue-3") == ("overdue", 3)
    assert step_family("escalate") == ("escalate", None)
    assert step_family("escalate-2") == ("escalate", 2)
    assert step_family("not-started") == ("not-started", None)
    assert step_family("invite-update") == ("invite-update", None)
    with pytest.raises(ValueError, match="not a step name"):
        step_family("Remind 28")


SLA_REMINDER = """\
Dear Head of Litigation Operations,

This is your 28-day reminder: 'Updated SLA between the Home Office and
the GLD in place' is due on Monday 30 April 2018.

What was promised
  An Inspection of the Home Office's Mechanisms for Learning from
  Immigration Litigation, recommendation 1 (accepted), paragraph 1.3:
  "an updated Service Level Agreement (SLA) between the Home Office and
  the GLD in place by April 2018"

Due:    2018-04-30 (the period 2018-04-01 to 2018-04-30)
Owner:  Head of Litigation Operations <lo-head@homeoffice.example>

To record progress (started, done, or a new date agreed), tell your duly
administrator, quoting this reference: learning-from-litigation-2018/sla-in-place

{signature}
duly keeps the department's promises to the Independent Chief Inspector of Borders and Immigration.
Reference: learning-from-litigation-2018/sla-in-place#remind-28d@2018-04-30
""".format(signature="-- ")  # the standard signature separator ends in a space


def test_the_28_day_reminder_in_full(seed_rules, sla_rows):
    rendered = render_step(seed_rules, sla_rows["remind-28d"])
    assert rendered.subject == f"Reminder: {ACTION} (due 2018-04-30)"
    assert rendered.body == SLA_REMINDER


@pytest.mark.parametrize(
    ("step", "subject", "first_paragraph"),
    [
        (
            "due",
            f"Due: {ACTION} (2018-04-30)",
            f"'{ACTION}' is due today, Monday 30 April 2018. If it is done, please mark it done.",
        ),
        (
            "overdue-1",
            f"Overdue: {ACTION} (8 days overdue)",
            f"'{ACTION}' was due on Monday 30 April 2018 and is not marked done: it is 8 days "
            "overdue. Please finish it, or ask for more time. (Overdue reminder 1 of 4.)",
        ),
        (
            "escalate",
            f"Escalation: {ACTION} (14 days overdue, Head of Litigation Operations)",
            f"'{ACTION}', owned by Head of Litigation Operations, was due on Monday 30 April "
            "2018 and is not marked done: it is 14 days overdue. Please make sure it has an "
            "owner who is acting on it.",
        ),
        (
            "invite",
            f"Promise recorded: {ACTION} (due 2018-04-30)",
            "duly is now tracking this promise, which is due on Monday 30 April 2018. The "
            "calendar invite with this message puts it in your calendar: accept it to confirm "
            "that you own it. You will be reminded before it falls due.",
        ),
    ],
)
def test_each_family_has_its_own_subject_and_lead(
    seed_rules, sla_rows, step, subject, first_paragraph
):
    rendered = render_step(seed_rules, sla_rows[step])
    assert rendered.subject == subject
    assert lead(rendered.body) == first_paragraph
    assert f"<title>{subject}</title>" in rendered.html
    assert f"<p>{rendered.body.splitlines()[0]}</p>" in rendered.html


def test_overdue_and_escalation_say_how_late_in_the_facts(seed_rules, sla_rows):
    escalation = render_step(seed_rules, sla_rows["escalate"])
    assert (
        "Due:    2018-04-30 (the period 2018-04-01 to 2018-04-30), 14 days overdue\n"
        "Owner:  Head of Litigation Operations <lo-head@homeoffice.example>\n"
        "You receive this because Head of Litigation Operations escalates to you.\n"
    ) in escalation.body
    assert escalation.body.startswith("Dear Director, Litigation Operations,\n")
    assert "<strong>14 days overdue</strong>" in escalation.html


def test_the_next_rung_of_an_escalation_chain(seed_rules, sla_rows):
    base = sla_rows["escalate"]
    row = AgendaRow(
        **{
            **base.model_dump(),
            "key": f"{SLA}#escalate-2@2018-04-30",
            "step": "escalate-2",
            "at": datetime(2018, 5, 28, 8, tzinfo=UTC),
        }
    )
    rendered = render_step(seed_rules, row)
    assert rendered.subject == (
        f"Escalation (level 2): {ACTION} (28 days overdue, Head of Litigation Operations)"
    )
    assert "You receive this as the level 2 escalation for Head of Litigation Operations.\n" in (
        rendered.body
    )


def declined_row(reason: str) -> AgendaRow:
    """An ad-hoc notice, never saved: the owner declined the invite."""
    return AgendaRow(
        key=f"{SLA}#declined@2018-04-30",
        commitment_uid=SLA,
        rule_id="report-back-by-date",
        step="declined",
        occurrence=date(2018, 4, 30),
        at=datetime(2018, 2, 1, 9, tzinfo=UTC),
        expires=datetime(2018, 2, 6, 9, tzinfo=UTC),
        recipient="lo-director",
        reason=reason,
        template="deadline",
    )


def test_a_declined_invite_is_a_notice_to_the_escalation_contact(seed_rules):
    rendered = render_step(seed_rules, declined_row("Not my team since January"))
    assert rendered.subject == f"Invite declined: {ACTION} (Head of Litigation Operations)"
    assert rendered.body.startswith("Dear Director, Litigation Operations,\n")
    assert lead(rendered.body) == (
        f"Head of Litigation Operations declined or delegated the calendar invite for "
        f"'{ACTION}', so this promise may have no owner. They said: \"Not my team since "
        'January". Please agree who owns it.'
    )
    assert "Reference: learning-from-litigation-2018/sla-in-place#declined@2018-04-30\n" in (
        rendered.body
    )


def test_cancel_and_update_notices(seed_rules):
    row = declined_row("It was marked done early")
    cancel = AgendaRow(
        **{**row.model_dump(), "step": "cancel", "recipient": "lo-head", "key": f"{SLA}#cancel"}
    )
    rendered = render_step(seed_rules, cancel)
    assert rendered.subject == f"Invite cancelled: {ACTION}"
    assert lead(rendered.body) == (
        "This promise no longer needs a place in your calendar: the cancellation with this "
        "message withdraws the invite. It was marked done early."
    )
    assert "Nothing more is needed from you for this promise.\n" in rendered.body
    assert "To record progress" not in rendered.body

    update = AgendaRow(**{**cancel.model_dump(), "step": "invite-update", "reason": ""})
    rendered = render_step(seed_rules, update)
    assert rendered.subject == f"Invite updated: {ACTION} (due 2018-04-30)"
    assert lead(rendered.body) == (
        "The date or the owner of this promise has changed. The calendar invite with this "
        "message moves the entry in your calendar to Monday 30 April 2018."
    )


def test_html_escapes_what_the_document_and_the_owner_said(seed_rules):
    rule = seed_rules.commitments[SLA]
    hostile = dataclasses.replace(rule, quote='in place <script>alert("x")</script> & signed')
    rules = dataclasses.replace(seed_rules, commitments={**seed_rules.commitments, SLA: hostile})
    rendered = render_step(rules, declined_row("<img src=x onerror=alert(1)>"))
    assert "<script>" not in rendered.html
    assert "<img" not in rendered.html
    assert (
        "&ldquo;in place &lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; signed&rdquo;"
        in rendered.html
    )
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered.html
    # the plain text shows the words as they are
    assert '"in place <script>alert("x")</script> & signed"' in rendered.body
    assert rendered.html.startswith('<!DOCTYPE html>\n<html lang="en">\n')
    assert f"<title>Invite declined: {ACTION} (Head of Litigation Operations)</title>" in (
        rendered.html
    )


def test_links_appear_in_both_variants_when_given(seed_rules, sla_rows):
    rendered = render_step(seed_rules, sla_rows["remind-28d"], links=LINKS)
    assert (
        "To record progress, use one of these links:\n"
        "  Mark in progress: https://duly.example/a/in_progress?t=abc&x=1\n"
        "  Mark done (with evidence): https://duly.example/a/done?t=abc\n"
        "  Ask for more time: https://duly.example/a/more_time?t=abc\n"
        "  This is not mine: https://duly.example/a/not_mine?t=abc\n"
    ) in rendered.body
    assert "tell your duly" not in rendered.body
    assert (
        "<ul>\n"
        '<li><a href="https://duly.example/a/in_progress?t=abc&amp;x=1">'
        "Mark in progress</a></li>\n"
        '<li><a href="https://duly.example/a/done?t=abc">Mark done (with evidence)</a></li>\n'
        '<li><a href="https://duly.example/a/more_time?t=abc">Ask for more time</a></li>\n'
        '<li><a href="https://duly.example/a/not_mine?t=abc">This is not mine</a></li>\n'
        "</ul>\n"
    ) in rendered.html
    assert "tell your duly" not in rendered.html


def test_without_links_both_variants_say_how_to_record_progress(seed_rules, sla_rows):
    rendered = render_step(seed_rules, sla_rows["remind-28d"])
    assert "<a href" not in rendered.html
    assert (
        "<p>To record progress (started, done, or a new date agreed), tell your duly "
        "administrator, quoting this reference: "
        "<code>learning-from-litigation-2018/sla-in-place</code></p>"
    ) in rendered.html


def test_links_are_checked(seed_rules, sla_rows):
    with pytest.raises(ValueError, match="unknown link actions: delete"):
        render_step(seed_rules, sla_rows["due"], links={"delete": "https://x.example/"})
    with pytest.raises(ValueError, match="the done link must be an http"):
        render_step(seed_rules, sla_rows["due"], links={"done": "javascript:alert(1)"})


def test_a_rule_template_refines_a_family_and_falls_back_to_the_general_one(seed_rules):
    review = "learning-from-litigation-2018/sla-annual-review"
    row = AgendaRow(
        key=f"{review}#remind-28d@2019-05-14",
        commitment_uid=review,
        rule_id="review-annually",
        step="remind-28d",
        occurrence=date(2019, 5, 14),
        at=datetime(2019, 4, 16, 8, tzinfo=UTC),
        expires=datetime(2019, 5, 15, 8, tzinfo=UTC),
        recipient="lo-head",
        reason="",
        template="recurring",
    )
    rendered = render_step(seed_rules, row)  # recurring/remind.txt.j2
    assert rendered.subject == "Coming up: Annual review of the SLA (annually, next 2019-05-14)"
    assert lead(rendered.body) == (
        "This is your 28-day reminder: 'Annual review of the SLA' falls due on "
        "Tuesday 14 May 2019."
    )
    assert "Recurs: annually, next on 2019-05-14\n" in rendered.body
    # a template folder that does not exist: the general templates
    general = render_step(seed_rules, AgendaRow(**{**row.model_dump(), "template": "mine"}))
    assert general.subject == "Reminder: Annual review of the SLA (due 2019-05-14)"
    # a family with no template at all fails loudly
    with pytest.raises(TemplateNotFound):
        render_step(seed_rules, AgendaRow(**{**row.model_dump(), "step": "nudge"}))


def test_every_step_the_seed_agenda_produces_renders(seed_rules):
    items = compile_agenda(
        seed_rules, {}, datetime(2018, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC)
    )
    families = set()
    for item in items:
        rendered = render_step(seed_rules, AgendaRow(**agenda_values(item)))
        families.add(step_family(item.step)[0])
        assert rendered.subject and "\n" not in rendered.subject
        assert rendered.body.startswith("Dear ")
        assert rendered.html.rstrip().endswith("</html>")
    assert families >= {"invite", "remind", "due", "overdue", "escalate", "not-started"}


def test_every_family_has_both_variants():
    folder = Path(messages.TEMPLATES)
    families = ["remind", "due", "overdue", "escalate", "declined", "invite", "invite-update"]
    families += ["cancel", "start", "not-started", "ready", "midpoint", "end", "evaluate"]
    for family in families:
        assert (folder / f"{family}.txt.j2").is_file(), family
        assert (folder / f"{family}.html.j2").is_file(), family


def test_a_subject_with_crlf_cannot_inject_a_header(seed_rules):
    rule = seed_rules.commitments[SLA]
    hostile = dataclasses.replace(rule, action="SLA in place\r\nBcc: x@evil.example\r\n\r\nhi")
    rules = dataclasses.replace(seed_rules, commitments={**seed_rules.commitments, SLA: hostile})
    rendered = render_step(rules, declined_row("fine"))
    assert rendered.body.startswith("Dear Director, Litigation Operations,\n")
    assert rendered.subject == (
        "Invite declined: SLA in place Bcc: x@evil.example hi (Head of Litigation Operations)"
    )
    message = build_email(
        key=f"{SLA}#declined@2018-04-30|email",
        to="Director <lo-director@homeoffice.example>",
        subject="Overdue: a quote\r\nBcc: x@evil.example",
        body=rendered.body,
        html=rendered.html,
        at=datetime(2018, 2, 1, 9, tzinfo=UTC),
    )
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed.get_all("Subject") == ["Overdue: a quote Bcc: x@evil.example"]
    assert parsed.get_all("Bcc") is None
    assert list(parsed.keys()) == [
        "From",
        "To",
        "Subject",
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Type",
    ]


def test_build_email_with_html_is_multipart_alternative_text_first(seed_rules, sla_rows):
    rendered = render_step(seed_rules, sla_rows["remind-28d"], links=LINKS)
    key = f"{SLA}#remind-28d@2018-04-30|email"
    message = build_email(
        key=key,
        to="Head of Litigation Operations <lo-head@homeoffice.example>",
        subject=rendered.subject,
        body=rendered.body,
        html=rendered.html,
        at=datetime(2018, 3, 29, 8, tzinfo=UTC),
    )
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    text, html = parsed.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert text.get_content() == rendered.body
    assert html.get_content() == rendered.html
    assert parsed["Message-ID"] == message_id(key)
    assert parsed["Date"] == "Thu, 29 Mar 2018 09:00:00 +0100"
    # and without html, one text/plain part as before
    plain = build_email(
        key=key, to="x@example.org", subject="s", body="b\n", at=datetime(2018, 1, 1, tzinfo=UTC)
    )
    assert plain.get_content_type() == "text/plain"
    assert plain["Message-ID"] == f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@duly>"
