"""realign: reformat the responses of an SFT dataset to per-task format criteria (the ReAlign method).

The public API is what ``__all__`` lists; every other module is private.
"""

from __future__ import annotations

from ._api import areformat, reformat
from ._cache import Cache, SQLiteCache
from ._checks import CodePresence, LengthRatio, default_checks
from ._classify import CascadeClassifier, CompletionClassifier, LLMClassifier
from ._exceptions import (
    FatalLLMError,
    FatalSearchError,
    InputError,
    LLMError,
    RealignError,
    SearchError,
    TemplateError,
    UsageError,
)
from ._fakes import FakeLLM
from ._llm import OpenAIChat, RetryPolicy
from ._models import Candidate, Evidence, Example, Result, TaskPrediction, Usage
from ._pipeline import Pipeline
from ._tasks import TASKS, Task
from ._templates import Criteria
from ._tokens import count_tokens
from ._types import LLM, ChatRequest, Check, CheckInput, Choice, Classifier, Completion, SearchClient

__version__ = "0.1.0"

__all__ = [
    "LLM",
    "TASKS",
    "Cache",
    "Candidate",
    "CascadeClassifier",
    "ChatRequest",
    "Check",
    "CheckInput",
    "Choice",
    "Classifier",
    "CodePresence",
    "Completion",
    "CompletionClassifier",
    "Criteria",
    "Evidence",
    "Example",
    "FakeLLM",
    "FatalLLMError",
    "FatalSearchError",
    "InputError",
    "LLMClassifier",
    "LLMError",
    "LengthRatio",
    "OpenAIChat",
    "Pipeline",
    "RealignError",
    "Result",
    "RetryPolicy",
    "SQLiteCache",
    "SearchClient",
    "SearchError",
    "Task",
    "TaskPrediction",
    "TemplateError",
    "Usage",
    "UsageError",
    "__version__",
    "areformat",
    "count_tokens",
    "default_checks",
    "reformat",
]
