"""The language server's own log file: ``server.log`` in the user log directory (platformdirs;
``~/.local/state/coding-director/log/`` on Linux), rotated by :class:`logging.handlers.RotatingFileHandler`
at 2 MiB with 3 old files kept. stderr logging (which the editor shows) is unchanged."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 3


def default_log_path() -> Path:
    """``server.log`` in the user log directory."""
    import platformdirs

    return platformdirs.user_log_path("coding-director", appauthor=False) / "server.log"


def install_file_log(path: Path | None = None, level: int = logging.INFO) -> Path | None:
    """Add a rotating file handler at ``level`` to the root logger; returns the file, or ``None``
    (logged to stderr once) when it cannot be created."""
    target = path or default_log_path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.handlers.RotatingFileHandler(
            target, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    except OSError as exc:
        logging.getLogger(__name__).warning("no log file %s: %s", target, exc)
        return None
    handler.setLevel(level)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > level:
        for existing in root.handlers:  # keep the other handlers at the level they had
            if existing is not handler and existing.level == logging.NOTSET:
                existing.setLevel(root.level)
        root.setLevel(level)
    return target
