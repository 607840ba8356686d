"""The JSON-RPC side of the language server: error classes, the log filter and the protocol
subclass.

Every request gets an answer, and a client's mistake gets a one-line error naming the field:

- a request whose params do not fit the LSP type (or has no ``params``) is answered -32602
  InvalidParams (pygls would drop it: the request would never be answered);
- a request of another JSON-RPC version, or a JSON value that is no message at all, is answered
  -32600 InvalidRequest; a body that is not JSON, -32700 ParseError (both with id ``null``, as
  JSON-RPC 2.0 section 5.1 says);
- error responses never carry a traceback (``data`` is dropped) and their message is one line;
- custom params arrive as plain JSON (dicts and lists), not as pygls's namedtuples;
- these client mistakes are logged as one warning line, not as errors with a traceback.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import cattrs
from lsprotocol import types
from pygls.exceptions import (
    JsonRpcContentModified,
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcParseError,
)
from pygls.protocol import LanguageServerProtocol, default_converter
from pygls.protocol.json_rpc import (
    JsonRPCNotification,
    JsonRPCRequestMessage,
    JsonRPCResponseMessage,
    RPCRequest,
)
from pygls.protocol.language_server import lsp_method

from coding_director.features.validation import InvalidRequest

log = logging.getLogger(__name__)

#: Longest error message sent (characters); longer ones are cut.
MAX_ERROR_MESSAGE = 400


class RequestFailed(JsonRpcException):
    """LSP's ``RequestFailed`` error (-32803, LSP 3.17): the request was valid but could not be
    carried out, e.g. no tier produced a usable fix. The message is written for the user."""

    CODE = int(types.LSPErrorCodes.RequestFailed)


#: Error responses that report an expected outcome to the user, not a bug of the server.
EXPECTED_ERRORS: tuple[type[JsonRpcException], ...] = (RequestFailed, JsonRpcContentModified)
#: Error responses caused by the client's request (logged as warnings).
CLIENT_ERRORS: tuple[type[JsonRpcException], ...] = (
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
    JsonRpcParseError,
)


class ExpectedErrorFilter(logging.Filter):
    """pygls logs every error response with a traceback; keep one line for
    :data:`EXPECTED_ERRORS` (info) and :data:`CLIENT_ERRORS` (warning)."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, EXPECTED_ERRORS):
            record.msg, record.args, record.exc_info = "request answered with an error: %s", (error,), None
            record.levelno, record.levelname = logging.INFO, "INFO"
        elif isinstance(error, (*CLIENT_ERRORS, json.JSONDecodeError, UnicodeDecodeError)):
            record.msg, record.args, record.exc_info = "client error: %s", (error,), None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


@contextlib.contextmanager
def invalid_params() -> Iterator[None]:
    """Turn :class:`~coding_director.features.validation.InvalidRequest` into -32602 InvalidParams."""
    try:
        yield
    except InvalidRequest as exc:
        raise JsonRpcInvalidParams(str(exc)) from None


def one_line(message: str) -> str:
    """The first line of ``message``, at most :data:`MAX_ERROR_MESSAGE` characters."""
    first = message.strip().splitlines()[0] if message.strip() else "error"
    return first if len(first) <= MAX_ERROR_MESSAGE else first[: MAX_ERROR_MESSAGE - 3] + "..."


def describe_structure_error(error: BaseException) -> str:
    """A cattrs structuring error of an LSP message as ``"<field>: <problem>"`` (first problem;
    cattrs' ``transform_error`` gives ``"<problem> @ $.params.<field>"``)."""
    if isinstance(error, cattrs.BaseValidationError):
        problems = cattrs.transform_error(error)
        if problems:
            problem, _, path = problems[0].rpartition(" @ ")
            field = path.removeprefix("$.") or "params"
            return one_line(f"{field}: {problem or problems[0]}")
    return one_line(f"params: {error}")


def _plain(obj: dict[str, Any], cls: type[Any]) -> Any:
    return cls(**obj)


