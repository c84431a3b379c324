"""``duly web``: the pages behind the signed links in messages, and the admin pages.

An owner opens a link from a reminder or an invite and sees what was promised,
its due date, its state and history, and four forms: mark it in progress, mark it
done (with a note and an evidence link or file), ask for more time, or say it is
not theirs. Mail gateways open every link in a message before the person does,
so **a GET never changes anything**: only a POST carrying both the link's token
and the form token derived from it acts, and each token acts once.

The pages hold no domain logic: they check tokens (:mod:`flows.links`) and call
the same operations as the command line (:func:`flows.actions.act`,
:mod:`flows.requests`), one transaction per action, so a refusal changes nothing.

Admins sign in with ``DULY_ADMIN_TOKEN`` (from the environment, never from rule
files) to see the portfolio and grant or refuse requests for more time. Without
it set, the admin pages say they are disabled.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from starlette.datastructures import UploadFile

from flows.db import StateError, create_schema, make_engine
from flows.links import check_link, secret_key, spend
from flows.messages import LINK_ACTIONS as LINK_LABELS
from flows.messages import TEMPLATES
from flows.requests import (
    MAX_EVIDENCE_BYTES,
    EvidenceRejected,
    decide_request,
    list_requests,
    not_mine,
    request_more_time,
    store_evidence,
)
from models.report import STATE_LABELS, safe_link
from models.rules import STATUS_LABELS, RuleSet
from models.tables import CommitmentRow, StateChange, TimeRequest
from models.tokens import LINK_ACTIONS, LinkClaims, TokenRefused, csrf_token, sign

__all__ = ["MAX_BODY_BYTES", "WebConfig", "create_app"]

LONDON = ZoneInfo("Europe/London")
MAX_BODY_BYTES = MAX_EVIDENCE_BYTES + 256 * 1024
"""The largest POST taken: an evidence file at its limit and the form around it."""
ADMIN_COOKIE = "duly_admin"
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",  # the token is in the URL: never pass it on
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex, nofollow",
}
_STATUS = {
    "malformed": 400,
    "tampered": 403,
    "wrong_commitment": 403,
    "wrong_action": 403,
    "owner": 403,
    "expired": 410,
    "replayed": 410,
}
_EVENTS = {
    "reply": "answered the calendar invite",
    "snooze": "snoozed reminders",
    "more-time": "asked for more time",
    "more-time-granted": "more time granted",
    "more-time-refused": "more time refused",
    "not-mine": "said it is not theirs",
}
_OPEN_FOR = {
    "in_progress": {"open", "missed"},
    "done": {"open", "in_progress", "missed"},
    "more_time": {"open", "in_progress", "missed"},
    "not_mine": {"open", "in_progress", "missed"},
}
"""The states in which each action's form is offered."""


@dataclass
class WebConfig:
    """What the app serves: the database, the rules, the clock and the folders."""

    database: str | None = None
    rules_paths: list[Path] | None = None
    clock: Callable[[], datetime] | None = None  # default: the real time
    evidence: Path | None = None  # default: DULY_EVIDENCE_DIR or ./evidence
    admin_token: str | None = None  # default: DULY_ADMIN_TOKEN


