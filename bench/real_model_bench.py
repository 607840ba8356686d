"""Coding Director's overhead on a real model served by llama.cpp's OpenAI-compatible server on this
machine's CPU: by default the built-in team's runtime (SmolLM2-135M-Instruct, started through
:mod:`coding_director.backends.embedded` exactly as the product starts it); ``--gemma``: Gemma 3
270M of ``scripts/real-model-demo`` (see ``bench/_real_model.py``); ``--base-url URL --model NAME``:
any running OpenAI-compatible server.

Two comparisons, each paired request by request and measured in the same run:

- **chat**: one streamed ``/v1/chat/completions`` call made with the official ``openai`` client
  (the baseline: "calling the server directly") vs the same request through
  :class:`~coding_director.CodingDirector` (offline routing, streaming through the escalation
  engine, verification). Both send the same messages (the engine's own system prompt and user
  message, built with :func:`~coding_director.routing.prompts.build_messages`), ``temperature = 0``
  and the same ``max_tokens``, so the model does the same work. Time to first token (ms), total
  (ms) and decode speed (tokens/s: streamed pieces after the first, one token each with llama.cpp,
  over the time after the first) are compared.
- **inline completion**: the ``/v1/completions`` call the completer makes (same prompt: the file's
  prefix window as :func:`~coding_director.context.fim_window` cuts it; same stop sequences,
  ``max_tokens`` and temperature), direct vs a ``textDocument/inlineCompletion`` round trip through
  ``coding-director serve`` over stdio (debounce 0, cache misses only; the prompt healed by
  :func:`~coding_director.features.completion_post.heal_prompt` on both sides). Cursors sit in the middle of
  lines of real files, so both stop at the end of the line and generate the same tokens.

llama.cpp reuses the key/value cache of the longest prefix shared with its previous request. So
that neither side profits from the other, a request never follows one with the same prompt: the
order is direct(a), direct(b), engine(a), engine(b), then the next two prompts with the sides
swapped.

Run: ``.venv/bin/python bench/real_model_bench.py [--gemma | --base-url URL --model NAME] [--n 8] [--json]``.
On the built-in runtime the engine's side is the product's path (``provider = "embedded"``, the same
runtime process), the language server's tiers point at that process's URL.
Target (issue 6): the engine within 5% of the direct call on time to first token and on total.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import openai
from _common import print_rows, row
from _lsp_client import complete, open_doc, start_server
from _real_model import MODEL, config_toml, llama_server
from coding_director import CodingDirector
from coding_director.backends.embedded import runtime_for
from coding_director.context import DocumentStore, detect_language, fim_window
from coding_director.features.completion import FIM_PREFIX_TOKENS, FIM_SUFFIX_TOKENS, TEMPERATURE, completion_stops
from coding_director.features.completion_post import heal_prompt, wants_single_line
from coding_director.routing.escalation import Finished, TextDelta
from coding_director.routing.offline import classify
from coding_director.routing.prompts import build_messages
from coding_director.settings import load_settings

#: Tokens generated per chat request (both sides).
CHAT_TOKENS = 64
TOPICS = [
    "a Python list comprehension", "recursion", "a hash map", "binary search", "a closure",
    "a generator in Python", "a mutex", "a REST API", "garbage collection", "a linked list",
    "memoization", "a race condition", "dependency injection", "a B-tree", "tail calls",
    "an iterator", "a coroutine", "a deadlock", "a bloom filter", "a trie",
    "copy-on-write", "a thread pool", "a heap", "big-O notation",
]  # fmt: skip


@dataclass
class Timing:
    """One streamed request: time to the first non-empty piece and to the end (ms), and the
    number of non-empty pieces streamed."""

    first_ms: float
    total_ms: float
    pieces: int

    @property
    def tokens_per_s(self) -> float:
        """Decode speed after the first piece (pieces/s; llama.cpp streams one token per piece)."""
        decode_s = (self.total_ms - self.first_ms) / 1000
        return (self.pieces - 1) / decode_s if self.pieces > 1 and decode_s > 0 else 0.0


async def timed_stream(t0: float, stream: Any, text_of: Callable[[Any], str | None]) -> Timing:
    """Read an ``openai`` stream opened at ``perf_counter()`` time ``t0`` to its end; the pieces are
    the choices for which ``text_of`` gives non-empty text."""
    first = None
    pieces = 0
    async with stream:
        async for part in stream:
            for choice in part.choices:
                if text_of(choice):
                    pieces += 1
                    first = first if first is not None else time.perf_counter()
    end = time.perf_counter()
    return Timing(((first or end) - t0) * 1000, (end - t0) * 1000, pieces)


async def chat_direct(client: openai.AsyncOpenAI, prompt: str, model: str) -> Timing:
    """The baseline: the engine's messages for ``prompt`` sent straight to the server."""
    decision = classify(prompt)
    messages = build_messages(prompt, intent=decision.intent, domain=decision.domain, context_text=None)
    t0 = time.perf_counter()
    stream = await client.chat.completions.create(
        model=model,
        messages=cast(Any, [{"role": m.role, "content": m.content} for m in messages]),
        stream=True,
        max_tokens=CHAT_TOKENS,
        temperature=0.0,
    )
    return await timed_stream(t0, stream, lambda choice: choice.delta.content)


