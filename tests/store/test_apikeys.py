"""API keys: shown once, stored hashed, verified in constant time, revocable."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import peewee
import pytest

from appliance.store.apikeys import create_api_key, has_scope, revoke_api_key, verify_api_key


def test_key_format_and_hash_not_plaintext(db: peewee.Database, db_path: Path):
    with db.atomic():
        key = create_api_key("plc-1", ["send", "read"])
    assert key.startswith("cg_") and len(key) == 44 and key[11] == "_"
    raw = sqlite3.connect(db_path)
    row = raw.execute("SELECT prefix, key_hash, scopes FROM api_key").fetchone()
    dump = "\n".join(raw.iterdump())
    raw.close()
    assert row[0] == key[3:11]
    assert row[1].startswith("scrypt$16384$8$1$")
    assert key not in dump and key[12:] not in dump  # neither the key nor its secret is stored
    assert row[2] == "read,send"


def test_verify_right_wrong_and_revoked(db: peewee.Database):
    with db.atomic():
        key = create_api_key("nas", ["send"])
        other = create_api_key("erp", ["admin"])
    found = verify_api_key(key)
    assert found is not None and found.name == "nas"
    assert has_scope(found, "send") and not has_scope(found, "admin")
    assert has_scope(verify_api_key(other), "read")  # admin implies the rest
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    assert verify_api_key(wrong) is None
    assert verify_api_key("cg_nothere1_" + "x" * 32) is None
    assert verify_api_key("not a key") is None
    with db.atomic():
        assert revoke_api_key("nas")
    assert verify_api_key(key) is None
    assert verify_api_key(other) is not None


def test_unknown_scope_is_named(db: peewee.Database):
    with pytest.raises(ValueError, match='unknown API key scope "delete"'):
        create_api_key("x", ["send", "delete"])


def test_names_are_unique(db: peewee.Database):
    with db.atomic():
        create_api_key("dup", ["read"])
    with pytest.raises(ValueError, match='"dup" already exists'):
        create_api_key("dup", ["read"])


def test_malformed_or_unknown_keys_cost_no_scrypt(db: peewee.Database, monkeypatch):
    import hashlib

    from appliance.store.apikeys import find_candidates, key_prefix, match_candidates

    with db.atomic():
        key = create_api_key("plc-2", ["send"])
    assert key_prefix(key) == key[3:11]
    for bad in ("not a key", key[:-1], key + "x", key.upper(), key[:11] + "-" + key[12:],
                key[:-1] + "="):
        assert key_prefix(bad) is None, bad
    calls: list[int] = []
    real = hashlib.scrypt
    monkeypatch.setattr(hashlib, "scrypt", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert verify_api_key("not a key") is None
    assert verify_api_key("cg_nothere1_" + "x" * 32) is None
    assert calls == []
    [candidate] = find_candidates(key[3:11])
    assert calls == [] and candidate.name == "plc-2"
    assert match_candidates(key, [candidate]) == candidate and len(calls) == 1
    assert verify_api_key(key).name == "plc-2" and len(calls) == 2
