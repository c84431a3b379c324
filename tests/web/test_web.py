"""The owners' pages through FastAPI's test client: what a GET shows, what a POST records,
and every way a request is refused without changing anything."""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlmodel import Session, col, select

from flows.db import make_engine
from flows.links import action_links
from flows.requests import MAX_EVIDENCE_BYTES
from models.tables import CommitmentRow, Delivery, StateChange, TimeRequest, UsedToken
from models.tokens import expiry_for, sign
from tests.web.conftest import KEY, LATER, SLA, TICK, dump, make_app, path_of

JIR = "learning-from-litigation-2018/joint-improvement-plan"


class Forms(HTMLParser):
    """The hidden fields of each action form on a page, by action."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: dict[str, dict[str, str]] = {}
        self._current: dict[str, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "form":
            self._current = {}
        elif tag == "input" and self._current is not None and a.get("type") == "hidden":
            self._current[a["name"] or ""] = a.get("value") or ""
            if a["name"] == "action":
                self.forms[a["value"] or ""] = self._current

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms_of(html: str) -> dict[str, dict[str, str]]:
    parser = Forms()
    parser.feed(html)
    return parser.forms


def open_link(client, action: str = "done", uid: str = SLA, owner: str = "lo-head") -> Any:
    return client.get(path_of(action_links(uid, owner, TICK)[action]))


def post(
    client, action: str, uid: str = SLA, page_action: str | None = None, files=None, **fields
):
    page = open_link(client, page_action or action, uid)
    assert page.status_code == 200, page.text
    form = {**forms_of(page.text)[action], **fields}
    return client.post(f"/c/{uid}", data=form, files=files)


def state(url: str, uid: str = SLA) -> str:
    engine = make_engine(url)
    with Session(engine) as session:
        row = session.get(CommitmentRow, uid)
        assert row is not None
        value = row.state
    engine.dispose()
    return value


def history(url: str, uid: str = SLA) -> list[StateChange]:
    engine = make_engine(url)
    with Session(engine) as session:
        rows = list(
            session.exec(
                select(StateChange)
                .where(col(StateChange.commitment_uid) == uid)
                .order_by(col(StateChange.id))
            ).all()
        )
    engine.dispose()
    return rows


def test_the_page_shows_the_promise_and_four_forms_and_changes_nothing(client, synced):
    before = dump(synced)
    page = open_link(client, "more_time")
    assert page.status_code == 200
    text = page.text
    assert (
        "an updated Service Level Agreement (SLA) between the Home Office and the GLD in "
        "place by April 2018" in text
    )
    assert "paragraph 1.3" in text and "recommendation 1 (accepted)" in text
    assert "An Inspection of the Home Office&#39;s Mechanisms for Learning" in text
    assert "Review the (updated) Service Level Agreement" in text  # the recommendation
    assert 'datetime="2018-04-30"' in text and "Monday 30 April 2018" in text
    assert 'data-state="open"' in text
    forms = forms_of(text)
    assert list(forms) == ["more_time", "in_progress", "done", "not_mine"]  # its own first
    assert '<details class="action" id="more_time" open>' in text
    for action, form in forms.items():
        assert form["action"] == action
        assert form["t"] and form["csrf"] and form["t"] != form["csrf"]
    assert dump(synced) == before
    # a HEAD, as some scanners send, is no different
    assert client.head(path_of(action_links(SLA, "lo-head", TICK)["done"])).status_code == 200
    assert dump(synced) == before


def test_every_page_is_sent_with_headers_that_keep_the_token_in(client):
    page = open_link(client)
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "form-action 'self'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script" not in page.text
    assert client.get("/robots.txt").text == "User-agent: *\nDisallow: /\n"


def test_in_progress_records_one_state_change_like_the_command_line(client, synced):
    answer = post(client, "in_progress", note="drafting with the GLD")
    assert answer.status_code == 200, answer.text
    assert "Marked in progress" in answer.text
    assert state(synced) == "in_progress"
    (change,) = history(synced)
    assert (change.state, change.who, change.why, change.event) == (
        "in_progress",
        "lo-head",
        "drafting with the GLD",
        "state",
    )
    assert change.at.replace(tzinfo=None) == LATER.replace(tzinfo=None)


def test_done_with_a_link_as_evidence_stops_reminders_and_withdraws_nothing_not_sent(
    client, synced
):
    answer = post(client, "done", note="signed by both", link="https://intranet.example/sla.pdf")
    assert answer.status_code == 200, answer.text
    assert "Marked done" in answer.text
    assert state(synced) == "done"
    (change,) = history(synced)
    assert change.evidence == "https://intranet.example/sla.pdf"
    assert change.why == "signed by both"
    engine = make_engine(synced)
    with Session(engine) as session:
        from models.tables import AgendaRow

        pending = session.exec(
            select(AgendaRow).where(
                col(AgendaRow.commitment_uid) == SLA, col(AgendaRow.status) == "pending"
            )
        ).all()
    engine.dispose()
    assert pending == []  # no more reminders


def test_done_with_an_uploaded_file_keeps_it_under_the_evidence_folder(client, synced, tmp_path):
    pdf = b"%PDF-1.7\n" + b"0" * 2000
    answer = post(
        client, "done", note="", files={"evidence": ("Signed SLA (final).pdf", pdf, "x/y")}
    )
    assert answer.status_code == 200, answer.text
    (change,) = history(synced)
    match = re.fullmatch(r"file (\S+) \(sha256 ([0-9a-f]{64})\)", change.evidence or "")
    assert match, change.evidence
    stored = tmp_path / "evidence" / match[1]
    assert stored.read_bytes() == pdf
    assert stored.parent.name == "learning-from-litigation-2018--sla-in-place"
    assert stored.name.endswith("-Signed-SLA-final-.pdf") or stored.name.endswith(
        "-Signed-SLA-final.pdf"
    )


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("payload.exe", b"MZ" + b"0" * 100, "not taken"),
        ("fake.pdf", b"<html>not a pdf</html>", "not that of a .pdf file"),
        ("notes.txt", b"\x00\x01\x02binary", "not that of a .txt file"),
        ("empty.pdf", b"", ""),  # an empty file part is no file: evidence is then missing
    ],
)
def test_evidence_of_the_wrong_type_is_refused_and_the_link_still_works(
    client, synced, name, data, says
):
    before = dump(synced)
    answer = post(client, "done", files={"evidence": (name, data, "application/pdf")})
    assert answer.status_code == 422
    assert "Nothing was changed" in answer.text
    assert says in answer.text.replace("&#39;", "'")
    assert dump(synced) == before
    # the same link still works: a refused form spends nothing
    ok = post(client, "done", link="https://intranet.example/sla.pdf")
    assert ok.status_code == 200


def test_an_upload_over_the_limit_is_refused_before_it_is_read(client, synced):
    before = dump(synced)
    big = b"%PDF-1.7\n" + b"0" * (MAX_EVIDENCE_BYTES + 300 * 1024)
    answer = post(client, "done", files={"evidence": ("big.pdf", big, "application/pdf")})
    assert answer.status_code == 413
    assert "up to 10 MB" in answer.text
    assert dump(synced) == before


def test_a_file_just_over_ten_megabytes_that_fits_the_body_cap_is_refused_too(client, synced):
    big = b"%PDF-1.7\n" + b"0" * MAX_EVIDENCE_BYTES
    answer = post(client, "done", files={"evidence": ("big.pdf", big, "application/pdf")})
    assert answer.status_code == 422
    assert "the limit is 10,485,760 bytes" in answer.text
    assert state(synced) == "open"


def test_a_post_without_its_length_is_refused(client, synced):
    before = dump(synced)
    answer = client.post(f"/c/{SLA}", content=iter([b"action=done"]))
    assert answer.status_code == 411
    assert dump(synced) == before


@pytest.mark.parametrize("csrf", ["", "wrong", "FORM_OF_ANOTHER_ACTION"])
def test_a_post_without_the_right_form_token_changes_nothing(client, synced, csrf):
    page = open_link(client, "done")
    forms = forms_of(page.text)
    form = dict(forms["done"])
    form["csrf"] = forms["in_progress"]["csrf"] if csrf == "FORM_OF_ANOTHER_ACTION" else csrf
    form["link"] = "https://intranet.example/sla.pdf"
    before = dump(synced)
    answer = client.post(f"/c/{SLA}", data=form)
    assert answer.status_code == 403
    assert "security code is missing or wrong" in answer.text
    assert dump(synced) == before


def test_a_token_acts_once_the_second_post_is_refused_as_used(client, synced):
    page = open_link(client, "in_progress")
    form = forms_of(page.text)["in_progress"]
    assert client.post(f"/c/{SLA}", data=form).status_code == 200
    before = dump(synced)
    again = client.post(f"/c/{SLA}", data=form)
    assert again.status_code == 410
    assert "This link has already been used." in again.text
    assert "Nothing has been changed." in again.text
    assert dump(synced) == before
    # and its GET says so too; the other actions' links still work
    assert open_link(client, "in_progress").status_code == 410
    assert open_link(client, "done").status_code == 200
    engine = make_engine(synced)
    with Session(engine) as session:
        (used,) = session.exec(select(UsedToken)).all()
    engine.dispose()
    assert (used.commitment_uid, used.owner_id, used.action) == (SLA, "lo-head", "in_progress")


def test_a_token_posted_for_another_action_is_refused(client, synced):
    page = open_link(client, "in_progress")
    form = dict(forms_of(page.text)["in_progress"])
    form["action"] = "done"
    form["link"] = "https://intranet.example/sla.pdf"
    answer = client.post(f"/c/{SLA}", data=form)
    assert answer.status_code == 403
    assert "This link is for another action." in answer.text
    assert state(synced) == "open"


def test_links_that_are_tampered_expired_or_for_another_commitment_get_a_clear_page(
    client, synced
):
    before = dump(synced)
    url = path_of(action_links(SLA, "lo-head", TICK)["done"])
    token = url.split("t=")[1]
    _payload, signature = token.split(".")
    tampered = url.replace(signature, signature[::-1])
    cases = {
        "tampered": (tampered, 403, "This link has been altered"),
        "another commitment": (f"/c/{JIR}?t={token}", 403, "This link is for another commitment."),
        "expired": (
            f"/c/{SLA}?t="
            + sign(KEY.encode(), SLA, "lo-head", "done", expiry_for(TICK.replace(month=1))),
            410,
            "This link has expired.",
        ),
        "no token": (f"/c/{SLA}", 400, "This link is incomplete or damaged."),
        "unknown commitment": (f"/c/no/such?t={token}", 403, "another commitment"),
    }
    for name, (path, status, says) in cases.items():
        answer = client.get(path)
        assert answer.status_code == status, name
        assert "<h1>This link cannot be used</h1>" in answer.text, name
        assert says in answer.text, name
        assert "Nothing has been changed." in answer.text, name
    assert dump(synced) == before


def test_a_note_with_markup_is_stored_as_written_and_shown_as_text(client, synced):
    note = '<script>alert("x")</script><img src=x onerror=alert(1)> signed & sealed'
    assert post(client, "in_progress", note=note).status_code == 200
    (change,) = history(synced)
    assert change.why == note
    page = open_link(client, "done")
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"
        " signed &amp; sealed" in page.text
    )


def test_a_javascript_evidence_link_is_refused(client, synced):
    answer = post(client, "done", link="javascript:alert(1)")
    assert answer.status_code == 422
    assert "web address" in answer.text
    assert state(synced) == "open"


def test_more_time_records_a_request_and_never_moves_the_date(client, synced):
    answer = post(client, "more_time", until="2018-06-29", why="GLD sign-off slipped")
    assert answer.status_code == 200, answer.text
    assert "Friday 29 June 2018" in answer.text
    engine = make_engine(synced)
    with Session(engine) as session:
        (request,) = session.exec(select(TimeRequest)).all()
        row = session.get(CommitmentRow, SLA)
        assert row is not None and row.due == date(2018, 4, 30)  # unchanged
    engine.dispose()
    assert (request.commitment_uid, request.owner_id, request.until, request.due) == (
        SLA,
        "lo-head",
        date(2018, 6, 29),
        date(2018, 4, 30),
    )
    assert request.status == "pending" and request.why == "GLD sign-off slipped"
    (change,) = history(synced)
    assert change.event == "more-time"
    assert (
        change.why
        == "asked for more time (due 2018-04-30), until 2018-06-29: GLD sign-off slipped"
    )
    assert state(synced) == "open"
    # the page now says a request is waiting
    assert "an administrator has yet to decide" in open_link(client, "done").text


@pytest.mark.parametrize(
    ("until", "why", "says", "status"),
    [
        ("2018-04-01", "late", "must be after today", 409),
        ("not a date", "late", "give the new date", 422),
        ("2018-06-29", "  ", "say why more time is needed", 409),
    ],
)
def test_more_time_needs_a_later_date_and_a_reason(client, synced, until, why, says, status):
    before = dump(synced)
    answer = post(client, "more_time", until=until, why=why)
    assert answer.status_code == status
    assert says in answer.text.lower()
    assert dump(synced) == before


def test_not_mine_tells_the_owner_s_escalation_and_records_it(client, synced):
    answer = post(client, "not_mine", why="This is the GLD's, not LO's")
    assert answer.status_code == 200, answer.text
    assert "Director, Litigation Operations has been told by email" in answer.text
    engine = make_engine(synced)
    with Session(engine) as session:
        (notice,) = session.exec(select(Delivery).where(col(Delivery.step) == "not-mine")).all()
    engine.dispose()
    assert notice.recipient == "lo-director"
    assert notice.address == '"Director, Litigation Operations" <lo-director@homeoffice.example>'
    assert notice.subject == (
        "Not theirs, says Head of Litigation Operations: Updated SLA between the Home Office "
        "and the GLD in place"
    )
    assert "says 'Updated SLA between the Home Office and the GLD in place' is not theirs" in (
        notice.body.replace("\n", " ")
    )
    assert notice.html and "GLD&#39;s, not LO&#39;s" in notice.html
    (change,) = history(synced)
    assert change.event == "not-mine" and change.who == "lo-head"
    assert state(synced) == "open"


def test_a_done_commitment_offers_no_more_forms(client, synced):
    post(client, "done", link="https://intranet.example/sla.pdf")
    page = open_link(client, "more_time")
    assert page.status_code == 200
    assert forms_of(page.text) == {}
    assert "This commitment is done: there is nothing more to record here." in page.text
    assert "https://intranet.example/sla.pdf" in page.text


def test_done_twice_through_two_messages_is_refused_with_a_sentence(client, synced):
    first = post(client, "done", link="https://intranet.example/sla.pdf")
    assert first.status_code == 200
    # a second message's done link (another day, another token) finds it done
    later = action_links(SLA, "lo-head", TICK.replace(day=9))["done"]
    page = client.get(path_of(later))
    assert forms_of(page.text) == {}


# ------------------------------------------------------------------------ admin pages


def admin_client(synced: str, token: str | None):
    from fastapi.testclient import TestClient

    return TestClient(make_app(synced, admin_token=token or ""))


def test_admin_pages_are_disabled_without_a_token(synced):
    with admin_client(synced, None) as c:
        for path in ("/admin", "/admin/requests"):
            answer = c.get(path)
            assert answer.status_code == 403
            assert "Admin pages are disabled" in answer.text
            assert "DULY_ADMIN_TOKEN" in answer.text
        assert c.post("/admin/login", data={"token": ""}).status_code == 403


def test_admins_sign_in_with_the_token_and_see_the_portfolio(synced):
    with admin_client(synced, "s3cret-admin-token") as c:
        assert c.get("/admin").status_code == 401
        wrong = c.post("/admin/login", data={"token": "guess"})
        assert wrong.status_code == 401 and "not the admin token" in wrong.text
        assert "duly_admin" not in c.cookies
        ok = c.post("/admin/login", data={"token": "s3cret-admin-token"}, follow_redirects=False)
        assert ok.status_code == 303
        assert "httponly" in ok.headers["set-cookie"].lower()
        assert "samesite=strict" in ok.headers["set-cookie"].lower()
        page = c.get("/admin")
        assert page.status_code == 200
        assert "Promises to the inspectorate" in page.text
        assert 'data-response="learning-from-litigation-2018"' in page.text
        assert "<form" not in page.text.split("Sign out")[1]  # read only
        c.post("/admin/logout")
        assert c.get("/admin").status_code == 401


def test_admins_grant_or_refuse_requests_on_the_requests_page(client, synced):
    post(client, "more_time", until="2018-06-29", why="GLD sign-off slipped")
    with admin_client(synced, "s3cret-admin-token") as c:
        c.post("/admin/login", data={"token": "s3cret-admin-token"})
        page = c.get("/admin/requests")
        assert "GLD sign-off slipped" in page.text
        assert "it does not move the date" in page.text
        assert "edit the commitment&rsquo;s <code>due:</code> in its rule file" in page.text
        csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)[1]
        request_id = re.search(r'data-request="(\d+)"', page.text)[1]
        before = dump(synced)
        forged = c.post(f"/admin/requests/{request_id}", data={"decision": "grant", "csrf": "x"})
        assert forged.status_code == 403
        assert dump(synced) == before
        refused = c.post(
            f"/admin/requests/{request_id}", data={"decision": "refuse", "csrf": csrf}
        )
        assert refused.status_code == 409 and "Say why the request is refused." in refused.text
        granted = c.post(
            f"/admin/requests/{request_id}",
            data={"decision": "grant", "csrf": csrf, "why": "agreed with ICIBI"},
        )
        assert granted.status_code == 200  # after the redirect: the requests page
        assert "No request is waiting for a decision." in granted.text
        assert "granted by admin (web)" in granted.text
        again = c.post(
            f"/admin/requests/{request_id}", data={"decision": "refuse", "csrf": csrf, "why": "no"}
        )
        assert again.status_code == 409 and "already granted" in again.text
    last = history(synced)[-1]
    assert last.event == "more-time-granted"
    assert last.why == (
        f"more time granted until 2018-06-29 (request {request_id}); the due date changes when "
        "the rule file is edited: agreed with ICIBI"
    )
    assert state(synced) == "open"


def test_admin_cookies_from_another_token_do_not_work(synced):
    with admin_client(synced, "one-token") as c:
        c.post("/admin/login", data={"token": "one-token"})
        cookie = c.cookies["duly_admin"]
    with admin_client(synced, "another-token") as c:
        c.cookies.set("duly_admin", cookie, path="/admin")
        assert c.get("/admin").status_code == 401
