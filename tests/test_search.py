"""Search clients against the APIs mocked at the HTTP level (respx), evidence cleaning, fakes, the spec factory."""

from __future__ import annotations

import asyncio
import json
import tracemalloc
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import respx

from realign._exceptions import FatalSearchError, SearchError, UsageError
from realign._llm.openai_chat import RetryPolicy
from realign._llm.retry import parse_retry_after
from realign._models import Evidence
from realign._search.evidence import clean_evidence, clean_text, truncate_words
from realign._search.index import LocalIndex, build_index
from realign._search.web import (
    DEFAULT_USER_AGENT,
    SPEC_CHOICES,
    BraveSearch,
    ExaSearch,
    FakeSearch,
    NoSearch,
    SearxngSearch,
    SerperSearch,
    TavilySearch,
    WikipediaSearch,
    backoff_seconds,
    search_client_from_spec,
    trim_query,
)

T = TypeVar("T")

FAST = RetryPolicy(attempts=3, initial=0.001, maximum=0.001, jitter=0.0, max_retry_after=0.01)
KEY = "sk-secret-key-123456"
SERPER = "https://google.serper.dev/search"
TAVILY = "https://api.tavily.com/search"
BRAVE = "https://api.search.brave.com/res/v1/web/search"
EXA = "https://api.exa.ai/search"
WIKI_API = "https://en.wikipedia.org/w/api.php"
WIKI_SUMMARY = "https://en.wikipedia.org/api/rest_v1/page/summary/"
SNIPPET = "Albert Einstein was a German-born theoretical physicist who developed relativity."


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def search_once(client: Any, query: str = "Who was Albert Einstein?") -> list[Evidence]:
    async with client:
        result: list[Evidence] = await client.search(query)
        return result


def sent_json(route: respx.Route, index: int = -1) -> Any:
    return json.loads(route.calls[index].request.content)


@pytest.fixture
def mock() -> Any:
    # assert_all_mocked (the default) turns any request without a route into an error: no network.
    with respx.mock(assert_all_called=False) as router:
        yield router


# ---------------------------------------------------------------------------------------------
# Serper: the shapes


SERPER_FULL = {
    "answerBox": {"title": "Albert Einstein / Born", "answer": "March 14, 1879", "link": "https://a.example"},
    "knowledgeGraph": {
        "title": "Albert Einstein",
        "type": "Theoretical physicist",
        "description": "Albert Einstein was a German-born physicist.",
        "descriptionLink": "https://en.wikipedia.org/wiki/Albert_Einstein",
        "attributes": {"Born": "March 14, 1879, Ulm", "Died": "April 18, 1955"},
    },
    "organic": [
        {"title": "Einstein - Britannica", "link": "https://b.example", "snippet": SNIPPET, "position": 1},
        {"title": "Video", "link": "https://v.example", "snippet": "Duration: 12:03 Posted: Jan 3, 2020"},
        {"title": "Missing", "link": "https://m.example", "snippet": "Missing: born | Show results with: born"},
        {"title": "No snippet", "link": "https://n.example"},
    ],
    "peopleAlsoAsk": [{"question": "q", "snippet": "s", "title": "t", "link": "l"}],
}


def test_serper_reads_answer_box_knowledge_graph_and_snippets(mock: respx.Router) -> None:
    route = mock.post(SERPER).respond(200, json=SERPER_FULL)
    found = run(search_once(SerperSearch(api_key=KEY, retry=FAST)))

    assert [e.text for e in found] == [
        "Albert Einstein / Born: March 14, 1879",
        "Albert Einstein (Theoretical physicist). Albert Einstein was a German-born physicist. "
        "Born: March 14, 1879, Ulm; Died: April 18, 1955.",
        SNIPPET,
    ]
    assert found[1].url == "https://en.wikipedia.org/wiki/Albert_Einstein"
    assert (found[2].title, found[2].url) == ("Einstein - Britannica", "https://b.example")
    request = route.calls.last.request
    assert request.headers["X-API-KEY"] == KEY
    assert request.headers["User-Agent"] == DEFAULT_USER_AGENT
    assert sent_json(route) == {"q": "Who was Albert Einstein?", "gl": "us", "hl": "en", "num": 10}


@pytest.mark.parametrize(
    "reply",
    [
        {"organic": [{"title": "T", "link": "https://b.example", "snippet": SNIPPET}]},
        {"answerBox": {}, "knowledgeGraph": {"title": "Albert Einstein"}, "organic": [{"snippet": SNIPPET}]},
        {"answerBox": None, "knowledgeGraph": "odd", "organic": [None, {"snippet": SNIPPET}]},
    ],
)
def test_serper_optional_blocks_may_be_missing_or_odd(mock: respx.Router, reply: dict[str, Any]) -> None:
    mock.post(SERPER).respond(200, json=reply)
    assert [e.text for e in run(search_once(SerperSearch(api_key=KEY)))] == [SNIPPET]


