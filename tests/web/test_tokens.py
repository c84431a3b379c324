"""models/tokens.py: signing and checking action-link tokens, with a fixed key and clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.tokens import (
    LINK_ACTIONS,
    LINK_LIFETIME,
    TokenRefused,
    check_csrf,
    csrf_token,
    expiry_for,
    sign,
    token_id,
    verify,
)

KEY = b"k" * 32
NOW = datetime(2018, 4, 2, 8, 0, tzinfo=UTC)
UID = "learning-from-litigation-2018/sla-in-place"


def token(action: str = "done", uid: str = UID, owner: str = "lo-head", now=NOW) -> str:
    return sign(KEY, uid, owner, action, expiry_for(now))


def reason(tok: str, **kwargs) -> str:
    kwargs.setdefault("now", NOW)
    with pytest.raises(TokenRefused) as caught:
        verify(KEY, tok, **kwargs)
    return caught.value.reason


def test_a_token_says_who_may_do_what_to_which_commitment_until_when():
    claims = verify(KEY, token(), now=NOW, commitment=UID, action="done")
    assert (claims.commitment, claims.owner, claims.action) == (UID, "lo-head", "done")
    assert claims.expires == NOW + LINK_LIFETIME == datetime(2018, 6, 1, 8, tzinfo=UTC)
    assert claims.token_id == token_id(token())
    assert len(claims.token_id) == 32


def test_every_action_has_its_own_token_and_they_are_url_safe():
    tokens = {a: token(a) for a in LINK_ACTIONS}
    assert len(set(tokens.values())) == 4
    for action, tok in tokens.items():
        assert set(tok) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
        assert verify(KEY, tok, now=NOW).action == action


def test_another_commitment_another_action_and_another_key_are_refused():
    assert reason(token(), commitment=f"{UID}x") == "wrong_commitment"
    assert reason(token(), action="in_progress") == "wrong_action"
    with pytest.raises(TokenRefused) as caught:
        verify(b"another key", token(), now=NOW)
    assert caught.value.reason == "tampered"
    assert str(caught.value) == "This link has been altered, so it cannot be trusted."


def test_expired_at_the_second_it_ends_and_not_before():
    tok = token()
    end = NOW + LINK_LIFETIME
    assert verify(KEY, tok, now=end - timedelta(seconds=1)).owner == "lo-head"
    assert reason(tok, now=end) == "expired"
    with pytest.raises(TokenRefused, match="stopped working on 01 June 2018"):
        verify(KEY, tok, now=end + timedelta(days=1))


def test_a_tampered_payload_or_signature_is_refused_as_tampered():
    tok = token()
    payload, signature = tok.split(".")
    # the payload re-encoded to say another owner, with the old signature
    import base64

    text = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    forged = base64.urlsafe_b64encode(text.replace("lo-head", "lo-director").encode())
    assert reason(forged.decode().rstrip("=") + "." + signature) == "tampered"
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert reason(f"{payload}.{flipped}") == "tampered"
    # a later expiry, re-encoded, with the old signature
    later = text.rsplit("\n", 1)[0] + "\n9999999999"
    assert reason(_b64(later) + "." + signature) == "tampered"


def _b64(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "bad", ["", "nodot", "a.b.c", "!!!.???", ".", "x" * 2000, token()[:-1] + "."]
)
def test_damaged_tokens_are_malformed_or_tampered_never_accepted(bad):
    assert reason(bad) in ("malformed", "tampered")


def test_sign_refuses_what_it_cannot_represent():
    with pytest.raises(ValueError, match="unknown link action"):
        token("approve")
    with pytest.raises(ValueError, match="one non-empty line"):
        token(owner="lo-head\nlo-director")
    with pytest.raises(ValueError, match="key is empty"):
        sign(b"", UID, "lo-head", "done", NOW)


def test_the_form_token_is_bound_to_its_link_token():
    tok, other = token("done"), token("in_progress")
    assert check_csrf(KEY, tok, csrf_token(KEY, tok))
    assert not check_csrf(KEY, tok, csrf_token(KEY, other))
    assert not check_csrf(KEY, tok, "")
    assert not check_csrf(b"another key", tok, csrf_token(KEY, tok))
    assert csrf_token(KEY, tok) != tok


@given(
    uid=st.from_regex(r"[a-z0-9-]{1,40}/[a-z0-9-]{1,40}", fullmatch=True),
    owner=st.from_regex(r"[a-z0-9-]{1,30}", fullmatch=True),
    action=st.sampled_from(LINK_ACTIONS),
    days=st.integers(min_value=0, max_value=59),
)
def test_round_trip_for_any_ids_and_any_day_within_the_lifetime(uid, owner, action, days):
    tok = sign(KEY, uid, owner, action, expiry_for(NOW))
    claims = verify(KEY, tok, now=NOW + timedelta(days=days), commitment=uid, action=action)
    assert (claims.commitment, claims.owner) == (uid, owner)


@given(position=st.integers(min_value=0), char=st.sampled_from("AbZ09-_"))
def test_changing_any_one_character_never_yields_a_valid_token(position, char):
    tok = token()
    i = position % len(tok)
    if tok[i] == char or tok[i] == ".":
        return
    changed = tok[:i] + char + tok[i + 1 :]
    with pytest.raises(TokenRefused):
        verify(KEY, changed, now=NOW)


def test_the_spare_bits_of_the_last_base64_character_cannot_respell_a_token():
    tok = token()
    payload, signature = tok.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    respelled = [f"{payload}.{signature[:-1]}{c}" for c in alphabet if c != signature[-1]] + [
        f"{payload[:-1]}{c}.{signature}" for c in alphabet if c != payload[-1]
    ]
    for variant in respelled:
        assert reason(variant) in ("tampered", "malformed"), variant
