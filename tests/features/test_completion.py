"""Inline completions: the pipeline against the Ollama emulator, the cache, and postprocessing.

No test depends on wall-clock thresholds: timing only sets up orderings (a debounce longer than the
gap between requests, a model slower than the deadline by an order of magnitude).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from coding_director.backends import BackendPool
from coding_director.features.completion import (
    Completer,
    CompletionRequest,
    CompletionResult,
    completion_stops,
)
from coding_director.features.completion_cache import CompletionCache
from coding_director.features.completion_post import (
    block_end,
    bracket_depth,
    heal_prompt,
    in_comment_or_string,
    looks_like_prose,
    postprocess,
    remove_suffix_overlap,
    strip_fences,
    unheal_completion,
    wants_single_line,
)
from coding_director.settings import load_settings

from tests.emulator import OllamaEmulator, ScriptedModel
from tests.helpers import closed_port_url

MODEL = "coder:latest"
LOGGER = "coding_director.features.completion"
FIM = ["completion", "insert"]
PY_PREFIX = "import math\n\n\ndef add(a, b):\n    "
PY_SUFFIX = "\n\n\ndef sub(a, b):\n    return a - b\n"

MakeCompleter = Callable[..., Completer]


@pytest.fixture
async def make_completer() -> AsyncIterator[MakeCompleter]:
    """``make_completer(url, **completion_settings)``: a Completer on the emulator's ``coder:latest``
    (debounce 50 ms, timeout 2000 ms unless overridden); closed after the test."""
    made: list[Completer] = []

    def factory(url: str, **completion: Any) -> Completer:
        settings = load_settings(
            ollama={"host": url},
            tiers={"lead": {"model": MODEL}},
            completion={"debounce_ms": 50, "timeout_ms": 2000, **completion},
        )
        completer = Completer(settings, BackendPool(settings))
        made.append(completer)
        return completer

    yield factory
    for completer in made:
        await completer.aclose()
        await completer.pool.aclose()


def request(prefix: str = PY_PREFIX, suffix: str = PY_SUFFIX, **fields: Any) -> CompletionRequest:
    values: dict[str, Any] = {"uri": "file:///w/a.py", "version": 1, "language": "python"}
    values.update(fields)
    return CompletionRequest(prefix=prefix, suffix=suffix, **values)


def generate_calls(emu: OllamaEmulator) -> list[dict[str, Any]]:
    return [r.json for r in emu.calls(path="/api/generate", model=MODEL)]


# -- FIM or prefix-only ------------------------------------------------------------------------
async def test_fim_model_gets_prefix_and_suffix(ollama_emulator: OllamaEmulator, make_completer: MakeCompleter) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=FIM))
    completer = make_completer(ollama_emulator.url)
    result = await completer.complete(request())
    assert result == CompletionResult("return a + b", MODEL, from_cache=False)
    [body] = generate_calls(ollama_emulator)
    assert body["prompt"] == PY_PREFIX and body["suffix"] == PY_SUFFIX
    assert not body.get("raw")
    options = body["options"]
    assert options["num_predict"] == completer.settings.completion.max_tokens
    assert options["temperature"] == pytest.approx(0.1)
    assert "\n\n\n" in options["stop"] and "\n\n" not in options["stop"] and "\n" not in options["stop"]


async def test_completions_that_end_with_done_reuse_one_connection(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    """A completion read to the server's ``done`` leaves its HTTP connection for the next one
    (closing the stream at ``done`` cost a new TCP connection per keystroke)."""
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=FIM))
    completer = make_completer(ollama_emulator.url, debounce_ms=0)
    for n in range(4):
        result = await completer.complete(request(prefix=PY_PREFIX + "#" * n))
        assert result is not None and result.text == "return a + b"
    # The emulator marks a stream completed after its write_eof, which can come after the client
    # has read ``done`` and returned (failed once on a clean clone): wait for the record.
    calls = ollama_emulator.calls(path="/api/generate")
    assert await ollama_emulator.wait_for_async(lambda: all(c.completed or c.closed_early for c in calls))
    assert len(calls) == 4 and all(c.completed and not c.closed_early for c in calls)
    assert len({c.peer for c in calls}) == 1, [c.peer for c in calls]


async def test_fim_with_empty_suffix_still_sends_a_suffix(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=FIM))
    completer = make_completer(ollama_emulator.url)
    assert await completer.complete(request(suffix=""))
    [body] = generate_calls(ollama_emulator)
    assert body["suffix"] == "\n"


async def test_model_without_insert_gets_a_raw_prefix_only_prompt(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=["completion"]))
    completer = make_completer(ollama_emulator.url)
    result = await completer.complete(request())
    assert result is not None and result.text == "return a + b"
    [body] = generate_calls(ollama_emulator)
    assert body["prompt"] == PY_PREFIX
    assert not body.get("suffix") and body.get("raw") is True
    assert not body.get("system")


async def test_capabilities_are_asked_once_per_model(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=FIM))
    completer = make_completer(ollama_emulator.url)
    for typed in ("", "x = 1\n    ", "y = 2\n    "):
        assert await completer.complete(request(prefix=PY_PREFIX + typed))
    assert len(generate_calls(ollama_emulator)) == 3
    assert len(ollama_emulator.calls(path="/api/show")) == 1


async def test_mid_line_cursor_asks_for_one_line(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="a, b)  # sum", capabilities=FIM))
    completer = make_completer(ollama_emulator.url)
    result = await completer.complete(request(prefix="total = add(", suffix=") + offset\n"))
    [body] = generate_calls(ollama_emulator)
    assert "\n" in body["options"]["stop"]
    assert result is not None and result.text == "a, b)  # sum"


@pytest.mark.parametrize("capabilities", [FIM, ["completion"]])
async def test_blanks_ending_the_prompt_are_healed(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter, capabilities: list[str]
) -> None:
    # The model writes the space the prompt no longer ends with; the user typed it already.
    ollama_emulator.add_model(ScriptedModel(MODEL, reply=" math.hypot(a, b)", capabilities=capabilities))
    completer = make_completer(ollama_emulator.url)
    result = await completer.complete(request(prefix="import math\n\n\ndef norm(a, b):\n    return ", suffix="\n"))
    [body] = generate_calls(ollama_emulator)
    assert body["prompt"].endswith("    return")
    assert result is not None and result.text == "math.hypot(a, b)"


@pytest.mark.parametrize(
    ("prefix", "prompt", "removed"),
    [
        ("x = ", "x =", " "),
        ("def f():\n    y = call(a,\t ", "def f():\n    y = call(a,", "\t "),
        ("def f():\n    ", "def f():\n    ", ""),  # indentation is kept
        ("x = 1\n", "x = 1\n", ""),
        ("", "", ""),
    ],
)
def test_heal_prompt(prefix: str, prompt: str, removed: str) -> None:
    assert heal_prompt(prefix) == (prompt, removed)
    assert unheal_completion(removed + "value", removed) == "value"
    assert unheal_completion("value", removed) == "value"


# -- debounce, newest wins, cancellation -------------------------------------------------------
async def test_burst_of_twenty_requests_reaches_the_model_at_most_twice(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="\n    return result", capabilities=FIM))
    completer = make_completer(ollama_emulator.url, debounce_ms=150)
    line = "result = sum(item.price for item in it"
    prefixes = [f"def total(items):\n    {line[: len(line) - 19 + i]}" for i in range(20)]
    tasks = []
    for prefix in prefixes:
        tasks.append(asyncio.create_task(completer.complete(request(prefix=prefix, suffix="\n"))))
        await asyncio.sleep(0.03)
    results = await asyncio.gather(*tasks)
    assert len(generate_calls(ollama_emulator)) <= 2
    assert results[-1] is not None and results[-1].text == "\n    return result"
    assert completer.stats.requests == 20
    assert completer.stats.debounced >= 18
    assert completer.stats.model_calls == len(generate_calls(ollama_emulator))


async def test_newer_request_cancels_the_older_model_call(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=FIM, first_token_delay_ms=600))
    completer = make_completer(ollama_emulator.url, timeout_ms=10_000)
    older = asyncio.create_task(completer.complete(request()))
    assert await ollama_emulator.wait_for_async(lambda: len(generate_calls(ollama_emulator)) == 1)
    newer = await completer.complete(request(prefix=PY_PREFIX + "\n    "))
    assert await older is None
    assert newer is not None and newer.text == "return a + b"
    assert completer.stats.cancelled == 1 and completer.stats.model_calls == 2
    first = ollama_emulator.calls(path="/api/generate")[0]
    assert await ollama_emulator.wait_for_async(lambda: first.closed_early)


async def test_identical_request_joins_the_call_in_flight(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=FIM, first_token_delay_ms=300))
    completer = make_completer(ollama_emulator.url, timeout_ms=10_000)
    first = asyncio.create_task(completer.complete(request()))
    assert await ollama_emulator.wait_for_async(lambda: len(generate_calls(ollama_emulator)) == 1)
    second = await completer.complete(request())
    assert second is not None and (await first) == second
    assert len(generate_calls(ollama_emulator)) == 1


async def test_cancelling_the_caller_propagates_and_closes_the_stream(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=FIM, first_token_delay_ms=500))
    completer = make_completer(ollama_emulator.url, timeout_ms=10_000)
    task = asyncio.create_task(completer.complete(request()))
    assert await ollama_emulator.wait_for_async(lambda: len(generate_calls(ollama_emulator)) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    call = ollama_emulator.calls(path="/api/generate")[0]
    assert await ollama_emulator.wait_for_async(lambda: call.closed_early)
    # Nothing was cached from the cancelled call.
    assert completer.cache.get(MODEL, PY_PREFIX, PY_SUFFIX) is None


async def test_cancelling_during_debounce_makes_no_model_call(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=FIM))
    completer = make_completer(ollama_emulator.url, debounce_ms=200)
    task = asyncio.create_task(completer.complete(request()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert completer.stats.model_calls == 0 and generate_calls(ollama_emulator) == []


# -- cache -------------------------------------------------------------------------------------
async def test_retyping_a_prefix_reuses_the_completion(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=FIM))
    completer = make_completer(ollama_emulator.url)
    first = await completer.complete(request())
    await completer.complete(request(prefix=PY_PREFIX[:-1]))  # a backspace: another completion
    again = await completer.complete(request())  # retyped
    assert first is not None and again is not None
    assert again.text == first.text and again.from_cache and not first.from_cache
    assert len(generate_calls(ollama_emulator)) == 2
    assert completer.stats.cache_hits == 1


async def test_typing_through_a_cached_completion_serves_the_rest(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=FIM))
    completer = make_completer(ollama_emulator.url)
    assert await completer.complete(request())
    rest = await completer.complete(request(prefix=PY_PREFIX + "ret"))
    assert rest == CompletionResult("urn a + b", MODEL, from_cache=True)
    rest = await completer.complete(request(prefix=PY_PREFIX + "return a +"))
    assert rest is not None and rest.text == " b" and rest.from_cache
    assert len(generate_calls(ollama_emulator)) == 1
    # Typing something else is a miss: the model is asked.
    await completer.complete(request(prefix=PY_PREFIX + "raise"))
    assert len(generate_calls(ollama_emulator)) == 2


async def test_unusable_answer_is_cached_as_nothing(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    ollama_emulator.add_model(
        ScriptedModel(MODEL, reply="Sure! Here is the completed function:\n```python\nreturn a + b\n```")
    )
    completer = make_completer(ollama_emulator.url)
    assert await completer.complete(request()) is None
    assert await completer.complete(request()) is None
    assert len(generate_calls(ollama_emulator)) == 1
    assert completer.stats.rejected == 1 and completer.stats.cache_hits == 1


# -- deadlines and errors ----------------------------------------------------------------------
async def test_slow_first_token_times_out_and_closes_the_stream(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=FIM, first_token_delay_ms=3000))
    completer = make_completer(ollama_emulator.url, timeout_ms=200)
    assert await completer.complete(request()) is None
    assert completer.stats.timeouts == 1
    call = ollama_emulator.calls(path="/api/generate")[0]
    assert await ollama_emulator.wait_for_async(lambda: call.closed_early)
    assert completer.cache.get(MODEL, PY_PREFIX, PY_SUFFIX) is None


async def test_slow_stream_times_out_without_a_partial_answer(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    words = " ".join(f"x{i}" for i in range(40))
    ollama_emulator.add_model(ScriptedModel(MODEL, reply=words, capabilities=FIM, chunk_delay_ms=100))
    completer = make_completer(ollama_emulator.url, timeout_ms=300)
    assert await completer.complete(request()) is None
    assert completer.stats.timeouts == 1
    call = ollama_emulator.calls(path="/api/generate")[0]
    assert await ollama_emulator.wait_for_async(lambda: call.closed_early)
    assert 0 < call.chunks_sent < 40


async def test_dead_endpoint_gives_nothing_and_logs_once(
    make_completer: MakeCompleter, caplog: pytest.LogCaptureFixture
) -> None:
    completer = make_completer(closed_port_url())
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    for typed in ("", "r", "re"):
        assert await completer.complete(request(prefix=PY_PREFIX + typed)) is None
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "cannot reach" in warnings[0].getMessage()
    assert completer.stats.errors == 3 and completer.stats.timeouts == 0


async def test_error_mid_stream_and_missing_model_give_nothing(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter, caplog: pytest.LogCaptureFixture
) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=FIM, error_after_chunks=1))
    completer = make_completer(ollama_emulator.url)
    caplog.set_level(logging.WARNING, logger=LOGGER)
    assert await completer.complete(request()) is None
    assert await completer.complete(request()) is None  # errors are not cached: asked again
    assert len(generate_calls(ollama_emulator)) == 2
    ollama_emulator.remove_model(MODEL)
    assert await completer.complete(request(prefix=PY_PREFIX + "x")) is None
    messages = [r.getMessage() for r in caplog.records if r.name == LOGGER]
    assert len(messages) == 2
    assert "mid-stream" in messages[0] and "not found" in messages[1]


async def test_stream_stops_once_the_block_has_ended(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    reply = "return a + b\n\ndef mul(a, b):\n    return a * b\n\ndef div(a, b):\n    return a / b\n"
    ollama_emulator.add_model(ScriptedModel(MODEL, reply=reply, capabilities=FIM, chunk_delay_ms=30))
    completer = make_completer(ollama_emulator.url)
    result = await completer.complete(request(suffix=""))
    assert result is not None and result.text == "return a + b"
    call = ollama_emulator.calls(path="/api/generate")[0]
    assert await ollama_emulator.wait_for_async(lambda: call.closed_early)
    assert not call.completed


async def test_disabled_completions_call_nothing(
    ollama_emulator: OllamaEmulator, make_completer: MakeCompleter
) -> None:
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=FIM))
    completer = make_completer(ollama_emulator.url, enabled=False)
    assert await completer.complete(request()) is None
    assert ollama_emulator.requests == []


def test_stats_serialise_in_camel_case() -> None:
    settings = load_settings(tiers={"lead": {"model": MODEL}})
    completer = Completer(settings, BackendPool(settings))
    assert completer.stats.model_dump(by_alias=True) == {
        "requests": 0,
        "modelCalls": 0,
        "cacheHits": 0,
        "debounced": 0,
        "cancelled": 0,
        "timeouts": 0,
        "errors": 0,
        "rejected": 0,
    }


def test_stop_sequences() -> None:
    assert completion_stops(single_line=False, language="python") == ["\n\n\n", "\n```"]
    assert completion_stops(single_line=True, language=None) == ["\n\n\n", "\n```", "\n"]


# -- cache unit tests --------------------------------------------------------------------------
def test_cache_is_lru_and_keyed_by_model_prefix_tail_and_suffix_head() -> None:
    cache = CompletionCache(capacity=2, prefix_chars=5, suffix_chars=3)
    cache.put("m", "aaaaa12345", "xyz-tail", "one")
    assert cache.get("m", "bbbbb12345", "xyz-other") == "one"  # same tail and head
    assert cache.get("other", "aaaaa12345", "xyz") is None
    cache.put("m", "22222", "", "two")
    cache.get("m", "12345", "xyz")  # touch "one"
    cache.put("m", "33333", "", "three")
    assert len(cache) == 2
    assert cache.get("m", "22222", "") is None and cache.get("m", "12345", "xyz") == "one"


def test_cache_typing_through() -> None:
    cache = CompletionCache()
    cache.put("m", "x = ", "\n", "compute(1, 2)")
    assert cache.get("m", "x = comp", "\n") == "ute(1, 2)"
    assert cache.get("m", "x = compute(1, 2)", "\n") is None  # typed all of it
    assert cache.get("m", "x = cat", "\n") is None  # typed something else
    assert cache.get("m", "x = comp", "other") is None  # the suffix changed
    cache.put("m", "y = ", "", "")  # "nothing here" is served only for the exact spot
    assert cache.get("m", "y = ", "") == "" and cache.get("m", "y = a", "") is None


# -- postprocessing unit tests -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("```python\nreturn a + b\n```", "return a + b"),
        ("\n```py\nreturn a + b\n```\nThis returns the sum.", "return a + b"),
        ("return a + b\n```\nmore text", "return a + b"),
        ("~~~\nreturn a + b\n~~~", "return a + b"),
        ("return a + b", "return a + b"),
    ],
)
def test_strip_fences(raw: str, expected: str) -> None:
    assert strip_fences(raw).strip() == expected


@pytest.mark.parametrize(
    "raw",
    [
        "Sure! Here is the function:\n```python\nreturn a + b\n```",
        "Here's the completed code:\nreturn a + b",
        "Certainly. return a + b",
        "I'll complete the function for you.",
        "I cannot help with that.",
        "As an AI language model, I think this adds.",
        "This code returns the sum of a and b.",
        "The function adds the two numbers",
        "Returns the sum of both arguments.",
        "\n\nNote: the function adds numbers.",
        "```python\nThis function adds the numbers.\n```",
    ],
)
def test_prose_is_rejected_in_code(raw: str) -> None:
    assert postprocess(raw, prefix=PY_PREFIX, suffix=PY_SUFFIX, language="python") is None


@pytest.mark.parametrize(
    ("prefix", "language"),
    [
        ("def add(a, b):\n    # ", "python"),
        ('def add(a, b):\n    """', "python"),
        ("int add(int a, int b) {\n  /* ", "c"),
        ("function f() {\n  // ", "javascript"),
        ('print("', "python"),
    ],
)
def test_prose_is_fine_in_comments_and_strings(prefix: str, language: str) -> None:
    text = "This code returns the sum of a and b."
    assert postprocess(text, prefix=prefix, suffix="", language=language) == text