def converter_factory() -> cattrs.Converter:
    """pygls's converter, but untyped (custom) params and results stay plain JSON values."""
    converter: cattrs.Converter = default_converter()  # type: ignore[no-untyped-call]
    for cls in (JsonRPCRequestMessage, JsonRPCResponseMessage, JsonRPCNotification):
        converter.register_structure_hook(cls, _plain)
    return converter


@dataclass(frozen=True, slots=True)
class Rejected:
    """A message that could not be read as a request: answer ``error`` to ``msg_id`` (or, when
    ``msg_id`` is ``None`` and ``answer`` is false, only log it: it was a notification)."""

    msg_id: int | str | None
    error: JsonRpcException
    answer: bool = True


def _id_of(data: dict[str, Any]) -> int | str | None:
    value = data.get("id")
    return value if isinstance(value, int | str) and not isinstance(value, bool) else None


class DirectorProtocol(LanguageServerProtocol):
    """pygls's protocol, answering every request (see the module docstring), keeping positions
    in UTF-16 whatever the client prefers (the document store counts UTF-16 columns), and
    leaving document contents to the server's own store (no second copy in pygls's workspace)."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        """Read one JSON object (json's ``object_hook``: nested objects pass unchanged)."""
        if not isinstance(data, dict) or "jsonrpc" not in data:
            return data
        method = data.get("method")
        if method is None:
            return super().structure_message(data)  # a response from the client
        is_request = "id" in data
        if "params" not in data:
            data = {**data, "params": None}
        if data.get("jsonrpc") != "2.0":
            error = JsonRpcInvalidRequest(f"jsonrpc: expected '2.0', got {data.get('jsonrpc')!r}")
            return Rejected(_id_of(data), error, answer=is_request)
        if not isinstance(method, str) or (is_request and _id_of(data) is None and data.get("id") is not None):
            error = JsonRpcInvalidRequest("method must be a string and id a number or a string")
            return Rejected(_id_of(data), error, answer=is_request)
        message_type = self.get_message_type(method)
        if message_type is None:
            message_type = JsonRPCRequestMessage if is_request else JsonRPCNotification
        try:
            return self._converter.structure(data, message_type)
        except Exception as exc:
            invalid = JsonRpcInvalidParams(f"{method}: {describe_structure_error(exc)}")
            return Rejected(_id_of(data), invalid, answer=is_request)

    def handle_message(self, message: Any) -> None:
        """Answer :class:`Rejected` messages and JSON values that are no message; the rest as pygls."""
        if isinstance(message, Rejected):
            log.warning("client error: %s", message.error.message)
            if message.answer:
                self._send_response(message.msg_id, error=message.error.to_response_error())
            return
        if not hasattr(message, "jsonrpc"):
            log.warning("client error: a message must be a JSON object, got %s", type(message).__name__)
            error = JsonRpcInvalidRequest("a message must be a JSON object")
            self._send_response(None, error=error.to_response_error())
            return
        if self._shutdown and isinstance(message, RPCRequest):
            # LSP: requests after ``shutdown`` get InvalidRequest (pygls would not answer them).
            error = JsonRpcInvalidRequest("the server is shutting down")
            self._send_response(message.id, error=error.to_response_error())
            return
        super().handle_message(message)

    def reject_unreadable(self, error: Exception) -> bool:
        """Answer a body that is not JSON (or not UTF-8) with -32700 ParseError. Returns whether
        ``error`` was such a problem."""
        if not isinstance(error, json.JSONDecodeError | UnicodeDecodeError):
            return False
        problem = JsonRpcParseError(f"the message is not JSON: {one_line(str(error))}")
        log.warning("client error: %s", problem.message)
        self._send_response(None, error=problem.to_response_error())
        return True

    def _send_response(
        self, msg_id: Any, result: Any | None = None, error: types.ResponseError | None = None
    ) -> None:
        """Every error response: one-line message, no ``data`` (no traceback on the wire)."""
        if error is not None:
            error = types.ResponseError(code=error.code, message=one_line(error.message))
        super()._send_response(msg_id, result, error)

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Generator[Any, Any, None]:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        general = params.capabilities.general
        if general is not None and general.position_encodings:
            general.position_encodings = [types.PositionEncodingKind.Utf16]
        result: types.InitializeResult = yield from super().lsp_initialize(params)
        return result
