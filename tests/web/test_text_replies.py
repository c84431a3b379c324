"""Plain emailed answers ("done", "in progress", "more time until DATE"), from the owner's
own address only, recorded like the web and the command line record them; and
`duly requests` for the admin."""

from __future__ import annotations

from datetime import date
from email.message import EmailMessage

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from flows.cli import app
from flows.db import make_engine
from flows.text_replies import TextReplyRejected, parse_text_reply
from models.tables import StateChange, TimeRequest
from tests.conftest import RULES
from tests.web.conftest import SLA

JIR = "learning-from-litigation-2018/joint-improvement-plan"

QUOTED = f"""
On Mon, 2 Apr 2018 at 09:00, duly <duly@localhost> wrote:
> Dear Head of Litigation Operations,
>
> To record progress, use one of these links:
>   Mark done (with evidence): http://127.0.0.1:8000/c/{SLA}?t=abc.def
>
> --
> Reference: {SLA}#remind-28d@2018-04-30
"""


def reply(first: str, note: str = "", sender: str = "lo-head@homeoffice.example",
          quoted: str = QUOTED, html: bool = False, msgid: str = "<r1@homeoffice.example>",
          **headers: str) -> bytes:  # fmt: skip
    message = EmailMessage()
    message["From"] = f"Head of Litigation Operations <{sender}>"
    message["To"] = "duly <duly@localhost>"
    message["Subject"] = "Re: Reminder: Updated SLA between the Home Office and the GLD in place"
    message["Message-ID"] = msgid
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    body = f"{first}\n{note}\n{quoted}"
    if html:
        message.set_content(f"<p>{first}</p>", subtype="html")
    else:
        message.set_content(body)
    return message.as_bytes()


@pytest.mark.parametrize(
    ("first", "action", "until"),
    [
        ("done", "done", None),
        ("Done.", "done", None),
        ("  DONE  ", "done", None),
        ("in progress", "start", None),
        ("In-progress", "start", None),
        ("more time until 2018-06-29", "more_time", date(2018, 6, 29)),
        ("More time until 29 June 2018.", "more_time", date(2018, 6, 29)),
        ("more time until 29th Jun 2018", "more_time", date(2018, 6, 29)),
    ],
)
def test_the_first_line_says_what_happened(seed_rules, first, action, until):
    answer = parse_text_reply(reply(first, "Signed on Friday."), seed_rules)
    assert (answer.commitment, answer.owner, answer.action, answer.until) == (
        SLA,
        "lo-head",
        action,
        until,
    )
    assert answer.note == "Signed on Friday."  # the quoted reminder is left out
    assert answer.sender == "lo-head@homeoffice.example"
    assert answer.message_id == "<r1@homeoffice.example>"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (lambda: reply("done", sender="lo-director@homeoffice.example"), "sender"),
        (lambda: reply("done", sender="lo-head@evil.example"), "sender"),
        (lambda: reply("done", Authentication_Results="mx; dmarc=fail header.from=x"), "sender"),
        (lambda: reply("thanks, will do"), "command"),
        (lambda: reply("done", quoted="(no quote)"), "commitment"),
        (
            lambda: reply("done", quoted=QUOTED + f"\nReference: {JIR}#due@2018-03-31"),
            "commitment",
        ),
        (lambda: reply("done", html=True), "no-text"),
        (lambda: reply("more time until soon"), "date"),
        (lambda: b"From: a@b\n\n" + b"x" * 5_000_001, "too-large"),
    ],
)
def test_anything_else_is_refused_with_a_reason(seed_rules, raw, code):
    with pytest.raises(TextReplyRejected) as caught:
        parse_text_reply(raw(), seed_rules)
    assert caught.value.code == code
    assert str(caught.value).startswith(f"text reply rejected ({code}): ")


def test_the_sender_is_told_what_the_first_line_must_be(seed_rules):
    with pytest.raises(TextReplyRejected, match="must be 'done', 'in progress' or 'more time"):
        parse_text_reply(reply("Yes"), seed_rules)


def ingest(*files) -> object:
    return CliRunner().invoke(app, ["replies", "ingest", *map(str, files), "--rules", str(RULES)])


def rows(url: str, table, uid: str = SLA) -> list:
    engine = make_engine(url)
    with Session(engine) as session:
        found = list(session.exec(select(table).where(col(table.commitment_uid) == uid)).all())
    engine.dispose()
    return found


