"""A fake OpenAI Batch API for tests: under the real SDK through ``httpx2.MockTransport``
(``FakeBatchAPI.client()``), or on a real socket on 127.0.0.1 (``BatchServer``).

It implements ``POST /v1/files`` (multipart), ``POST /v1/batches``, ``GET /v1/batches/{id}`` and
``GET /v1/files/{id}/content`` with the shapes of the real API. A batch stays ``in_progress`` for
``polls`` retrievals, then ends with ``final_status`` (``None``: never ends). ``route(body)`` decides
each request's fate: ``"ok"`` (answered by ``reply``), ``"error"`` (a 400 line in the error file),
``"expired"`` (a ``batch_expired`` line) or ``"drop"`` (no line at all). Output lines are shuffled,
as the real API does not keep the input order. File contents are sent in ``chunk_size``-byte pieces
(cut mid-line and mid-character); ``break_downloads`` makes that many downloads fail midway with a
transport error. ``online=True`` also answers ``POST /v1/chat/completions`` with ``reply`` (else a
404); every online body is kept in ``chat_bodies``.
"""

from __future__ import annotations

import email.parser
import itertools
import json
import random
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, cast

import httpx2
import openai

from stub_server import LocalHTTPServer, chat_reply, original_of


def rewrite(body: dict[str, Any]) -> dict[str, Any]:
    """A well-formed, faithful rewrite of the row's response (a heading added)."""
    text = f"Reasoning: add a heading.\nRevised response:\n**Answer**\n\n{original_of(body)}"
    return chat_reply(text, n=body.get("n", 1))  # type: ignore[no-any-return]


@dataclass
class FakeBatch:
    id: str
    input_file_id: str
    lines: list[dict[str, Any]]
    polls: int
    final_status: str | None
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    counts: dict[str, int] = field(default_factory=dict)


class FakeBatchAPI:
    """State of the fake API; ``client()`` gives an ``openai.AsyncOpenAI`` talking to it."""

    def __init__(
        self,
        *,
        polls: int = 1,
        final_status: str | None = "completed",
        route: Callable[[dict[str, Any]], str] = lambda body: "ok",
        reply: Callable[[dict[str, Any]], dict[str, Any]] = rewrite,
        seed: int = 7,
        chunk_size: int = 4096,
        online: bool = False,
    ) -> None:
        self.polls, self.final_status, self.route, self.reply = polls, final_status, route, reply
        self.chunk_size, self.online = chunk_size, online
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, FakeBatch] = {}
        self.calls: list[tuple[str, str]] = []
        self.chat_bodies: list[dict[str, Any]] = []
        self.fail_upload_with: int | None = None
        self.break_downloads = 0
        self.downloads = 0
        self._ids = itertools.count(1)
        self._random = random.Random(seed)

    def client(self) -> openai.AsyncOpenAI:
        transport = httpx2.MockTransport(self.handle)
        return openai.AsyncOpenAI(
            api_key="sk-test",
            base_url="https://api.openai.test/v1",
            max_retries=0,
            http_client=httpx2.AsyncClient(transport=transport),
        )

    @property
    def creates(self) -> int:
        return sum(1 for method, path in self.calls if method == "POST" and path == "/v1/batches")

    @property
    def chat_calls(self) -> int:
        return sum(1 for _, path in self.calls if path.endswith("/chat/completions"))

    def uploaded_lines(self) -> list[list[dict[str, Any]]]:
        """The JSONL lines of every batch input file, one list per file."""
        return [[json.loads(line) for line in self.files[b.input_file_id].splitlines()] for b in self.batches.values()]

    # -- HTTP ---------------------------------------------------------------------------------

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        path, method = request.url.path, request.method
        self.calls.append((method, path))
        if method == "POST" and path == "/v1/files":
            return self._upload(request)
        if method == "POST" and path == "/v1/batches":
            return self._create(json.loads(request.content))
        if match := re.fullmatch(r"/v1/batches/([^/]+)", path):
            return self._retrieve(match.group(1))
        if match := re.fullmatch(r"/v1/files/([^/]+)/content", path):
            return httpx2.Response(
                200,
                headers={"content-type": "application/octet-stream"},
                content=self._pieces(self.content(match.group(1))),
            )
        if method == "POST" and path == "/v1/chat/completions" and self.online:
            body = json.loads(request.content)
            self.chat_bodies.append(body)
            return httpx2.Response(200, json=self.reply(body))
        return _error(404, "not_found", f"no route {method} {path}")

    def content(self, file_id: str) -> Iterator[bytes]:
        """A file's content in ``chunk_size`` pieces, made as they are sent; a broken download stops
        halfway with an empty piece (where the connection drops)."""
        self.downloads += 1
        data = memoryview(self.files[file_id])
        stop = len(data)
        if self.break_downloads > 0:
            self.break_downloads -= 1
            stop = len(data) // 2
        for start in range(0, stop, self.chunk_size):
            yield bytes(data[start : min(start + self.chunk_size, stop)])
        if stop < len(data):
            yield b""

    @staticmethod
    async def _pieces(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
        for piece in pieces:
            if not piece:
                raise httpx2.ReadError("connection reset by peer")
            yield piece

    def _upload(self, request: httpx2.Request) -> httpx2.Response:
        if self.fail_upload_with is not None:
            return _error(self.fail_upload_with, "invalid_api_key", "Incorrect API key provided")
        head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        message = email.parser.BytesParser().parsebytes(head + request.content)
        parts: dict[Any, Any] = {
            part.get_param("name", header="content-disposition"): part
            for part in cast(list[Any], message.get_payload())
        }
        assert parts["purpose"].get_payload() == "batch"
        data: bytes = parts["file"].get_payload(decode=True)
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = data
        return httpx2.Response(
            200,
            json={
                "id": file_id,
                "object": "file",
                "bytes": len(data),
                "created_at": 0,
                "filename": parts["file"].get_filename(),
                "purpose": "batch",
                "status": "processed",
            },
        )

    def _create(self, body: dict[str, Any]) -> httpx2.Response:
        assert body["endpoint"] == "/v1/chat/completions"
        assert body["completion_window"] == "24h"
        lines = [json.loads(line) for line in self.files[body["input_file_id"]].splitlines()]
        ids = [line["custom_id"] for line in lines]
        assert len(ids) == len(set(ids)), "custom_id must be unique within a file"
        batch = FakeBatch(f"batch_{next(self._ids)}", body["input_file_id"], lines, self.polls, self.final_status)
        self.batches[batch.id] = batch
        return httpx2.Response(200, json=self._json(batch))

    def _retrieve(self, batch_id: str) -> httpx2.Response:
        batch = self.batches.get(batch_id)
        if batch is None:
            return _error(404, "not_found", f"No batch found with id '{batch_id}'")
        if batch.status not in ("completed", "failed", "expired", "cancelled"):
            if batch.polls > 0 or batch.final_status is None:
                batch.polls -= 1
                batch.status = "in_progress"
            else:
                self._end(batch)
        return httpx2.Response(200, json=self._json(batch))

    # -- outcomes -----------------------------------------------------------------------------

    def _end(self, batch: FakeBatch) -> None:
        batch.status = batch.final_status or "completed"
        if batch.status == "failed":  # validation failed: no output at all
            return
        output: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for line in batch.lines:
            fate = self.route(line["body"])
            if batch.status == "expired" and fate == "ok" and len(output) % 2:
                fate = "expired"  # an expired batch answered only part of its requests
            if fate == "ok":
                output.append(_result(line, 200, self.reply(line["body"])))
            elif fate == "error":
                errors.append(
                    _result(
                        line,
                        400,
                        {
                            "error": {
                                "message": "Invalid 'messages'",
                                "type": "invalid_request_error",
                                "code": "invalid_value",
                            }
                        },
                    )
                )
            elif fate == "expired":
                errors.append(
                    {
                        "id": "r",
                        "custom_id": line["custom_id"],
                        "response": None,
                        "error": {
                            "code": "batch_expired",
                            "message": "This request could not be executed before the completion window expired.",
                        },
                    }
                )
        self._random.shuffle(output)
        batch.counts = {"completed": len(output), "failed": len(errors)}
        batch.output_file_id = self._store(output)
        batch.error_file_id = self._store(errors)

    def _store(self, lines: list[dict[str, Any]]) -> str | None:
        if not lines:
            return None
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = "".join(json.dumps(line) + "\n" for line in lines).encode()
        return file_id

    def _json(self, batch: FakeBatch) -> dict[str, Any]:
        errors = None
        if batch.status == "failed":
            errors = {
                "object": "list",
                "data": [{"code": "invalid_model", "message": "model not available", "line": 1, "param": "body.model"}],
            }
        counts = {"total": len(batch.lines), "completed": 0, "failed": 0, **batch.counts}
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "created_at": 0,
            "input_file_id": batch.input_file_id,
            "status": batch.status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "errors": errors,
            "request_counts": counts,
        }


