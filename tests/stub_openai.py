"""An OpenAI-compatible stub on loopback that plays a script of faults, for fault-injection tests.

Each incoming chat request takes the next step of the script (the last step repeats):
  ("status", code, headers)  -> an error response with that status
  ("sleep", seconds, content) -> wait, then answer with `content`
  ("content", text)           -> a normal chat completion whose message is `text`
  ("garbage",)                -> a 200 response whose body is not JSON
  ("cut", text[, share])      -> streamed requests: the first half (or `share`) of `text`, then the connection drops
  a callable                  -> called with the request body; returns one of the steps above

A yes/no judgement (a request asking for `top_logprobs`) is answered outside the script: "Yes" with log-probabilities
giving P(yes) = `stub.judge_yes` (a number, or a callable of the request body), or, with `stub.logprobs = False`,
"Yes" with no log-probabilities at all (an endpoint that does not return them); `stub.judge_top` (a callable of
the request body returning {token: probability}, or None to fall back to Yes/No) answers one-word choice judgements.
These requests are kept in `stub.judged`, not in `stub.requests`.

A request with `stream: true` gets its content as SSE chunks of a few characters (then a usage chunk and
`[DONE]`); `stub.pause_after` (a text) and `stub.resume` (an Event) hold the stream once that text was sent.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Step = Any  # a tuple as above, or a callable(body) -> tuple


def completion(
    text: str,
    model: str = "stub",
    yes: float | None = None,
    cached: int | None = None,
    tokens: dict[str, float] | None = None,
) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}
    if yes is not None and tokens is None:
        tokens = {"Yes": yes, "No": 1.0 - yes}
    if tokens is not None:
        top = [{"token": t, "logprob": math.log(max(p, 1e-9)), "bytes": None} for t, p in tokens.items()]
        choice["logprobs"] = {
            "content": [{"token": top[0]["token"], "logprob": top[0]["logprob"], "bytes": None, "top_logprobs": top}]
        }
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        | ({} if cached is None else {"prompt_tokens_details": {"cached_tokens": cached}}),
    }


class StubServer:
    """Run with `with StubServer(script) as stub:`; `stub.base_url`, `stub.requests`."""

    def __init__(self, script: list[Step]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.judged: list[dict[str, Any]] = []
        self.judge_yes: float | Any = 0.95
        self.judge_top: Any = None
        self.logprobs = True
        self.cached_tokens: int | None = None  # reported as usage.prompt_tokens_details.cached_tokens when set
        self.pause_after: str | None = None
        self.resume = threading.Event()
        self.paused = threading.Event()
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if body.get("top_logprobs") and not body.get("stream"):
                    with stub._lock:
                        stub.judged.append(body)
                    yes = stub.judge_yes(body) if callable(stub.judge_yes) else stub.judge_yes
                    top = stub.judge_top(body) if stub.judge_top is not None and stub.logprobs else None
                    answer = completion("Yes", yes=yes if stub.logprobs else None, tokens=top)
                    if top:
                        answer["choices"][0]["message"]["content"] = next(iter(top))
                    self.send_response(200)
                    self._send(json.dumps(answer).encode())
                    return
                with stub._lock:
                    stub.requests.append(body)
                    i = len(stub.requests) - 1
                    step = stub.script[min(i, len(stub.script) - 1)]
                if callable(step):
                    step = step(body)
                kind = step[0]
                if kind == "status":
                    payload = json.dumps({"error": {"message": f"injected {step[1]}", "type": "stub"}}).encode()
                    self.send_response(step[1])
                    for k, v in (step[2] if len(step) > 2 else {}).items():
                        self.send_header(k, v)
                    self._send(payload)
                    return
                if kind == "garbage":
                    self.send_response(200)
                    self._send(b"<html>this is not json", ctype="application/json")
                    return
                if kind == "sleep":
                    time.sleep(step[1])
                    text = step[2]
                else:
                    text = step[1]
                if body.get("stream"):
                    self._stream(
                        text, cut=step[2] if kind == "cut" and len(step) > 2 else 0.5 if kind == "cut" else None
                    )
                    return
                self.send_response(200)
                self._send(json.dumps(completion(text, cached=stub.cached_tokens)).encode())

            def _stream(self, text: str, cut: float | None) -> None:
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.end_headers()
                sent = ""
                pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
                try:
                    for n, piece in enumerate(pieces):
                        if cut is not None and n >= len(pieces) * cut:
                            self.wfile.flush()
                            self.connection.shutdown(2)  # the server goes away mid-answer
                            return
                        sent += piece
                        chunk = {
                            "id": "c",
                            "object": "chat.completion.chunk",
                            "created": 0,
                            "model": "stub",
                            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                        }
                        self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                        self.wfile.flush()
                        if stub.pause_after and stub.pause_after in sent and not stub.paused.is_set():
                            stub.paused.set()
                            stub.resume.wait(timeout=30)
                    stop = {
                        "id": "c",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": "stub",
                        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                    }
                    self.wfile.write(f"data: {json.dumps(stop)}\n\n".encode())
                    usage = {
                        "id": "c",
                        "object": "chat.completion.chunk",
                        "created": 0,
                        "model": "stub",
                        "choices": [],
                        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
                    }
                    self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError, OSError):
                    return

            def _send(self, payload: bytes, ctype: str = "application/json") -> None:
                self.send_header("content-type", ctype)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> StubServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


def by_schema(**replies: str) -> Step:
    """A step answering each request by its JSON schema's name (`qa_answer=...`, `summary=...`)."""
    table = dict(replies)

    def step(body: dict[str, Any]) -> tuple[str, str]:
        name = (body.get("response_format") or {}).get("json_schema", {}).get("name", "")
        return ("content", table[name])

    return step


def numbered_lines(body: dict[str, Any]) -> list[str]:
    """The `[n] text` lines of a request's user message (the sentences or passages Dossier shows the model)."""
    user = next(m["content"] for m in body["messages"] if m["role"] == "user")
    return re.findall(r"^\[\d+\] (.+)$", user, flags=re.MULTILINE)


def schema_name(body: dict[str, Any]) -> str:
    return str((body.get("response_format") or {}).get("json_schema", {}).get("name", ""))


def quoting(summary_s: float = 0.0) -> Step:
    """A step that writes what passes verification by quoting its prompt: a summary of the first three sentences
    (taking `summary_s` seconds, like a model), an empty digest, and an answer made of the first sentence of the
    passage sharing most words with the question."""

    def step(body: dict[str, Any]) -> tuple[Any, ...]:
        name = schema_name(body)
        if name in ("summary", "summary_tail"):  # three sentences, or the two a summary's later sentences get
            count = 3 if name == "summary" else 2
            quoted = [{"text": t, "sentences": [n]} for n, t in enumerate(numbered_lines(body)[:count], 1)]
            return ("sleep", summary_s, json.dumps({"sentences": quoted}))
        if name == "digest":
            return ("content", json.dumps({"new": [], "agreements": [], "contradictions": []}))
        if name == "qa_answer":
            user = next(m["content"] for m in body["messages"] if m["role"] == "user")
            words = set(re.findall(r"\w+", user.rsplit("Question:", 1)[1].lower()))
            lines = numbered_lines(body)
            n = max(range(len(lines)), key=lambda i: len(words & set(re.findall(r"\w+", lines[i].lower())))) + 1
            sentence = lines[n - 1].split(". ")[0].rstrip(".") + "."
            return ("content", json.dumps({"sentences": [{"text": sentence, "passages": [n]}]}))
        return ("content", json.dumps({}))

    return step
