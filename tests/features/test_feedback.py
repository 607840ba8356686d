"""FeedbackTracker on its own: applied / undone / kept decided from document texts and a clock."""

from __future__ import annotations

import time
from pathlib import Path

from coding_director.features.feedback import FeedbackTracker, text_after_edit
from coding_director.memory import open_memory
from coding_director.memory.records import RequestRecord
from coding_director.settings import load_settings


def _tracker(tmp_path: Path) -> FeedbackTracker:
    memory = open_memory(load_settings(memory={"path": str(tmp_path / "m.sqlite3")}))
    assert memory is not None
    for rid in ("a", "b", "c"):
        memory.record(RequestRecord(id=rid, created_at=time.time(), source="code_action"))
    return FeedbackTracker(memory, undo_window_s=30.0)


def _kinds(tracker: FeedbackTracker) -> list[tuple[str, str]]:
    assert tracker.memory is not None
    tracker.memory.flush()
    return tracker.memory.read_sync(
        lambda conn: [(str(r), str(k)) for r, k in conn.execute("SELECT request_id, kind FROM feedback ORDER BY id")]
    )


def test_applied_then_undone_kept_or_neither(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    tracker.edit_resolved("file:///x.py", "a", "before\n", "after\n")
    tracker.document_changed("file:///x.py", "before and typing\n", now=0.0)  # not the edit
    tracker.document_changed("file:///x.py", "after\n", now=1.0)
    tracker.document_changed("file:///x.py", "before\n", now=5.0)
    tracker.edit_resolved("file:///y.py", "b", "old\n", "new\n")
    tracker.document_changed("file:///y.py", "new\n", now=10.0)
    tracker.document_changed("file:///y.py", "old\n", now=100.0)  # after the window: kept, not undone
    tracker.edit_resolved("file:///z.py", "c", "z\n", "zz\n")  # never applied: nothing
    tracker.document_changed("file:///z.py", "other\n", now=0.0)
    assert _kinds(tracker) == [("a", "applied"), ("a", "undone"), ("b", "applied"), ("b", "kept")]


def test_applied_edit_is_kept_at_shutdown(tmp_path: Path) -> None:
    tracker = _tracker(tmp_path)
    tracker.edit_resolved("file:///x.py", "a", "before\n", "after\n")
    tracker.document_changed("file:///x.py", "after\n", now=1.0)
    tracker.close()
    assert _kinds(tracker) == [("a", "applied"), ("a", "kept")]


def test_text_after_edit_counts_utf16_columns() -> None:
    before = "a = 1\nb = '😀x'\nc = 3\n"
    assert text_after_edit(before, 1, 1, 7, "B = '") == "a = 1\nB = 'x'\nc = 3\n"  # the emoji is 2 UTF-16 units
    assert text_after_edit(before, 0, 2, 0, "z\n") == "z\nc = 3\n"


def test_server_log_file_rotates(tmp_path: Path) -> None:
    import logging

    from coding_director.logs import MAX_BYTES, install_file_log

    path = install_file_log(tmp_path / "log" / "server.log")
    assert path is not None
    root = logging.getLogger()
    try:
        for n in range(MAX_BYTES // 500 + 100):
            logging.getLogger("coding_director.test").info("line %d %s", n, "x" * 500)
    finally:
        for handler in [h for h in root.handlers if getattr(h, "baseFilename", None) == str(path)]:
            root.removeHandler(handler)
            handler.close()
    assert (tmp_path / "log" / "server.log.1").exists() and path.stat().st_size <= MAX_BYTES


def test_a_completion_is_stored_with_the_end_of_its_prefix_that_names_the_place(tmp_path: Path) -> None:
    """The whole ~6,000-character window of every keystroke's completion went into the store (and
    through the secret scan); the record keeps the characters that identify the place."""
    from coding_director.features.completion import CompletionRequest, CompletionResult
    from coding_director.features.feedback import record_completion
    from coding_director.memory.keys import PLACE_CHARS, place_of

    memory = open_memory(load_settings(memory={"path": str(tmp_path / "m.sqlite3")}))
    assert memory is not None
    prefix = "".join(f"value_{i} = compute({i})\n" for i in range(300)) + "total = "
    request = CompletionRequest(uri="file:///w/a.py", version=3, language="python", prefix=prefix, suffix="\n")
    request_id = record_completion(memory, request, CompletionResult("sum(values)", "coder"), "complete", 12.5)
    memory.flush()
    stored = memory.read_sync(lambda conn: list(conn.execute("SELECT prompt, place FROM requests WHERE id = ?",
                                                             (request_id,))))  # fmt: skip
    memory.close()
    assert len(prefix) > 3 * PLACE_CHARS
    assert stored == [(prefix[-PLACE_CHARS:], place_of(request.uri, prefix))]