def _result(line: dict[str, Any], status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": f"batch_req_{line['custom_id'][:8]}",
        "custom_id": line["custom_id"],
        "response": {"status_code": status, "request_id": "req", "body": body},
        "error": None,
    }


def _error(status: int, code: str, message: str) -> httpx2.Response:
    return httpx2.Response(
        status, json={"error": {"message": message, "type": "invalid_request_error", "code": code, "param": None}}
    )


class BatchServer(LocalHTTPServer):
    """``api`` behind a threaded HTTP server on 127.0.0.1 (real sockets, file contents chunked)."""

    def __init__(self, api: FakeBatchAPI) -> None:
        self.api = api
        lock = threading.Lock()

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self._serve(b"")

            def do_POST(self) -> None:
                self._serve(self._body())

            def _body(self) -> bytes:
                if self.headers.get("transfer-encoding", "").lower() == "chunked":
                    data = b""
                    while size := int(self.rfile.readline().split(b";")[0], 16):
                        data += self.rfile.read(size)
                        self.rfile.readline()
                    self.rfile.readline()
                    return data
                return self.rfile.read(int(self.headers.get("content-length", 0)))

            def _serve(self, body: bytes) -> None:
                request = httpx2.Request(
                    self.command, f"http://127.0.0.1{self.path}", headers=dict(self.headers), content=body
                )
                with lock:
                    if match := re.fullmatch(r"/v1/files/([^/]+)/content", request.url.path):
                        api.calls.append((self.command, request.url.path))
                        self._send_chunked(api.content(match.group(1)))
                        return
                    response = api.handle(request)
                data = response.content
                self.send_response(response.status_code)
                self.send_header("content-type", response.headers.get("content-type", "application/json"))
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _send_chunked(self, pieces: Iterator[bytes]) -> None:
                self.send_response(200)
                self.send_header("content-type", "application/octet-stream")
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                for piece in pieces:
                    if not piece:  # a broken download: the connection drops mid-body
                        self.close_connection = True
                        return
                    self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        super().__init__(_Handler)