def test_serper_answer_box_with_snippet(mock: respx.Router) -> None:
    box = {"title": "t", "snippet": "Einstein was born in Ulm, Germany.", "snippetHighlighted": ["Ulm"]}
    mock.post(SERPER).respond(200, json={"answerBox": box})
    assert [e.text for e in run(search_once(SerperSearch(api_key=KEY)))] == [box["snippet"]]


@pytest.mark.parametrize("reply", [{}, {"organic": []}, [], "nothing"])
def test_serper_empty_results(mock: respx.Router, reply: Any) -> None:
    mock.post(SERPER).respond(200, json=reply)
    assert run(search_once(SerperSearch(api_key=KEY))) == []


def test_evidence_is_capped_to_five_items(mock: respx.Router) -> None:
    organic = [
        {"title": f"T{i}", "link": f"https://{i}.example", "snippet": f"Fact number {i} is true."} for i in range(10)
    ]
    mock.post(SERPER).respond(200, json={"organic": organic})
    found = run(search_once(SerperSearch(api_key=KEY)))
    assert [e.title for e in found] == ["T0", "T1", "T2", "T3", "T4"]


def test_blank_query_sends_nothing(mock: respx.Router) -> None:
    route = mock.post(SERPER).respond(200, json={})
    assert run(search_once(SerperSearch(api_key=KEY), "  \n\t ")) == []
    assert not route.called


# ---------------------------------------------------------------------------------------------
# Faults: retries, fatal errors, keys


def test_rate_limit_then_success(mock: respx.Router) -> None:
    route = mock.post(SERPER).mock(
        side_effect=[
            httpx.Response(429, json={"message": "Too many"}, headers={"Retry-After": "0"}),
            httpx.Response(200, json={"organic": [{"snippet": SNIPPET}]}),
        ]
    )
    assert [e.text for e in run(search_once(SerperSearch(api_key=KEY, retry=FAST)))] == [SNIPPET]
    assert route.call_count == 2


def test_rate_limit_forever_gives_up_after_bounded_attempts(mock: respx.Router) -> None:
    route = mock.post(SERPER).respond(429, json={"message": "Too many requests"})
    with pytest.raises(SearchError) as info:
        run(search_once(SerperSearch(api_key=KEY, retry=FAST)))
    assert not isinstance(info.value, FatalSearchError)
    assert route.call_count == FAST.attempts
    assert "Serper" in str(info.value)
    assert "429" in str(info.value)
    assert "3 attempts" in str(info.value)


