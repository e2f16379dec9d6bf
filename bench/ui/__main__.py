"""The web interface on big runs: how long a run's trace takes to open in headless Chromium.

One store holds runs of SIZES artifacts each (a chain with fan-out, text payloads of
PAYLOAD bytes, seed 0, as a long run records them). A real Session serves the interface on
loopback; for each run, ROUNDS times: a fresh page on the runs tab, then the run opened by
its address (``#runs/ID``), timed until its artifact list is drawn, the last artifact's
content shown and its lineage graph laid out (the page's own clock, ``data-trace-ms``),
and by the wall clock from the test's side; inside it, the page's fetch of the trace and the
lineage graph's drawing (dagre layout). Beside it: the trace endpoint alone (HTTP + JSON),
and scrolling the list to its end. Medians of ROUNDS.

Needs chromium (``apt-get install chromium``) and Playwright (the test extra).
"""

from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import httpx
from fastapi import FastAPI

from bench._report import report
from smolcpu.artifact import Artifact, RunIndex, open_store
from smolcpu.programs import Session
from smolcpu.server import mount_ui
from smolcpu.testing import chromium, loopback_server

SIZES = (100, 1_000, 10_000)
PAYLOAD = 200
ROUNDS = 5
SEED = 0


def fill(index: RunIndex, size: int, rng: random.Random) -> str:
    """Record one run of ``size`` artifacts; its id."""
    run = f"run-bench-{size}"
    index.start_run(run, program="bench", input_summary=f"{size} artifacts")
    made: list[Artifact] = []
    for i in range(size):
        text = "".join(rng.choice("abcdefghij klmnop") for _ in range(PAYLOAD))
        parents = [made[-1].id] if made and rng.random() < 0.8 else ([rng.choice(made).id] if made else [])
        meta = {"origin": f"step{i % 9}", "role": "worker", "attributes": {"run": run}}
        made.append(Artifact.text(text, parents=parents, **meta))
    with open_store(index=index) as store:
        store.put_many(made)
    index.finish_run(run, "ok")
    return run


def main() -> None:
    home = tempfile.mkdtemp(prefix="smol-bench-ui-")
    os.environ["SMOL_HOME"] = home
    rng = random.Random(SEED)
    with RunIndex() as index:
        runs = {size: fill(index, size, rng) for size in SIZES}

    async def build(stack: AsyncExitStack) -> FastAPI:
        session = await stack.enter_async_context(Session(classifier=False))
        app = FastAPI()
        mount_ui(app, session)
        return app

    from playwright.sync_api import sync_playwright

    rows = []
    with loopback_server(build) as url, sync_playwright() as playwright:
        browser = chromium(playwright, Path(home) / "profile")
        page = browser.new_page()
        page.set_default_timeout(120_000)
        for size, run in runs.items():
            api, wall, inner, fetched, drawn, scroll = [], [], [], [], [], []
            for _ in range(ROUNDS):
                began = time.perf_counter()
                httpx.get(f"{url}/ui/api/runs/{run}", timeout=120).raise_for_status()
                api.append(time.perf_counter() - began)
                page.goto(f"{url}/ui/#runs")
                page.wait_for_selector("body[data-ready]", state="attached")
                began = time.perf_counter()
                page.evaluate(f"location.hash = 'runs/{run}'")
                page.wait_for_selector(f"body[data-trace-open='{run}']", state="attached")
                wall.append(time.perf_counter() - began)
                inner.append(int(page.get_attribute("body", "data-trace-ms")) / 1000)
                fetched.append(int(page.get_attribute("body", "data-trace-fetch-ms")) / 1000)
                drawn.append(int(page.get_attribute("body", "data-graph-ms")) / 1000)
                began = time.perf_counter()
                page.evaluate(
                    "() => { const box = document.getElementById('artifact-list'); box.scrollTop = box.scrollHeight; }"
                )
                page.wait_for_function(
                    f"() => document.querySelector('#artifact-list .vrow[data-index=\"{size - 1}\"]') !== null"
                )
                scroll.append(time.perf_counter() - began)
            figures = (api, fetched, drawn, inner, wall, scroll)
            rows.append([size, *(statistics.median(figure) for figure in figures)])
        browser.close()
    report(
        "ui",
        f"Opening a run's trace in headless Chromium, median of {ROUNDS} (seconds)",
        [
            "artifacts",
            "trace endpoint alone",
            "in page: fetch + parse",
            "in page: lineage graph",
            "open, page's clock",
            "open, wall clock",
            "scroll to the end",
        ],
        rows,
        sizes=list(SIZES),
        payload_bytes=PAYLOAD,
        rounds=ROUNDS,
        seed=SEED,
    )


if __name__ == "__main__":
    main()
