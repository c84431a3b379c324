"""The apprise channel: routed by the owners' tags, configured from the environment only."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from flows.messages import render_step
from flows.notify import AppriseChannel
from flows.outbox import ChannelError
from models.agenda import compile_agenda
from models.tables import AgendaRow, agenda_values

PASSWORD = "s3cret-Pa55word"
SLA = "learning-from-litigation-2018/sla-in-place"
KEY = f"{SLA}#remind-28d@2018-04-30|apprise"


@dataclass
class Sink:
    """A local HTTP endpoint that records what it receives and answers ``status``."""

    port: int
    received: list[dict] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def sink() -> Iterator[Sink]:
    state = Sink(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            state.received.append(
                {
                    "path": self.path,
                    "authorization": self.headers.get("Authorization"),
                    "json": json.loads(self.rfile.read(length)),
                }
            )
            self.send_response(state.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def reminder(seed_rules):
    items = compile_agenda(
        seed_rules, {}, datetime(2018, 3, 1, tzinfo=UTC), datetime(2018, 4, 1, tzinfo=UTC)
    )
    (item,) = [i for i in items if i.commitment == SLA and i.step == "remind-28d"]
    return render_step(seed_rules, AgendaRow(**agenda_values(item)))


def config(port: int) -> str:
    return (
        f"litigation,directors=json://duly:{PASSWORD}@127.0.0.1:{port}/litigation\n"
        f"status-review=json://127.0.0.1:{port}/status-review?format=html\n"
    )


@pytest.fixture(autouse=True)
def no_apprise_environment(monkeypatch):
    monkeypatch.delenv("DULY_APPRISE_CONFIG", raising=False)
    monkeypatch.delenv("DULY_APPRISE_URLS", raising=False)


def test_nothing_configured_means_no_channel():
    assert AppriseChannel.from_env() is None


def test_a_reminder_reaches_a_json_webhook_routed_by_the_owners_tags(
    sink, reminder, seed_rules, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("DULY_APPRISE_URLS", config(sink.port))
    channel = AppriseChannel.from_env()
    assert channel is not None and channel.name == "apprise" and len(channel) == 2
    owner = seed_rules.owners["lo-head"]
    assert owner.tags == ("litigation",)
    assert channel.routes(owner.tags) == 1
    assert channel.routes(["litigation", "status-review"]) == 2
    assert channel.routes([]) == 0

    channel.notify(
        title=reminder.subject, body=reminder.body, html=reminder.html, tags=owner.tags, key=KEY
    )

    (got,) = sink.received
    assert got["path"] == "/litigation"
    assert got["authorization"] is not None  # the password went where it belongs
    assert got["json"] == {
        "version": "1.0",
        "title": "Reminder: Updated SLA between the Home Office and the GLD in place "
        "(due 2018-04-30)",
        "message": reminder.body.rstrip(),
        "attachments": [],
        "type": "info",
    }
    assert PASSWORD not in caplog.text
    assert f"apprise: {KEY} sent to 1 URL(s)" in caplog.text


def test_a_service_that_reads_html_gets_the_html_variant(sink, reminder, monkeypatch):
    monkeypatch.setenv("DULY_APPRISE_URLS", config(sink.port))
    channel = AppriseChannel.from_env()
    assert channel is not None
    channel.notify(
        title="t", body=reminder.body, html=reminder.html, tags=["status-review"], key=KEY
    )
    (got,) = sink.received
    assert got["path"] == "/status-review"
    assert got["json"]["message"] == reminder.html.rstrip()
    # without an HTML variant the same service gets the text, converted by apprise
    channel.notify(title="t", body="a <b> c", html=None, tags=["status-review"], key=KEY)
    assert sink.received[1]["json"]["message"] == "a&nbsp;&lt;b&gt;&nbsp;c"


def test_an_owner_whose_tags_match_no_url_is_a_permanent_error(
    sink, seed_rules, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("DULY_APPRISE_URLS", config(sink.port))
    channel = AppriseChannel.from_env()
    assert channel is not None
    owner = seed_rules.owners["appeals-ops-head"]  # tags: appeals
    assert channel.routes(owner.tags) == 0
    with pytest.raises(ChannelError) as caught:
        channel.notify(title="t", body="b", html=None, tags=owner.tags, key=KEY)
    assert caught.value.permanent is True
    assert str(caught.value) == "no apprise URL is tagged appeals"
    with pytest.raises(ChannelError, match=r"^no apprise URL is tagged \(no tags\)$"):
        channel.notify(title="t", body="b", html=None, tags=[], key=KEY)
    assert sink.received == []
    assert PASSWORD not in caplog.text


def test_a_refused_notification_is_a_transient_error_that_keeps_the_secret(
    sink, monkeypatch, caplog
):
    caplog.set_level(logging.DEBUG)
    sink.status = 500
    monkeypatch.setenv("DULY_APPRISE_URLS", config(sink.port))
    channel = AppriseChannel.from_env()
    assert channel is not None
    with pytest.raises(ChannelError) as caught:
        channel.notify(title="t", body="b", html=None, tags=["directors"], key=KEY)
    assert caught.value.permanent is False
    assert str(caught.value) == f"apprise: a service did not accept {KEY}"
    assert len(sink.received) == 1
    assert PASSWORD not in caplog.text
    assert f"apprise: {KEY} not delivered by json://duly:****@127.0.0.1:{sink.port}" in (
        caplog.text
    )
    assert PASSWORD not in channel.describe()


def test_a_yaml_configuration_file(sink, tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "apprise.yaml"
    path.write_text(
        "version: 1\n"
        "urls:\n"
        f"  - json://duly:{PASSWORD}@127.0.0.1:{sink.port}/enforcement:\n"
        "      tag: enforcement, directors\n"
    )
    monkeypatch.setenv("DULY_APPRISE_CONFIG", str(path))
    channel = AppriseChannel.from_env()
    assert channel is not None
    assert channel.routes(["enforcement"]) == 1
    assert channel.routes(["litigation"]) == 0
    channel.notify(title="t", body="b", html=None, tags=["directors"], key=KEY)
    assert [r["path"] for r in sink.received] == ["/enforcement"]
    assert PASSWORD not in caplog.text


def test_a_bad_configuration_is_named_but_never_shown(tmp_path, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("DULY_APPRISE_URLS", f"litigation=nosuchservice://u:{PASSWORD}@h/x")
    with pytest.raises(ChannelError) as caught:
        AppriseChannel.from_env()
    assert caught.value.permanent is True
    assert str(caught.value) == "DULY_APPRISE_URLS defines no usable apprise URL"
    assert PASSWORD not in caplog.text

    monkeypatch.delenv("DULY_APPRISE_URLS")
    monkeypatch.setenv("DULY_APPRISE_CONFIG", str(tmp_path / "missing.yaml"))
    with pytest.raises(ChannelError) as caught:
        AppriseChannel.from_env()
    assert str(caught.value) == (
        "cannot read the file named by DULY_APPRISE_CONFIG: No such file or directory"
    )


def test_a_tick_sends_the_reminders_of_tagged_owners_through_apprise_too(
    sink, seed_rules, sqlite_url, tmp_path, monkeypatch
):
    """End to end: `tick` queues an apprise copy of each step for owners whose tags
    have a URL, renders it when claimed and posts it to the JSON webhook, once."""
    from sqlmodel import Session, select

    from flows.db import create_schema, make_engine
    from flows.outbox import MaildirOutbox
    from flows.tick import tick
    from models.tables import Delivery

    monkeypatch.setenv("DULY_APPRISE_URLS", f"litigation=json://127.0.0.1:{sink.port}/hook")
    monkeypatch.delenv("DULY_APPRISE_CONFIG", raising=False)
    engine = make_engine(sqlite_url)
    create_schema(engine)
    easter_monday = datetime(2018, 4, 2, 8, 0, tzinfo=UTC)
    outbox = MaildirOutbox(tmp_path / "outbox")
    tick(engine, seed_rules, easter_monday, outbox)
    tick(engine, seed_rules, easter_monday, outbox)  # again: nothing more
    titles = sorted(r["json"]["title"] for r in sink.received)
    # lo-head (tagged litigation) had four steps that morning; invites stay email only
    assert titles == [
        "Due: Improvement specialists review current mechanisms and produce a joint "
        "improvement plan (2018-03-31)",
        "Due: Issue revised litigation cost and JR guidance (2018-03-31)",
        "Due: JR review makes recommendations on adapting current targets (2018-03-31)",
        "Reminder: Updated SLA between the Home Office and the GLD in place (due 2018-04-30)",
    ]
    assert all(r["path"] == "/hook" for r in sink.received)
    with Session(engine) as session:
        rows = session.exec(select(Delivery).where(Delivery.channel == "apprise")).all()
    assert {(d.status, d.address) for d in rows} == {("sent", "apprise: litigation")}
    assert sorted(d.subject for d in rows) == titles
    sla = [r for r in sink.received if "sla-in-place#remind-28d" in r["json"]["message"]]
    assert len(sla) == 1
    assert "Mark done (with evidence): http://127.0.0.1:8000/c/" in sla[0]["json"]["message"]
    engine.dispose()
