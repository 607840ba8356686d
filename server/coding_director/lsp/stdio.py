"""stdin and stdout as the event loop's own pipes, for pygls's message loop.

pygls's ``start_io`` reads stdin on a thread pool, one executor call per header line and one per
body, so each message reaches the event loop through three thread hops; each hop waits for the
loop to finish the callbacks already queued. While twenty chats stream, that is where an inline
completion's request loses most of its time before its handler even starts
(``bench/load_bench.py``). Here stdin is an :class:`asyncio.StreamReader` on the loop's selector
(``loop.connect_read_pipe``) and stdout an asyncio write transport, so a message is read as soon as
the loop polls, and writing an answer never blocks the loop on a full pipe (the transport buffers;
the client reads in order). The message loop itself is pygls's public
:func:`pygls.io_.run_async`, which takes any reader with ``readline`` and ``readexactly``.

Pipes and sockets only: when stdin or stdout is a terminal or a regular file (a person trying
``coding-director serve`` by hand, input redirected from a file), :func:`serve_stdio` returns
``False`` and the caller uses pygls's ``start_io``; setting a terminal non-blocking would leave
the user's shell with a non-blocking terminal.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import sys
import threading
from typing import BinaryIO

from pygls.io_ import run_async
from pygls.server import JsonRPCServer

log = logging.getLogger(__name__)

#: Largest header line (bytes) the reader keeps; a longer one is read to its end and ignored, as
#: pygls ignores any header it does not know. Bodies are read with ``readexactly``, not bounded.
HEADER_LIMIT = 1024 * 1024
#: Longest wait for stdout to take the queued bytes when the server exits, in seconds.
FLUSH_TIMEOUT_S = 5.0


class _HeaderReader:
    """``readline``/``readexactly`` over an :class:`asyncio.StreamReader`; a header line longer
    than :data:`HEADER_LIMIT` becomes an unknown header (pygls skips it) instead of an error that
    would end the message loop."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    async def readline(self) -> bytes:
        try:
            return await self._reader.readline()
        except ValueError:  # the limit was overrun; the reader has dropped what it buffered
            return b"X-Overlong-Header: dropped\r\n"

    async def readexactly(self, n: int) -> bytes:
        return await self._reader.readexactly(n)


class _WriteProtocol(asyncio.Protocol):
    """Knows when the write pipe is closed (every queued byte written, or the client gone)."""

    def __init__(self) -> None:
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class TransportWriter:
    """pygls's writer interface (``write``, ``close``) over an asyncio write transport: ``write``
    queues the bytes and returns at once; the loop writes them when the pipe has room."""

    def __init__(self, transport: asyncio.WriteTransport, protocol: _WriteProtocol) -> None:
        self._transport = transport
        self._protocol = protocol

    def write(self, data: bytes) -> None:
        """Queue ``data`` (one framed JSON-RPC message) for stdout."""
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Close stdout once the queued bytes are written (the loop writes them; see
        :meth:`flushed`)."""
        self._transport.close()

    async def flushed(self) -> None:
        """Close stdout and wait until every queued byte is written or the client is gone (at most
        :data:`FLUSH_TIMEOUT_S` seconds, then the rest is dropped with a warning)."""
        self._transport.close()
        try:
            async with asyncio.timeout(FLUSH_TIMEOUT_S):
                await asyncio.shield(self._protocol.closed)
        except TimeoutError:
            log.warning("stdout did not take the last %d bytes in time", self._transport.get_write_buffer_size())
            self._transport.abort()


def is_pipe(stream: BinaryIO) -> bool:
    """Whether ``stream`` is a pipe (FIFO) or a socket, the only kinds :func:`serve_stdio` uses."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def serve_stdio(server: JsonRPCServer, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> bool:
    """Serve ``server`` over ``stdin``/``stdout`` (default: the process's) until stdin ends or the
    client sends ``exit``. Returns ``False`` without serving when either is not a pipe or socket
    (see the module docstring); ``True`` after serving (stdin ended, or the client's ``exit``:
    like pygls's own ``start_io``, it returns then rather than raising ``SystemExit``)."""
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    if not (is_pipe(stdin) and is_pipe(stdout)):
        return False

    async def main() -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=HEADER_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), stdin)
        transport, protocol = await loop.connect_write_pipe(_WriteProtocol, stdout)
        writer = TransportWriter(transport, protocol)
        server.protocol.set_writer(writer)
        try:
            await run_async(
                stop_event=threading.Event(),
                reader=_HeaderReader(reader),
                protocol=server.protocol,
                logger=None,  # pygls.io_, as its own start_io logs (run_stdio filters it)
                error_handler=server.report_server_error,
            )
        except asyncio.IncompleteReadError:
            log.info("stdin ended inside a message; shutting down")
        finally:
            await writer.flushed()

    try:
        asyncio.run(main())
    except (KeyboardInterrupt, SystemExit):  # the client's ``exit`` (pygls calls sys.exit), as pygls does
        pass
    finally:
        server.shutdown()  # type: ignore[no-untyped-call]  # pygls leaves it unannotated
    return True