class _Rules:
    """The rule set, read again when a rule file changes (the last good one is kept)."""

    def __init__(self, paths: list[Path] | None) -> None:
        self.paths = paths
        self.signature: tuple[tuple[str, int], ...] | None = None
        self.rules: RuleSet | None = None

    def _signature(self) -> tuple[tuple[str, int], ...]:
        from flows.rulefiles import DEFAULT_RULES, rule_paths

        files, _ = rule_paths(self.paths or [DEFAULT_RULES])
        return tuple((str(p), p.stat().st_mtime_ns) for p in files if p.exists())

    def get(self) -> RuleSet:
        from flows.rulefiles import load_rules

        signature = self._signature()
        if self.rules is None or signature != self.signature:
            rules = load_rules(self.paths)
            if rules.ok or self.rules is None:
                self.rules, self.signature = rules, signature
        assert self.rules is not None
        return self.rules


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _day(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = _aware(value).astimezone(LONDON)  # type: ignore[union-attr]
        return f"{value:%A} {value.day} {value:%B %Y}, {value:%H:%M}"
    return f"{value:%A} {value.day} {value:%B %Y}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["day"] = _day
    env.filters["iso"] = lambda v: v.isoformat() if v is not None else ""
    env.filters["safe_link"] = safe_link
    return env


def create_app(config: WebConfig | None = None) -> FastAPI:
    """The web app; ``config`` says which database, rules and clock it uses."""
    config = config or WebConfig()
    engine = make_engine(config.database)
    create_schema(engine)
    key = secret_key(config.database)
    rules_of = _Rules(config.rules_paths)
    env = _environment()
    admin_token = (
        config.admin_token
        if config.admin_token is not None
        else os.environ.get("DULY_ADMIN_TOKEN", "")
    )
    evidence_folder = config.evidence

    def now() -> datetime:
        return config.clock() if config.clock else datetime.now(UTC)

    app = FastAPI(title="duly", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.engine = engine

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        """Bodies are capped before they are read; every answer gets the safe headers."""
        if request.method == "POST":
            length = request.headers.get("content-length")
            if length is None or not length.isdigit():
                response: Response = page(
                    "web/problem.html.j2",
                    411,
                    title="The form could not be read",
                    message="The browser sent the form without its length. Try again.",
                )
            elif int(length) > MAX_BODY_BYTES:
                response = page(
                    "web/problem.html.j2",
                    413,
                    title="The file is too large",
                    message=f"Evidence files may be up to {MAX_EVIDENCE_BYTES // 1024 // 1024}"
                    " MB. Nothing was changed. Send a link to the evidence instead, or a "
                    "smaller file.",
                )
            else:
                response = await call_next(request)
        else:
            response = await call_next(request)
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = env.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status)

    def refused(exc: TokenRefused) -> HTMLResponse:
        return page(
            "web/refused.html.j2", _STATUS[exc.reason], reason=exc.reason, message=str(exc)
        )

    # ---------------------------------------------------------------- owners

    def commitment_context(
        session: Session, rules: RuleSet, uid: str, claims: LinkClaims
    ) -> dict[str, Any]:
        c = rules.commitments[uid]
        response = rules.responses[c.response_id]
        rec = next(r for r in response.recommendations if r.number == c.recommendation)
        row = session.get(CommitmentRow, uid)
        state = row.state if row else "open"
        history = session.exec(
            select(StateChange)
            .where(col(StateChange.commitment_uid) == uid)
            .order_by(col(StateChange.at), col(StateChange.id))
        ).all()
        pending = session.exec(
            select(TimeRequest).where(
                col(TimeRequest.commitment_uid) == uid, col(TimeRequest.status) == "pending"
            )
        ).all()
        # the page's forms: each carries the token for its own action (same owner and
        # expiry as the link opened), so each action's link acts once
        forms = []
        for name, label in LINK_LABELS:
            sibling = sign(key, uid, claims.owner, name, claims.expires)
            forms.append(
                {
                    "action": name,
                    "label": label,
                    "token": sibling,
                    "csrf": csrf_token(key, sibling),
                    "open": name == claims.action,
                    "offered": state in _OPEN_FOR[name],
                }
            )
        forms.sort(key=lambda f: not f["open"])
        period = c.due or c.starts
        return {
            "c": c,
            "response": response,
            "rec": rec,
            "status_label": STATUS_LABELS[rec.status],
            "due": c.due.due if c.due else None,
            "window": period if period and period.start != period.end else None,
            "owner": rules.owners[c.owner],
            "acting_as": rules.owners.get(claims.owner),
            "state": state,
            "state_label": STATE_LABELS.get(state, state),
            "history": [
                {
                    "at": _aware(h.at),
                    "who": h.who,
                    "what": _EVENTS.get(h.event)
                    or f"now {STATE_LABELS.get(h.state, h.state).lower()}",
                    "state": h.state if h.event == "reply" else "",
                    "why": h.why,
                    "evidence": h.evidence,
                }
                for h in history
            ],
            "pending": pending,
            "forms": forms,
            "expires": claims.expires,
            "max_mb": MAX_EVIDENCE_BYTES // 1024 // 1024,
            "today": now().astimezone(LONDON).date(),
        }

    @app.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return page("web/index.html.j2")

    @app.get("/favicon.ico")
    def favicon() -> Response:
        return Response(status_code=204)

    @app.get("/robots.txt", response_class=PlainTextResponse)
    def robots() -> str:
        return "User-agent: *\nDisallow: /\n"

    @app.api_route("/c/{uid:path}", methods=["GET", "HEAD"], response_class=HTMLResponse)
    def commitment_page(uid: str, t: str = "") -> HTMLResponse:
        rules = rules_of.get()
        with Session(engine) as session:
            try:
                claims = check_link(session, rules, key, t, commitment=uid, now=now())
            except TokenRefused as exc:
                return refused(exc)
            context = commitment_context(session, rules, uid, claims)
        return page("web/commitment.html.j2", **context)

    @app.post("/c/{uid:path}", response_class=HTMLResponse)
    async def commitment_act(uid: str, request: Request) -> HTMLResponse:
        form = await request.form(max_files=1, max_fields=20, max_part_size=64 * 1024)
        token = str(form.get("t") or "")
        action = str(form.get("action") or "")
        if action not in LINK_ACTIONS:
            return page(
                "web/problem.html.j2",
                400,
                title="Unknown action",
                message="The form named no action this page knows. Nothing was changed.",
            )
        rules = rules_of.get()
        moment = now()
        upload = form.get("evidence")
        data = b""
        filename = ""
        if isinstance(upload, UploadFile) and upload.filename:
            filename = upload.filename
            data = await upload.read(MAX_EVIDENCE_BYTES + 1)
        values = {k: str(form.get(k) or "").strip() for k in ("note", "link", "until", "why")}
        with Session(engine) as session:
            try:
                claims = check_link(
                    session, rules, key, token, commitment=uid, now=moment, action=action
                )
            except TokenRefused as exc:
                return refused(exc)
            if not hmac.compare_digest(
                csrf_token(key, token).encode(), str(form.get("csrf") or "").encode()
            ):
                return page(
                    "web/problem.html.j2",
                    403,
                    title="The form was not accepted",
                    message="The form's security code is missing or wrong, so it may not "
                    "have been sent from this site. Nothing was changed. Open the link from "
                    "your message again and use the form there.",
                )
            try:
                outcome = perform(
                    session, rules, claims.owner, uid, action, values, filename, data, moment
                )
                spend(session, claims, moment)
                session.commit()
            except (StateError, EvidenceRejected) as exc:
                session.rollback()
                return page(
                    "web/problem.html.j2",
                    409 if isinstance(exc, StateError) else 422,
                    title="Nothing was changed",
                    message=str(exc)[:1].upper() + str(exc)[1:] + ".",
                    back=True,
                )
            except IntegrityError:
                session.rollback()
                return refused(TokenRefused("replayed"))
            c = rules.commitments[uid]
            row = session.get(CommitmentRow, uid)
            return page(
                "web/done.html.j2",
                c=c,
                outcome=outcome,
                state_label=STATE_LABELS.get(row.state if row else "open", "open"),
            )

    def perform(
        session: Session,
        rules: RuleSet,
        owner: str,
        uid: str,
        action: str,
        values: dict[str, str],
        filename: str,
        data: bytes,
        moment: datetime,
    ) -> str:
        """Call the domain operation for one form; return a sentence on what happened."""
        from flows.actions import act

        who = owner
        if action == "in_progress":
            result = act(session, rules, uid, "start", who=who, why=values["note"], now=moment)
            return "Marked in progress: the reminders to start stop."
        if action == "done":
            evidence: list[str] = []
            if values["link"]:
                if safe_link(values["link"]) is None:
                    raise EvidenceRejected("the evidence link must be a web address (https://…)")
                evidence.append(values["link"])
            if data:
                evidence.append(store_evidence(uid, filename, data, moment, evidence_folder))
            if not evidence:
                raise EvidenceRejected("done needs evidence: a link to it, or a file")
            result = act(
                session,
                rules,
                uid,
                "done",
                who=who,
                why=values["note"],
                now=moment,
                evidence="; ".join(evidence),
            )
            withdrawn = any("#cancel@" in k for k in result.notices)
            cancelled = " Its calendar invite is withdrawn." if withdrawn else ""
            return f"Marked done, with its evidence. No more reminders will be sent.{cancelled}"
        if action == "more_time":
            try:
                until = date.fromisoformat(values["until"])
            except ValueError:
                raise EvidenceRejected("give the new date you propose (a date)") from None
            request = request_more_time(
                session,
                rules,
                uid,
                owner=owner,
                who=who,
                until=until,
                why=values["why"],
                now=moment,
            )
            return (
                f"Your request for more time, until {_day(until)}, is recorded (request "
                f"{request.id}). An administrator will grant or refuse it; until then the "
                "date stands."
            )
        result_n = not_mine(
            session, rules, uid, owner=owner, who=who, why=values["why"], now=moment
        )
        boss = rules.owners[rules.owners[owner].escalate_to or ""]
        told = " by email" if result_n.notices else ""
        return f"{boss.name} has been told{told} that this is not yours."

    # ----------------------------------------------------------------- admins

    def admin_session(request: Request) -> str | None:
        """The admin cookie's value when it is valid, else None."""
        if not admin_token:
            return None
        given = request.cookies.get(ADMIN_COOKIE, "")
        return given if given and hmac.compare_digest(given, _admin_cookie()) else None

    def _admin_cookie() -> str:
        return hmac.new(key, b"admin\x00" + admin_token.encode(), hashlib.sha256).hexdigest()

    def _admin_csrf(cookie: str) -> str:
        return hmac.new(key, b"admin-csrf\x00" + cookie.encode(), hashlib.sha256).hexdigest()

    def admin_gate(request: Request) -> HTMLResponse | str:
        if not admin_token:
            return page("web/admin_disabled.html.j2", 403)
        cookie = admin_session(request)
        if cookie is None:
            return page("web/admin_login.html.j2", 401, failed=False)
        return cookie

    @app.get("/admin", response_class=HTMLResponse)
    def admin_portfolio(request: Request) -> HTMLResponse:
        gate = admin_gate(request)
        if isinstance(gate, HTMLResponse):
            return gate
        from flows.report import read_history, read_replies
        from models.report import build_portfolio

        rules = rules_of.get()
        with Session(engine) as session:
            history, replies = read_history(session), read_replies(session)
            pending = len(list_requests(session))
        portfolio = build_portfolio(rules, history, now(), replies=replies)
        return page("web/admin_portfolio.html.j2", p=portfolio, pending=pending)

    @app.post("/admin/login", response_class=HTMLResponse)
    async def admin_login(request: Request) -> Response:
        if not admin_token:
            return page("web/admin_disabled.html.j2", 403)
        form = await request.form(max_files=0, max_fields=5, max_part_size=4096)
        given = str(form.get("token") or "")
        if not hmac.compare_digest(given.encode(), admin_token.encode()):
            await asyncio.sleep(0.5)  # guessing is slow
            return page("web/admin_login.html.j2", 401, failed=True)
        response = RedirectResponse("/admin", status_code=303)
        response.set_cookie(
            ADMIN_COOKIE, _admin_cookie(), httponly=True, samesite="strict", path="/admin"
        )
        return response

    @app.post("/admin/logout", response_class=HTMLResponse)
    def admin_logout() -> Response:
        response = RedirectResponse("/admin", status_code=303)
        response.delete_cookie(ADMIN_COOKIE, path="/admin")
        return response

    @app.get("/admin/requests", response_class=HTMLResponse)
    def admin_requests(request: Request) -> HTMLResponse:
        gate = admin_gate(request)
        if isinstance(gate, HTMLResponse):
            return gate
        rules = rules_of.get()
        with Session(engine) as session:
            every = list_requests(session, pending_only=False)
        return page(
            "web/admin_requests.html.j2",
            pending=[r for r in every if r.status == "pending"],
            decided=[r for r in reversed(every) if r.status != "pending"][:50],
            rules=rules,
            csrf=_admin_csrf(gate),
        )

    @app.post("/admin/requests/{request_id}", response_class=HTMLResponse)
    async def admin_decide(request_id: int, request: Request) -> Response:
        gate = admin_gate(request)
        if isinstance(gate, HTMLResponse):
            return gate
        form = await request.form(max_files=0, max_fields=5, max_part_size=64 * 1024)
        if not hmac.compare_digest(_admin_csrf(gate).encode(), str(form.get("csrf", "")).encode()):
            return page(
                "web/problem.html.j2",
                403,
                title="The form was not accepted",
                message="Its security code is missing or wrong. Nothing was changed.",
            )
        decision = str(form.get("decision") or "")
        if decision not in ("grant", "refuse"):
            return page(
                "web/problem.html.j2",
                400,
                title="Unknown decision",
                message="Grant or refuse. Nothing was changed.",
            )
        rules = rules_of.get()
        with Session(engine) as session:
            try:
                decide_request(
                    session,
                    rules,
                    request_id,
                    grant=decision == "grant",
                    who="admin (web)",
                    why=str(form.get("why") or ""),
                    now=now(),
                )
                session.commit()
            except StateError as exc:
                session.rollback()
                return page(
                    "web/problem.html.j2",
                    409,
                    title="Nothing was changed",
                    message=str(exc)[:1].upper() + str(exc)[1:] + ".",
                )
        return RedirectResponse("/admin/requests", status_code=303)

    return app
