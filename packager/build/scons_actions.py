"""SCons actions around packager.build.steps: each records that it ran (so `litebox pack` can say
"up to date" when none did) and turns a PackError into a one-line message the driver reads."""
from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any, Callable

from packager.build.progress import Progress
from packager.errors import PackError


class ActionContext:
    """The build request's shared settings, as the actions need them."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.request = request
        self.repo = Path(request["repo"])
        self.state_dir = Path(request["state_dir"])
        self.events = Path(request["events"])
        self.error = Path(request["error"])
        self.progress = Progress.from_fd(request.get("progress_fd"), bool(request.get("verbose")),
                                         bool(request.get("quiet")))

    def record(self, step: str, what: str) -> None:
        """Appends one event line: this step ran for this target."""
        with open(self.events, "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": step, "what": what}) + "\n")

    def wrap(self, step: str, what: str, message: str, fn: Callable[[], None]) -> StepAction:
        """An SCons action running ``fn``: 0 on success, 1 after writing the error."""
        return StepAction(self, step, what, message, fn)


class StepAction:
    """A callable SCons action. SCons signs a callable object by the code of ``__call__``
    alone, so the signature is stable across runs; what a step depends on is expressed by
    its sources (including a Value with the digest of the packager's own code)."""

    def __init__(self, ctx: ActionContext, step: str, what: str, message: str,
                 fn: Callable[[], None]) -> None:
        self.ctx, self.step, self.what, self.message, self.fn = ctx, step, what, message, fn

    def __call__(self, target: Any, source: Any, env: Any) -> int:
        ctx = self.ctx
        ctx.progress.step(self.message)
        try:
            self.fn()
        except PackError as exc:
            ctx.error.write_text(str(exc), encoding="utf-8")
            return 1
        except Exception as exc:  # an internal bug: keep the traceback for -v
            ctx.error.write_text(f"internal error in step {self.step} for {self.what}: "
                                 f"{type(exc).__name__}: {exc}", encoding="utf-8")
            ctx.progress.detail(traceback.format_exc())
            return 1
        ctx.record(self.step, self.what)
        return 0


class _LazySteps:
    """``packager.build.steps``, imported on first use: an up-to-date build never pays for it."""

    def __getattr__(self, name: str) -> Any:
        import packager.build.steps as module

        return getattr(module, name)


steps = _LazySteps()