@pytest.mark.parametrize("prefix", ["# Title\n\n", "Dear team,\n"])
def test_a_sentence_is_fine_in_a_document_without_a_grammar(prefix: str) -> None:
    # Markdown and plain text have no grammar: the server passes language=None for them.
    text = "We ship the release on Friday after the review."
    assert postprocess(text, prefix=prefix, suffix="", language=None) == text
    assert postprocess(text, prefix=prefix, suffix="", language="python") is None


@pytest.mark.parametrize(
    "raw",
    [
        "return a + b",
        "I = 1",
        "Index = Foo(bar)",
        "result = sum(values)  # Here is the sum",
        "if a > b:\n        return a - b",
    ],
)
def test_code_is_not_mistaken_for_prose(raw: str) -> None:
    assert not looks_like_prose(raw, PY_PREFIX, "python")


def test_sentence_check_needs_a_known_language() -> None:
    assert not looks_like_prose("Returns the sum of both arguments.", "x\n", None)
    assert looks_like_prose("Sure, here it is.", "x\n", None)


@pytest.mark.parametrize(
    ("prefix", "raw", "expected"),
    [
        # The cursor line opens a block: its body only, not the next function.
        ("def f(x):", "\n    return x\n\ndef g():\n    pass", "\n    return x"),
        # Inside a body: stops at the dedent.
        ("def f(x):\n    ", "y = x * 2\n    return y\n\nprint(f(2))", "y = x * 2\n    return y"),
        # A compound statement started on an empty line ends with its block; else continues it.
        (
            "def f(x):\n    ",
            "if x:\n        a()\n    else:\n        b()\n    c()",
            "if x:\n        a()\n    else:\n        b()",
        ),
        # Closing a bracket opened before the cursor ends the statement.
        ("total = add(\n    ", "a,\n    b,\n)\nprint(total)", "a,\n    b,\n)"),
        # Dedented text inside a multi-line string does not count.
        ("def f():\n    ", 'return """\nline\n"""\n    x = 1', 'return """\nline\n"""\n    x = 1'),
    ],
)
def test_block_end_python(prefix: str, raw: str, expected: str) -> None:
    assert postprocess(raw, prefix=prefix, suffix="", language="python") == expected


