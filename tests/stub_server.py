"""A stand-in OpenAI-compatible server on 127.0.0.1 for tests and benchmarks (real sockets, real SDK).

``StubServer(handler)`` runs a threaded HTTP server; ``handler(path, body)`` returns
``(status, headers, json_body)``. The default handler answers chat completions with a well-formed
rewrite (the response, with a heading added) and completions with ``open_qa``.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

Reply = tuple[int, dict[str, str], Any]
Handler = Callable[[str, dict[str, Any]], Reply]
S = TypeVar("S", bound="LocalHTTPServer")

_RESPONSE = re.compile(r"<response>\n(.*)\n</response>", re.DOTALL)


def chat_reply(text: str, *, n: int = 1, finish: str = "stop", usage: dict[str, Any] | None = None) -> Any:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": "stub",
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": text}, "finish_reason": finish} for i in range(n)
        ],
        "usage": usage
        or {
            "prompt_tokens": 100,
            "completion_tokens": 40,
            "total_tokens": 140,
            "prompt_tokens_details": {"cached_tokens": 20},
        },
    }


def original_of(body: dict[str, Any]) -> str:
    match = _RESPONSE.search(body["messages"][-1]["content"])
    return match.group(1) if match else ""


def rewrite_handler(path: str, body: dict[str, Any]) -> Reply:
    """Rewrites by adding a short heading line: a faithful, longer rewrite that passes the checks."""
    if path.endswith("/completions") and "prompt" in body:
        return (
            200,
            {},
            {
                "id": "cmpl",
                "object": "text_completion",
                "created": 0,
                "model": "stub",
                "choices": [{"index": 0, "text": " open_qa", "finish_reason": "stop"}],
            },
        )
    original = original_of(body)
    text = f"Reasoning: add a heading.\nRevised response:\n**Answer**\n\n{original}"
    return 200, {}, chat_reply(text, n=body.get("n", 1))


class _Server(ThreadingHTTPServer):
    # The default backlog (5) overflows when a run opens many connections at once: the kernel drops the
    # extra SYNs and the client's connect waits a second for its retransmit, a latency no real server has.
    request_queue_size = 128


class LocalHTTPServer:
    """A threaded HTTP server on a free port of 127.0.0.1, serving inside a ``with`` block."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self._server = _Server(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self: S) -> S:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class StubServer(LocalHTTPServer):
    """Chat completions stand-in; ``requests`` records (path, body) of every call, ``latency`` delays each."""

    def __init__(self, handler: Handler = rewrite_handler, *, latency: float = 0.0) -> None:
        self.handler = handler
        self.latency = latency
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        stub = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with stub._lock:
                    stub.requests.append((self.path, body))
                if stub.latency:
                    time.sleep(stub.latency)
                status, headers, payload = stub.handler(self.path, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                # The client may have given up waiting (a timeout test): nothing to answer then.
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(_Handler)

    def chat_requests(self) -> list[dict[str, Any]]:
        return [body for path, body in self.requests if path.endswith("/chat/completions")]


class SilentServer(LocalHTTPServer):
    """A replica that accepts connections, reads each request and never answers (a wedged server).

    ``requests`` counts the requests it received; each connection is held until the client drops it.
    """

    def __init__(self) -> None:
        self.requests = 0
        self._lock = threading.Lock()
        silent = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                with silent._lock:
                    silent.requests += 1
                # Blocks until the client closes the connection: no answer is ever written.
                with contextlib.suppress(OSError):
                    self.rfile.read(1)
                self.close_connection = True

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(_Handler)
