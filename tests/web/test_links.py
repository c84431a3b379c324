"""flows/links.py: the four URLs, the key (from the environment or a file beside the
database, made once), who may act, and tokens that act once."""

from __future__ import annotations

import os
import stat
import threading
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import Session

from flows.db import make_engine
from flows.links import action_links, check_link, key_file, may_act, secret_key, spend
from models.tokens import TokenRefused, verify
from tests.web.conftest import KEY, LATER, SLA, TICK

pytestmark = pytest.mark.usefixtures("web_env")


def test_four_links_to_the_commitment_page_each_with_its_own_token(monkeypatch):
    monkeypatch.setenv("DULY_WEB_URL", "https://duly.example.gov.uk/")
    links = action_links(SLA, "lo-head", TICK)
    assert list(links) == ["in_progress", "done", "more_time", "not_mine"]
    for action, url in links.items():
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc, parts.path) == (
            "https",
            "duly.example.gov.uk",
            f"/c/{SLA}",
        )
        (token,) = parse_qs(parts.query)["t"]
        claims = verify(KEY.encode(), token, now=TICK, commitment=SLA, action=action)
        assert claims.owner == "lo-head"
        assert claims.expires == TICK + timedelta(days=60)


def test_the_default_address_is_loopback(monkeypatch):
    monkeypatch.delenv("DULY_WEB_URL")
    assert action_links(SLA, "lo-head", TICK)["done"].startswith(
        f"http://127.0.0.1:8000/c/{SLA}?t="
    )


def test_without_duly_secret_key_a_key_is_made_once_beside_the_sqlite_file(tmp_path, monkeypatch):
    monkeypatch.delenv("DULY_SECRET_KEY")
    url = f"sqlite:///{tmp_path / 'data' / 'duly.db'}"
    path = key_file(url)
    assert path == tmp_path / "data" / "duly.key"
    first = secret_key(url)
    assert len(first) == 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert secret_key(url) == first  # read back, not made again
    assert [p.name for p in path.parent.iterdir()] == ["duly.key"]  # no temporary left
    # links signed by one process are checked by another with the same key
    token = action_links(SLA, "lo-head", TICK, database=url)["done"].split("t=")[1]
    assert verify(secret_key(url), token, now=TICK).action == "done"
    with pytest.raises(TokenRefused):
        verify(KEY.encode(), token, now=TICK)


def test_other_databases_keep_the_key_at_duly_secret_key_file(tmp_path, monkeypatch):
    monkeypatch.delenv("DULY_SECRET_KEY")
    monkeypatch.setenv("DULY_SECRET_KEY_FILE", str(tmp_path / "keys" / "web.key"))
    url = "postgresql://duly@db.example/duly"
    assert key_file(url) == tmp_path / "keys" / "web.key"
    assert secret_key(url) == secret_key(url)
    monkeypatch.delenv("DULY_SECRET_KEY_FILE")
    assert str(key_file(url)) == "duly.key"


def test_processes_starting_at_once_agree_on_one_key(tmp_path, monkeypatch):
    monkeypatch.delenv("DULY_SECRET_KEY")
    url = f"sqlite:///{tmp_path / 'duly.db'}"
    keys: list[bytes] = []
    threads = [threading.Thread(target=lambda: keys.append(secret_key(url))) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 16 and len(set(keys)) == 1


def test_duly_secret_key_wins_over_any_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'duly.db'}"
    assert secret_key(url) == KEY.encode()
    assert not key_file(url).exists()


def test_the_owner_and_those_they_escalate_to_may_act(seed_rules):
    assert may_act(seed_rules, "lo-head", SLA)
    assert may_act(seed_rules, "lo-director", SLA)  # lo-head escalates to lo-director
    assert not may_act(seed_rules, "sru-head", SLA)
    assert not may_act(seed_rules, "lo-head", "no/such-commitment")


def test_a_token_acts_once_and_the_used_table_says_so(synced, seed_rules):
    key = KEY.encode()
    token = action_links(SLA, "lo-head", TICK)["in_progress"].split("t=")[1]
    engine = make_engine(synced)
    with Session(engine) as session:
        claims = check_link(session, seed_rules, key, token, commitment=SLA, now=LATER)
        spend(session, claims, LATER)
        session.commit()
    with Session(engine) as session, pytest.raises(TokenRefused) as caught:
        check_link(session, seed_rules, key, token, commitment=SLA, now=LATER)
    assert caught.value.reason == "replayed"
    # a second spend of the same token fails in the database too (two clicks racing)
    from sqlalchemy.exc import IntegrityError

    with Session(engine) as session, pytest.raises(IntegrityError):
        spend(session, claims, LATER)
    engine.dispose()


def test_a_token_for_someone_who_no_longer_owns_the_commitment_is_refused(synced, seed_rules):
    token = action_links(SLA, "sru-head", TICK)["done"].split("t=")[1]
    engine = make_engine(synced)
    with Session(engine) as session, pytest.raises(TokenRefused) as caught:
        check_link(session, seed_rules, KEY.encode(), token, commitment=SLA, now=LATER)
    assert caught.value.reason == "owner"
    engine.dispose()


def test_an_expired_link_is_refused_as_expired(synced, seed_rules):
    token = action_links(SLA, "lo-head", TICK)["done"].split("t=")[1]
    engine = make_engine(synced)
    late = datetime(2018, 6, 1, 8, 0, tzinfo=UTC)
    with Session(engine) as session, pytest.raises(TokenRefused) as caught:
        check_link(session, seed_rules, KEY.encode(), token, commitment=SLA, now=late)
    assert caught.value.reason == "expired"
    engine.dispose()