@pytest.mark.parametrize(
    "failure",
    [
        httpx.Response(503, text="<html>Service Unavailable</html>"),
        httpx.Response(500, json={"message": "internal"}),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("read timed out"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
)
def test_transient_failures_are_retried(mock: respx.Router, failure: Any) -> None:
    route = mock.post(SERPER).mock(side_effect=[failure, httpx.Response(200, json={"organic": [{"snippet": SNIPPET}]})])
    assert len(run(search_once(SerperSearch(api_key=KEY, retry=FAST)))) == 1
    assert route.call_count == 2


def test_timeouts_forever_raise_search_error(mock: respx.Router) -> None:
    route = mock.post(SERPER).mock(side_effect=httpx.ConnectTimeout("timed out"))
    with pytest.raises(SearchError, match="timed out"):
        run(search_once(SerperSearch(api_key=KEY, retry=FAST)))
    assert route.call_count == 3


def test_bad_key_is_fatal_at_first_call_and_never_shown(mock: respx.Router) -> None:
    route = mock.post(SERPER).respond(403, json={"message": "Unauthorized.", "statusCode": 403})
    with pytest.raises(FatalSearchError) as info:
        run(search_once(SerperSearch(api_key=KEY, retry=FAST)))
    message = str(info.value)
    assert route.call_count == 1
    assert "Serper" in message
    assert "SERPER_API_KEY" in message
    assert "Unauthorized" in message
    assert KEY not in message


def test_a_key_echoed_by_the_server_is_redacted(mock: respx.Router) -> None:
    mock.post(SERPER).respond(401, json={"message": f"invalid key {KEY}"})
    with pytest.raises(FatalSearchError) as info:
        run(search_once(SerperSearch(api_key=KEY)))
    assert KEY not in str(info.value)
    assert "***" in str(info.value)


def test_serper_out_of_credits_is_fatal(mock: respx.Router) -> None:
    route = mock.post(SERPER).respond(400, json={"message": "Not enough credits"})
    with pytest.raises(FatalSearchError, match="credits"):
        run(search_once(SerperSearch(api_key=KEY, retry=FAST)))
    assert route.call_count == 1


def test_other_client_errors_fail_the_row_only(mock: respx.Router) -> None:
    route = mock.post(SERPER).respond(400, json={"message": "Query too long"})
    with pytest.raises(SearchError, match="HTTP 400: Query too long") as info:
        run(search_once(SerperSearch(api_key=KEY, retry=FAST)))
    assert not isinstance(info.value, FatalSearchError)
    assert route.call_count == 1


def test_a_reply_that_is_not_json_is_a_search_error(mock: respx.Router) -> None:
    mock.post(SERPER).respond(200, text="<html>captive portal</html>")
    with pytest.raises(SearchError, match="not JSON"):
        run(search_once(SerperSearch(api_key=KEY)))


@pytest.mark.parametrize(
    ("cls", "env"),
    [
        (SerperSearch, "SERPER_API_KEY"),
        (TavilySearch, "TAVILY_API_KEY"),
        (BraveSearch, "BRAVE_API_KEY"),
        (ExaSearch, "EXA_API_KEY"),
    ],
)
def test_missing_key_names_the_env_var(monkeypatch: pytest.MonkeyPatch, cls: Any, env: str) -> None:
    monkeypatch.delenv(env, raising=False)
    with pytest.raises(UsageError, match=env):
        cls()
    with pytest.raises(UsageError, match=env):
        cls(api_key="   ")


def test_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch, mock: respx.Router) -> None:
    monkeypatch.setenv("BRAVE_API_KEY", KEY)
    route = mock.get(BRAVE).respond(200, json={})
    run(search_once(BraveSearch()))
    assert route.calls.last.request.headers["X-Subscription-Token"] == KEY


def test_repr_and_identity_never_show_the_key() -> None:
    client = SerperSearch(api_key=KEY, gl="de", hl="de")
    try:
        assert KEY not in repr(client)
        assert KEY not in client.identity
        assert client.identity == "serper:gl=de,hl=de,num_results=10,max_items=5,max_chars=3000"
        assert repr(client).startswith("SerperSearch(gl='de'")
    finally:
        run(client.aclose())


def test_keyless_clients_refuse_a_key() -> None:
    with pytest.raises(UsageError, match="takes no API key"):
        WikipediaSearch(api_key="x")


def test_bad_options_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="num_results"):
        TavilySearch(api_key=KEY, num_results=50)
    with pytest.raises(UsageError, match="concurrency"):
        SerperSearch(api_key=KEY, concurrency=0)
    with pytest.raises(UsageError, match="search_depth"):
        TavilySearch(api_key=KEY, search_depth="deep")


def test_backoff_grows_and_honours_retry_after_with_a_cap() -> None:
    policy = RetryPolicy(attempts=4, initial=0.5, maximum=8.0, jitter=0.0, max_retry_after=30.0)
    assert [backoff_seconds(policy, n) for n in (1, 2, 3, 6)] == [0.5, 1.0, 2.0, 8.0]
    assert backoff_seconds(policy, 1, retry_after=12.0) == 12.0
    assert backoff_seconds(policy, 1, retry_after=600.0) == 30.0
    jittered = RetryPolicy(initial=1.0, maximum=1.0, jitter=0.5)
    assert all(1.0 <= backoff_seconds(jittered, 1) <= 1.5 for _ in range(50))


def test_retry_after_header_forms() -> None:
    def parsed(value: str) -> float | None:
        return parse_retry_after(httpx.Response(429, headers={"Retry-After": value}).headers)

    assert parsed("7") == 7.0
    assert parsed("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # a date in the past: no wait
    assert parsed("soon") is None
    assert parse_retry_after(httpx.Response(429).headers) is None


def test_retry_after_is_used_between_attempts(mock: respx.Router) -> None:
    policy = RetryPolicy(attempts=2, initial=0.0, maximum=0.0, jitter=0.0, max_retry_after=0.2)
    mock.post(SERPER).mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "100"}), httpx.Response(200, json={})]
    )

    async def timed() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await search_once(SerperSearch(api_key=KEY, retry=policy))
        return loop.time() - start

    assert 0.19 <= run(timed()) < 2.0  # waited Retry-After, capped at max_retry_after


# ---------------------------------------------------------------------------------------------
# Query trimming


