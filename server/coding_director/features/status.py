"""What the status bar shows, computed from a doctor report and from what requests observe."""

from __future__ import annotations

from typing import Literal

from coding_director.doctor import DoctorReport, active_tiers
from coding_director.messages import StatusParams
from coding_director.routing.escalation import AttemptFinished, AttemptStarted, Event
from coding_director.settings import Settings

RuntimeKind = Literal["ollama", "openai", "embedded", "mixed"]


def runtime_of(settings: Settings) -> tuple[RuntimeKind, str]:
    """Which kind of server answers the active tiers, and a label naming it for the status bar."""
    tiers = active_tiers(settings)
    providers = {settings.tier(t).provider for t in tiers}
    if providers == {"embedded"}:
        return "embedded", f"built-in {settings.embedded.model_alias} (llama.cpp)"
    endpoints = sorted({settings.endpoint_of(t) for t in tiers})
    if providers == {"ollama"}:
        return "ollama", f"Ollama at {', '.join(endpoints)}"
    if providers == {"openai"}:
        return "openai", f"OpenAI-compatible server at {', '.join(endpoints)}"
    return "mixed", "several servers: " + ", ".join(endpoints)


def status_from_report(settings: Settings, report: DoctorReport) -> StatusParams:
    """``endpointDown`` (with the fix), ``modelsMissing`` (with the pull command) or ``ready``;
    each carries which runtime answers (:func:`runtime_of`)."""
    kind, label = runtime_of(settings)
    return _status_from_report(settings, report).model_copy(update={"runtime_kind": kind, "runtime": label})


def _status_from_report(settings: Settings, report: DoctorReport) -> StatusParams:
    enabled = settings.completion.enabled
    if report.unreachable:
        endpoint = report.unreachable[0]
        fix = next((c.fix for c in report.checks if not c.ok and c.fix and endpoint in c.name), None)
        return StatusParams(
            state="endpointDown",
            endpoint=endpoint,
            completions_enabled=enabled,
            message=f"Cannot reach {endpoint}." + (f" Fix: {fix}" if fix else ""),
        )
    if report.missing_models:
        models = sorted({m for _, m in report.missing_models})
        return StatusParams(
            state="modelsMissing",
            missing_models=models,
            completions_enabled=enabled,
            endpoint=settings.ollama.host,
            message=f"Missing models: {', '.join(models)}. Pull them with "
            "'Coding Director: Pull missing models' or `coding-director models pull`.",
        )
    kind, label = runtime_of(settings)
    endpoint = settings.ollama.host if kind != "embedded" else settings.endpoint_of(settings.completion.tier)
    return StatusParams(
        state="ready", endpoint=endpoint, completions_enabled=enabled, message=f"Coding Director is ready: {label}."
    )


class StatusTracker:
    """Remembers the last status sent so that only changes are notified (no storm of updates)."""

    def __init__(self) -> None:
        self.current: StatusParams | None = None
        self._idle: StatusParams | None = None

    def set_idle(self, status: StatusParams) -> StatusParams | None:
        """Record the status to show when no request runs; returns it when it differs from the
        current one (i.e. it should be sent), else ``None``."""
        self._idle = status
        return self._change(status)

    @property
    def idle_state(self) -> str | None:
        """The state shown when no request runs (``None`` before the first check)."""
        return self._idle.state if self._idle else None

    def busy(self, tier: str) -> StatusParams | None:
        """A request is being answered by ``tier``."""
        base = self._idle or StatusParams(state="ready", message="")
        return self._change(
            base.model_copy(update={"state": "busy", "busy_tier": tier, "message": f"{tier} is answering..."})
        )

    def idle(self) -> StatusParams | None:
        """No request runs any more: back to the idle status."""
        return self._change(self._idle) if self._idle else None

    def observe(self, event: Event) -> tuple[StatusParams | None, bool]:
        """The status-bar side of an engine event: ``(status to send or None, re-check)``.

        An attempt starting makes the tier busy; an attempt that found its endpoint unreachable
        asks for one re-check of the endpoint (none while the status already says it is down).
        """
        if isinstance(event, AttemptStarted):
            return self.busy(event.tier), False
        recheck = (
            isinstance(event, AttemptFinished)
            and event.attempt.outcome == "error"
            and event.attempt.error_kind == "unreachable"
            and self.idle_state != "endpointDown"
        )
        return None, recheck

    def _change(self, status: StatusParams) -> StatusParams | None:
        if self.current is not None and self.current == status:
            return None
        self.current = status
        return status
