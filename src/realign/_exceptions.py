"""The one exception tree of realign.

    RealignError
    ├── UsageError            bad arguments or configuration (a flag, a missing key, a bad criteria folder)
    ├── InputError            a dataset file that cannot be read; carries ``path`` and ``line``
    ├── TemplateError         a prompt or criteria template that does not compile or render
    ├── LLMError              the model could not be used; rows get ``llm_error:...`` and the run goes on
    │   └── FatalLLMError     no later call can succeed (bad key, no permission, out of quota): stop the run
    └── SearchError           a search backend failed after its retries; rows go on without evidence
        └── FatalSearchError  bad or exhausted search key: stop the run at the first call

Lower-layer errors (openai, httpx, jinja2, pydantic, json) are translated at the boundary with
``raise ... from exc`` so callers only ever need to catch :class:`RealignError`.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "FatalLLMError",
    "FatalSearchError",
    "InputError",
    "LLMError",
    "RealignError",
    "SearchError",
    "TemplateError",
    "UsageError",
]


class RealignError(Exception):
    """Base of every error realign raises on purpose."""


class UsageError(RealignError):
    """Invalid arguments or configuration; the message says what to change."""


class InputError(RealignError):
    """A dataset file that cannot be read. ``str()`` gives ``FILE line N: what``."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.detail = message
        where = ""
        if self.path is not None:
            where = f"{self.path} line {line}: " if line is not None else f"{self.path}: "
        super().__init__(f"{where}{message}")


class TemplateError(RealignError):
    """A prompt or criteria template that does not compile or render."""


class LLMError(RealignError):
    """A model call failed after its retries. The row keeps its original response."""

    def __init__(self, message: str, *, code: str = "error") -> None:
        super().__init__(message)
        #: short machine-readable cause, used in ``realign.reason`` as ``llm_error:<code>``
        self.code = code


class FatalLLMError(LLMError):
    """No later call can succeed either (bad key, no permission, out of quota): the run stops."""


class SearchError(RealignError):
    """A search backend failed after its retries. The row goes on without evidence."""


class FatalSearchError(SearchError):
    """The search key is wrong or exhausted: the run stops at the first call."""