def test_trim_query_collapses_whitespace_and_cuts_at_a_word() -> None:
    assert trim_query("  what   is\n\nthe\tanswer ", max_chars=100) == "what is the answer"
    assert trim_query("alpha beta gamma", max_chars=12) == "alpha beta"
    assert trim_query("alpha beta gamma", max_chars=10) == "alpha beta"
    assert trim_query("one two three four", max_chars=100, max_words=2) == "one two"
    assert trim_query("x" * 50, max_chars=10) == "x" * 10
    assert trim_query("", max_chars=10) == ""


@pytest.mark.parametrize(
    ("cls", "method", "url", "field", "max_chars", "max_words"),
    [
        (SerperSearch, "POST", SERPER, "q", 2000, 32),
        (TavilySearch, "POST", TAVILY, "query", 400, None),
        (BraveSearch, "GET", BRAVE, "q", 400, 50),
        (ExaSearch, "POST", EXA, "query", 1000, None),
    ],
)
def test_long_instructions_are_trimmed_to_the_api_limits(
    mock: respx.Router, cls: Any, method: str, url: str, field: str, max_chars: int, max_words: int | None
) -> None:
    route = mock.route(method=method, url__startswith=url).respond(200, json={})
    instruction = "  ".join(f"word{i}\n" for i in range(1000))
    run(search_once(cls(api_key=KEY), instruction))
    request = route.calls.last.request
    sent = request.url.params[field] if method == "GET" else json.loads(request.content)[field]
    assert len(sent) <= max_chars
    assert "  " not in sent
    assert "\n" not in sent
    assert instruction.split()[: len(sent.split())] == sent.split()  # whole words, in order
    if max_words is not None:
        assert len(sent.split()) == max_words


# ---------------------------------------------------------------------------------------------
# Tavily, Brave, SearXNG, Wikipedia, Exa


TAVILY_REPLY = {
    "query": "q",
    "answer": "Einstein was born in 1879.",
    "results": [
        {"title": "Einstein", "url": "https://t.example", "content": SNIPPET, "score": 0.9},
        {"title": "Empty", "url": "https://e.example", "content": ""},
    ],
    "response_time": "1.2",
}


def test_tavily_success(mock: respx.Router) -> None:
    route = mock.post(TAVILY).respond(200, json=TAVILY_REPLY)
    found = run(search_once(TavilySearch(api_key=KEY)))
    assert [(e.text, e.url) for e in found] == [(SNIPPET, "https://t.example")]
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {KEY}"
    assert sent_json(route) == {
        "query": "Who was Albert Einstein?",
        "max_results": 5,
        "search_depth": "basic",
        "topic": "general",
        "include_answer": False,
    }


def test_tavily_answer_comes_first_when_asked_for(mock: respx.Router) -> None:
    mock.post(TAVILY).respond(200, json=TAVILY_REPLY)
    found = run(search_once(TavilySearch(api_key=KEY, include_answer=True)))
    assert [e.title for e in found] == ["Tavily answer", "Einstein"]


@pytest.mark.parametrize("status", [432, 433])
def test_tavily_plan_limits_are_fatal(mock: respx.Router, status: int) -> None:
    mock.post(TAVILY).respond(status, json={"detail": {"error": "This request exceeds your plan's set usage limit."}})
    with pytest.raises(FatalSearchError, match=f"Tavily.*HTTP {status}.*usage limit"):
        run(search_once(TavilySearch(api_key=KEY)))


def test_tavily_bad_key(mock: respx.Router) -> None:
    mock.post(TAVILY).respond(401, json={"detail": {"error": "Unauthorized: missing or invalid API key."}})
    with pytest.raises(FatalSearchError, match="TAVILY_API_KEY") as info:
        run(search_once(TavilySearch(api_key=KEY)))
    assert "invalid API key" in str(info.value)
    assert KEY not in str(info.value)


def test_brave_success_strips_markup_and_adds_extra_snippets(mock: respx.Router) -> None:
    results = [
        {
            "title": "Einstein &amp; relativity",
            "url": "https://br.example",
            "description": "<strong>Albert Einstein</strong> developed the theory of relativity.",
            "extra_snippets": ["He received the 1921 Nobel Prize in Physics."],
        },
        {"title": "no description", "url": "https://x.example"},
    ]
    route = mock.get(BRAVE).respond(200, json={"type": "search", "web": {"results": results}})
    found = run(search_once(BraveSearch(api_key=KEY, num_results=3)))
    assert found == [
        Evidence(
            text="Albert Einstein developed the theory of relativity. He received the 1921 Nobel Prize in Physics.",
            title="Einstein & relativity",
            url="https://br.example",
        )
    ]
    params = route.calls.last.request.url.params
    assert params["count"] == "3"
    assert params["q"] == "Who was Albert Einstein?"


def test_brave_without_web_block(mock: respx.Router) -> None:
    mock.get(BRAVE).respond(200, json={"type": "search", "query": {"original": "q"}})
    assert run(search_once(BraveSearch(api_key=KEY))) == []


