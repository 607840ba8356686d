"""LSP round-trip overhead of inline completion and chat, and model calls per typing burst.

Against a zero-latency Ollama emulator (own process), in one run:

- the backend call made directly (``OllamaBackend.generate_stream`` / ``chat_stream``);
- the same work through ``coding-director serve`` over stdio (``textDocument/inlineCompletion``
  with debounce 0 and a cache miss each time; ``codingDirector/chat``);
- a 20-keystroke burst, 30 ms apart, with the default debounce: model calls it caused.

Targets (issue 4): overhead p95 under 10 ms; at most 2 model calls per 20-keystroke burst.
Run: ``.venv/bin/python bench/lsp_bench.py [--json] [--n 100]``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import emulator_process, print_rows, row
from _lsp_client import complete, insert, open_doc
from _lsp_client import start_server as start_lsp
from coding_director.backends import GenerateOptions, GeneratePrompt, Message
from coding_director.backends.ollama import OllamaBackend
from coding_director.lsp.convert import to_plain
from lsprotocol import types

MODEL = "bench-coder:latest"
CHAT_REPLY = "Recursion is a function calling itself on a smaller input until a base case. " * 2


async def start_server(url: str, debounce_ms: int) -> Any:
    tiers = "".join(f'[tiers.{t}]\nmodel = "{MODEL}"\n' for t in ("router", "math", "lead", "senior", "principal"))
    return await start_lsp(
        f'[ollama]\nhost = "{url}"\n{tiers}[routing]\nrouter = "offline"\n[completion]\ndebounce_ms = {debounce_ms}\n'
    )


async def measure(url: str, n: int) -> list[dict[str, Any]]:
    backend = OllamaBackend(url)
    options = GenerateOptions(num_predict=96, temperature=0.1)
    client = await start_server(url, debounce_ms=0)
    uri = Path(tempfile.mkdtemp(), "bench.py").as_uri()
    open_doc(client, uri, "import os\n\n\ndef handler(event):\n    value = \n")
    direct_fim: list[float] = []
    lsp_fim: list[float] = []
    direct_chat: list[float] = []
    lsp_chat: list[float] = []
    version = 1
    column = 12
    for i in range(n + 10):  # the first 10 are warm-up
        version += 1
        insert(client, uri, version, 4, column, "x")  # a new prefix: no cache hit
        column += 1
        t0 = time.perf_counter()
        async for _ in backend.generate_stream(MODEL, GeneratePrompt(f"prefix {i}", suffix="\n"), options):
            pass
        t1 = time.perf_counter()
        result = await complete(client, uri, 4, column)
        t2 = time.perf_counter()
        assert result is not None and result.items, "the server returned no completion"
        messages = [Message(role="user", content=f"Explain recursion {i}")]
        t3 = time.perf_counter()
        async for _ in backend.chat_stream(MODEL, messages, GenerateOptions()):
            pass
        t4 = time.perf_counter()
        answer = await client.protocol.send_request_async(
            "codingDirector/chat", {"chatId": f"b{i}", "prompt": f"Explain recursion {i}"}
        )
        t5 = time.perf_counter()
        assert to_plain(answer)["accepted"], answer
        if i >= 10:
            direct_fim.append((t1 - t0) * 1000)
            lsp_fim.append((t2 - t1) * 1000)
            direct_chat.append((t4 - t3) * 1000)
            lsp_chat.append((t5 - t4) * 1000)
    await client.shutdown_session()
    await client.stop()

    bursts: list[float] = []
    for _ in range(3):
        client = await start_server(url, debounce_ms=150)  # the product default
        uri = Path(tempfile.mkdtemp(), "burst.py").as_uri()
        open_doc(client, uri, "def f(a):\n    \n")
        tasks = []
        for k, ch in enumerate("return a * 2 + 1 #x"):  # 20 keystrokes, 30 ms apart
            insert(client, uri, 2 + k, 1, 4 + k, ch)
            tasks.append(asyncio.ensure_future(complete(client, uri, 1, 5 + k)))
            await asyncio.sleep(0.03)
        await asyncio.gather(*tasks, return_exceptions=True)
        stats = to_plain(
            await client.workspace_execute_command_async(types.ExecuteCommandParams(command="codingDirector.showStats"))
        )
        bursts.append(float(stats["completions"]["modelCalls"]))
        await client.shutdown_session()
        await client.stop()
    await backend.aclose()
    fim_overhead = [b - a for a, b in zip(direct_fim, lsp_fim, strict=True)]
    chat_overhead = [b - a for a, b in zip(direct_chat, lsp_chat, strict=True)]
    return [
        row("FIM generate, backend called directly", direct_fim, "ms", "baseline"),
        row("inline completion over LSP (stdio)", lsp_fim, "ms", "same model call"),
        row("inline completion LSP overhead", fim_overhead, "ms", "paired; target p95 < 10"),
        row("chat stream, backend called directly", direct_chat, "ms", "baseline"),
        row("codingDirector/chat over LSP (stdio)", lsp_chat, "ms", "same model call"),
        row("chat LSP overhead", chat_overhead, "ms", "paired; target p95 < 10"),
        row("model calls per 20-keystroke burst", bursts, "calls", "3 bursts; target <= 2"),
    ]


def main() -> None:
    n = int(sys.argv[sys.argv.index("--n") + 1]) if "--n" in sys.argv else 100
    models = [{"name": MODEL, "reply": CHAT_REPLY, "capabilities": ["completion", "insert"]}]
    with emulator_process(models) as url:
        rows = asyncio.run(measure(url, n))
    print_rows(rows, "--json" in sys.argv)


if __name__ == "__main__":
    main()