@pytest.mark.parametrize(
    ("language", "prefix", "raw", "expected"),
    [
        ("javascript", "function f() {\n  ", "return 1;\n}\n\nfunction g() {\n}", "return 1;\n}"),
        (
            "javascript",
            "if (x",
            ") {\n  go();\n} else {\n  stop();\n}\nnext();",
            ") {\n  go();\n} else {\n  stop();\n}",
        ),
        ("javascript", "foo(a, ", "b);\nbar();", "b);"),
        (
            "c",
            "int f(void) {\n  ",
            'puts("}");\n  return 0; // }\n}\nint g;',
            'puts("}");\n  return 0; // }\n}',
        ),
        ("go", "func f() {\n\t", "for {\n\t\tstep()\n\t}\n}\n\nfunc g() {}", "for {\n\t\tstep()\n\t}\n}"),
        (
            "rust",
            "impl X {\n    ",
            "fn f<'a>(x: &'a str) -> &'a str {\n        x\n    }\n}\nfn g() {}",
            "fn f<'a>(x: &'a str) -> &'a str {\n        x\n    }\n}",
        ),
    ],
)
def test_block_end_brace_languages(language: str, prefix: str, raw: str, expected: str) -> None:
    assert postprocess(raw, prefix=prefix, suffix="", language=language) == expected


