"""Jobs: fair queue, disconnects that cancel, webhooks and events, progress as SSE, stored results."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from smolcpu.errors import JobCancelled, QueueFull
from smolcpu.server import JobQueue, JobState
from smolcpu.testing import FixedJson
from tests.server.conftest import Server
from tests.server.test_chat import client

HI = [{"role": "user", "content": "hi"}]


def wait_until(condition: Any, *, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_keys_are_served_in_turn_and_within_their_share() -> None:
    async def go() -> list[str]:
        order: list[str] = []
        gate = asyncio.Event()

        def work(name: str) -> Any:
            async def run(job: Any) -> str:
                order.append(name)
                await gate.wait()
                return name

            return run

        async with JobQueue(workers=1, capacity=10, per_key=1) as queue:
            jobs = [queue.submit(work(f"a{i}"), key="a", kind="test") for i in range(3)]
            jobs += [queue.submit(work("b0"), key="b", kind="test"), queue.submit(work("c0"), key="c", kind="test")]
            with pytest.raises(QueueFull):
                for _ in range(10):
                    queue.submit(work("x"), key="d", kind="test")
            cancelled = jobs[2]
            queue.cancel(cancelled)
            for _ in range(5):
                gate.set()
                await asyncio.sleep(0.01)
            with pytest.raises(JobCancelled):
                await cancelled.outcome()
            assert [await job.outcome() for job in jobs if job is not cancelled] == ["a0", "a1", "b0", "c0"]
            assert queue.running == 0
        return order

    assert asyncio.run(go())[:3] == ["a0", "b0", "c0"]  # round robin: b and c before a's second


def test_a_client_that_disconnects_from_a_stream_cancels_its_job_at_once(server: Server) -> None:
    server.script.reply = lambda messages: " ".join(["word"] * 200)
    server.script.llm.delay = 0.05
    body = {"model": "smollm2", "messages": HI, "stream": True}
    with httpx.Client(timeout=30) as http, http.stream("POST", server.base + "/chat/completions", json=body) as reply:
        for line in reply.iter_lines():
            if "word" in line:
                break
    job = next(iter(server.state.queue.jobs.values()))
    wait_until(lambda: job.state is JobState.CANCELLED)
    assert server.state.queue.running == 0
    wait_until(lambda: server.state.session.index.run(job.run_id).status == "cancelled")


@pytest.mark.parametrize("model", ["smollm2", "smol/echo"])
def test_a_client_that_gives_up_waiting_cancels_its_job_and_run(server: Server, model: str) -> None:
    server.script.reply = lambda messages: " ".join(["word"] * 200)
    server.script.llm.delay = 0.05
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.base + "/chat/completions", json={"model": model, "messages": HI}, timeout=1)
    job = next(iter(server.state.queue.jobs.values()))
    wait_until(lambda: job.state is JobState.CANCELLED)
    assert server.state.queue.running == 0
    wait_until(lambda: server.state.session.index.run(job.run_id).status == "cancelled")


def events_of(server: Server, job_id: str, *, headers: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """A job's SSE progress stream, read to its end."""
    events = []
    with httpx.stream("GET", f"{server.base}/jobs/{job_id}/events", timeout=30, headers=headers) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        for line in reply.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
    return events


def test_a_webhook_starts_a_program_and_its_result_is_kept(server: Server) -> None:
    reply = httpx.post(server.base + "/hooks/calc", content="19.99 * 1.2", headers={"content-type": "text/plain"})
    assert reply.status_code == 202
    job = reply.json()
    assert job["links"]["events"] == f"/v1/jobs/{job['id']}/events"
    events = events_of(server, job["id"])
    kinds = [event["event"] for event in events]
    assert kinds[0] == "queued" and kinds[-1] == "done" and "step" in kinds
    done = httpx.get(f"{server.base}/jobs/{job['id']}").json()
    assert done["status"] == "done" and done["result"]["answer"] == "23.988"
    wait_until(lambda: httpx.get(f"{server.base}/artifacts/{done['output_id']}").status_code == 200)
    stored = httpx.get(f"{server.base}/artifacts/{done['output_id']}").json()
    assert stored["text"] == "23.988"
    assert {"key": "run", "value": done["run_id"]} in stored["attributes"]