@pytest.mark.parametrize("status", [401, 422])
def test_brave_invalid_token_is_fatal(mock: respx.Router, status: int) -> None:
    body = {
        "type": "ErrorResponse",
        "error": {
            "code": "SUBSCRIPTION_TOKEN_INVALID",
            "detail": "The provided subscription token is invalid.",
            "status": status,
        },
    }
    mock.get(BRAVE).respond(status, json=body)
    with pytest.raises(FatalSearchError, match=r"SUBSCRIPTION_TOKEN_INVALID.*BRAVE_API_KEY"):
        run(search_once(BraveSearch(api_key=KEY)))


def test_brave_rate_limited_is_retried(mock: respx.Router) -> None:
    body = {"type": "ErrorResponse", "error": {"code": "RATE_LIMITED", "detail": "Request rate limit exceeded"}}
    route = mock.get(BRAVE).mock(side_effect=[httpx.Response(429, json=body), httpx.Response(200, json={})])
    assert run(search_once(BraveSearch(api_key=KEY, retry=FAST))) == []
    assert route.call_count == 2


SEARX = "http://searx.local:8888"


def test_searxng_success(mock: respx.Router) -> None:
    reply = {
        "results": [
            {"url": f"https://{i}.example", "title": f"R{i}", "content": f"Result text number {i}.", "engine": "x"}
            for i in range(5)
        ],
        "answers": [{"answer": "Einstein was born on 14 March 1879.", "url": "https://ans.example"}],
        "infoboxes": [
            {
                "infobox": "Albert Einstein",
                "content": "German-born theoretical physicist (1879-1955).",
                "urls": [{"title": "Wikipedia", "url": "https://wiki.example"}],
            }
        ],
        "unresponsive_engines": [["brave", "timeout"]],
    }
    route = mock.get(f"{SEARX}/search").respond(200, json=reply)
    found = run(search_once(SearxngSearch(SEARX + "/", num_results=2, retry=FAST)))
    assert [e.url for e in found] == [
        "https://ans.example",
        "https://wiki.example",
        "https://0.example",
        "https://1.example",
    ]
    params = route.calls.last.request.url.params
    assert params["format"] == "json"
    assert params["q"] == "Who was Albert Einstein?"
    assert "X-API-KEY" not in route.calls.last.request.headers


def test_searxng_plain_string_answers(mock: respx.Router) -> None:
    mock.get(f"{SEARX}/search").respond(200, json={"results": [], "answers": ["Einstein was born in Ulm."]})
    assert [e.text for e in run(search_once(SearxngSearch(SEARX)))] == ["Einstein was born in Ulm."]


def test_searxng_without_json_format_says_so(mock: respx.Router) -> None:
    mock.get(f"{SEARX}/search").respond(403, text="Forbidden")
    with pytest.raises(FatalSearchError, match=r"JSON format.*settings\.yml"):
        run(search_once(SearxngSearch(SEARX, retry=FAST)))


def test_searxng_all_engines_failing(mock: respx.Router) -> None:
    reply = {"results": [], "answers": [], "unresponsive_engines": [["google", "timeout"], ["bing", "CAPTCHA"]]}
    mock.get(f"{SEARX}/search").respond(200, json=reply)
    with pytest.raises(SearchError, match="google timeout, bing CAPTCHA"):
        run(search_once(SearxngSearch(SEARX)))


def test_searxng_empty_is_not_an_error(mock: respx.Router) -> None:
    mock.get(f"{SEARX}/search").respond(200, json={"results": [], "unresponsive_engines": []})
    assert run(search_once(SearxngSearch(SEARX))) == []


@pytest.mark.parametrize("url", ["", "searx.local", "ftp://x", "http://"])
def test_searxng_needs_an_http_url(url: str) -> None:
    with pytest.raises(UsageError, match="http"):
        SearxngSearch(url)


def wiki_hits(*titles: str) -> dict[str, Any]:
    hits = [
        {"title": t, "pageid": i, "snippet": f'<span class="searchmatch">{t}</span> is a &quot;topic&quot; here.'}
        for i, t in enumerate(titles)
    ]
    return {"batchcomplete": "", "query": {"searchinfo": {"totalhits": len(hits)}, "search": hits}}


def wiki_summary(title: str, extract: str, kind: str = "standard") -> dict[str, Any]:
    page = f"https://en.wikipedia.org/wiki/{title.replace(' ', '_')}"
    return {"type": kind, "title": title, "extract": extract, "content_urls": {"desktop": {"page": page}}}