def test_block_end_returns_a_newline_index() -> None:
    text = "return 1;\n}\nnext();"
    cut = block_end(text, "function f() {\n  ", "javascript")
    assert cut == text.index("\n", text.index("}")) and text[cut] == "\n"
    assert block_end("return 1;", "function f() {\n  ", "javascript") == len("return 1;")


@pytest.mark.parametrize(
    ("prefix", "raw", "suffix", "expected"),
    [
        # The closing bracket after the cursor is already there.
        ("total = add(", "a, b)", ")\n", "a, b"),
        ('print("', 'hello")', '")\n', "hello"),
        ("def f(", "a, b):", "):\n    pass\n", "a, b"),
        # A call the completion opened and closed itself is kept whole.
        ("total = add(", "bar(x)", ")\n", "bar(x)"),
        # The next lines are already there.
        ("function f() {\n  ", "return 1;\n}", "\n}\n", "return 1;"),
        ("def f(x):\n    ", "y = x\n    return y", "\n    return y\n", "y = x"),
        # A } closing an if the completion opened is not the function's } below.
        ("function f() {\n  ", "if (x) {\n    y();\n  }", "\n}\n", "if (x) {\n    y();\n  }"),
        # Only a repeat of what follows: nothing to insert.
        ("def f(x):\n", "    return x", "\n    return x\n", None),
        # A one-letter coincidence is not an overlap.
        ("x = a + ", "b", "b\n", "b"),
    ],
)
def test_suffix_overlap(prefix: str, raw: str, suffix: str, expected: str | None) -> None:
    language = "javascript" if "{" in prefix else "python"
    assert postprocess(raw, prefix=prefix, suffix=suffix, language=language) == expected


