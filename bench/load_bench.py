"""Load: inline-completion latency while 20 chats stream, next to idle, in the same run.

Against two Ollama emulators (own processes: one serves the chat model, one the completion model),
one ``coding-director serve`` over stdio:

- idle: ``--n`` inline completions typed one after another (a keystroke, then
  ``textDocument/inlineCompletion`` with debounce 0 and a new prefix each time: a cache miss);
- under load: the same while ``--chats`` ``codingDirector/chat`` requests stream at once (a slow
  model: ``--chat-chunks`` chunks ``--chunk-ms`` apart each, every chunk a ``chatEvent``
  notification); only completions answered while every chat was still streaming count;
- idle again (the baseline is the idle runs before and after, interleaved with the load).

While a completion calls its model the chats pause (:mod:`coding_director.foreground`): their
tokens wait in the socket and are read once the completion has answered, so the load is the same
20 streams, served between keystrokes. While the typist types, the chats also read their tokens in
batches, five times a second (``Foreground.pace``).

Every chat must end accepted with the whole answer; completions answered without an item (past
``completion.timeout_ms``) are counted in the summary. The client is a raw JSON-RPC client
(``tests/raw_client.py``) whose reader thread only decodes JSON, so it does not slow the figures.
The completion model has an emulator of its own because the emulator is one Python event loop: while it
writes the chats' 1,300 chunks a second, an answer to the completion request waits behind them, which
measures the emulator, not this server (a real model server answers on threads of its own).
Target (issue 17): completion p95 under load at most 1.5x idle. Run:
``.venv/bin/python bench/load_bench.py [--json] [--n 100] [--chats 20]``.
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import emulator_process, percentile, print_rows, row

from tests.raw_client import RawClient

CHAT_MODEL, FIM_MODEL = "load-chat:latest", "load-fim:latest"
_chat_ids = itertools.count(1_000_000)


def config(url: str, folder: Path, fim_url: str | None = None) -> Path:
    """The server's TOML: chats on the slow model, completions on the fast FIM model (at ``fim_url``
    when given), debounce 0."""
    tiers = "".join(f'[tiers.{t}]\nmodel = "{CHAT_MODEL}"\n' for t in ("router", "math", "lead", "senior", "principal"))
    path = folder / "load.toml"
    path.write_text(
        f'[ollama]\nhost = "{url}"\n{tiers}[tiers.complete]\nmodel = "{FIM_MODEL}"\n'
        + (f'base_url = "{fim_url}"\n' if fim_url else "")
        + '[routing]\nrouter = "offline"\n[completion]\ntier = "complete"\ndebounce_ms = 0\n',
        encoding="utf-8",
    )
    return path


#: Characters typed on one line before the typist starts the next (so that every phase of the
#: run completes on lines of the same lengths: the post-processing reads the cursor's line).
LINE_CHARS = 40
_NEXT_LINE = "\n    value = "


class Typist:
    """Types one character per completion into its own document (so every prefix is new), a new
    ``value = `` line every :data:`LINE_CHARS` characters."""

    def __init__(self, client: RawClient, folder: Path) -> None:
        self.client = client
        self.uri = client.open(folder / "load.py", "import os\n\n\ndef handler(event):\n    value = \n")
        self.version, self.line, self.column, self.typed = 1, 4, 12, 0
        self.empty = 0

    def keystroke(self) -> float:
        """One keystroke and its completion; returns the completion round trip in ms (answers
        without an item, e.g. past ``completion.timeout_ms``, are counted in ``empty``)."""
        self.version += 1
        at = {"line": self.line, "character": self.column}
        new_line = self.typed == LINE_CHARS
        self.client.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": self.uri, "version": self.version},
                "contentChanges": [{"range": {"start": at, "end": at}, "text": _NEXT_LINE if new_line else "x"}],
            },
        )
        if new_line:
            self.line, self.column, self.typed = self.line + 1, len(_NEXT_LINE) - 1, 0
        else:
            self.column, self.typed = self.column + 1, self.typed + 1
        position = {"line": self.line, "character": self.column}
        t0 = time.perf_counter()
        response = self.client.request(
            "textDocument/inlineCompletion",
            {"textDocument": {"uri": self.uri}, "position": position, "context": {"triggerKind": 2}},
        )
        elapsed = (time.perf_counter() - t0) * 1000
        result = response.get("result")
        if not result or not result.get("items"):
            self.empty += 1
        return elapsed


def measure(
    url: str, n: int, chats: int, reply: str, fim_url: str | None = None
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Idle, loaded, idle completions on one server (raw JSON-RPC client: its reader thread only
    decodes JSON, so the client does not slow the figures down). Raises AssertionError when a chat
    fails or no completion finished during the load."""
    folder = Path(tempfile.mkdtemp())
    client = RawClient(config(url, folder, fim_url))
    try:
        client.initialize(folder)
        typist = Typist(client, folder)
        for _ in range(10):  # warm-up
            typist.keystroke()
        idle = [typist.keystroke() for _ in range(n // 2)]
        empty_idle = typist.empty
        ids = [next(_chat_ids) for _ in range(chats)]
        for i in ids:
            message = {"jsonrpc": "2.0", "id": i, "method": "codingDirector/chat", "params": {"prompt": f"Explain {i}"}}
            client.send(message)
        started = time.monotonic()
        while time.monotonic() - started < 10 and len(client.received("codingDirector/chatEvent")) < chats:
            time.sleep(0.01)  # every chat streaming

        seen, finished = 0, False

        def chats_running() -> bool:
            """No chat has finished an attempt yet. Reads only the notifications that came since the
            last call: scanning all of them (thousands) on every keystroke held the client's GIL, its
            reader thread fell behind, the pipe filled and the server blocked writing to it."""
            nonlocal seen, finished
            new = client.notifications[seen:]
            seen += len(new)
            finished = finished or any(
                m == "codingDirector/chatEvent" and p["kind"] == "attemptFinished" for m, p in new
            )
            return not finished

        loaded: list[float] = []
        while len(loaded) < n and chats_running():
            elapsed = typist.keystroke()
            if chats_running():
                loaded.append(elapsed)
        empty_loaded = typist.empty - empty_idle
        answers = [client.wait_response(i, timeout=120)["result"] for i in ids]
        failed = [a["attempts"] for a in answers if not a["accepted"] or a["answer"] != reply]
        assert not failed, f"{len(failed)} chats failed under load: {failed[0]}"
        idle += [typist.keystroke() for _ in range(n - n // 2)]
        empty_idle = typist.empty - empty_loaded
    finally:
        client.close()
    assert loaded, "no completion finished while the chats streamed (raise --chat-chunks)"
    ratio = percentile(loaded, 95) / percentile(idle, 95)
    rows = [
        row("inline completion, idle", idle, "ms", "baseline (before and after the load)"),
        row(f"inline completion, {chats} chats streaming", loaded, "ms", "same server, same run"),
        {
            "metric": "completion latency under load / idle",
            "p50": percentile(loaded, 50) / percentile(idle, 50),
            "p95": ratio,
            "unit": "x",
            "n": len(loaded),
            "baseline": "target p95 <= 1.5",
        },
    ]
    summary = {
        "chats_accepted": len(answers),
        "completions_idle": len(idle),
        "completions_loaded": len(loaded),
        "empty_idle": empty_idle,
        "empty_loaded": empty_loaded,
        "ratio_p95": round(ratio, 3),
    }
    return rows, summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=100, help="completions per phase")
    parser.add_argument("--chats", type=int, default=20, help="concurrent chats")
    parser.add_argument("--chat-chunks", type=int, default=400, help="chunks per chat answer")
    parser.add_argument("--chunk-ms", type=int, default=15, help="delay between chunks")
    parser.add_argument("--json", action="store_true", help="JSON lines (for bench/report)")
    args = parser.parse_args()
    reply = " ".join(f"step{i}" for i in range(args.chat_chunks))  # no repetition: not a generation loop
    chat_model = {"name": CHAT_MODEL, "reply": reply, "chunk_delay_ms": args.chunk_ms}
    fim_model = {"name": FIM_MODEL, "reply": "event.get('value')", "capabilities": ["completion", "insert"]}
    with emulator_process([chat_model]) as url, emulator_process([fim_model]) as fim_url:
        rows, summary = measure(url, args.n, args.chats, reply, fim_url)
    print_rows(rows, args.json)
    if not args.json:
        print(f"summary: {summary}")


if __name__ == "__main__":
    main()