def test_wikipedia_search_then_summaries(mock: respx.Router) -> None:
    api = mock.get(WIKI_API).respond(200, json=wiki_hits("Albert Einstein", "Einstein family", "AC/DC"))
    mock.get(WIKI_SUMMARY + "Albert_Einstein").respond(
        200, json=wiki_summary("Albert Einstein", "Albert Einstein was a German-born theoretical physicist.")
    )
    mock.get(WIKI_SUMMARY + "Einstein_family").respond(404, json={"title": "Not found."})
    mock.get(WIKI_SUMMARY + "AC%2FDC").respond(
        200, json=wiki_summary("AC/DC", "AC/DC may refer to several things.", kind="disambiguation")
    )
    found = run(search_once(WikipediaSearch(retry=FAST), "Please explain who Albert Einstein was!"))

    assert found == [
        Evidence(
            text="Albert Einstein was a German-born theoretical physicist.",
            title="Albert Einstein",
            url="https://en.wikipedia.org/wiki/Albert_Einstein",
        ),
        Evidence(
            text='Einstein family is a "topic" here.',
            title="Einstein family",
            url="https://en.wikipedia.org/wiki/Einstein_family",
        ),
        Evidence(text='AC/DC is a "topic" here.', title="AC/DC", url="https://en.wikipedia.org/wiki/AC/DC"),
    ]
    request = api.calls.last.request
    assert request.url.params["srsearch"] == "albert einstein"  # key words only
    assert request.url.params["srlimit"] == "3"
    assert request.url.params["list"] == "search"
    assert "realign/" in request.headers["User-Agent"]
    assert "https://" in request.headers["User-Agent"]


def test_wikipedia_query_is_at_most_300_chars(mock: respx.Router) -> None:
    api = mock.get(WIKI_API).respond(200, json={"query": {"search": []}})
    run(search_once(WikipediaSearch(), " ".join(f"term{i}" for i in range(200))))
    assert len(api.calls.last.request.url.params["srsearch"]) <= 300


def test_wikipedia_api_error_in_a_200_reply(mock: respx.Router) -> None:
    body = {"error": {"code": "search-too-long", "info": "Search request is longer than the maximum allowed length."}}
    mock.get(WIKI_API).respond(200, json=body)
    with pytest.raises(SearchError, match="maximum allowed length"):
        run(search_once(WikipediaSearch()))


def test_wikipedia_403_points_at_the_user_agent(mock: respx.Router) -> None:
    mock.get(WIKI_API).respond(403, text="Please set a user-agent and respect our robot policy.")
    with pytest.raises(FatalSearchError, match="user_agent="):
        run(search_once(WikipediaSearch(retry=FAST)))


def test_wikipedia_fatal_error_while_fetching_summaries(mock: respx.Router) -> None:
    mock.get(WIKI_API).respond(200, json=wiki_hits("Albert Einstein"))
    mock.get(WIKI_SUMMARY + "Albert_Einstein").respond(403, text="blocked")
    with pytest.raises(FatalSearchError):
        run(search_once(WikipediaSearch(retry=FAST)))


def test_wikipedia_other_language_and_custom_user_agent(mock: respx.Router) -> None:
    api = mock.get("https://de.wikipedia.org/w/api.php").respond(200, json={"query": {"search": []}})
    run(search_once(WikipediaSearch(lang="de", user_agent="mybot/1.0 (me@example.org)")))
    assert api.calls.last.request.headers["User-Agent"] == "mybot/1.0 (me@example.org)"
    with pytest.raises(UsageError):
        WikipediaSearch(lang="en.evil.com/")


def test_exa_highlights_then_text(mock: respx.Router) -> None:
    results = [
        {
            "url": "https://e1.example",
            "title": "E1",
            "highlights": ["Einstein developed relativity.", "He was born in Ulm."],
        },
        {"url": "https://e2.example", "title": "E2", "text": "Long page text. " * 500},
    ]
    route = mock.post(EXA).respond(200, json={"results": results})
    found = run(search_once(ExaSearch(api_key=KEY)))
    assert found[0].text == "Einstein developed relativity. He was born in Ulm."
    assert len(found[1].text) <= ExaSearch.max_text_chars
    assert found[1].text.endswith("…")
    assert route.calls.last.request.headers["x-api-key"] == KEY
    body = sent_json(route)
    assert body["numResults"] == 5
    assert "highlights" in body["contents"]


def test_exa_bad_key(mock: respx.Router) -> None:
    mock.post(EXA).respond(401, json={"error": "Invalid API key"})
    with pytest.raises(FatalSearchError, match="EXA_API_KEY"):
        run(search_once(ExaSearch(api_key=KEY)))


# ---------------------------------------------------------------------------------------------
# HTTP client ownership and concurrency


