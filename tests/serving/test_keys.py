"""API keys: one per role, brand keys bound to their brand, only a hash stored."""

from __future__ import annotations

import hashlib

import pytest
import sqlalchemy as sa

from serving.gate import KeyCache
from serving.keys import (
    ROLES,
    UnknownKey,
    authenticate,
    create_key,
    list_keys,
    printable,
    revoke_key,
)
from serving.ledger.ledger import ComplaintFiling, Ledger
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


@pytest.mark.parametrize(
    ("brand", "message"),
    [("Nike ", "starts or ends with spaces"), (" Nike", "starts or ends with spaces"),
     ("Ni\u200bke", "invisible character \\(U\\+200B\\)"),
     ("Acme\t2026-01-01\nfeedface\tadmin", "control or invisible character \\(U\\+0009\\)"),
     ("Cafe\u0301", "not in Unicode's composed form \\(NFC\\): give it as 'Caf\u00e9'")],
)
def test_a_brand_that_would_not_match_its_complaints_gets_no_key(
        ledger: Ledger, brand: str, message: str) -> None:
    """Brands are matched exactly: a key for 'Nike ' would see none of Nike's complaints,
    and a tab or newline would forge rows in `keys list`."""
    with pytest.raises(ValueError, match=message):
        create_key(ledger.store, "brand", brand)
    assert list_keys(ledger.store) == []


def test_a_brand_differing_from_a_known_one_only_in_case_or_spacing_gets_no_key(
        ledger: Ledger) -> None:
    create_key(ledger.store, "brand", "Nike Air")
    ledger.file_complaint(ComplaintFiling("L1", "S1", "Arvedo", "fake"), actor="importer")
    for variant, known in (("nike air", "Nike Air"), ("Nike  Air", "Nike Air"),
                           ("NIKE AIR", "Nike Air"), ("arvedo", "Arvedo")):
        with pytest.raises(ValueError, match=f"differs from '{known}'.*give --brand '{known}'"):
            create_key(ledger.store, "brand", variant)
    assert create_key(ledger.store, "brand", "Arvedo").principal.brand == "Arvedo"
    assert create_key(ledger.store, "brand", "Nike Air").principal.brand == "Nike Air"
    assert len(list_keys(ledger.store)) == 3


def test_a_brand_the_ledger_holds_gets_a_key_as_it_is_spelt_there(ledger: Ledger) -> None:
    """Complaints imported with an odd spelling ('Nike ' or a decomposed 'Café') keep
    it: a key for exactly that brand is what matches them."""
    for odd in ("Nike ", "Cafe\u0301"):
        ledger.file_complaint(ComplaintFiling("L1", "S1", odd, "fake"), actor="importer")
        assert create_key(ledger.store, "brand", odd).principal.brand == odd
    with pytest.raises(ValueError, match="give --brand 'Nike '"):
        create_key(ledger.store, "brand", "Nike")


def test_listed_text_prints_on_one_line_as_itself() -> None:
    assert printable("Nike") == "Nike"
    assert printable("Caf\u00e9 \u5c71") == "Caf\u00e9 \u5c71"
    assert printable("Acme\tx\ny\u200b") == "Acme\\tx\\ny\\u200b"


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
