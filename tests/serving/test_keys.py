"""API keys: one per role, brand keys bound to their brand, only a hash stored."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from serving.gate import KeyCache
from serving.keys import ROLES, UnknownKey, authenticate, create_key, list_keys, revoke_key
from serving.ledger.ledger import Ledger
from serving.ledger.store import api_keys_table


def test_every_role_gets_a_key_that_authenticates(ledger: Ledger) -> None:
    issued = [create_key(ledger.store, role, "Arvedo" if role == "brand" else None)
              for role in ROLES]
    assert len({i.key for i in issued}) == len(ROLES)
    for key in issued:
        principal = authenticate(ledger.store, key.key)
        assert principal == key.principal
    assert authenticate(ledger.store, issued[1].key).brand == "Arvedo"  # type: ignore[union-attr]


def test_only_a_hash_of_the_key_is_stored(ledger: Ledger) -> None:
    issued = create_key(ledger.store, "reviewer")
    with ledger.store.read() as conn:
        rows = conn.execute(sa.select(api_keys_table)).all()
    assert len(rows) == 1
    assert issued.key not in {str(v) for v in rows[0]}
    assert rows[0].key_hash == hashlib.sha256(issued.key.encode()).hexdigest()


def test_unknown_and_malformed_keys_authenticate_nobody(ledger: Ledger) -> None:
    issued = create_key(ledger.store, "admin")
    for key in ("", "sk_", issued.key + "x", issued.key[3:], "sk_" + "a" * 200):
        assert authenticate(ledger.store, key) is None


@pytest.mark.parametrize(
    ("role", "brand", "message"),
    [("brand", None, "needs --brand"), ("brand", " ", "needs --brand"),
     ("reviewer", "Arvedo", "takes no brand"), ("owner", None, "role must be one of")],
)
def test_bad_key_requests_are_refused(ledger: Ledger, role: str, brand: str | None,
                                      message: str) -> None:
    with pytest.raises(ValueError, match=message):
        create_key(ledger.store, role, brand)


def test_a_revoked_key_authenticates_nobody_and_stays_listed(ledger: Ledger) -> None:
    kept = create_key(ledger.store, "reviewer")
    leaked = create_key(ledger.store, "brand", "Arvedo")
    revoked = revoke_key(ledger.store, leaked.principal.key_id)
    assert revoked.principal == leaked.principal and revoked.revoked_at is not None
    assert authenticate(ledger.store, leaked.key) is None
    assert authenticate(ledger.store, kept.key) == kept.principal
    again = revoke_key(ledger.store, leaked.principal.key_id)  # changes nothing
    assert again.revoked_at == revoked.revoked_at
    listed = {r.principal.key_id: r.revoked_at for r in list_keys(ledger.store)}
    assert listed == {kept.principal.key_id: None, leaked.principal.key_id: revoked.revoked_at}
    with pytest.raises(UnknownKey, match="no key with id 'nope'"):
        revoke_key(ledger.store, "nope")


def test_the_score_routes_key_cache_refuses_a_revoked_key_once_its_time_is_up(
        ledger: Ledger) -> None:
    issued = create_key(ledger.store, "scorer")
    now = [100.0]
    cache = KeyCache(ledger.store, ttl_s=10.0, clock=lambda: now[0])
    assert cache.check(issued.key) == issued.principal
    revoke_key(ledger.store, issued.principal.key_id)
    now[0] += 9.0
    assert cache.check(issued.key) == issued.principal  # remembered for ttl_s
    now[0] += 2.0
    assert cache.check(issued.key) is None
