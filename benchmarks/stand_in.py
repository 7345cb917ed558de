"""A fast stand-in OpenAI-compatible server for benchmarks: asyncio, HTTP/1.1 keep-alive, latency, faults.

Runs as its own process so that its CPU is never counted against the client being measured:

    python benchmarks/stand_in.py --port 8123 --latency 1.0 --fault-rate 0.2 --seed 7

It prints ``listening on http://127.0.0.1:PORT/v1`` on stdout once it accepts connections (``--port 0``
picks a free port). Endpoints:

- ``POST /v1/chat/completions``: after ``--latency`` seconds (``--jitter J``: uniform in
  ``latency x [1-J, 1+J]``), a well-formed rewrite reply
  (``Reasoning: ...`` / ``Revised response:`` / a heading line plus the row's ``<response>`` text, a
  faithful rewrite that passes realign's checks). With probability ``--fault-rate`` (drawn from a
  ``random.Random(seed)``) the request fails at once instead: half the faults are 429 with a small
  ``retry-after-ms``, half are 500. A ``--verify`` judge's request (``<original>`` and ``<rewrite>`` in
  it) gets a verdict instead, deterministic: ``VERDICT: yes`` when the rewrite holds the original's text
  whole (this server's own rewrites do), else ``VERDICT: no``, each with a ``REASON:`` line.
- ``POST /v1/completions``: `` open_qa`` (for the completion classifier).
- ``--silent``: every POST is read, counted (``requests``, ``chat``) and never answered; the connection
  is held until the client drops it (a wedged replica that still accepts connections).
- ``GET /stats``: counters as JSON (requests, chat, ok, 429, 500, completed, in-flight, peak in-flight,
  the server's own CPU seconds). ``POST /reset`` zeroes them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import signal
import sys
import time
from typing import Any

_RESPONSE = re.compile(r"<response>\n(.*?)\n</response>", re.DOTALL)
# A --verify judge's request holds the original and the rewrite between these tags.
_ORIGINAL = re.compile(r"<original>\n(.*?)\n</original>", re.DOTALL)
_REWRITE = re.compile(r"<rewrite>\n(.*?)\n</rewrite>", re.DOTALL)
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests", 500: "Internal Server Error"}


class StandIn:
    """The server's state: configuration, the fault RNG and the counters."""

    def __init__(
        self,
        latency: float,
        fault_rate: float,
        seed: int,
        retry_after_ms: int,
        jitter: float = 0.0,
        max_concurrency: int = 0,
        silent: bool = False,
    ) -> None:
        self.silent = silent
        self.latency, self.fault_rate, self.retry_after_ms, self.jitter = latency, fault_rate, retry_after_ms, jitter
        # A GPU server's batch has a size: past it, requests queue (0: no cap).
        self.slots = asyncio.Semaphore(max_concurrency) if max_concurrency > 0 else None
        self.rng = random.Random(seed)
        self.jitter_rng = random.Random(seed + 1)
        self.reset()

    def reset(self) -> None:
        self.counts: dict[str, int] = {
            "requests": 0,
            "chat": 0,
            "ok": 0,
            "429": 0,
            "500": 0,
            "completions": 0,
            "completed": 0,
            "in_flight": 0,
            "peak_in_flight": 0,
            "connections": 0,
        }

    def delay(self) -> float:
        if not self.jitter:
            return self.latency
        return self.latency * self.jitter_rng.uniform(1 - self.jitter, 1 + self.jitter)

    def stats(self) -> dict[str, Any]:
        return {**self.counts, "cpu": time.process_time()}

    # ------------------------------------------------------------------------------------ answers

    async def answer(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        path = path.split("?", 1)[0]
        if method == "GET" and path == "/stats":
            return 200, {}, json.dumps(self.stats()).encode()
        if method == "POST" and path == "/reset":
            self.reset()
            return 200, {}, b"{}"
        if method != "POST":
            return 404, {}, _error("not found", "invalid_request_error")
        if path.endswith("/chat/completions"):
            return await self.chat(body)
        if path.endswith("/completions"):
            self.counts["completions"] += 1
            reply = {
                "id": "cmpl-standin",
                "object": "text_completion",
                "created": 0,
                "model": "stand-in",
                "choices": [{"index": 0, "text": " open_qa", "finish_reason": "stop", "logprobs": None}],
                "usage": {"prompt_tokens": 100, "completion_tokens": 2, "total_tokens": 102},
            }
            if self.latency:
                await asyncio.sleep(self.latency)
            return 200, {}, json.dumps(reply).encode()
        return 404, {}, _error("not found", "invalid_request_error")

    async def chat(self, raw: bytes) -> tuple[int, dict[str, str], bytes]:
        self.counts["chat"] += 1
        if self.fault_rate and self.rng.random() < self.fault_rate:
            if self.rng.random() < 0.5:
                self.counts["429"] += 1
                return (
                    429,
                    {"retry-after-ms": str(self.retry_after_ms)},
                    _error("Rate limit reached (stand-in)", "requests", code="rate_limit_exceeded"),
                )
            self.counts["500"] += 1
            return 500, {}, _error("The server had an error (stand-in)", "server_error")
        try:
            body = json.loads(raw)
        except ValueError:
            return 400, {}, _error("invalid JSON body", "invalid_request_error")
        messages = body.get("messages") or []
        original, prompt_chars, verdict = "", 0, None
        for message in messages:
            content = message.get("content") or ""
            prompt_chars += len(content)
            if message.get("role") == "user":
                match = _RESPONSE.search(content)
                if match:
                    original = match.group(1)
                verdict = verdict or _verdict(content)
        text = (
            verdict or f"Reasoning: the criteria ask for a heading first.\nRevised response:\n**Answer**\n\n{original}"
        )
        n = int(body.get("n") or 1)
        reply = {
            "id": "chatcmpl-standin",
            "object": "chat.completion",
            "created": 0,
            "model": body.get("model", "stand-in"),
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
                for i in range(n)
            ],
            "usage": {
                "prompt_tokens": prompt_chars // 4,
                "completion_tokens": n * (len(text) // 4),
                "total_tokens": prompt_chars // 4 + n * (len(text) // 4),
                "prompt_tokens_details": {"cached_tokens": 0},
            },
        }
        if self.latency:
            await asyncio.sleep(self.delay())
        self.counts["ok"] += 1
        return 200, {}, json.dumps(reply).encode()

    # ------------------------------------------------------------------------------------ HTTP/1.1

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.counts["connections"] += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                try:
                    method, target, version = lines[0].split(" ", 2)
                except ValueError:
                    return
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                if headers.get("transfer-encoding", "").lower() == "chunked":
                    body = await _read_chunked(reader)
                else:
                    length = int(headers.get("content-length") or 0)
                    body = await reader.readexactly(length) if length else b""
                self.counts["requests"] += 1
                if self.silent and method == "POST":
                    if target.endswith("/chat/completions"):
                        self.counts["chat"] += 1
                    await reader.read()  # until the client gives up and closes: no answer, ever
                    return
                self.counts["in_flight"] += 1
                self.counts["peak_in_flight"] = max(self.counts["peak_in_flight"], self.counts["in_flight"])
                try:
                    if self.slots is None:
                        status, extra, payload = await self.answer(method, target, body)
                    else:
                        async with self.slots:
                            status, extra, payload = await self.answer(method, target, body)
                finally:
                    self.counts["in_flight"] -= 1
                close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
                out = [
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}",
                    "content-type: application/json",
                    f"content-length: {len(payload)}",
                    "connection: close" if close else "connection: keep-alive",
                ]
                out += [f"{k}: {v}" for k, v in extra.items()]
                writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + payload)
                await writer.drain()
                self.counts["completed"] += 1
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return  # the client went away (e.g. killed mid-request)
        finally:
            writer.close()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0].strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


