"""Runner: the smolagents system's server side, on loopback only.

llama.cpp's own OpenAI-compatible HTTP server, which ``xllamacpp.Server`` starts with the
model (``/v1/chat/completions``; port 0 asks the system for a free one), with the same
model file, threads and parameters as the LLM unit's engine; beside it, a small HTTP
server for the agent's vision tools, which runs Smol's detector and classifier (loaded on
first use) on the image files the agent names. It announces both addresses and then only
waits: the parent closes its stdin to stop it.

    python -m bench.solve._endpoint --model NAME --context N --threads N
"""

from __future__ import annotations

import argparse
import json
import threading
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.solve._runner import Solve, run


@cache
def vision(kind: str) -> Any:
    from smolcpu.units.neural import Classify, Detect

    return {"detect": Detect, "classify": Classify}[kind]()


class VisionHandler(BaseHTTPRequestHandler):
    """``POST /detect`` or ``/classify`` with ``{"image": PATH}``: the unit's JSON answer."""

    def do_POST(self) -> None:  # noqa: N802 - the name http.server dispatches to
        kind = self.path.strip("/")
        try:
            image = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))["image"]
            if kind == "detect":
                body, status = vision(kind).detect(image), 200
            elif kind == "classify":
                body, status = vision(kind).classify(image, top_k=3), 200
            else:
                body, status = {"error": f"no tool {kind!r}; there are detect and classify"}, 404
        except Exception as exc:  # the agent sees the error as the tool's answer and may try again
            body, status = {"error": f"{type(exc).__name__}: {exc}"}, 400
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        return


def start(options: argparse.Namespace) -> tuple[Solve, dict[str, Any]]:
    import xllamacpp

    from smolcpu.models import model_path
    from smolcpu.units.neural import server_params

    params = server_params(model_path(options.model), context=options.context, threads=options.threads)
    params.port = 0
    params.hostnames = ["127.0.0.1"]
    llm = xllamacpp.Server(params)
    tools = ThreadingHTTPServer(("127.0.0.1", 0), VisionHandler)
    threading.Thread(target=tools.serve_forever, daemon=True).start()
    address = f"http://127.0.0.1:{tools.server_address[1]}"

    def solve(item: dict[str, Any]) -> dict[str, Any]:
        return {"error": "the endpoint answers over HTTP, not items", "server": llm.listening_address}

    return solve, {"api_base": f"{llm.listening_address}/v1", "tools": address}


if __name__ == "__main__":
    run(start, model=str, context=int, threads=int)