def test_remove_suffix_overlap_direct() -> None:
    assert remove_suffix_overlap("a, b)", ")", "python") == "a, b"
    assert remove_suffix_overlap("x = 1", "", "python") == "x = 1"


def test_trailing_whitespace_and_empty_results() -> None:
    assert postprocess("return a + b   \n\n  ", prefix=PY_PREFIX, suffix="", language="python") == "return a + b"
    assert postprocess("   \n\n", prefix=PY_PREFIX, suffix="", language="python") is None
    assert postprocess("", prefix=PY_PREFIX, suffix="", language="python") is None
    assert postprocess("```python\n```", prefix=PY_PREFIX, suffix="", language="python") is None


def test_single_line_mode_and_leading_space() -> None:
    assert wants_single_line(" + offset\n") and not wants_single_line(")\n") and not wants_single_line("\nx")
    assert postprocess("1\ny = 2", prefix="x = ", suffix=" + z\n", language="python") == "1"
    assert postprocess(" 1", prefix="x = ", suffix="", language="python") == "1"


def test_lexical_helpers() -> None:
    assert bracket_depth("f(a, '(') + [1]", "python") == 0
    assert bracket_depth("x) // (", "javascript") == -1
    assert in_comment_or_string('x = "abc', "python") and not in_comment_or_string('x = "abc" + y', "python")
    assert in_comment_or_string("x = 1  # note", "python") and in_comment_or_string("/* a", "c")
    assert not in_comment_or_string("/* a */ x", "c")


