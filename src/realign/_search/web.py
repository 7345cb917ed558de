"""Search clients: where evidence for knowledge-heavy instructions comes from.

Every client implements the ``SearchClient`` seam (``async search(query) -> list[Evidence]``) and
returns evidence already passed through :func:`~realign._evidence.clean_evidence`.

Web clients share one HTTP layer (:class:`_WebSearch`): one ``httpx.AsyncClient`` per object,
a semaphore bounding concurrent searches, retries with exponential backoff and jitter for
timeouts, connection errors, 429 and 5xx (``Retry-After`` honoured up to a cap), and one mapping
of HTTP errors to :class:`SearchError` (the row goes on without evidence) or
:class:`FatalSearchError` (bad key, no credits: stop the run). Each client also has an early stop
(:class:`~realign._llm.breaker.Breaker`, as the LLM clients): a backend that never answers, or fails
nearly every search after its retries, stops the run with a :class:`FatalSearchError` instead of
costing every row its retries and leaving the whole output without evidence. Keys never appear in
messages or reprs.

The query is the instruction, whitespace collapsed and cut at a word boundary to what each API
accepts:

=========  ======================  ==========================================================
client     limit                   why
=========  ======================  ==========================================================
Serper     32 words, 2,000 chars   Google reads only the first 32 words; the rest costs bytes
Tavily     400 chars               longer queries are refused with HTTP 400
Brave      50 words, 400 chars     the documented maximum of ``q``
SearXNG    50 words, 400 chars     the instance forwards the query to engines such as Brave
Wikipedia  300 chars, key words    CirrusSearch refuses longer queries and ANDs the terms, so
                                   function words and instruction verbs only lose hits
Exa        1,000 chars             embedding search takes long queries (no limit documented);
                                   more text adds latency, not recall
=========  ======================  ==========================================================
"""

from __future__ import annotations

import asyncio
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import httpx
from tenacity import AsyncRetrying, RetryCallState, RetryError, retry_if_exception_type, stop_after_attempt

from .._exceptions import FatalSearchError, SearchError, UsageError
from .._llm.breaker import Breaker
from .._llm.retry import PauseGate, RetryPolicy, backoff_seconds, parse_retry_after
from .._loops import PerLoop
from .._models import Evidence
from .._types import SearchClient
from .evidence import clean_evidence, truncate_words
from .index import LocalIndex, query_terms

if TYPE_CHECKING:
    from typing_extensions import Self

__all__ = [
    "DEFAULT_SEARCH_RETRY",
    "DEFAULT_USER_AGENT",
    "SPEC_CHOICES",
    "BraveSearch",
    "ExaSearch",
    "FakeSearch",
    "NoSearch",
    "SearxngSearch",
    "SerperSearch",
    "TavilySearch",
    "WikipediaSearch",
    "parse_search_spec",
    "search_client_from_spec",
    "trim_query",
]


def _package_version() -> str:
    try:
        return metadata.version("realign")
    except metadata.PackageNotFoundError:
        return "0"


#: Wikimedia refuses generic User-Agents: name the tool and a contact URL. Pass ``user_agent=`` with
#: your own contact when you run large jobs.
DEFAULT_USER_AGENT = (
    f"realign/{_package_version()} (+https://pypi.org/project/realign/; "
    f"evidence retrieval for SFT data reformatting) httpx/{httpx.__version__}"
)
_SPACE = re.compile(r"\s+")


def trim_query(text: str, *, max_chars: int, max_words: int | None = None) -> str:
    """Collapse whitespace, then keep at most ``max_words`` words and ``max_chars`` characters.

    The cut falls on a word boundary (a single word longer than ``max_chars`` is cut hard).
    """
    words = _SPACE.sub(" ", text).strip().split(" ")
    if max_words is not None:
        words = words[:max_words]
    query = " ".join(words)
    if len(query) <= max_chars:
        return query
    cut = query.rfind(" ", 0, max_chars + 1)
    return query[: cut if cut > 0 else max_chars]


# ---------------------------------------------------------------------------------------------
# Retries


