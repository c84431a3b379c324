"""The SMTP channel against a real SMTP server (aiosmtpd) on loopback."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlmodel import Session, select

from flows.db import create_schema, make_engine
from flows.messages import build_email
from flows.outbox import ChannelError, MaildirOutbox, default_channel
from flows.smtp import SmtpChannel
from flows.tick import deliver, tick
from models.tables import Delivery
from tests.smtp_server import SmtpServer

# aiosmtpd warns when AUTH is offered without TLS: on loopback, for the test, it is meant
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

AT = dt.datetime(2018, 4, 2, 8, 0, tzinfo=dt.UTC)
PASSWORD = "pa:ss/w@rd%20 é"  # characters a URL must escape, and one it must not mangle


def message(n: int = 0, to: str = "Head of Litigation Operations <lo-head@homeoffice.example>"):
    return build_email(
        key=f"test/commitment-{n}#due@2018-04-30|email",
        to=to,
        subject=f"Reminder {n}: the SLA is due — 30 April",
        body=f"Dear Head of Litigation Operations,\n\nmessage {n}, in UTF-8: café\n",
        at=AT,
    )


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def channel(smtp_server: SmtpServer) -> Iterator[SmtpChannel]:
    channel = SmtpChannel.from_url(smtp_server.url)
    yield channel
    channel.close()


# -- delivery ---------------------------------------------------------------------------


def test_a_message_arrives_whole_with_its_message_id(smtp_server, channel):
    sent = message(1)
    channel.send(sent)
    (mid,) = smtp_server.message_ids()
    assert mid == sent["Message-ID"]
    received = smtp_server.messages[mid]
    assert received["Subject"] == sent["Subject"]
    assert received["To"] == sent["To"]
    assert received.get_content().replace("\r\n", "\n") == sent.get_content()
    assert smtp_server.envelopes == [("duly@localhost", ("lo-head@homeoffice.example",))]


def test_one_connection_carries_every_message(smtp_server, channel):
    for n in range(50):
        channel.send(message(n))
    assert len(set(smtp_server.message_ids())) == 50
    assert (smtp_server.connections, channel.connections) == (1, 1)
    channel.close()
    channel.send(message(50))  # a closed channel opens a new connection when needed
    assert smtp_server.connections == 2


def test_a_connection_the_server_dropped_is_reopened_once_without_a_second_copy(
    smtp_server, channel
):
    channel.send(message(1))
    smtp_server.drop_connections()
    time.sleep(0.05)
    channel.send(message(2))
    assert smtp_server.counts() == {message(1)["Message-ID"]: 1, message(2)["Message-ID"]: 1}
    assert smtp_server.connections == 2


def test_bcc_is_an_envelope_recipient_and_not_a_header(smtp_server, channel):
    sent = message(1)
    sent["Bcc"] = "auditor@homeoffice.example"
    channel.send(sent)
    received = smtp_server.messages[sent["Message-ID"]]
    assert received["Bcc"] is None
    assert smtp_server.envelopes[0][1] == (
        "lo-head@homeoffice.example",
        "auditor@homeoffice.example",
    )
    assert sent["Bcc"] == "auditor@homeoffice.example"  # the caller's message is untouched


# -- failures ---------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_a_5xx_refusal_of_the_message_is_permanent(smtp_server, channel, stage):
    smtp_server.refuse(550 if stage == "rcpt" else 554, stage=stage)
    with pytest.raises(ChannelError) as caught:
        channel.send(message())
    assert caught.value.permanent
    assert ("55" in str(caught.value)) and smtp_server.message_ids() == []
    smtp_server.refuse(None)
    channel.send(message(2))  # the connection was reset (RSET) and is used again
    assert (len(smtp_server.message_ids()), smtp_server.connections) == (1, 1)


def test_one_refused_address_does_not_stop_the_next_message(smtp_server, channel):
    smtp_server.refuse_address("gone@homeoffice.example")
    with pytest.raises(ChannelError) as caught:
        channel.send(message(1, to="Gone <gone@homeoffice.example>"))
    assert caught.value.permanent
    assert "gone@homeoffice.example: 550" in str(caught.value)
    channel.send(message(2))
    assert smtp_server.message_ids() == [message(2)["Message-ID"]]


@pytest.mark.parametrize(("code", "stage"), [(451, "rcpt"), (452, "data"), (421, "mail")])
def test_a_4xx_refusal_is_transient(smtp_server, channel, code, stage):
    smtp_server.refuse(code, stage=stage)
    with pytest.raises(ChannelError) as caught:
        channel.send(message())
    assert not caught.value.permanent
    assert str(code) in str(caught.value)
    smtp_server.refuse(None)
    channel.send(message(2))  # after a 421 the server hung up: a new connection
    assert len(smtp_server.message_ids()) == 1


def test_a_server_that_is_down_is_transient_and_fails_fast(smtp_server):
    channel = SmtpChannel.from_url(smtp_server.url)
    smtp_server.down()
    with pytest.raises(ChannelError) as caught:
        channel.send(message())
    assert not caught.value.permanent
    assert "connection refused" in str(caught.value)
    started = time.perf_counter()
    for n in range(100):  # the next ones do not even try, for a while
        with pytest.raises(ChannelError):
            channel.send(message(n))
    assert time.perf_counter() - started < 1.0
    assert channel.connections == 0
    smtp_server.up()
    fresh = SmtpChannel.from_url(smtp_server.url)  # the next tick's channel
    fresh.send(message())
    assert len(smtp_server.message_ids()) == 1


def test_the_channel_tries_again_once_its_fail_fast_pause_is_over(smtp_server):
    clock = [0.0]
    channel = SmtpChannel.from_url(smtp_server.url, fail_fast=30, clock=lambda: clock[0])
    smtp_server.down()
    with pytest.raises(ChannelError):
        channel.send(message())
    smtp_server.up()
    clock[0] = 29.0
    with pytest.raises(ChannelError, match="not tried again"):
        channel.send(message())
    clock[0] = 31.0
    channel.send(message())
    assert len(smtp_server.message_ids()) == 1


def test_a_server_that_never_answers_times_out_as_transient():
    with socket.socket() as silent:  # accepts connections (the kernel does) but never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(5)
        port = silent.getsockname()[1]
        channel = SmtpChannel.from_url(f"smtp://127.0.0.1:{port}?timeout=0.3")
        started = time.perf_counter()
        with pytest.raises(ChannelError) as caught:
            channel.send(message())
    assert not caught.value.permanent
    assert "timed out" in str(caught.value)
    assert time.perf_counter() - started < 2


def test_a_message_without_recipients_is_refused_permanently(channel):
    sent = message()
    del sent["To"]
    with pytest.raises(ChannelError) as caught:
        channel.send(sent)
    assert caught.value.permanent


# -- configuration and secrets ----------------------------------------------------------


def test_urls_give_host_port_tls_and_timeout(monkeypatch):
    monkeypatch.delenv("DULY_SMTP_PASSWORD", raising=False)
    plain = SmtpChannel.from_url("smtp://mail.example.org")
    assert (plain.host, plain.port, plain.starttls, plain.ssl_on_connect) == (
        "mail.example.org",
        25,
        False,
        False,
    )
    tls = SmtpChannel.from_url("smtps://duly@mail.example.org?timeout=2.5")
    assert (tls.port, tls.ssl_on_connect, tls.timeout, tls.user) == (465, True, 2.5, "duly")
    submit = SmtpChannel.from_url("smtp://duly%40dept@mail.example.org:587?starttls=1")
    assert (submit.port, submit.starttls, submit.user) == (587, True, "duly@dept")
    assert submit.describe() == "smtp://duly@dept@mail.example.org:587 (STARTTLS)"
    assert submit.name == "smtp"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://mail.example.org", "must start with smtp:// or smtps://"),
        ("smtp://", "names no host"),
        (f"smtp://u:{quote(PASSWORD, safe='')}@mail.example.org:port", "not a number"),
        (f"smtp://u:{quote(PASSWORD, safe='')}@mail.example.org?tls=1", "unknown option"),
        ("smtp://mail.example.org?starttls=maybe", "starttls must be 1 or 0"),
        ("smtp://mail.example.org?timeout=soon", "timeout must be a number"),
        ("smtps://mail.example.org?starttls=1", "already encrypted"),
    ],
)
def test_unusable_urls_are_refused_without_showing_the_password(url, message):
    with pytest.raises(ValueError, match=message) as caught:
        SmtpChannel.from_url(url)
    assert quote(PASSWORD, safe="") not in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_the_password_can_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("DULY_SMTP_PASSWORD", PASSWORD)
    channel = SmtpChannel.from_url("smtp://duly@mail.example.org:587")
    assert channel._password == PASSWORD
    monkeypatch.setenv("DULY_SMTP_PASSWORD", "other")
    assert SmtpChannel.from_url("smtp://duly:inline@mail.example.org")._password == "inline"
    # without a user there is no login, whatever the environment holds
    assert SmtpChannel.from_url("smtp://mail.example.org")._password is None


def test_duly_smtp_url_chooses_this_channel(monkeypatch, tmp_path):
    monkeypatch.setenv("DULY_SMTP_URL", "smtp://127.0.0.1:2525")
    assert isinstance(default_channel(), SmtpChannel)
    assert isinstance(default_channel(tmp_path / "outbox"), MaildirOutbox)  # --outbox wins


@pytest.fixture
def auth_server() -> Iterator[SmtpServer]:
    with SmtpServer(auth=("duly", PASSWORD)) as server:
        yield server


def test_login_with_the_password_from_the_url(auth_server):
    url = f"smtp://duly:{quote(PASSWORD, safe='')}@127.0.0.1:{auth_server.port}"
    with SmtpChannel.from_url(url) as channel:
        channel.send(message(1))
        channel.send(message(2))
    assert (len(auth_server.message_ids()), auth_server.connections) == (2, 1)


def test_the_password_is_never_in_errors_logs_or_descriptions(auth_server, monkeypatch, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("DULY_SMTP_PASSWORD", PASSWORD + "-wrong")
    texts: list[str] = []
    inline = f"smtp://duly:{quote(PASSWORD + '-wrong', safe='')}@127.0.0.1:{auth_server.port}"
    for url in (f"smtp://duly@127.0.0.1:{auth_server.port}", inline):
        channel = SmtpChannel.from_url(url)
        texts += [channel.describe(), repr(channel), str(vars(channel).get("host"))]
        with pytest.raises(ChannelError) as caught:
            channel.send(message())
        assert not caught.value.permanent  # a wrong password must not dead-letter the queue
        assert "authentication as duly refused (535" in str(caught.value)
        texts += [str(caught.value), repr(caught.value)]
        # no chained smtplib exception (whose text is the server's) rides along
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
        auth_server.down()
        with pytest.raises(ChannelError) as caught:
            SmtpChannel.from_url(url).send(message())
        texts.append(str(caught.value))
        auth_server.up()
    texts += [r.getMessage() for r in caplog.records]
    for text in texts:
        for secret in (PASSWORD, quote(PASSWORD, safe=""), "pa:ss"):
            assert secret not in text, text


# -- TLS --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made with ``cryptography``."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def _contexts(certificate: tuple[Path, Path]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(*certificate)
    client = ssl.create_default_context(cafile=str(certificate[0]))
    return server, client


@pytest.mark.parametrize("implicit", [False, True], ids=["starttls", "smtps"])
def test_tls_by_starttls_or_from_the_start(certificate, implicit):
    server_context, client_context = _contexts(certificate)
    with SmtpServer(tls=server_context, implicit_tls=implicit) as server:
        url = server.url + ("" if implicit else "?starttls=1")
        with SmtpChannel.from_url(url, tls_context=client_context) as channel:
            channel.send(message(1))
            channel.send(message(2))
        assert (len(server.message_ids()), server.connections) == (2, 1)


def test_an_untrusted_certificate_is_a_transient_error_not_a_silent_downgrade(certificate):
    server_context, _ = _contexts(certificate)
    with SmtpServer(tls=server_context) as server:
        channel = SmtpChannel.from_url(server.url + "?starttls=1")  # system trust store
        with pytest.raises(ChannelError) as caught:
            channel.send(message())
        assert not caught.value.permanent
        assert server.message_ids() == []


def test_starttls_asked_of_a_server_without_it_sends_nothing(smtp_server):
    channel = SmtpChannel.from_url(smtp_server.url + "?starttls=1")
    with pytest.raises(ChannelError, match="does not offer STARTTLS"):
        channel.send(message())
    assert smtp_server.message_ids() == []


# -- a tick through SMTP ----------------------------------------------------------------


def test_a_tick_delivers_through_smtp_exactly_once(smtp_server, sqlite_url, seed_rules):
    engine = make_engine(sqlite_url)
    create_schema(engine)
    at = dt.datetime(2018, 4, 2, 9, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with SmtpChannel.from_url(smtp_server.url) as channel:
        result = tick(engine, seed_rules, at, channel)
        again = tick(engine, seed_rules, at, channel)
    with Session(engine) as session:
        deliveries = session.exec(select(Delivery)).all()
    engine.dispose()
    assert result.delivery.sent == len(deliveries) > 0
    assert again.delivery.sent == 0
    assert sorted(smtp_server.message_ids()) == sorted(d.message_id for d in deliveries)
    assert smtp_server.connections == 1


def test_a_refused_owner_is_dead_lettered_and_the_rest_are_sent(
    smtp_server, sqlite_url, seed_rules
):
    engine = make_engine(sqlite_url)
    create_schema(engine)
    smtp_server.refuse_address("lo-head@homeoffice.example")
    at = dt.datetime(2018, 4, 2, 9, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with SmtpChannel.from_url(smtp_server.url) as channel:
        result = tick(engine, seed_rules, at, channel)
        later = deliver(engine, channel, at + dt.timedelta(hours=1))
    with Session(engine) as session:
        deliveries = session.exec(select(Delivery)).all()
    engine.dispose()
    dead = [d for d in deliveries if d.status == "dead"]
    assert dead and all("lo-head@homeoffice.example" in d.address for d in dead)
    assert all(d.attempts == 1 and "550" in (d.last_error or "") for d in dead)
    assert result.delivery.sent == len(deliveries) - len(dead) == len(smtp_server.message_ids())
    assert later.sent == later.retrying == 0