async def test_a_non_local_completion_tier_gets_no_secrets_and_no_withheld_files(
    ollama_emulator: OllamaEmulator, tmp_path: Any
) -> None:
    """Secrets kept home for inline completions: local tiers see the text as it is."""
    ollama_emulator.add_model(ScriptedModel(MODEL, reply="return a + b", capabilities=FIM))
    key = "AKIAIOSFODNN7EXAMPLE"
    prefix = f'AWS_ACCESS_KEY_ID = "{key}"\n\n\ndef add(a, b):\n    '
    made = []
    for local in (True, False):
        settings = load_settings(ollama={"host": ollama_emulator.url},
                                 tiers={"lead": {"model": MODEL, "local": local}}, completion={"debounce_ms": 0})
        made.append(Completer(settings, BackendPool(settings)))
    here, away = made
    try:
        assert await here.complete(request(prefix=prefix)) is not None
        assert await away.complete(request(prefix=prefix, uri="file:///w/b.py")) is not None
        first, second = generate_calls(ollama_emulator)
        assert key in first["prompt"] and key not in second["prompt"]
        assert '"[REDACTED:AWS Access Key]"' in second["prompt"]
        dotenv = request(prefix="API_TOKEN=", suffix="", uri=(tmp_path / ".env").as_uri(), language=None)
        assert await away.complete(dotenv) is None and len(generate_calls(ollama_emulator)) == 2
    finally:
        for completer in made:
            await completer.aclose()
            await completer.pool.aclose()
