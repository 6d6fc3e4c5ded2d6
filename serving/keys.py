"""API keys: a role (and a brand, for brand keys) behind a secret bearer token.

Only the SHA-256 of a key is stored (in the ledger's database, shared by replicas); the
key itself is returned once, when it is created. Keys are 256-bit random tokens, so a
fast hash is enough: there is nothing to brute-force. A revoked key stays listed, with
the moment it was revoked, and authenticates no one.
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal, get_args

import sqlalchemy as sa

from serving.ledger.events import MAX_ID_CHARS, check_text
from serving.ledger.store import LedgerStore, WriteTx, api_keys_table, complaints_table

Role = Literal["scorer", "brand", "reviewer", "senior", "admin"]
# "senior": a senior reviewer, who may do what a reviewer does and also works the senior
# queue of escalated cases
ROLES: tuple[Role, ...] = get_args(Role)
KEY_PREFIX = "sk_"


def a_key_of(role: str) -> str:
    """'a scorer key', 'an admin key': a role's key in a sentence."""
    return f"{'an' if role[:1] in ('a', 'e', 'i', 'o', 'u') else 'a'} {role} key"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id (safe to log), its role and, for brand keys, the brand."""

    key_id: str
    role: Role
    brand: str | None = None

    @property
    def actor(self) -> str:
        """How events name this caller."""
        who = f"{self.role}:{self.brand}" if self.brand else self.role
        return f"{who}/{self.key_id}"


@dataclass(frozen=True)
class IssuedKey:
    key: str
    principal: Principal


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(store: LedgerStore, role: str, brand: str | None = None) -> IssuedKey:
    """Make a new key for `role` (brand keys need `brand`, other roles take none)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}; got {role!r}")
    if role == "brand":
        if not brand or not brand.strip():
            raise ValueError("a brand key needs --brand NAME: the brand it files for")
        check_text(brand, "brand", MAX_ID_CHARS)
    elif brand is not None:
        raise ValueError(f"only brand keys belong to a brand; a {role} key takes no brand")
    principal = Principal(key_id=secrets.token_hex(6), role=role, brand=brand)  # type: ignore[arg-type]
    key = KEY_PREFIX + secrets.token_urlsafe(32)

    def work(tx: WriteTx) -> None:
        known = known_brands(tx.conn) if brand is not None else set()
        if brand is not None and brand not in known:  # a brand the ledger holds is as it is
            check_brand(brand)
            check_not_a_variant(brand, known)
        tx.conn.execute(api_keys_table.insert().values(
            key_id=principal.key_id, key_hash=key_hash(key), role=role, brand=brand,
            created_at=datetime.now(UTC)))

    store.write(work)
    return IssuedKey(key, principal)


def check_brand(brand: str) -> None:
    """Refuse a new brand name that would not match the brand's complaints, or would print
    as something else: brands are matched exactly, character for character."""
    if brand != brand.strip():
        raise ValueError(f"brand {brand!r} starts or ends with spaces; brands are matched "
                         "exactly, so give it without them")
    hidden = [c for c in brand if unicodedata.category(c) in _HIDDEN]
    if hidden:
        raise ValueError(f"brand {brand!r} contains a control or invisible character "
                         f"(U+{ord(hidden[0]):04X}); brands are matched exactly")
    if unicodedata.normalize("NFC", brand) != brand:
        raise ValueError(f"brand {brand!r} is not in Unicode's composed form (NFC): give it "
                         f"as {unicodedata.normalize('NFC', brand)!r}")


_HIDDEN = {"Cc", "Cf", "Zl", "Zp", "Co", "Cn"}  # controls, format (zero-width), separators


def known_brands(conn: sa.Connection) -> set[str]:
    """The brands of existing keys and of the ledger's complaints."""
    keys = sa.select(api_keys_table.c.brand).where(api_keys_table.c.brand.is_not(None))
    filed = sa.select(complaints_table.c.brand)
    return set(conn.execute(sa.union(keys, filed)).scalars())


def check_not_a_variant(brand: str, known: set[str]) -> None:
    """Refuse a brand that differs from one the ledger knows only in case, spacing or
    Unicode form: its key would see none of that brand's complaints."""
    if brand in known:
        return
    same = sorted(b for b in known if _folded(b) == _folded(brand))
    if same:
        raise ValueError(f"brand {brand!r} differs from {same[0]!r}, which the ledger "
                         f"knows, only in case or spacing; brands are matched exactly: "
                         f"give --brand {same[0]!r}")


def _folded(brand: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", brand).casefold().split())


def printable(text: str) -> str:
    """`text` with any character that would not print as itself (tab, newline, controls,
    zero-width) escaped, for one-line-per-row listings."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii")
                   for c in text)


class UnknownKey(ValueError):
    pass


@dataclass(frozen=True)
class KeyRecord:
    """A key as listed: never the key itself."""

    principal: Principal
    created_at: datetime
    revoked_at: datetime | None


def revoke_key(store: LedgerStore, key_id: str) -> KeyRecord:
    """Revoke the key `key_id` (as `keys list` and the service's logs name it), for good.

    Revoking a revoked key changes nothing and returns it as it was revoked.
    """
    keys = api_keys_table.c

    def work(tx: WriteTx) -> KeyRecord:
        row = tx.conn.execute(sa.select(api_keys_table).where(keys.key_id == key_id)).first()
        if row is None:
            raise UnknownKey(f"no key with id {key_id!r} (`strikeout keys list` shows them)")
        record = _record(row)
        if record.revoked_at is not None:
            return record
        moment = datetime.now(UTC)
        tx.conn.execute(api_keys_table.update().where(keys.key_id == key_id)
                        .values(revoked_at=moment))
        return replace(record, revoked_at=moment)

    return store.write(work)


def list_keys(store: LedgerStore) -> list[KeyRecord]:
    """Every key ever created, oldest first."""
    keys = api_keys_table.c
    with store.read() as conn:
        rows = conn.execute(sa.select(api_keys_table).order_by(keys.created_at, keys.key_id))
        return [_record(row) for row in rows]


def _record(row: sa.Row) -> KeyRecord:
    return KeyRecord(Principal(key_id=row.key_id, role=row.role, brand=row.brand),
                     row.created_at, row.revoked_at)


def authenticate(store: LedgerStore, key: str) -> Principal | None:
    """The principal that `key` belongs to, or None for an unknown or revoked key."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    with store.read() as conn:
        row = conn.execute(sa.select(api_keys_table).where(
            api_keys_table.c.key_hash == key_hash(key))).first()
    if row is None or row.revoked_at is not None:
        return None
    return Principal(key_id=row.key_id, role=row.role, brand=row.brand)