def test_duly_replies_ingest_records_an_emailed_done_once(synced, tmp_path):
    mail = tmp_path / "reply.eml"
    mail.write_bytes(reply("done", "Signed by both; copy on the LO share."))
    result = ingest(mail)
    assert result.exit_code == 0, result.output
    assert f"reply.eml: {SLA}: lo-head@homeoffice.example says done" in result.output
    assert "1 recorded, 0 rejected." in result.output
    (change,) = rows(synced, StateChange)
    assert (change.state, change.who, change.why, change.evidence) == (
        "done",
        "lo-head",
        "by email: Signed by both; copy on the LO share.",
        "Signed by both; copy on the LO share.",
    )
    again = ingest(mail)
    assert again.exit_code == 1
    assert "was already recorded" in again.output + again.stderr
    assert len(rows(synced, StateChange)) == 1


def test_a_forged_sender_changes_nothing(synced, tmp_path):
    mail = tmp_path / "forged.eml"
    mail.write_bytes(reply("done", sender="someone@elsewhere.example"))
    result = ingest(mail)
    assert result.exit_code == 1
    assert "is not the owner's address" in result.stderr
    assert rows(synced, StateChange) == []


def test_more_time_by_email_and_the_admin_decides_with_duly_requests(synced, tmp_path):
    first, second = tmp_path / "a.eml", tmp_path / "b.eml"
    # `duly replies` runs on the real clock: the dates asked for are ahead of it
    first.write_bytes(reply("more time until 2099-06-29", "GLD sign-off slipped."))
    second.write_bytes(reply("more time until 2099-07-31", "Or July.", msgid="<r2@x>"))
    assert ingest(first, second).exit_code == 0
    requests = rows(synced, TimeRequest)
    assert [(r.until, r.status, r.why) for r in requests] == [
        (date(2099, 6, 29), "pending", "GLD sign-off slipped."),
        (date(2099, 7, 31), "pending", "Or July."),
    ]
    runner = CliRunner()
    listed = runner.invoke(app, ["requests", "list", "--rules", str(RULES)])
    assert listed.exit_code == 0, listed.output
    assert f"{requests[0].id}  {SLA}  due 2018-04-30 -> 2099-06-29  asked by lo-head" in (
        listed.output
    )
    assert "2 request(s) awaiting a decision." in listed.output
    refuse = runner.invoke(app, ["requests", "refuse", str(requests[1].id), "--rules", str(RULES)])
    assert refuse.exit_code == 1 and "say why the request is refused" in refuse.stderr
    granted = runner.invoke(
        app, ["requests", "grant", str(requests[0].id), "--who", "admin", "--rules", str(RULES)]
    )
    assert granted.exit_code == 0, granted.output
    assert "edit its due: in the rule file" in granted.output
    refused = runner.invoke(
        app,
        ["requests", "refuse", str(requests[1].id), "--why", "one extension only",
         "--rules", str(RULES)],
    )  # fmt: skip
    assert refused.exit_code == 0, refused.output
    again = runner.invoke(app, ["requests", "grant", str(requests[1].id), "--rules", str(RULES)])
    assert again.exit_code == 1 and "already refused" in again.stderr
    events = [(c.event, c.who) for c in rows(synced, StateChange)]
    assert events == [
        ("more-time", "lo-head"),
        ("more-time", "lo-head"),
        ("more-time-granted", "admin"),
        ("more-time-refused", events[3][1]),
    ]
    listed = runner.invoke(app, ["requests", "list", "--all", "--rules", str(RULES)])
    assert "[granted by admin]" in listed.output and "2 request(s)." in listed.output


def test_duly_replies_watch_reads_emailed_answers_from_the_maildir(synced, tmp_path):
    maildir = tmp_path / "Maildir"
    (maildir / "new").mkdir(parents=True)
    (maildir / "new" / "1.eml").write_bytes(reply("in progress", "Drafting with the GLD."))
    result = CliRunner().invoke(
        app, ["replies", "watch", str(maildir), "--once", "--rules", str(RULES)]
    )
    assert result.exit_code == 0, result.output
    assert f"1.eml: {SLA}: lo-head@homeoffice.example says in progress" in result.output
    assert [c.state for c in rows(synced, StateChange)] == ["in_progress"]
    assert not list((maildir / "new").iterdir())


def test_a_second_emailed_done_is_refused_with_the_domain_s_sentence(synced, tmp_path):
    assert ingest_mail(tmp_path, "done", "<a@x>").exit_code == 0
    late = ingest_mail(tmp_path, "done", "<b@x>")
    assert late.exit_code == 1
    assert f"commitment '{SLA}' is already done" in late.stderr
    assert len(rows(synced, StateChange)) == 1


def ingest_mail(tmp_path, first: str, msgid: str):
    mail = tmp_path / f"{abs(hash(msgid))}.eml"
    mail.write_bytes(reply(first, msgid=msgid))
    return ingest(mail)