#: Searches fail fast: a row without evidence is still rewritten, so long waits buy little.
DEFAULT_SEARCH_RETRY = RetryPolicy(attempts=4, initial=0.5, maximum=8.0, jitter=0.5, max_retry_after=30.0)


class _Transient(Exception):
    """A failure worth retrying; ``retry_after`` is the server's requested wait, if it gave one;
    ``code`` names the kind for the early stop's message."""

    def __init__(
        self, message: str, retry_after: float | None = None, *, rate_limited: bool = False, code: str = "server_error"
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.rate_limited = rate_limited
        self.code = "rate_limit" if rate_limited else code


class _BackendFailure(SearchError):
    """A search that failed because of the backend, not the query (retries spent, a reply that is not
    JSON, every engine failing): the early stop counts these, never a query the API refused (a 400)."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


# ---------------------------------------------------------------------------------------------
# Reading loosely-typed JSON: every block of every API is optional.


def _as_dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _as_str(value: object) -> str:
    if isinstance(value, str):
        return value
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def _result_list(results: object, text: str | Callable[[dict[str, Any]], str], *, url: str = "url") -> list[Evidence]:
    """Evidence from a list of result objects, each with a ``title``; its text is the field named
    ``text`` (or what ``text`` makes of the result) and its address the field named ``url``."""
    found = []
    for result in map(_as_dict, _as_list(results)):
        body = text(result) if callable(text) else _as_str(result.get(text))
        found.append(Evidence(text=body, title=_as_str(result.get("title")), url=_as_str(result.get(url))))
    return found


def _message_from(body: object) -> str:
    """The human part of an error body, whatever its shape (``message``, ``error.code``, ``detail``...)."""
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return "; ".join(filter(None, (_message_from(item) for item in body[:3])))
    if not isinstance(body, dict):
        return ""
    code = _as_str(body.get("code"))
    for key in ("message", "error", "detail", "info", "msg"):
        text = _message_from(body.get(key))
        if text:
            return f"{code}: {text}" if code and code not in text else text
    return code


def _error_detail(response: httpx.Response) -> str:
    try:
        text = _message_from(response.json())
    except ValueError:
        text = ""
    text = _SPACE.sub(" ", text or response.text).strip()
    return truncate_words(text, 300) or response.reason_phrase or "no details"


# ---------------------------------------------------------------------------------------------
# The shared web client


class _WebSearch(ABC):
    """HTTP, retries, error mapping and cleaning shared by every web search client.

    Options every web client takes (keyword-only):

    - ``api_key``: the key; default: the environment variable named by ``key_env``.
    - ``num_results``: results to ask the API for (the client's default otherwise).
    - ``max_items``, ``max_chars``: evidence kept after cleaning (count, total characters).
    - ``timeout``: seconds per HTTP request (for the client this object creates).
    - ``retry``: a :class:`~realign.RetryPolicy` (default :data:`DEFAULT_SEARCH_RETRY`).
    - ``concurrency``: searches in flight at once, for this client (separate from the LLM's).
    - ``user_agent``: sent with every request.
    - ``http_client``: an ``httpx.AsyncClient`` to use instead of creating one. A client passed in
      is left open by :meth:`aclose`: whoever created it closes it.
    """

    name: ClassVar[str]
    key_env: ClassVar[str | None] = None
    key_header: ClassVar[str] = ""
    key_prefix: ClassVar[str] = ""
    max_query_chars: ClassVar[int]
    max_query_words: ClassVar[int | None] = None
    default_num_results: ClassVar[int] = 10
    max_num_results: ClassVar[int] = 20

    def __init__(
        self,
        *,
        api_key: str | None = None,
        num_results: int | None = None,
        max_items: int = 5,
        max_chars: int = 3000,
        timeout: float = 20.0,
        retry: RetryPolicy | None = None,
        concurrency: int = 10,
        user_agent: str = DEFAULT_USER_AGENT,
        http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._api_key = self._resolve_key(api_key)
        self.num_results = self._check_num_results(num_results)
        self.max_items = max_items
        self.max_chars = max_chars
        self.retry = retry or DEFAULT_SEARCH_RETRY
        self.user_agent = user_agent
        if concurrency < 1:
            raise UsageError(f"search concurrency must be at least 1 (got {concurrency})")
        # Made again for a run under another asyncio.run: a semaphore binds to the loop it first waits on.
        self._semaphore = PerLoop(lambda: asyncio.Semaphore(concurrency))
        self._gate = PauseGate()  # after a 429, holds back every search of this client
        # The early stop: FatalSearchError once the backend is unreachable or failing nearly every search.
        self._breaker = Breaker(self.name, fatal=FatalSearchError)
        self._owns_http = http_client is None
        self._timeout = httpx.Timeout(timeout, connect=10.0)
        self._http = http_client or httpx.AsyncClient(timeout=self._timeout)
        self._http_loop: asyncio.AbstractEventLoop | None = None  # the loop our own client's connections are on

    # -- configuration --------------------------------------------------------------------

    def _resolve_key(self, api_key: str | None) -> str:
        if self.key_env is None:
            if api_key is not None:
                raise UsageError(f"{self.name} takes no API key")
            return ""
        # Environment variables are read here and nowhere else.
        key = (api_key if api_key is not None else os.environ.get(self.key_env, "")).strip()
        if not key:
            raise UsageError(
                f"{self.name} search needs an API key: set the {self.key_env} environment variable (or pass api_key=)"
            )
        return key

    def _check_num_results(self, num_results: int | None) -> int:
        n = self.default_num_results if num_results is None else num_results
        if not 1 <= n <= self.max_num_results:
            raise UsageError(f"{self.name}: num_results must be between 1 and {self.max_num_results} (got {n})")
        return n

    def _settings(self) -> dict[str, object]:
        """What changes the results, for ``identity`` and ``repr`` (never the key)."""
        return {"num_results": self.num_results, "max_items": self.max_items, "max_chars": self.max_chars}

    @property
    def identity(self) -> str:
        """Provider and settings: with the query, a cache key for this client's results."""
        settings = ",".join(f"{k}={v}" for k, v in self._settings().items())
        return f"{self.name.lower()}:{settings}"

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self._settings().items())
        return f"{type(self).__name__}({settings})"

    # -- searching ------------------------------------------------------------------------

    async def search(self, query: str) -> list[Evidence]:
        """Evidence for ``query`` (cleaned, best first); [] when the query is blank or nothing is found.

        Raises :class:`SearchError` when the API keeps failing and :class:`FatalSearchError` when
        no later call can succeed either (bad key, no credits).
        """
        prepared = self.prepare_query(query)
        if not prepared:
            return []
        self._breaker.check()
        async with self._semaphore.get():
            try:
                found = await self._fetch(prepared)
            except _BackendFailure as exc:
                self._breaker.finished(exc.code)
                self._breaker.check()  # this failure tripped it: the run stops here
                raise
        self._breaker.finished(None)
        return clean_evidence(found, max_items=self.max_items, max_chars=self.max_chars)

    def prepare_query(self, query: str) -> str:
        """The text actually sent for ``query``: trimmed to this API's limits."""
        return trim_query(query, max_chars=self.max_query_chars, max_words=self.max_query_words)

    @abstractmethod
    async def _fetch(self, query: str) -> list[Evidence]:
        """Ask the API for ``query`` and turn its reply into (uncleaned) evidence."""

    # -- HTTP -----------------------------------------------------------------------------

    async def _call(self, method: str, url: str, *, params: Mapping[str, Any] | None = None, json: Any = None) -> Any:
        """Send a request with retries and return the decoded JSON reply."""
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    return await self._send(method, url, params=params, json=json)
        except RetryError as exc:
            last = exc.last_attempt.exception()
            code = last.code if isinstance(last, _Transient) else "server_error"
            message = f"{self.name}: {last} (gave up after {self.retry.attempts} attempts)"
            raise _BackendFailure(message, code) from last
        raise AssertionError("unreachable: tenacity either returns or raises")

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome is not None else None
        transient = exc if isinstance(exc, _Transient) else None
        retry_after = transient.retry_after if transient is not None else None
        delay = backoff_seconds(self.retry, state.attempt_number, retry_after)
        if transient is not None and transient.rate_limited:
            # A 429 is about the account, not this query: every search of this client waits too.
            self._gate.pause(delay)
        return delay

    async def _send(self, method: str, url: str, *, params: Mapping[str, Any] | None, json: Any) -> Any:
        await self._gate.wait()
        self._breaker.check()  # another search tripped it while this one waited: no more attempts
        self._own_client_on_this_loop()
        try:
            response = await self._http.request(
                method, url, params=params, json=json, headers=self._headers(), follow_redirects=True
            )
        except httpx.TimeoutException as exc:
            message = f"request timed out ({type(exc).__name__})"
            self._unanswered(message)
            raise _Transient(message, code="timeout") from exc
        except httpx.TransportError as exc:
            message = self._redact(f"connection failed ({type(exc).__name__}: {exc})")
            self._unanswered(message)
            raise _Transient(message, code="connection") from exc
        except httpx.RequestError as exc:
            raise SearchError(self._redact(f"{self.name}: request failed ({type(exc).__name__}: {exc})")) from exc
        self._breaker.answered()
        self._raise_for_status(response)
        try:
            return response.json()
        except ValueError as exc:
            # An HTML page (a captcha, a login wall, a proxy's error page) instead of the API's reply.
            message = f"{self.name}: the reply is not JSON (HTTP {response.status_code})"
            raise _BackendFailure(message, "not_json") from exc

    def _unanswered(self, why: str) -> None:
        """An attempt got no HTTP answer: tell the early stop, and stop now if that tripped it."""
        self._breaker.unanswered(why)
        self._breaker.check()

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        if self.key_header:
            headers[self.key_header] = self.key_prefix + self._api_key
        return headers

    def _raise_for_status(self, response: httpx.Response) -> None:
        status = response.status_code
        if response.is_success:
            return
        detail = self._redact(_error_detail(response))
        fatal = self._fatal_message(status, detail)
        if fatal is not None:
            raise FatalSearchError(fatal)
        if status in (408, 429) or status >= 500:
            raise _Transient(
                f"HTTP {status}: {detail}", retry_after=parse_retry_after(response.headers), rate_limited=status == 429
            )
        raise SearchError(f"{self.name}: HTTP {status}: {detail}")

    def _fatal_message(self, status: int, detail: str) -> str | None:
        """The message when no later request can succeed either, else None. Providers add their cases."""
        if status in (401, 403):
            return f"{self.name} refused the API key (HTTP {status}: {detail}). {self._key_advice()}"
        if status == 402:
            return f"{self.name} wants payment (HTTP 402: {detail}): check the account's plan and credits."
        return None

    def _key_advice(self) -> str:
        return f"Check the key in {self.key_env} (or the api_key= argument)."

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    # -- lifetime -------------------------------------------------------------------------

    def _own_client_on_this_loop(self) -> None:
        """A client of our own opened on an earlier ``asyncio.run``'s loop keeps connections of that loop,
        which can neither serve nor be closed from this one: it is dropped for a new one."""
        loop = asyncio.get_running_loop()
        if self._owns_http and self._http_loop is not loop:
            if self._http_loop is not None:
                self._http = httpx.AsyncClient(timeout=self._timeout)
            self._http_loop = loop

    async def aclose(self) -> None:
        """Close the HTTP client this object created (one passed in is left to its owner)."""
        if self._owns_http:
            self._own_client_on_this_loop()
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


# ---------------------------------------------------------------------------------------------
# Providers


class SerperSearch(_WebSearch):
    """Google results through serper.dev, as in the paper: answer box, knowledge graph, snippets.

    ``gl`` and ``hl`` are Google's country and interface language. Key: ``SERPER_API_KEY``.
    """

    name = "Serper"
    key_env = "SERPER_API_KEY"
    key_header = "X-API-KEY"
    max_query_chars = 2000
    max_query_words = 32
    default_num_results = 10
    max_num_results = 100
    endpoint: ClassVar[str] = "https://google.serper.dev/search"

    def __init__(self, *, gl: str = "us", hl: str = "en", **options: Any) -> None:
        super().__init__(**options)
        self.gl, self.hl = gl, hl

    def _settings(self) -> dict[str, object]:
        return {"gl": self.gl, "hl": self.hl, **super()._settings()}

    async def _fetch(self, query: str) -> list[Evidence]:
        body = {"q": query, "gl": self.gl, "hl": self.hl, "num": self.num_results}
        return serper_evidence(await self._call("POST", self.endpoint, json=body))

    def _fatal_message(self, status: int, detail: str) -> str | None:
        if status == 400 and "credit" in detail.lower():
            return f"Serper has no credits left ({detail}): top up the account at serper.dev or change the key."
        return super()._fatal_message(status, detail)


def serper_evidence(body: object) -> list[Evidence]:
    """Evidence from a Serper reply: answer box, knowledge graph, then organic snippets."""
    reply = _as_dict(body)
    found = [
        _answer_box(_as_dict(reply.get("answerBox"))),
        _knowledge_graph(_as_dict(reply.get("knowledgeGraph"))),
        *_result_list(reply.get("organic"), "snippet", url="link"),
    ]
    return [item for item in found if item.text]


def _answer_box(box: dict[str, Any]) -> Evidence:
    answer, snippet, title = (
        _as_str(box.get("answer")),
        _as_str(box.get("snippet")),
        _as_str(box.get("title")),
    )
    highlighted = " ".join(map(_as_str, _as_list(box.get("snippetHighlighted"))))
    text = " ".join(part for part in (answer, snippet or highlighted) if part)
    # A bare answer ("March 14, 1879") means little without the question the box's title carries.
    if answer and not (snippet or highlighted) and title:
        text = f"{title}: {answer}"
    return Evidence(text=text, title=title, url=_as_str(box.get("link")))


def _knowledge_graph(graph: dict[str, Any]) -> Evidence:
    title, kind = _as_str(graph.get("title")), _as_str(graph.get("type"))
    head = f"{title} ({kind})" if title and kind else title or kind
    attributes = "; ".join(f"{k}: {_as_str(v)}" for k, v in _as_dict(graph.get("attributes")).items())
    description = _as_str(graph.get("description"))
    text = ""
    # A title alone is no evidence: it takes a description or attributes.
    if description or attributes:
        text = ". ".join(p.rstrip(".") for p in (head, description, attributes) if p) + "."
    url = _as_str(graph.get("descriptionLink")) or _as_str(graph.get("website"))
    return Evidence(text=text, title=title, url=url)


class TavilySearch(_WebSearch):
    """Tavily's search API. ``include_answer`` adds Tavily's own generated answer as the first item
    (off by default: it is a model's text, not a source). Key: ``TAVILY_API_KEY``.
    """

    name = "Tavily"
    key_env = "TAVILY_API_KEY"
    key_header = "Authorization"
    key_prefix = "Bearer "
    max_query_chars = 400
    default_num_results = 5
    endpoint: ClassVar[str] = "https://api.tavily.com/search"

    def __init__(
        self,
        *,
        search_depth: str = "basic",
        topic: str = "general",
        include_answer: bool = False,
        **options: Any,
    ) -> None:
        # Options are checked before the base class opens an HTTP client that would then leak.
        if search_depth not in ("basic", "advanced"):
            raise UsageError(f"Tavily search_depth must be 'basic' or 'advanced' (got {search_depth!r})")
        super().__init__(**options)
        self.search_depth, self.topic, self.include_answer = search_depth, topic, include_answer

    def _settings(self) -> dict[str, object]:
        own = {"search_depth": self.search_depth, "topic": self.topic, "include_answer": self.include_answer}
        return {**own, **super()._settings()}

    async def _fetch(self, query: str) -> list[Evidence]:
        body = {
            "query": query,
            "max_results": self.num_results,
            "search_depth": self.search_depth,
            "topic": self.topic,
            "include_answer": self.include_answer,
        }
        reply = _as_dict(await self._call("POST", self.endpoint, json=body))
        found = [Evidence(text=_as_str(reply.get("answer")), title="Tavily answer")] if self.include_answer else []
        return found + _result_list(reply.get("results"), "content")

    def _fatal_message(self, status: int, detail: str) -> str | None:
        if status in (432, 433):
            which = "plan" if status == 432 else "pay-as-you-go"
            return (
                f"Tavily: the account's {which} limit is reached (HTTP {status}: {detail}). "
                "Raise the limit at app.tavily.com or wait for it to reset."
            )
        return super()._fatal_message(status, detail)


class BraveSearch(_WebSearch):
    """Brave's web search API. Key: ``BRAVE_API_KEY`` (the subscription token)."""

    name = "Brave"
    key_env = "BRAVE_API_KEY"
    key_header = "X-Subscription-Token"
    max_query_chars = 400
    max_query_words = 50
    default_num_results = 10
    endpoint: ClassVar[str] = "https://api.search.brave.com/res/v1/web/search"

    async def _fetch(self, query: str) -> list[Evidence]:
        # Without text decorations the snippets come without <strong> markup.
        params = {"q": query, "count": self.num_results, "text_decorations": "false"}
        reply = _as_dict(await self._call("GET", self.endpoint, params=params))
        return _result_list(_as_dict(reply.get("web")).get("results"), _brave_text)

    def _fatal_message(self, status: int, detail: str) -> str | None:
        if "SUBSCRIPTION_TOKEN_INVALID" in detail:
            return f"Brave refused the subscription token (HTTP {status}: {detail}). {self._key_advice()}"
        return super()._fatal_message(status, detail)


def _brave_text(result: dict[str, Any]) -> str:
    snippets = [_as_str(result.get("description")), *map(_as_str, _as_list(result.get("extra_snippets")))]
    return " ".join(s for s in snippets if s)


class SearxngSearch(_WebSearch):
    """A self-hosted SearXNG instance at ``base_url`` (no key). Its settings must enable the JSON format."""

    name = "SearXNG"
    max_query_chars = 400
    max_query_words = 50
    default_num_results = 10
    max_num_results = 100

    def __init__(self, base_url: str, **options: Any) -> None:
        if not re.match(r"^https?://[^/\s]+", base_url):
            raise UsageError(f"SearXNG base URL must start with http:// or https:// (got {base_url!r})")
        super().__init__(**options)
        self.base_url = base_url.rstrip("/")
        self._breaker.endpoint = f"SearXNG at {self.base_url}"

    def _settings(self) -> dict[str, object]:
        return {"base_url": self.base_url, **super()._settings()}

    async def _fetch(self, query: str) -> list[Evidence]:
        reply = _as_dict(await self._call("GET", f"{self.base_url}/search", params={"q": query, "format": "json"}))
        results = _as_list(reply.get("results"))
        if not results and _as_list(reply.get("unresponsive_engines")):
            failed = ", ".join(" ".join(map(_as_str, _as_list(e))) for e in _as_list(reply["unresponsive_engines"]))
            raise _BackendFailure(f"SearXNG: no results, every engine failed ({failed})", "engines_failed")
        return [
            *_searxng_answers(reply),
            *_searxng_infoboxes(reply),
            *_result_list(results[: self.num_results], "content"),
        ]

    def _fatal_message(self, status: int, detail: str) -> str | None:
        if status == 403:
            return (
                f"SearXNG at {self.base_url} refused format=json (HTTP 403): the instance does not enable "
                "the JSON format. Add 'json' to search.formats in its settings.yml, or use another instance."
            )
        if status == 401:
            return f"SearXNG at {self.base_url} requires authentication (HTTP 401: {detail})."
        return None


def _searxng_answers(reply: dict[str, Any]) -> list[Evidence]:
    # Older instances list answers as strings, newer ones as {"answer", "url"} objects.
    found = []
    for answer in _as_list(reply.get("answers")):
        if isinstance(answer, dict):
            found.append(Evidence(text=_as_str(answer.get("answer")), url=_as_str(answer.get("url"))))
        else:
            found.append(Evidence(text=_as_str(answer)))
    return found


def _searxng_infoboxes(reply: dict[str, Any]) -> list[Evidence]:
    found = []
    for box in map(_as_dict, _as_list(reply.get("infoboxes"))):
        urls = [_as_str(_as_dict(u).get("url")) for u in _as_list(box.get("urls"))]
        found.append(
            Evidence(
                text=_as_str(box.get("content")),
                title=_as_str(box.get("infobox")),
                url=_as_str(box.get("id")) or next(filter(None, urls), ""),
            )
        )
    return found


class WikipediaSearch(_WebSearch):
    """Wikipedia (no key): full-text search for titles, then each top hit's lead-section summary.

    ``lang`` picks the edition (``en``, ``de``...). A hit whose summary cannot be fetched falls back
    to its search snippet.
    """

    name = "Wikipedia"
    max_query_chars = 300
    default_num_results = 3
    max_num_results = 10

    def __init__(self, *, lang: str = "en", **options: Any) -> None:
        if not re.fullmatch(r"[a-z][a-z-]{1,15}", lang):
            raise UsageError(f"Wikipedia lang must be a language code such as 'en' (got {lang!r})")
        super().__init__(**options)
        self.lang = lang
        self.site = f"https://{lang}.wikipedia.org"

    def _settings(self) -> dict[str, object]:
        return {"lang": self.lang, **super()._settings()}

    def prepare_query(self, query: str) -> str:
        return trim_query(" ".join(query_terms(query)), max_chars=self.max_query_chars)

    async def _fetch(self, query: str) -> list[Evidence]:
        params = {
            "action": "query",
            "list": "search",
            "srsearch": query,
            "srlimit": self.num_results,
            "format": "json",
        }
        reply = _as_dict(await self._call("GET", f"{self.site}/w/api.php", params=params))
        if "error" in reply:
            raise SearchError(f"Wikipedia: {_message_from(reply['error']) or 'search failed'}")
        hits = [_as_dict(hit) for hit in _as_list(_as_dict(reply.get("query")).get("search"))]
        summaries = await asyncio.gather(*(self._summary(hit) for hit in hits), return_exceptions=True)
        for outcome in summaries:
            if isinstance(outcome, BaseException):
                raise outcome
        return [item for item in summaries if isinstance(item, Evidence)]

    async def _summary(self, hit: dict[str, Any]) -> Evidence:
        title = _as_str(hit.get("title"))
        page_url = f"{self.site}/wiki/{quote(title.replace(' ', '_'))}"
        fallback = Evidence(text=_as_str(hit.get("snippet")), title=title, url=page_url)
        try:
            page = _as_dict(
                await self._call(
                    "GET", f"{self.site}/api/rest_v1/page/summary/{quote(title.replace(' ', '_'), safe='')}"
                )
            )
        except FatalSearchError:
            raise
        except SearchError:
            return fallback
        # "X may refer to:" pages list other titles; the snippet says more than that.
        if page.get("type") == "disambiguation" or not _as_str(page.get("extract")):
            return fallback
        url = _as_str(_as_dict(_as_dict(page.get("content_urls")).get("desktop")).get("page")) or page_url
        return Evidence(text=_as_str(page.get("extract")), title=_as_str(page.get("title")) or title, url=url)

    def _fatal_message(self, status: int, detail: str) -> str | None:
        if status == 403:
            return (
                f"Wikipedia refused the request (HTTP 403: {detail}). Wikimedia blocks generic User-Agents: "
                "pass user_agent='yourtool/1.0 (https://your.site; you@example.org)'."
            )
        return None


class ExaSearch(_WebSearch):
    """Exa's embedding search, asking for query-relevant highlights of each page. Key: ``EXA_API_KEY``."""

    name = "Exa"
    key_env = "EXA_API_KEY"
    key_header = "x-api-key"
    max_query_chars = 1000
    default_num_results = 5
    max_num_results = 100
    endpoint: ClassVar[str] = "https://api.exa.ai/search"
    #: A page's full text can run to megabytes; one item must not eat the whole evidence budget.
    max_text_chars: ClassVar[int] = 1000

    async def _fetch(self, query: str) -> list[Evidence]:
        body = {
            "query": query,
            "numResults": self.num_results,
            "contents": {"highlights": {"numSentences": 3, "highlightsPerUrl": 2}},
        }
        reply = _as_dict(await self._call("POST", self.endpoint, json=body))
        return _result_list(reply.get("results"), self._text)

    def _text(self, result: dict[str, Any]) -> str:
        highlights = " ".join(map(_as_str, _as_list(result.get("highlights"))))
        return highlights or truncate_words(_as_str(result.get("text")), self.max_text_chars)


# ---------------------------------------------------------------------------------------------
# Clients without a backend


class NoSearch:
    """A search client that never finds anything (retrieval switched off, but a client is required)."""

    identity = "none"

    async def search(self, query: str) -> list[Evidence]:
        """Always []."""
        return []

    async def aclose(self) -> None:
        """Nothing to close."""

    def __repr__(self) -> str:
        return "NoSearch()"


class FakeSearch:
    """A scripted search client for tests.

    ``results`` maps a query to its evidence (unknown queries give []), or is a function of the
    query. Evidence is returned exactly as given, uncleaned, so tests see what they scripted.
    Every query received is appended to :attr:`queries`.
    """

    identity = "fake"

    def __init__(
        self,
        results: Mapping[str, Sequence[Evidence]] | Callable[[str], Sequence[Evidence]] | None = None,
    ) -> None:
        self._results = results if results is not None else {}
        #: The queries received, in order.
        self.queries: list[str] = []

    async def search(self, query: str) -> list[Evidence]:
        """The scripted evidence for ``query``."""
        self.queries.append(query)
        if callable(self._results):
            return list(self._results(query))
        return list(self._results.get(query, ()))

    async def aclose(self) -> None:
        """Nothing to close."""

    def __repr__(self) -> str:
        return f"FakeSearch(queries={len(self.queries)})"


# ---------------------------------------------------------------------------------------------
# The CLI contract

#: The values ``--search`` accepts.
SPEC_CHOICES = ("none", "serper", "tavily", "brave", "searxng:URL", "wikipedia", "exa", "local:PATH")

_BY_NAME: dict[str, Callable[..., SearchClient]] = {
    "serper": SerperSearch,
    "tavily": TavilySearch,
    "brave": BraveSearch,
    "wikipedia": WikipediaSearch,
    "exa": ExaSearch,
}
_WITH_ARGUMENT: dict[str, Callable[[str], Callable[..., SearchClient]]] = {
    "searxng": lambda url: partial(SearxngSearch, url),
    "local": lambda path: partial(LocalIndex, Path(path)),
}


def parse_search_spec(spec: str) -> tuple[str, str]:
    """The backend a ``--search`` value names and its argument (URL or path, else ""); raises
    :class:`UsageError` when no backend has that name, or one that needs an argument has none. Builds
    nothing: the dry run checks the value without needing the backend's key."""
    name, colon, argument = spec.strip().partition(":")
    name, argument = name.strip().lower(), argument.strip()
    if (name in ("none", *_BY_NAME) and not colon) or (name in _WITH_ARGUMENT and argument):
        return name, argument
    raise UsageError(f"unknown search backend {spec!r}: choose one of {', '.join(SPEC_CHOICES)}")


def search_client_from_spec(spec: str, **options: Any) -> SearchClient | None:
    """Build the client a ``--search`` value names: ``none`` (None), ``serper``, ``tavily``, ``brave``,
    ``searxng:URL``, ``wikipedia``, ``exa`` or ``local:PATH``.

    ``options`` go to the client's constructor. Raises :class:`UsageError` for an unknown spec, a
    missing URL or path, options the client does not take, or a missing API key.
    """
    name, argument = parse_search_spec(spec)
    if name == "none":
        return None
    make = _WITH_ARGUMENT[name](argument) if argument else _BY_NAME[name]
    try:
        return make(**options)
    except TypeError as exc:
        raise UsageError(f"search backend {name!r} does not accept these options: {exc}") from exc
