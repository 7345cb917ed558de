"""realign: reformat the responses of an SFT dataset to per-task format criteria (the ReAlign method).

The public API is what ``__all__`` lists; every other module is private.
"""

import typing

from ._api import areformat, areformat_file, reformat, reformat_file
from ._checks.answers import FinalAnswer, OptionKept, VerdictKept
from ._checks.base import CheckError, Failure, Guard, Verdict, find_failure
from ._checks.code import CodeFidelity, CodePresence
from ._checks.entities import EntitiesKept
from ._checks.facts import NumbersKept
from ._checks.lang import LanguageConsistency
from ._checks.leaks import LeakedScaffolding, Refusal
from ._checks.length import LengthCeiling, LengthRatio, Truncation
from ._checks.registry import CHECK_NAMES, REFERABLE_CHECKS, build_checks, default_checks
from ._checks.structure import OrderKept, QuestionsKept
from ._classify.embedded import EmbeddedClassifier
from ._classify.llm import CascadeClassifier, CompletionClassifier, LLMClassifier
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
from ._jobs.cost import Price
from ._jobs.job import RunStats
from ._llm.cache import Cache, CachedSearch, SQLiteCache
from ._llm.fake import FakeLLM
from ._llm.ratelimit import RateLimiter
from ._llm.retry import RetryPolicy
from ._models import (
    Candidate,
    Correction,
    Evidence,
    Example,
    Message,
    Overruled,
    Result,
    RowPlan,
    TaskPrediction,
    Usage,
)
from ._pipeline import Pipeline, VerifyCounts
from ._record import Record, Rejection, TurnOutcome
from ._report.html import ReportSummary, write_report
from ._search.index import IndexStats, LocalIndex, build_index
from ._search.web import (
    BraveSearch,
    ExaSearch,
    FakeSearch,
    SearxngSearch,
    SerperSearch,
    TavilySearch,
    WikipediaSearch,
    search_client_from_spec,
)
from ._tasks import TASKS, Task
from ._templates import Criteria, Prompts
from ._tokens import count_tokens
from ._types import (
    LLM,
    Budget,
    BudgetUser,
    ChatRequest,
    Check,
    CheckInput,
    CheckResult,
    Choice,
    Classifier,
    Completion,
    DeferredLLM,
    Identified,
    Judgement,
    Referee,
    SearchClient,
    TextLLM,
    Verifier,
)
from ._verify import LLMVerifier

if typing.TYPE_CHECKING:
    from ._llm.openai_chat import OpenAIChat

__version__ = "0.1.0"

__all__ = [
    "CHECK_NAMES",
    "LLM",
    "REFERABLE_CHECKS",
    "TASKS",
    "BraveSearch",
    "Budget",
    "BudgetUser",
    "Cache",
    "CachedSearch",
    "Candidate",
    "CascadeClassifier",
    "ChatRequest",
    "Check",
    "CheckError",
    "CheckInput",
    "CheckResult",
    "Choice",
    "Classifier",
    "CodeFidelity",
    "CodePresence",
    "Completion",
    "CompletionClassifier",
    "Correction",
    "Criteria",
    "DeferredLLM",
    "EmbeddedClassifier",
    "EntitiesKept",
    "Evidence",
    "ExaSearch",
    "Example",
    "Failure",
    "FakeLLM",
    "FakeSearch",
    "FatalLLMError",
    "FatalSearchError",
    "FinalAnswer",
    "Guard",
    "Identified",
    "IndexStats",
    "InputError",
    "Judgement",
    "LLMClassifier",
    "LLMError",
    "LLMVerifier",
    "LanguageConsistency",
    "LeakedScaffolding",
    "LengthCeiling",
    "LengthRatio",
    "LocalIndex",
    "Message",
    "NumbersKept",
    "OpenAIChat",
    "OptionKept",
    "OrderKept",
    "Overruled",
    "Pipeline",
    "Price",
    "Prompts",
    "QuestionsKept",
    "RateLimiter",
    "RealignError",
    "Record",
    "Referee",
    "Refusal",
    "Rejection",
    "ReportSummary",
    "Result",
    "RetryPolicy",
    "RowPlan",
    "RunStats",
    "SQLiteCache",
    "SearchClient",
    "SearchError",
    "SearxngSearch",
    "SerperSearch",
    "Task",
    "TaskPrediction",
    "TavilySearch",
    "TemplateError",
    "TextLLM",
    "Truncation",
    "TurnOutcome",
    "Usage",
    "UsageError",
    "Verdict",
    "VerdictKept",
    "Verifier",
    "VerifyCounts",
    "WikipediaSearch",
    "__version__",
    "areformat",
    "areformat_file",
    "build_checks",
    "build_index",
    "count_tokens",
    "default_checks",
    "find_failure",
    "reformat",
    "reformat_file",
    "search_client_from_spec",
    "write_report",
]


def __getattr__(name: str) -> typing.Any:
    # OpenAIChat imports the openai SDK (most of the import time of the package): it loads when first
    # asked for, so `import realign` stays light for what needs no OpenAI client.
    if name == "OpenAIChat":
        from ._llm.openai_chat import OpenAIChat

        return OpenAIChat
    raise AttributeError(f"module 'realign' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