def test_injected_http_client_is_used_and_left_open() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"organic": [{"snippet": SNIPPET}]})

    async def scenario() -> bool:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            await search_once(SerperSearch(api_key=KEY, http_client=http))
            return http.is_closed

    assert run(scenario()) is False
    assert len(seen) == 1


def test_own_http_client_is_closed() -> None:
    async def scenario() -> bool:
        client = SerperSearch(api_key=KEY)
        async with client:
            pass
        return client._http.is_closed

    assert run(scenario()) is True


def test_concurrency_is_bounded_per_client() -> None:
    in_flight = peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200, json={"organic": [{"snippet": SNIPPET}]})

    async def scenario() -> list[list[Evidence]]:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            client = SerperSearch(api_key=KEY, http_client=http, concurrency=3)
            return await asyncio.gather(*(client.search(f"query {i}") for i in range(12)))

    assert all(len(r) == 1 for r in run(scenario()))
    assert peak == 3


# ---------------------------------------------------------------------------------------------
# Evidence cleaning


def ev(text: str, title: str = "", url: str = "") -> Evidence:
    return Evidence(text=text, title=title, url=url)


def test_clean_text_strips_markup_but_not_comparisons() -> None:
    assert clean_text("<b>Paris</b>&nbsp;is <i>the</i>\n\n capital &amp; more") == "Paris is the capital & more"
    assert clean_text("if a < b and c > d then") == "if a < b and c > d then"
    assert clean_text("x<script>alert(1)</script> y <!-- hidden --> z") == "x y z"
    assert clean_text("&lt;b&gt; stays literal") == "<b> stays literal"


@pytest.mark.parametrize(
    "text",
    [
        "No good search result found",
        "No results",
        "No results found.",
        "no good Google Search result was found",
        "Missing: einstein | Show results with: einstein",
        "Duration: 3:45 Posted: 12 May 2021",
        "Posted: 3 days ago. Some discussion follows about the thing.",
        "",
        "   ",
        "Too short",
        "<p></p>",
        "Enable JavaScript and cookies to continue",
        "You need to enable JavaScript to run this app.",
        "We use cookies to improve your experience. Accept all cookies.",
        "Checking your browser before accessing example.com.",
    ],
)
def test_placeholders_and_boilerplate_are_dropped(text: str) -> None:
    assert clean_evidence([ev(text)]) == []


