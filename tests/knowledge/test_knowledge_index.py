"""The workspace index: walker, chunker, store, incremental updates, retrieval, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from coding_director.context import DocumentStore
from coding_director.knowledge.chunker import chunk_file
from coding_director.knowledge.embedder import WordLlamaEmbedder
from coding_director.knowledge.index import WorkspaceIndex
from coding_director.knowledge.models import SearchHit
from coding_director.knowledge.retrieve import fit_snippets, reciprocal_rank_fusion
from coding_director.knowledge.terms import fts_query
from coding_director.settings import Settings

RETRY = '''\
import time


class RetryPolicy:
    """How often a request is tried again."""

    attempts = 3

    def backoff(self, attempt: int) -> float:
        """Exponential backoff delay in seconds."""
        return 0.5 * 2 ** attempt


# Sends with retries.
@staticmethod
def send_with_retry(request, policy):
    for attempt in range(policy.attempts):
        time.sleep(policy.backoff(attempt))
'''

PARSER = '''\
export function parseHeaderValue(raw: string): string[] {
  return raw.split(",").map((part) => part.trim());
}

/** Formats a cookie jar into a header. */
export function formatCookieHeader(jar: Map<string, string>): string {
  return [...jar].map(([k, v]) => `${k}=${v}`).join("; ");
}
'''


def make_workspace(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "retry.py").write_text(RETRY, encoding="utf-8")
    (root / "web").mkdir()
    (root / "web" / "headers.ts").write_text(PARSER, encoding="utf-8")
    (root / "notes.md").write_text("# Notes\n\nThe deployment checklist lives here.\n", encoding="utf-8")
    (root / "build").mkdir()
    (root / "build" / "generated.py").write_text("def send_with_retry():\n    pass\n", encoding="utf-8")
    (root / "blob.dat").write_bytes(b"\x00\x01binary")
    (root / ".gitignore").write_text("build/\n", encoding="utf-8")
    return root


def settings(tmp_path: Path, **index: object) -> Settings:
    return Settings(index={"cache_dir": str(tmp_path / "cache"), **index})


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_workspace(tmp_path / "ws")


def test_chunker_keeps_docstrings_and_leading_comments_with_their_definition() -> None:
    chunks = chunk_file("pkg/retry.py", RETRY.encode(), DocumentStore(), max_lines=60)
    by_name = {c.name: c for c in chunks}
    assert set(by_name) >= {"retry.py", "RetryPolicy", "send_with_retry"}
    cls = by_name["RetryPolicy"]
    assert '"""How often a request is tried again."""' in cls.text and "def backoff" in cls.text
    assert set(cls.names) >= {"RetryPolicy", "attempts", "backoff"}
    func = by_name["send_with_retry"]
    assert func.text.startswith("# Sends with retries.\n@staticmethod\ndef send_with_retry")
    assert (func.start_line, func.end_line) == (14, 18)
    assert by_name["retry.py"].text == "import time"


def test_chunker_splits_long_classes_into_members_and_long_functions_into_windows() -> None:
    methods = "".join(f"    def m{i}(self):\n        '''Method {i}.'''\n        return {i}\n\n" for i in range(12))
    body = "".join(f"    x{i} = {i}\n" for i in range(30))
    source = f"class Big:\n    '''A big class.'''\n\n{methods}\ndef long():\n    '''Long.'''\n{body}"
    chunks = chunk_file("big.py", source.encode(), DocumentStore(), max_lines=12)
    names = [c.name for c in chunks]
    assert names[0] == "Big" and "Big.m0" in names and "Big.m11" in names
    assert chunks[0].text.startswith("class Big:\n    '''A big class.'''")
    long_parts = [c for c in chunks if c.name == "long"]
    assert len(long_parts) >= 3
    assert all(c.end_line - c.start_line + 1 <= 12 for c in chunks)
    assert long_parts[1].header == "def long():" and long_parts[1].start_line <= long_parts[0].end_line


def test_files_without_a_grammar_are_line_windows() -> None:
    text = "".join(f"line {i}\n" for i in range(25))
    chunks = chunk_file("a.txt", text.encode(), DocumentStore(), max_lines=10)
    assert [(c.start_line, c.end_line, c.kind) for c in chunks] == [(1, 10, "text"), (11, 20, "text"),
                                                                    (21, 25, "text")]


def test_index_respects_gitignore_and_binary_and_is_incremental(workspace: Path, tmp_path: Path) -> None:
    index = WorkspaceIndex(workspace, settings(tmp_path))
    first = index.update()
    assert (first.files, first.indexed, first.unchanged) == (5, 5, 0)  # .gitignore, retry, headers, notes, blob
    paths = {hit.path for hit, _ in index.search("send_with_retry", top_k=20)}
    assert "pkg/retry.py" in paths and not any(p.startswith("build/") for p in paths)
    second = index.update()
    assert (second.indexed, second.unchanged, second.removed) == (0, 5, 0)
    (workspace / "pkg" / "retry.py").write_text(RETRY.replace("0.5", "0.25"), encoding="utf-8")
    os.utime(workspace / "web" / "headers.ts")  # new mtime, same content: hashed, not re-chunked
    third = index.update()
    assert (third.indexed, third.unchanged) == (1, 4)
    (workspace / ".gitignore").write_text("build/\nweb/\n", encoding="utf-8")
    fourth = index.update()
    assert fourth.removed == 1 and fourth.files == 4
    assert all(not hit.path.startswith("web/") for hit, _ in index.search("parseHeaderValue", top_k=20))
    index.close()


def test_search_finds_definitions_by_words_and_camel_case_parts(workspace: Path, tmp_path: Path) -> None:
    index = WorkspaceIndex(workspace, settings(tmp_path))
    index.update()
    hits = index.search("format the cookie header", top_k=3)
    assert hits[0][0].name == "formatCookieHeader" and hits[0][0].path == "web/headers.ts"
    assert hits[0][1].text.startswith("/** Formats a cookie jar into a header. */")
    assert next(h.name for h, _ in index.search("exponential backoff delay", top_k=5, mode="bm25")) == "RetryPolicy"
    boosted = index.search("unrelated words", top_k=3, focus_names={"parseHeaderValue": 2.0})
    assert boosted[0][0].name == "parseHeaderValue"
    assert [c.name for c in index.symbol("formatCookieHeader")] == ["formatCookieHeader"]
    with pytest.raises(ValueError, match="mode"):
        index.search("x", mode="fuzzy")
    index.close()


def test_unsaved_text_is_indexed_and_kept_until_saved(workspace: Path, tmp_path: Path) -> None:
    index = WorkspaceIndex(workspace, settings(tmp_path))
    index.update()
    edited = RETRY + "\n\ndef jitter_window(attempt):\n    return attempt * 0.1\n"
    assert index.update_text(workspace / "pkg" / "retry.py", edited)
    assert index.search("jitter_window", top_k=1)[0][0].name == "jitter_window"
    assert index.update().indexed == 0  # the walk leaves the editor's buffer alone
    assert index.release(workspace / "pkg" / "retry.py")  # closed unsaved: back to the disk text
    assert all(h.name != "jitter_window" for h, _ in index.search("jitter_window", top_k=5))
    assert not index.update_text(workspace / "build" / "generated.py", "def x(): pass\n")  # ignored
    index.close()


class _TinyEmbedder:
    identity = "test:tiny-8"
    dim = 8

    def embed(self, texts: list[str]) -> object:
        import numpy as np

        rows = np.zeros((len(texts), 8), dtype=np.float32)
        for i, text in enumerate(texts):
            rows[i, len(text) % 8] = 1.0
        return rows


def test_changing_the_embedder_rebuilds_the_index(workspace: Path, tmp_path: Path) -> None:
    first = WorkspaceIndex(workspace, settings(tmp_path))
    assert first.update().indexed == 5
    first.close()
    other = WorkspaceIndex(workspace, settings(tmp_path), embedder=_TinyEmbedder())  # type: ignore[arg-type]
    summary = other.update()
    assert summary.rebuilt and summary.indexed == 5 and summary.embedder == "test:tiny-8"
    other.close()
    again = WorkspaceIndex(workspace, settings(tmp_path), embedder=_TinyEmbedder())  # type: ignore[arg-type]
    assert not again.update().rebuilt and again.update().indexed == 0
    again.close()


def test_ollama_embedder_through_the_emulator(workspace: Path, tmp_path: Path, ollama_emulator: object) -> None:
    from tests.emulator import OllamaEmulator, ScriptedModel

    assert isinstance(ollama_emulator, OllamaEmulator)
    ollama_emulator.add_model(ScriptedModel(name="emu-embed:latest", capabilities=["embedding"], embedding_dim=32))
    s = Settings(ollama={"host": ollama_emulator.url},
                 index={"cache_dir": str(tmp_path / "cache"), "embedder": "ollama", "model": "emu-embed:latest"})
    index = WorkspaceIndex(workspace, s)
    assert index.embedder.identity == "ollama:emu-embed:latest" and index.embedder.dim == 32
    assert index.update().chunks > 0
    assert any(r.path == "/api/embed" for r in ollama_emulator.requests)
    index.close()


def test_unreachable_ollama_embedder_gives_one_actionable_error(workspace: Path, tmp_path: Path) -> None:
    from coding_director.knowledge.embedder import EmbedderError

    from tests.helpers import closed_port_url

    s = Settings(ollama={"host": closed_port_url()}, index={"cache_dir": str(tmp_path / "c"), "embedder": "ollama"})
    with pytest.raises(EmbedderError, match=r"no Ollama server at .* for embeddings"):
        WorkspaceIndex(workspace, s)


def test_reciprocal_rank_fusion_follows_cormack_et_al() -> None:
    fused = dict(reciprocal_rank_fusion([[1, 2, 3], [3, 1]]))
    assert fused[1] == pytest.approx(1 / 61 + 1 / 62)
    assert fused[3] == pytest.approx(1 / 63 + 1 / 61)
    assert fused[2] == pytest.approx(1 / 62)
    assert [i for i, _ in reciprocal_rank_fusion([[1, 2, 3], [3, 1]])] == [1, 3, 2]


def test_fit_snippets_skips_code_already_in_the_prompt_and_respects_the_budget() -> None:
    def hit(path: str, start: int, end: int) -> SearchHit:
        return SearchHit(path=path, start_line=start, end_line=end, name="n", score=1.0)

    hits = [(hit("a.py", 1, 10), "x" * 30), (hit("b.py", 5, 9), "y" * 3000), (hit("a.py", 8, 12), "z" * 30),
            (hit("c.py", 1, 2), "w" * 30)]
    chosen = fit_snippets(hits, token_budget=60, exclude=[("c.py", 2, 2)])
    assert [(s.path, s.start_line) for s in chosen] == [("a.py", 1)]
    assert sum(s.tokens for s in chosen) <= 60


def test_fts_query_splits_identifiers_and_drops_stopwords() -> None:
    query = fts_query("Where is the getUserName retry_after logic?")
    assert query is not None
    terms = set(query.replace('"', "").split(" OR "))
    assert terms >= {"getusername", "get", "user", "name", "retry_after", "retry", "after"}
    assert not terms & {"where", "is", "the", "logic"}
    assert fts_query("where is the") is None


def test_wordllama_embedder_is_offline_and_normalised() -> None:
    vectors = WordLlamaEmbedder().embed(["retry with backoff", "parse a header"])
    assert vectors.shape == (2, 256)
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-4
    # A chunk with no words (only punctuation) embeds as zeros, not NaN (WordLlama's own norm=True
    # divided by zero, and a NaN vector in sqlite-vec poisons every distance).
    import numpy as np

    empty = WordLlamaEmbedder().embed(["", "retry"])
    assert not np.isnan(empty).any() and float(np.abs(empty[0]).sum()) == 0.0


def run_cli(*args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CODING_DIRECTOR_", "OLLAMA_"))}
    env["CODING_DIRECTOR_INDEX__CACHE_DIR"] = str(cache)
    return subprocess.run([sys.executable, "-m", "coding_director", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_cli_index_and_search(workspace: Path, tmp_path: Path) -> None:
    proc = run_cli("index", "--workspace", str(workspace), "--json", cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["files"] == 5 and summary["chunks"] >= 6 and summary["seconds"] >= 0
    proc = run_cli("search", "--workspace", str(workspace), "--top-k", "2", "--json", "cookie header format",
                   cache=tmp_path / "cache")
    assert proc.returncode == 0, proc.stderr
    hits = json.loads(proc.stdout)
    assert len(hits) == 2 and set(hits[0]) == {"path", "startLine", "endLine", "name", "score"}
    assert hits[0] == {**hits[0], "path": "web/headers.ts", "startLine": 5, "endLine": 8, "name": "formatCookieHeader"}
    assert hits[0]["score"] >= hits[1]["score"]
    bad = run_cli("index", "--workspace", str(tmp_path / "missing"), cache=tmp_path / "cache")
    assert bad.returncode == 2 and "--workspace: not a folder" in bad.stderr and "Traceback" not in bad.stderr


def test_index_text_is_dedented_source() -> None:
    assert textwrap.dedent(PARSER) == PARSER


def test_sqlite_databases_and_their_wal_files_are_never_read(tmp_path: Path) -> None:
    """Reading and closing a live SQLite database (or its -wal/-shm) in the server's process drops
    the process's POSIX locks on it; another process may then delete the WAL under the writer (seen
    with the team memory's database inside the workspace, tests/lsp/test_feedback.py)."""
    from coding_director.knowledge.walker import ignore_rules, walk_workspace

    for name in ("memory.sqlite3", "memory.sqlite3-wal", "memory.sqlite3-shm", "x.db-journal", "code.py"):
        (tmp_path / name).write_text("x = 1\n", encoding="utf-8")
    found = {entry.path for entry in walk_workspace(tmp_path, ignore_rules(tmp_path), 1 << 20, 100)}
    assert found == {"code.py"}
