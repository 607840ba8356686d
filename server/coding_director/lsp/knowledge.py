"""LSP glue of the workspace index: background indexing of the workspace folders with work done
progress (cancellable from the client), and file watching. The logic is in
``features/knowledge.py``; this module only speaks LSP."""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from coding_director.features.knowledge import path_of_uri

if TYPE_CHECKING:
    from coding_director.lsp.server import DirectorServer

__all__ = ["index_workspace", "watch_files"]

log = logging.getLogger(__name__)


def workspace_folders(ls: DirectorServer) -> list[Path]:
    """Local paths of the client's workspace folders (else its root URI)."""
    folders = [path_of_uri(folder.uri) for folder in ls.workspace.folders.values()]
    if not folders and ls.workspace.root_uri:
        folders = [path_of_uri(ls.workspace.root_uri)]
    return [folder for folder in folders if folder is not None and folder.is_dir()]


async def index_workspace(ls: DirectorServer) -> None:
    """Index every workspace folder in the background, reporting ``$/progress`` (percentage and
    the current file) when the client supports work done progress; the client's cancel stops the
    pass between files (what was indexed stays)."""
    folders = workspace_folders(ls)
    if not folders or not ls.session.settings.index.enabled:
        return
    cancel = threading.Event()
    token = f"coding-director/index/{uuid.uuid4()}"
    window = ls.client_capabilities.window
    progress = False
    if window is not None and window.work_done_progress:
        try:
            async with asyncio.timeout(2):
                await ls.work_done_progress.create_async(token)
            ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(
                title="Indexing the workspace", cancellable=True, percentage=0))
            ls.work_done_progress.tokens[token].add_done_callback(lambda _future: cancel.set())
            progress = True
        except Exception as error:  # progress is a nicety: index anyway
            log.debug("work done progress refused: %s", error)
    loop = asyncio.get_running_loop()

    def report(message: str, percentage: int) -> None:
        if progress:
            loop.call_soon_threadsafe(ls.work_done_progress.report, token,
                                      types.WorkDoneProgressReport(message=message, percentage=percentage))

    message = "cancelled"
    try:
        summaries = await ls.knowledge.open_folders(folders, report, cancel)
        if not cancel.is_set():
            files = sum(s.files for s in summaries)
            chunks = sum(s.chunks for s in summaries)
            message = f"{files} files, {chunks} chunks"
    finally:
        if progress:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))


async def watch_files(ls: DirectorServer) -> None:
    """Ask the client to report every file event (``workspace/didChangeWatchedFiles``) when it
    supports dynamic registration."""
    workspace = ls.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace is not None else None
    if watched is None or not watched.dynamic_registration:
        return
    options = types.DidChangeWatchedFilesRegistrationOptions(watchers=[types.FileSystemWatcher(glob_pattern="**/*")])
    try:
        async with asyncio.timeout(5):
            await ls.client_register_capability_async(types.RegistrationParams(registrations=[types.Registration(
                id=str(uuid.uuid4()), method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options)]))
    except Exception as error:
        log.debug("file watching refused: %s", error)
