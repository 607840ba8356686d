"""Data types of the Ollama emulator: scripted models, the request a script sees, recorded requests.

Units: every delay in this Python API is in **milliseconds**; every duration on the wire (``total_duration``,
``eval_duration``...) is in **nanoseconds**, as Ollama sends it.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = [
    "RecordedRequest",
    "ReplyFn",
    "ScriptRequest",
    "ScriptedError",
    "ScriptedModel",
    "embed_text",
    "split_reply",
]

DEFAULT_ERROR_MESSAGE = "an error was encountered while running the model: unexpected EOF"
DEFAULT_HTTP_ERROR = "llama runner process has terminated: exit status 2"
#: Chunks of a looping reply when the request sets no ``num_predict`` (about 17 minutes at 10 ms a chunk).
LOOP_MAX_CHUNKS = 100_000
#: Values of ``ScriptedModel.stream_fault`` (``None`` = a well-formed stream).
STREAM_FAULTS = frozenset({None, "truncated", "invalid_utf8", "huge_line", "stall"})


class ScriptedError(Exception):
    """Raise from a ``reply`` callable to answer with an HTTP error instead of text.

    The emulator answers ``status`` with ``{"error": message}`` (Ollama endpoints) or the OpenAI error shape
    (``/v1/*`` endpoints), with ``headers`` added to the response (``{"Retry-After": "30"}`` on a 429).
    Useful for "fail the first N calls, then succeed" scripts.
    """

    def __init__(self, message: str, status: int = 500, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class ScriptRequest:
    """The parsed request handed to a ``reply`` callable.

    Attributes:
        endpoint: ``"generate"``, ``"chat"``, ``"openai_chat"`` or ``"openai_completion"``.
        model: the resolved model name (always with a tag, e.g. ``"coder:latest"``).
        prompt: ``prompt`` of generate/completions; for chat endpoints the content of the last user message.
        suffix: FIM suffix (``""`` when absent).
        system: ``system`` of generate, or the content of the first system message of a chat.
        messages: chat messages as sent (``[]`` for generate/completions).
        options: Ollama ``options`` (for ``/v1`` requests: ``max_tokens``→``num_predict``, ``stop``,
            ``temperature``, ``top_p``, ``seed`` mapped the way Ollama maps them).
        body: the whole JSON body as received.
    """

    endpoint: str
    model: str
    prompt: str = ""
    suffix: str = ""
    system: str = ""
    messages: list[dict[str, Any]] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)


ReplyFn = Callable[[ScriptRequest], "str | Sequence[str]"]
"""A reply callable: returns the reply text (split into chunks by the model) or an explicit list of chunks.
It may raise :class:`ScriptedError` to answer with an HTTP error."""


@dataclass
class ScriptedModel:
    """One model the emulator serves, with a scripted behaviour.

    Attributes:
        name: model name; ``":latest"`` is appended when no tag is given (as Ollama does).
        reply: fixed reply text, or a callable ``reply(req: ScriptRequest) -> str | list[str]`` computed per
            request (a list is taken as the exact chunks). A refusal or an empty reply is just a text
            (``"I'm sorry, but I can't help with that."`` / ``""``).
        capabilities: as reported by ``/api/show``: ``"completion"``, ``"insert"`` (FIM: accepts ``suffix``),
            ``"tools"``, ``"embedding"``, ``"vision"``, ``"thinking"``. Generate/chat need ``"completion"``.
        chunks: explicit chunks for a fixed reply (overrides splitting ``reply``).
        tokens_per_chunk: when splitting a text reply, how many word-tokens (a word with its leading
            whitespace) go in one streamed chunk.
        first_token_delay_ms: delay before the first chunk (or before the whole non-streamed answer), in ms.
        chunk_delay_ms: delay between two chunks, in ms (a non-streamed answer waits the sum).
        error_after_chunks: if set, the stream never finishes normally: after ``min(N, len(chunks))`` content
            chunks comes a final NDJSON line ``{"error": error_message}`` (SSE ``data: {"error": {...}}``
            without ``[DONE]`` on ``/v1``) under the 200 already sent. ``0`` errors before any content. A
            non-streamed request gets HTTP 500 ``{"error": error_message}`` instead.
        error_message: message of that mid-stream error.
        stream_fault: a malformed stream under the 200 already sent (NDJSON and SSE alike), after
            ``fault_after_chunks`` good content chunks: ``"truncated"`` (half a message line, then the
            body ends: no final chunk, no ``[DONE]``), ``"invalid_utf8"`` (a message whose content holds
            the bytes ``ff fe``, then the normal end), ``"huge_line"`` (one valid message line of
            ``huge_line_bytes`` bytes of content, then the normal end) or ``"stall"`` (nothing more is
            sent and the body never ends until the client leaves). ``None``: a well-formed stream.
        fault_after_chunks: good content chunks sent before the fault.
        huge_line_bytes: size of the ``"huge_line"`` content (default 10 MB).
        status: HTTP status for inference endpoints (generate/chat/embed and ``/v1/*``); anything other than
            200 answers ``{"error": http_error}`` with that status before streaming begins.
        http_error: message of that HTTP error.
        error_headers: headers sent with that HTTP error (``{"Retry-After": "30"}`` with ``status=429``).
        loop: a generation loop: the reply's chunks repeat until ``options.num_predict`` chunks (or
            :data:`LOOP_MAX_CHUNKS` without a limit), paced by ``chunk_delay_ms`` — a model that loops
            "for minutes" unless the client closes the stream.
        ignore_num_predict: stream every chunk even past ``options.num_predict`` (a server that ignores
            the token limit).
        done_reason: ``done_reason`` of the final chunk (``"stop"``; ``"length"`` is also produced
            automatically when ``options.num_predict`` cuts the reply).
        embedding_dim: dimension of the deterministic (hash-based, L2-normalised) embeddings.
        context_length: reported in ``/api/show`` ``model_info``.
        family, parameter_size, quantization_level, size: reported in ``details`` / tags; ``size`` in bytes
            (the file on disk, as ``/api/tags`` reports it); ``/api/show`` reports
            ``general.parameter_count`` from ``parameter_size``.
        memory_size: bytes the model takes once loaded (weights and context cache), as ``/api/ps``
            reports ``size``; ``None``: ``size``.
        load_ms: how long loading the model takes, in ms (a request that finds it unloaded waits this).
    """

    name: str
    reply: str | ReplyFn = "Hello from the Ollama emulator."
    capabilities: list[str] = field(default_factory=lambda: ["completion"])
    chunks: list[str] | None = None
    tokens_per_chunk: int = 1
    first_token_delay_ms: float = 0.0
    chunk_delay_ms: float = 0.0
    error_after_chunks: int | None = None
    error_message: str = DEFAULT_ERROR_MESSAGE
    stream_fault: str | None = None
    fault_after_chunks: int = 1
    huge_line_bytes: int = 10 * 1024 * 1024
    status: int = 200
    http_error: str = DEFAULT_HTTP_ERROR
    error_headers: dict[str, str] = field(default_factory=dict)
    done_reason: str = "stop"
    loop: bool = False
    ignore_num_predict: bool = False
    embedding_dim: int = 64
    context_length: int = 8192
    family: str = "llama"
    parameter_size: str = "7B"
    quantization_level: str = "Q4_K_M"
    size: int = 4_109_865_159
    memory_size: int | None = None
    load_ms: float = 0.0

    def __post_init__(self) -> None:
        self.name = normalize_name(self.name)
        if self.stream_fault not in STREAM_FAULTS:
            known = sorted(f for f in STREAM_FAULTS if f)
            raise ValueError(f"unknown stream_fault {self.stream_fault!r}; one of {known}")

    @property
    def digest(self) -> str:
        """A stable fake sha256 digest (64 hex chars) derived from the name."""
        return hashlib.sha256(("model:" + self.name).encode()).hexdigest()

    @property
    def parameter_count(self) -> int:
        """``parameter_size`` as a count (``"7B"`` -> 7e9, ``"135M"`` -> 1.35e8); 0 when unparsable."""
        match = re.fullmatch(r"([\d.]+)\s*([KMBT]?)", self.parameter_size.strip(), flags=re.IGNORECASE)
        if match is None:
            return 0
        scale = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}[match.group(2).upper()]
        return round(float(match.group(1)) * scale)

    def supports(self, capability: str) -> bool:
        """Whether ``capability`` is in :attr:`capabilities`."""
        return capability in self.capabilities

    def render_chunks(self, req: ScriptRequest) -> list[str]:
        """The content chunks for ``req`` (before ``num_predict``/``stop`` cuts). May raise ScriptedError."""
        if callable(self.reply):
            out = self.reply(req)
            if isinstance(out, str):
                return split_reply(out, self.tokens_per_chunk)
            return [str(c) for c in out]
        if self.chunks is not None:
            return list(self.chunks)
        return split_reply(self.reply, self.tokens_per_chunk)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScriptedModel:
        """Build from a scenario JSON object (static fields only; unknown keys raise ValueError)."""
        data = dict(data)
        by_system = data.pop("reply_by_system", None)
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown ScriptedModel field(s): {sorted(unknown)}")
        kwargs = {k: v for k, v in data.items() if not (k == "reply" and v is None)}
        if "reply" in kwargs and not isinstance(kwargs["reply"], str):
            raise ValueError("a scenario 'reply' must be a string")
        if by_system is not None:
            kwargs["reply"] = _reply_by_system(by_system, kwargs.get("reply", cls.reply))
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The static fields as a JSON-compatible dict (a callable ``reply`` is replaced by ``None``)."""
        d = asdict(self)
        if callable(self.reply):
            d["reply"] = None
        return d


def _reply_by_system(table: Any, default: Any) -> ReplyFn:
    """A reply callable for a scenario's ``"reply_by_system": [[substring, reply], ...]``: the first
    pair whose substring occurs in the request's system message gives the reply, else ``default``."""
    if not isinstance(table, list) or not all(
        isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair) for pair in table
    ):
        raise ValueError("'reply_by_system' must be a list of [substring, reply] string pairs")
    pairs = [(needle, reply) for needle, reply in table]

    def reply(req: ScriptRequest) -> str:
        return next((text for needle, text in pairs if needle in req.system), default)

    return reply


@dataclass
class RecordedRequest:
    """One HTTP request the emulator received (every path, including errors and unknown routes).

    Attributes:
        method: HTTP method (``"POST"``).
        path: URL path (``"/api/generate"``).
        body: parsed JSON body, or ``None`` when absent or not valid JSON.
        timestamp: ``time.time()`` when the request arrived (seconds since the epoch).
        model: ``body["model"]`` when present (as sent, not normalised).
        status: HTTP status answered (0 until the response starts).
        streamed: whether the answer was a stream (NDJSON or SSE).
        chunks_sent: content chunks written so far (streamed or not).
        completed: the full answer (including the final chunk / ``[DONE]``) was written.
        closed_early: the client went away before the answer was complete (stream closed, request cancelled,
            or the connection reset while the emulator was still writing or waiting to write).
        peer: the client's ``host:port`` (requests on one kept-alive connection share it).
    """

    method: str
    path: str
    body: Any
    timestamp: float
    model: str | None = None
    status: int = 0
    streamed: bool = False
    chunks_sent: int = 0
    completed: bool = False
    closed_early: bool = False
    peer: str = ""

    @property
    def json(self) -> dict[str, Any]:
        """The body as a dict (``{}`` when it is not a JSON object)."""
        return self.body if isinstance(self.body, dict) else {}

    @property
    def load_only(self) -> bool:
        """An Ollama load or unload request: ``/api/generate`` without a prompt or ``/api/chat``
        without messages (a warm-up, or ``keep_alive: 0``), not an inference."""
        if self.path == "/api/generate":
            return not self.json.get("prompt")
        return self.path == "/api/chat" and not self.json.get("messages")

    @property
    def inference(self) -> bool:
        """A generation request (``/api/generate``, ``/api/chat``) that is not :attr:`load_only`."""
        return self.path in ("/api/generate", "/api/chat") and not self.load_only


def normalize_name(name: str) -> str:
    """``"coder"`` → ``"coder:latest"``; names with a tag are unchanged."""
    base = name.rsplit("/", 1)[-1]
    return name if ":" in base else name + ":latest"


_TOKEN_RE = re.compile(r"\s*\S+|\s+")


def split_reply(text: str, tokens_per_chunk: int = 1) -> list[str]:
    """Split ``text`` into stream chunks of ``tokens_per_chunk`` word-tokens each; ``"".join`` restores it.

    An empty text gives no chunks.
    """
    tokens = _TOKEN_RE.findall(text)
    n = max(1, tokens_per_chunk)
    return ["".join(tokens[i : i + n]) for i in range(0, len(tokens), n)]


def count_tokens(text: str) -> int:
    """A rough, deterministic token count (word-tokens) used for ``prompt_eval_count`` and usage."""
    return len(_TOKEN_RE.findall(text))


def embed_text(model: str, text: str, dim: int) -> list[float]:
    """Deterministic embedding of ``text``: hash-expanded, L2-normalised vector of ``dim`` floats."""
    values: list[float] = []
    counter = 0
    while len(values) < dim:
        block = hashlib.sha256(f"{model}\0{counter}\0{text}".encode()).digest()
        for i in range(0, len(block), 2):
            values.append(int.from_bytes(block[i : i + 2], "little") / 32767.5 - 1.0)
        counter += 1
    values = values[:dim]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def embedding_base64(vec: Sequence[float]) -> str:
    """Little-endian float32 bytes, base64 — what OpenAI's ``encoding_format="base64"`` expects."""
    return base64.b64encode(struct.pack(f"<{len(vec)}f", *vec)).decode("ascii")


def token_ids(text: str, count: int) -> list[int]:
    """Deterministic fake token ids (for the ``context`` field)."""
    seed = hashlib.sha256(text.encode()).digest()
    return [int.from_bytes(seed[i % 32 : i % 32 + 2], "little") + i for i in range(count)]


def now_ns() -> int:
    """Monotonic clock in nanoseconds."""
    return time.monotonic_ns()