def test_a_huge_snippet_is_cut_before_it_is_cleaned() -> None:
    # A backend handing over a whole page as one snippet: cleaning all of it cost ~20x its size in memory.
    paragraph = "<p>The Eiffel Tower is 330 metres tall &amp; was finished in 1889 \N{GRINNING FACE}.</p>\n"
    huge = ev(paragraph * (7_000_000 // len(paragraph)))  # 7 MB, stored 4 bytes a character
    tracemalloc.start()
    try:
        found = clean_evidence([huge])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000
    assert found[0].text.startswith("The Eiffel Tower is 330 metres tall & was finished in 1889")


def test_a_tag_cut_by_the_raw_cap_is_not_read_as_text() -> None:
    text = "Paris is the capital of France. " * 3200  # a little over the raw cap
    found = clean_evidence([ev(text[:99_990] + '<a href="https://example.com/a-long-link">link</a>')], max_chars=10**6)
    assert "<a" not in found[0].text


def test_boilerplate_sentences_are_removed_from_real_content() -> None:
    found = clean_evidence([ev("We use cookies to improve your experience. Paris is the capital of France.")])
    assert [e.text for e in found] == ["Paris is the capital of France."]


def test_how_to_content_about_javascript_is_kept() -> None:
    text = "To turn on JavaScript in Chrome, open Settings, then Privacy and security, then Site settings."
    assert [e.text for e in clean_evidence([ev(text)])] == [text]


def test_duplicates_and_near_duplicates() -> None:
    found = clean_evidence(
        [
            ev("Paris is the capital of France.", url="https://1"),
            ev("PARIS is the capital of   France!", url="https://2"),  # same words
            ev("Berlin is the capital of Germany.", url="https://3"),
            ev("Paris is the capital of France, and its largest city.", url="https://4"),  # contains the first
            ev("capital of Germany", url="https://5"),  # contained in the third
        ]
    )
    assert [e.url for e in found] == ["https://4", "https://3"]


def test_a_longer_item_replaces_every_item_it_contains() -> None:
    found = clean_evidence(
        [ev("Fact one is true."), ev("Fact two is true."), ev("Fact one is true. Fact two is true.")]
    )
    assert [e.text for e in found] == ["Fact one is true. Fact two is true."]


def test_count_and_length_caps_truncate_the_last_item_at_a_word() -> None:
    items = [ev(f"Item {i} " + "word " * 30) for i in range(10)]
    found = clean_evidence(items, max_items=3, max_chars=200)
    assert len(found) == 2
    assert sum(len(e.text) for e in found) <= 200
    assert found[1].text.endswith("word…")
    assert len(clean_evidence(items, max_items=3, max_chars=100_000)) == 3


def test_truncation_keeps_at_least_something_of_a_single_long_item() -> None:
    found = clean_evidence([ev("alpha " * 2000, title="T", url="https://u")], max_chars=50)
    assert len(found) == 1
    assert len(found[0].text) <= 50
    assert (found[0].title, found[0].url) == ("T", "https://u")


def test_truncate_words() -> None:
    assert truncate_words("short", 10) == "short"
    assert truncate_words("alpha beta gamma", 12) == "alpha beta…"
    assert truncate_words("x" * 30, 10) == "x" * 9 + "…"
    assert truncate_words("anything", 1) == ""


def test_titles_are_cleaned_and_sources_kept() -> None:
    found = clean_evidence([ev("Some <b>real</b> content here.", title="<em>Title</em> &amp; co", url=" https://u ")])
    assert found == [Evidence(text="Some real content here.", title="Title & co", url="https://u")]


# ---------------------------------------------------------------------------------------------
# Fakes


def test_fake_search_mapping_records_queries() -> None:
    fake = FakeSearch({"q1": [ev("e1")]})
    assert run(fake.search("q1")) == [ev("e1")]
    assert run(fake.search("other")) == []
    assert fake.queries == ["q1", "other"]


def test_fake_search_callable() -> None:
    fake = FakeSearch(lambda q: [ev(q.upper())])
    assert run(fake.search("abc")) == [ev("ABC")]
    assert fake.queries == ["abc"]


def test_fake_search_result_lists_are_copies() -> None:
    script = {"q": [ev("e1")]}
    fake = FakeSearch(script)
    run(fake.search("q")).append(ev("e2"))
    assert script["q"] == [ev("e1")]


def test_no_search() -> None:
    client = NoSearch()
    assert run(client.search("anything")) == []
    run(client.aclose())


# ---------------------------------------------------------------------------------------------
# The spec factory


def close(client: Any) -> None:
    run(client.aclose())


@pytest.mark.parametrize(
    ("spec", "cls"),
    [
        ("serper", SerperSearch),
        ("tavily", TavilySearch),
        ("brave", BraveSearch),
        ("exa", ExaSearch),
        ("wikipedia", WikipediaSearch),
        (" Serper ", SerperSearch),
        ("WIKIPEDIA", WikipediaSearch),
    ],
)
def test_spec_names_a_client(monkeypatch: pytest.MonkeyPatch, spec: str, cls: type) -> None:
    for env in ("SERPER_API_KEY", "TAVILY_API_KEY", "BRAVE_API_KEY", "EXA_API_KEY"):
        monkeypatch.setenv(env, KEY)
    client = search_client_from_spec(spec)
    assert isinstance(client, cls)
    close(client)


def test_spec_none() -> None:
    assert search_client_from_spec("none") is None
    assert search_client_from_spec("None") is None


def test_spec_searxng_url_and_options() -> None:
    client = search_client_from_spec("searxng:http://localhost:8888/", num_results=3, retry=FAST)
    assert isinstance(client, SearxngSearch)
    assert client.base_url == "http://localhost:8888"
    assert client.num_results == 3
    close(client)


def test_spec_local_path(tmp_path: Path) -> None:
    source = tmp_path / "docs.jsonl"
    source.write_text(json.dumps({"text": "Einstein developed the theory of relativity."}) + "\n")
    build_index(source, tmp_path / "index.sqlite")
    client = search_client_from_spec(f"local:{tmp_path / 'index.sqlite'}", k=2)
    assert isinstance(client, LocalIndex)
    assert client.k == 2
    assert [e.text for e in run(client.search("relativity"))] == ["Einstein developed the theory of relativity."]
    close(client)


@pytest.mark.parametrize("spec", ["google", "bing", "", "searxng", "searxng:", "local:", "serper:x", "none:x"])
def test_bad_spec_lists_the_choices(spec: str) -> None:
    with pytest.raises(UsageError) as info:
        search_client_from_spec(spec)
    assert all(choice in str(info.value) for choice in SPEC_CHOICES)


def test_spec_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SERPER_API_KEY", raising=False)
    with pytest.raises(UsageError, match="SERPER_API_KEY"):
        search_client_from_spec("serper")


def test_spec_with_options_the_client_does_not_take(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not accept"):
        search_client_from_spec("wikipedia", colour="blue")