def _verdict(prompt: str) -> str | None:
    """A judge's reply to a --verify request (None for any other prompt), deterministic: "yes" when the rewrite
    still holds the original's text whole (as this server's own rewrites do), else "no"."""
    original, rewrite = _ORIGINAL.search(prompt), _REWRITE.search(prompt)
    if original is None or rewrite is None:
        return None
    if original.group(1).strip() in rewrite.group(1):
        return "VERDICT: yes\nREASON: the rewrite keeps the original's text whole."
    return "VERDICT: no\nREASON: the rewrite does not keep the original's text whole (stand-in judge)."


def _error(message: str, kind: str, code: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": None, "code": code}}).encode()


async def main_async(args: argparse.Namespace) -> None:
    state = StandIn(
        args.latency, args.fault_rate, args.seed, args.retry_after_ms, args.jitter, args.max_concurrency, args.silent
    )
    server = await asyncio.start_server(state.serve, args.host, args.port, backlog=4096, limit=1 << 22)
    port = server.sockets[0].getsockname()[1]
    print(f"listening on http://{args.host}:{port}/v1", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed on stdout)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument(
        "--jitter",
        type=float,
        default=0.0,
        help="spread of the latency: uniform in latency x [1-J, 1+J] (mean unchanged)",
    )
    parser.add_argument(
        "--max-concurrency", type=int, default=0, help="answer at most N requests at once; the rest queue (0: no cap)"
    )
    parser.add_argument("--silent", action="store_true", help="read every POST and never answer it")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of chat calls answered 429/500")
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault draws")
    parser.add_argument("--retry-after-ms", type=int, default=50, help="retry-after-ms of the 429 answers")
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main_async(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