async def chat_engine(director: CodingDirector, prompt: str) -> Timing:
    """The same request through :meth:`CodingDirector.stream_assistance` (one-tier chain)."""
    t0 = time.perf_counter()
    first = None
    pieces = 0
    end = None
    async for event in director.stream_assistance(prompt):
        if isinstance(event, TextDelta) and event.text:
            pieces += 1
            first = first if first is not None else time.perf_counter()
        elif isinstance(event, Finished):
            end = time.perf_counter()
            (attempt,) = event.assistance.attempts
            assert attempt.outcome != "error", attempt.reason
    end = end or time.perf_counter()
    return Timing(((first or end) - t0) * 1000, (end - t0) * 1000, pieces)


@dataclass(frozen=True)
class Cursor:
    """A completion position in a real file: 0-based ``line``, ``character`` (UTF-16 = code
    points here: ASCII lines only)."""

    path: Path
    line: int
    character: int


def completion_cursors(files: list[Path], per_file: int) -> list[list[Cursor]]:
    """Up to ``per_file`` cursors per file, in the middle of ASCII code lines (after ``" = "``, so
    that the rest of the line makes it a single-line completion), spread over each file."""
    out = []
    for path in files:
        lines = path.read_text(encoding="utf-8").splitlines()
        candidates = [
            Cursor(path, i, text.index(" = ") + 3)
            for i, text in enumerate(lines)
            if i > 60 and text.isascii() and " = " in text and len(text.split(" = ", 1)[1].strip()) > 3
        ]
        step = max(1, len(candidates) // per_file)
        out.append(candidates[::step][:per_file])
    return out


def interleave(cursors: list[list[Cursor]]) -> list[Cursor]:
    """Round-robin over the files: consecutive cursors are always in different files."""
    ordered = []
    for k in range(max(len(c) for c in cursors)):
        ordered += [c[k] for c in cursors if k < len(c)]
    return ordered


async def completion_direct(client: openai.AsyncOpenAI, store: DocumentStore, cursor: Cursor, model: str) -> Timing:
    """The baseline: the completer's ``/v1/completions`` request for ``cursor``, sent directly."""
    uri = cursor.path.as_uri()
    prefix, suffix = fim_window(store, uri, cursor.line, cursor.character, FIM_PREFIX_TOKENS, FIM_SUFFIX_TOKENS)
    single = wants_single_line(suffix)
    t0 = time.perf_counter()
    stream = await client.completions.create(
        model=model,
        prompt=heal_prompt(prefix)[0],
        stream=True,
        max_tokens=64,
        temperature=TEMPERATURE,
        stop=completion_stops(single_line=single, language=detect_language(path=uri))[:4],
    )
    return await timed_stream(t0, stream, lambda choice: choice.text)


async def completion_lsp(lsp: Any, cursor: Cursor) -> Timing:
    """A ``textDocument/inlineCompletion`` round trip for ``cursor`` (``pieces`` = items returned)."""
    t0 = time.perf_counter()
    result = await complete(lsp, cursor.path.as_uri(), cursor.line, cursor.character)
    total = (time.perf_counter() - t0) * 1000
    return Timing(total, total, len(result.items) if result else 0)


async def paired(
    subjects: list[Any],
    direct: Callable[[Any], Awaitable[Timing]],
    engine: Callable[[Any], Awaitable[Timing]],
) -> tuple[list[Timing], list[Timing]]:
    """Run ``direct`` and ``engine`` on every subject, two subjects at a time, in the order the
    module docstring gives. Returns the timings in subject order."""
    a: list[Timing | None] = [None] * len(subjects)
    b: list[Timing | None] = [None] * len(subjects)
    for start in range(0, len(subjects) - 1, 2):
        pair = (start, start + 1)
        sides = [(direct, a), (engine, b)]
        if (start // 2) % 2:
            sides.reverse()
        for run, out in sides:
            for i in pair:
                out[i] = await run(subjects[i])
    return [t for t in a if t is not None], [t for t in b if t is not None]


def ratios(engine: list[float], direct: list[float]) -> list[float]:
    return [e / d for e, d in zip(engine, direct, strict=True) if d > 0]


async def measure(
    base_url: str, n: int, files: list[Path], model: str = MODEL, *, embedded: bool = False, completions: bool = True
) -> list[dict[str, Any]]:
    """Every row; ``embedded``: the engine reaches the server as the built-in runtime (same process);
    ``completions=False`` (``--no-completion``) measures the chat rows only."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key="none", max_retries=0, timeout=900)
    lead: dict[str, Any] = {"model": model, "provider": "openai", "base_url": base_url}
    if embedded:
        lead = {"model": model, "provider": "embedded"}
    settings = load_settings(
        tiers={"lead": {**lead, "temperature": 0.0, "num_predict": CHAT_TOKENS}},
        routing={"router": "offline", "general_chain": ["lead"], "math_chain": ["lead"]},
        embedded={"enabled": "off"},
    )  # fmt: skip
    director = CodingDirector(settings)
    prompts = [f"Explain {topic} in two sentences." for topic in TOPICS[: 2 * n + 2]]
    await chat_direct(client, prompts[-1], model)  # warm-up: connections, model pages, imports
    await chat_engine(director, prompts[-2])
    chat_a, chat_b = await paired(
        prompts[: 2 * n], lambda p: chat_direct(client, p, model), lambda p: chat_engine(director, p)
    )
    await director.aclose()
    chat_rows = chat_table(chat_a, chat_b)
    if not completions:
        await client.close()
        return chat_rows

    store = DocumentStore()
    for path in files:
        store.open(path.as_uri(), path.read_text(encoding="utf-8"))
    cursors = interleave(completion_cursors(files, per_file=n // len(files) + 2))[: 2 * n + 2]
    lsp = await start_server(config_toml(base_url, router="offline", completion_debounce_ms=0, model=model))
    for path in files:
        open_doc(lsp, path.as_uri(), path.read_text(encoding="utf-8"), detect_language(path=path.name) or "plaintext")
    await completion_direct(client, store, cursors[-1], model)  # warm-up (also the server's model listing)
    await completion_lsp(lsp, cursors[-2])
    comp_a, comp_b = await paired(
        cursors[: 2 * n], lambda c: completion_direct(client, store, c, model), lambda c: completion_lsp(lsp, c)
    )
    await lsp.shutdown_session()
    await lsp.stop()
    await client.close()

    answered = sum(t.pieces > 0 for t in comp_b)
    return [
        *chat_rows,
        row("real model completion, direct /v1/completions", [t.total_ms for t in comp_a], "ms", "baseline"),
        row(
            "real model inline completion over LSP",
            [t.total_ms for t in comp_b], "ms", f"{answered}/{len(comp_b)} non-empty",
        ),
        row(
            "real model completion: LSP / direct",
            ratios([t.total_ms for t in comp_b], [t.total_ms for t in comp_a]),
            "x", "paired; target <= 1.05",
        ),
    ]  # fmt: skip


def chat_table(chat_a: list[Timing], chat_b: list[Timing]) -> list[dict[str, Any]]:
    """The chat rows: time to first token, total and decode speed, direct vs engine, paired ratios."""
    same_tokens = sum(x.pieces == y.pieces for x, y in zip(chat_a, chat_b, strict=True))
    return [
        row("real model chat, direct: time to first token", [t.first_ms for t in chat_a], "ms", "baseline"),
        row("real model chat, engine: time to first token", [t.first_ms for t in chat_b], "ms", "same request"),
        row(
            "real model chat: TTFT engine / direct",
            ratios([t.first_ms for t in chat_b], [t.first_ms for t in chat_a]),
            "x", "paired; target <= 1.05",
        ),
        row(f"real model chat, direct: total (<={CHAT_TOKENS} tokens)", [t.total_ms for t in chat_a], "ms", "baseline"),
        row(
            "real model chat, engine: total",
            [t.total_ms for t in chat_b], "ms", f"{same_tokens}/{len(chat_a)} same length",
        ),
        row(
            "real model chat: total engine / direct",
            ratios([t.total_ms for t in chat_b], [t.total_ms for t in chat_a]),
            "x", "paired; target <= 1.05",
        ),
        row("real model decode speed, direct", [t.tokens_per_s for t in chat_a], "tok/s", "baseline"),
        row("real model decode speed, engine", [t.tokens_per_s for t in chat_b], "tok/s", "same requests"),
    ]  # fmt: skip


def bench_files(folder: Path) -> list[Path]:
    """Four real, widely used source files of packages installed in this environment (the
    project's own dependencies), copied to ``folder``."""
    import httpx
    import pydantic
    import pygls

    sources = [
        Path(httpx.__file__).with_name("_client.py"),
        Path(pydantic.__file__).with_name("main.py"),
        Path(pygls.__file__).parent / "protocol" / "json_rpc.py",
        Path(openai.__file__).with_name("_base_client.py"),
    ]
    out = []
    for i, src in enumerate(sources):
        dest = folder / f"{i}_{src.name}"
        dest.write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
        out.append(dest)
    return out


async def measure_builtin(n: int, files: list[Path], completions: bool) -> list[dict[str, Any]]:
    """Start the built-in runtime as the product does, then :func:`measure` on it."""
    config = load_settings(embedded={"enabled": "on"}).embedded
    url = await runtime_for(config).ensure_started()
    return await measure(url, n, files, config.model_alias, embedded=True, completions=completions)


def main() -> None:
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 8
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if "--base-url" in sys.argv:
            base_url = sys.argv[sys.argv.index("--base-url") + 1]
            model = sys.argv[sys.argv.index("--model") + 1] if "--model" in sys.argv else MODEL
            rows = asyncio.run(measure(base_url, n, bench_files(folder), model))
        elif "--gemma" in sys.argv:
            base_url = stack.enter_context(llama_server(folder)).base_url
            rows = asyncio.run(measure(base_url, n, bench_files(folder)))
        else:
            rows = asyncio.run(measure_builtin(n, bench_files(folder), "--no-completion" not in sys.argv))
    print_rows(rows, "--json" in sys.argv)


if __name__ == "__main__":
    main()