def test_an_event_starts_the_program_it_names(server: Server) -> None:
    reply = httpx.post(server.base + "/events", json={"type": "echo", "data": {"order": 17, "status": "shipped"}})
    assert reply.status_code == 202
    events = events_of(server, reply.json()["id"])
    assert events[-1]["event"] == "done"
    asked = json.dumps(server.script.llm.requests[-1]["messages"])
    assert "shipped" in asked
    assert httpx.post(server.base + "/events", json={"type": "nowhere"}).status_code == 404


def test_a_jobs_progress_streams_its_tokens_and_a_job_can_be_cancelled(server: Server) -> None:
    server.script.reply = lambda messages: " ".join(["word"] * 100)
    server.script.llm.delay = 0.05
    with httpx.Client(timeout=30) as http, http.stream(
        "POST", server.base + "/chat/completions", json={"model": "smollm2", "messages": HI, "stream": True}
    ) as reply:
        answer = reply.iter_lines()  # kept: a dropped iterator closes the stream, which cancels the job
        next(answer)
        job = next(iter(server.state.queue.jobs.values()))
        assert httpx.get(server.base + "/jobs").json()["data"][0]["id"] == job.id
        with httpx.stream("GET", f"{server.base}/jobs/{job.id}/events", timeout=30) as progress:
            lines = progress.iter_lines()
            seen = [line for line, _ in zip(lines, range(12), strict=False)]
            assert any('"delta"' in line for line in seen)
            assert httpx.delete(f"{server.base}/jobs/{job.id}").json()["status"] == "cancelled"
            assert any('"cancelled"' in line for line in lines)
    assert server.state.queue.running == 0


def test_an_image_part_reaches_the_vision_units(make_server) -> None:
    picture = (Path(__file__).resolve().parents[1] / "data" / "bear.jpg").read_bytes()
    detect = FixedJson([{"label": "bear", "score": 0.9, "box": [0, 0, 10, 10]}])
    classify = FixedJson([{"label": "brown bear", "index": 294, "score": 0.8}])
    server = make_server(units={"detect": detect, "classify": classify})
    server.script.reply = lambda messages: "A brown bear." if "brown bear" in json.dumps(messages) else "I see nothing."
    url = "data:image/jpeg;base64," + base64.b64encode(picture).decode()
    answer = client(server).chat.completions.create(
        model="smol",
        messages=[{"role": "user", "content": [{"type": "text", "text": "What animal is this?"}, {"type": "image_url", "image_url": {"url": url}}]}],
    )
    assert answer.choices[0].message.content == "A brown bear."
    sent = json.loads(detect.seen[0].payload)
    assert base64.b64decode(sent["images"][0]["data"]) == picture


def test_responses_are_answered_statelessly_on_chat(server: Server) -> None:
    response = client(server).responses.create(model="smollm2", input="hello", instructions="Be brief.")
    assert response.output_text == "You said: hello"
    assert server.script.llm.requests[-1]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert response.usage.output_tokens == 3


def test_the_openapi_schema_is_served(server: Server) -> None:
    schema = httpx.get(server.url + "/openapi.json").json()
    assert {"/v1/chat/completions", "/v1/models", "/v1/embeddings", "/v1/responses", "/v1/jobs/{job_id}/events"} <= set(schema["paths"])


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_gets_a_completion(server: Server) -> None:
    body = json.dumps({"model": "smollm2", "messages": HI})
    out = subprocess.run(
        ["curl", "-sS", "-H", "Content-Type: application/json", "-d", body, server.base + "/chat/completions"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout
    assert json.loads(out)["choices"][0]["message"]["content"] == "You said: hi"


def test_a_raw_llm_jobs_request_and_answer_are_stored_under_its_run(server: Server) -> None:
    client(server).chat.completions.create(model="smollm2", messages=HI)
    job = httpx.get(server.base + "/jobs").json()["data"][0]
    assert job["status"] == "done" and job["run_id"].startswith("run-")
    wait_until(lambda: httpx.get(f"{server.base}/artifacts/{job['output_id']}").status_code == 200)
    stored = httpx.get(f"{server.base}/artifacts/{job['output_id']}").json()
    assert stored["text"] == "You said: hi" and {"key": "run", "value": job["run_id"]} in stored["attributes"]
    wait_until(lambda: server.state.session.index.run(job["run_id"]).status == "ok")  # recorded after the reply
    assert httpx.get(server.base + "/artifacts/nope").status_code == 404
