"""Dossier's overhead over raw llama.cpp: the same prompts sent through `/v1/ask` and straight to the model server.

Usage: python benchmarks/service_overhead.py [--model qwen2.5-coder-1.5b] [--questions 6]
One embedded llama.cpp server (`dossier model-server`'s supervisor) serves both sides. `dossier serve` reaches it
through a recording pass-through proxy on loopback, which keeps every request body Dossier sent and how long the
model took over it. After each question, the recorded requests are replayed straight to the model server, one by
one, and timed. llama.cpp reuses the longest prompt prefix it still holds, so before each side runs, the same
unrelated one-token request resets what it holds: both sides start from the same state and, at temperature 0
with a fixed seed, generate the same tokens. Per question: the wall time of `/v1/ask`, the model's time inside it
(at the proxy), and the raw replay; Dossier's own time is the rest (retrieval, verification, HTTP, and the proxy
hop, counted against us).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.ask_latency import QUESTIONS  # noqa: E402
from service.adapters.llm.local_runtime import free_port  # noqa: E402
from service.config import Settings  # noqa: E402
from service.container import Container  # noqa: E402


class Recorder:
    """A pass-through proxy that records (path, body, upstream seconds) for every POST."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")  # .../v1
        self.calls: list[tuple[str, bytes, float]] = []
        rec = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _relay(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0)) if method == "POST" else b""
                path = self.path.removeprefix("/v1")
                t0 = time.perf_counter()
                r = httpx.request(
                    method,
                    rec.upstream + path,
                    content=body or None,
                    timeout=1200,
                    headers={"content-type": "application/json"},
                )
                if method == "POST":
                    rec.calls.append((path, body, time.perf_counter() - t0))
                self.send_response(r.status_code)
                self.send_header("content-type", r.headers.get("content-type", "application/json"))
                self.send_header("content-length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            def do_POST(self) -> None:
                self._relay("POST")

            def do_GET(self) -> None:
                self._relay("GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="qwen2.5-coder-1.5b")
    ap.add_argument("--questions", type=int, default=6)
    args = ap.parse_args()
    models_dir = Path(os.environ.get("DOSSIER_TEST_MODELS_DIR", ROOT / "data" / "models")).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp) / "model", models_dir=models_dir, local_model=args.model)
        model = Container(settings)
        raw_url = model.llm.base_url()  # started and self-tested
        proxy = Recorder(raw_url)
        port = free_port()
        env = {
            **os.environ,
            "DOSSIER_DATA_DIR": str(Path(tmp) / "api"),
            "DOSSIER_LLM_BASE_URL": proxy.url,
            "DOSSIER_LLM_MODEL": settings.chat_model_name,
            "DOSSIER_STRUCTURED_OUTPUT": "json_object_schema",
            "DOSSIER_LLM_TIMEOUT_S": "1200",
            "HF_HUB_OFFLINE": "1",
            "DOSSIER_RATE_LIMIT": "",
        }
        dossier = str(Path(sys.executable).parent / "dossier")
        subprocess.run(
            [dossier, "ingest", str(ROOT / "examples" / "reports")], env=env, check=True, capture_output=True
        )
        api = subprocess.Popen(
            [dossier, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            base = f"http://127.0.0.1:{port}"
            while True:
                try:
                    if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.5)
            print("question | model calls | /v1/ask s | model inside s | raw replay s | Dossier's own s | share")
            tot_wall = tot_inside = tot_raw = 0.0
            flush = {"messages": [{"role": "user", "content": "Say OK."}], "max_tokens": 1, "temperature": 0}
            for q in QUESTIONS[: args.questions]:
                httpx.post(raw_url + "/chat/completions", json=flush, timeout=600).raise_for_status()
                proxy.calls.clear()
                t0 = time.perf_counter()
                r = httpx.post(base + "/v1/ask", json={"question": q}, timeout=1200)
                wall = time.perf_counter() - t0
                r.raise_for_status()
                calls = list(proxy.calls)
                inside = sum(c[2] for c in calls)
                raw = 0.0
                httpx.post(raw_url + "/chat/completions", json=flush, timeout=600).raise_for_status()
                for path, body, _ in calls:  # the same requests, straight to llama.cpp
                    t = time.perf_counter()
                    httpx.post(
                        raw_url + path, content=body, timeout=1200, headers={"content-type": "application/json"}
                    ).raise_for_status()
                    raw += time.perf_counter() - t
                tot_wall, tot_inside, tot_raw = tot_wall + wall, tot_inside + inside, tot_raw + raw
                print(
                    f"{q[:48]:48} | {len(calls)} | {wall:6.2f} | {inside:6.2f} | {raw:6.2f} | "
                    f"{wall - inside:5.3f} | {(wall - inside) / wall:6.2%}"
                )
            own = tot_wall - tot_inside
            print(
                f"TOTAL: /v1/ask {tot_wall:.1f}s, model inside {tot_inside:.1f}s, raw replay {tot_raw:.1f}s; "
                f"Dossier's own time {own:.2f}s = {own / tot_wall:.2%} of wall "
                f"({own / args.questions * 1000:.0f} ms per request); "
                f"wall against raw replay: {(tot_wall - tot_raw) / tot_wall:+.2%}"
            )
        finally:
            api.terminate()
            api.wait(timeout=30)
            proxy.server.shutdown()
            model.close()


if __name__ == "__main__":
    main()
