"""Pull the tier models missing on their Ollama endpoints, reporting progress in percent."""

from __future__ import annotations

from collections.abc import Callable

from coding_director.backends import BackendPool
from coding_director.doctor import diagnose, pull_missing
from coding_director.features.progress import Progress
from coding_director.messages import PullResult
from coding_director.settings import Settings


async def pull_models(
    settings: Settings, pool: BackendPool, progress: Progress, notify: Callable[[str], None]
) -> PullResult:
    """Pull every missing tier model (``doctor`` decides what is missing).

    ``progress`` shows ``"<model>: <status>"`` with the percentage of bytes received; ``notify``
    gets one user-facing line per problem (unreachable endpoint, failed pull). Never raises for
    server problems: they are in the result.
    """
    report = await diagnose(settings, pool)
    if report.unreachable:
        notify(f"Coding Director: cannot reach {', '.join(report.unreachable)}; nothing was pulled.")
        return PullResult(unreachable=report.unreachable)

    def on_progress(model: str, status: str, completed: int | None, total: int | None) -> None:
        percent = int(completed * 100 / total) if completed and total else None
        progress.report(f"{model}: {status}", percent)

    await progress.begin("Pulling models")
    try:
        failed = await pull_missing(settings, pool, report, on_progress)
    finally:
        progress.end("done")
    for line in failed:
        notify(f"Coding Director: pull failed: {line}")
    pulled = [m for _, m in report.missing_models if not any(f.startswith(m + ":") for f in failed)]
    return PullResult(pulled=list(dict.fromkeys(pulled)), failed=failed)
