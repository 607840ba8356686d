"""The JSON-RPC side of the language server: error classes, the log filter and the protocol
subclass (UTF-16 positions)."""

from __future__ import annotations

import logging
from collections.abc import Generator
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified, JsonRpcException
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method


class RequestFailed(JsonRpcException):
    """LSP's ``RequestFailed`` error (-32803, LSP 3.17): the request was valid but could not be
    carried out, e.g. no tier produced a usable fix. The message is written for the user."""

    CODE = int(types.LSPErrorCodes.RequestFailed)


#: Error responses that report an expected outcome to the user, not a bug of the server.
EXPECTED_ERRORS: tuple[type[JsonRpcException], ...] = (RequestFailed, JsonRpcContentModified)


class ExpectedErrorFilter(logging.Filter):
    """pygls logs every error response with a traceback; keep one line for :data:`EXPECTED_ERRORS`."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, EXPECTED_ERRORS):
            record.msg, record.args, record.exc_info = "request answered with an error: %s", (error,), None
            record.levelno, record.levelname = logging.INFO, "INFO"
        return True


class DirectorProtocol(LanguageServerProtocol):
    """pygls's protocol, keeping positions in UTF-16 whatever the client prefers (the document
    store counts UTF-16 columns)."""

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Generator[Any, Any, types.InitializeResult]:
        general = params.capabilities.general
        if general is not None and general.position_encodings:
            general.position_encodings = [types.PositionEncodingKind.Utf16]
        result: types.InitializeResult = yield from super().lsp_initialize(params)
        return result
