"""The memory store on its own: migrations, redaction, the writer, the cache, and failure modes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import apsw
import numpy as np
import pytest
from coding_director.memory import MemoryUnavailable, open_memory
from coding_director.memory import cache as cache_store
from coding_director.memory.db import SCHEMA_VERSION, connect
from coding_director.memory.records import RequestRecord
from coding_director.memory.redact import redact
from coding_director.settings import load_settings


def _settings(path: Path, **memory: object):  # type: ignore[no-untyped-def]
    return load_settings(memory={"path": str(path), **memory})


def test_migrations_set_user_version_and_reopen(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite3"
    conn = connect(db)
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}
    assert {"requests", "attempts", "feedback", "cache", "cache_vec"} <= tables
    conn.close()
    connect(db).close()  # idempotent


def test_newer_schema_is_refused_with_one_line(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite3"
    conn = connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(MemoryUnavailable, match="newer than this program"):
        connect(db)


def test_redaction_covers_common_secrets() -> None:
    text = textwrap.dedent(
        """\
        aws_key = "AKIAIOSFODNN7EXAMPLE"
        password = "hunter2hunter2"
        gh = "ghp_1234567890abcdefghijklmnopqrstuvwxyz"
        curl -H 'Authorization: Bearer abcdefghijklmnop1234567890'
        -----BEGIN RSA PRIVATE KEY-----
        MIIEpAIBAAKCAQEA1234
        -----END RSA PRIVATE KEY-----
        def add(a, b):
            return a + b
        """
    )
    out = redact(text)
    for secret in ("AKIAIOSFODNN7EXAMPLE", "hunter2hunter2", "ghp_1234", "abcdefghijklmnop1234567890", "MIIEpAIB"):
        assert secret not in out
    assert "[REDACTED:AWSKey]" in out and "def add(a, b):\n    return a + b\n" in out


def test_secrets_are_redacted_before_writing(tmp_path: Path) -> None:
    memory = open_memory(_settings(tmp_path / "m.sqlite3"))
    assert memory is not None
    memory.record(RequestRecord(id="r1", created_at=time.time(), source="api", prompt='key = "AKIAIOSFODNN7EXAMPLE"'))
    memory.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the database and its WAL, if any
    assert b"AKIAIOSFODNN7EXAMPLE" not in raw
    conn = connect(tmp_path / "m.sqlite3")
    assert conn.execute("SELECT prompt FROM requests").fetchone() == ('key = "[REDACTED:AWSKey]"',)


def test_retention_prunes_old_rows(tmp_path: Path) -> None:
    memory = open_memory(_settings(tmp_path / "m.sqlite3"))
    assert memory is not None
    memory.record(RequestRecord(id="old", created_at=time.time() - 100 * 86400, source="api"))
    memory.record(RequestRecord(id="new", created_at=time.time(), source="api"))
    memory.close()
    memory = open_memory(_settings(tmp_path / "m.sqlite3", retention_days=30))
    assert memory is not None
    memory.flush()
    ids = memory.read_sync(lambda conn: [r[0] for r in conn.execute("SELECT id FROM requests")])
    memory.close()
    assert ids == ["new"]


def test_locked_database_gives_one_message_and_no_memory(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite3"
    connect(db).close()
    holder = apsw.Connection(str(db))
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("INSERT INTO feedback (request_id, created_at, kind) VALUES ('x', 0, 'shown')")
    messages: list[str] = []
    try:
        assert open_memory(_settings(db, busy_timeout_ms=100), messages.append) is None
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert len(messages) == 1 and "is locked by another process; continuing without memory" in messages[0]


def test_corrupt_database_gives_one_message_and_no_memory(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite3"
    db.write_bytes(b"this is not a database" * 1000)
    messages: list[str] = []
    assert open_memory(_settings(db), messages.append) is None
    assert len(messages) == 1 and "corrupt or not a SQLite database" in messages[0] and str(db) in messages[0]


def test_semantic_lookup_finds_the_nearest_in_scope(tmp_path: Path) -> None:
    from coding_director.memory.embed import embed

    conn = connect(tmp_path / "m.sqlite3")
    now = time.time()
    prompts = ["explain what a python decorator is", "how do I reverse a list", "what is a monad"]
    for n, prompt in enumerate(prompts):
        for scope in ("a", "b"):
            entry = cache_store.NewEntry(
                f"k{n}{scope}", scope, f"r{n}{scope}", None, "question", "general", "{}", "lead", prompt, embed(prompt)
            )
            cache_store.put(conn, entry, now, 3600, 100)
    hit = cache_store.lookup_semantic(conn, "a", embed("explain what python decorators are"), 0.8, now)
    assert hit is not None and hit.request_id == "r0a" and 0.8 <= hit.similarity < 1.0
    assert cache_store.lookup_semantic(conn, "c", embed(prompts[0]), 0.8, now) is None
    assert cache_store.lookup_semantic(conn, "a", embed("bake a chocolate cake tonight"), 0.95, now) is None


def test_cache_bounds_ttl_and_size(tmp_path: Path) -> None:
    conn = connect(tmp_path / "m.sqlite3")
    vector = np.ones(cache_store.DIM, dtype=np.float32) / 16.0
    for n in range(5):
        entry = cache_store.NewEntry(f"k{n}", "s", f"r{n}", None, "question", "general", "{}", "lead", "a", vector)
        cache_store.put(conn, entry, 1000.0 + n, 60, 3)
    keys = [r[0] for r in conn.execute("SELECT key FROM cache ORDER BY id")]
    assert keys == ["k2", "k3", "k4"]  # least recently used dropped
    assert conn.execute("SELECT count(*) FROM cache_vec").fetchone() == (3,)
    assert cache_store.lookup_exact(conn, "k4", 1004.0 + 59) is not None
    assert cache_store.lookup_exact(conn, "k4", 1004.0 + 61) is None  # expired


KILLED = """
import os, signal, sys, time
from coding_director.memory import open_memory
from coding_director.memory.records import RequestRecord
from coding_director.settings import load_settings
memory = open_memory(load_settings(memory={"path": sys.argv[1]}))
for n in range(50):
    memory.record(RequestRecord(id=f"done{n}", created_at=time.time(), source="api", prompt="p" * 500))
memory.flush()
print("flushed", flush=True)
for n in range(10000):
    memory.record(RequestRecord(id=f"inflight{n}", created_at=time.time(), source="api", prompt="q" * 500))
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_kill_9_loses_at_most_the_request_in_flight(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite3"
    proc = subprocess.run([sys.executable, "-c", KILLED, str(db)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9 and "flushed" in proc.stdout, proc.stderr
    conn = connect(db)  # opens cleanly
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    done = conn.execute("SELECT count(*) FROM requests WHERE id LIKE 'done%'").fetchone()
    assert done == (50,)


def test_semantic_scope_separates_prompts_by_their_literals() -> None:
    from coding_director.memory.keys import literals_of, semantic_scope

    assert literals_of("Explain recursion, request number 38") == ["38"]
    assert literals_of("How do I reverse a list in Python?") == []
    assert literals_of('what does os.path.join do with "a b"?') == ['"a b"', "os.path.join"]
    assert literals_of("rename getItem to get_item in file2") == ["file2", "getItem", "get_item"]
    assert literals_of("it's what I don't want") == []  # apostrophes are not quotes
    assert semantic_scope("s", "port 8080 please") != semantic_scope("s", "port 8081 please")
    assert semantic_scope("s", "How do I reverse a list?") == semantic_scope("s", "How can I reverse a list?")
    assert semantic_scope("s", "port 8080") != semantic_scope("t", "port 8080")
