"""What one API key's requests produced is readable by that key alone (and by an admin key):
another key that guesses the ids (from the jobs, runs and Responses returned to the first)
gets the same 404 as for an id that does not exist, from the API and the web interface."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from smolcpu.server import load_keys
from smolcpu.server._state import load_admins, load_ceilings
from tests.server.conftest import Server
from tests.server.test_jobs import events_of, wait_until

HI = [{"role": "user", "content": "hi there"}]


@pytest.fixture
def keyed(make_server: Any, tmp_path: Path) -> Server:
    path = tmp_path / "keys"
    path.write_text("sk-alice\nsk-bob tokens=500\nsk-root admin\n")
    return make_server(keys=load_keys(path, environ={}), ceilings=load_ceilings(path), admins=load_admins(path))


def _auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _get(server: Server, path: str, key: str) -> httpx.Response:
    """``path`` of the API (``/v1...``) with a bearer key, or of the interface (``/ui...``) with its cookie."""
    if path.startswith("/ui"):
        return httpx.get(server.url + path, cookies={"smol_key": key}, timeout=30)
    return httpx.get(server.url + path, headers=_auth(key), timeout=30)


def _alice_webhook(server: Server) -> dict[str, Any]:
    """Alice's finished webhook job (a run of the echo program), once its output is readable to her."""
    hook = httpx.post(server.base + "/hooks/echo", content="my secret plan", headers={"content-type": "text/plain", **_auth("sk-alice")})
    assert hook.status_code == 202
    job_id = hook.json()["id"]
    assert events_of(server, job_id, headers=_auth("sk-alice"))[-1]["event"] == "done"
    job = _get(server, f"/v1/jobs/{job_id}", "sk-alice").json()
    wait_until(lambda: _get(server, f"/v1/artifacts/{job['output_id']}", "sk-alice").status_code == 200)
    return job


def _looks_missing(reply: httpx.Response, what: str) -> None:
    """``reply`` is the 404 an id that does not exist gets: nothing says the thing is there."""
    assert reply.status_code == 404, reply.text
    body = reply.json()
    message = body["error"]["message"] if "error" in body else body["detail"]
    assert message.startswith(f"no {what} "), message
    assert "sk-" not in reply.text and "key-" not in reply.text


def test_another_key_cannot_read_a_webhook_s_job_run_trace_or_artifacts(keyed: Server) -> None:
    job = _alice_webhook(keyed)
    run_id, output_id = job["run_id"], job["output_id"]
    trace = _get(keyed, f"/ui/api/runs/{run_id}", "sk-alice").json()
    artifact_ids = trace["artifacts"]["id"]
    assert output_id in artifact_ids and len(artifact_ids) >= 2
    assert "my secret plan" in _get(keyed, f"/v1/artifacts/{artifact_ids[0]}", "sk-alice").json()["text"]

    for artifact_id in artifact_ids:
        for path in (f"/v1/artifacts/{artifact_id}", f"/ui/api/artifacts/{artifact_id}", f"/ui/api/artifacts/{artifact_id}/raw"):
            _looks_missing(_get(keyed, path, "sk-bob"), "artifact")
    for path in (f"/ui/api/runs/{run_id}", f"/ui/api/runs/{run_id}/program", f"/ui/api/runs/{run_id[:8]}"):
        _looks_missing(_get(keyed, path, "sk-bob"), "run")
    rerun = httpx.post(f"{keyed.url}/ui/api/runs/{run_id}/rerun", cookies={"smol_key": "sk-bob"})
    _looks_missing(rerun, "run")
    for path in (f"/v1/jobs/{job['id']}", f"/v1/jobs/{job['id']}/events"):
        _looks_missing(_get(keyed, path, "sk-bob"), "job")
    assert httpx.delete(f"{keyed.base}/jobs/{job['id']}", headers=_auth("sk-bob")).status_code == 404
    assert _get(keyed, "/v1/jobs", "sk-bob").json()["data"] == []
    assert run_id not in [run["id"] for run in _get(keyed, "/ui/api/runs", "sk-bob").json()["runs"]]

    # the same answer as for an id nobody has
    _looks_missing(_get(keyed, f"/v1/artifacts/{uuid.uuid4()}", "sk-bob"), "artifact")
    # the admin key reads everything; Alice still reads hers
    assert _get(keyed, f"/v1/artifacts/{output_id}", "sk-root").status_code == 200
    assert run_id in [run["id"] for run in _get(keyed, "/ui/api/runs", "sk-root").json()["runs"]]
    assert [run["id"] for run in _get(keyed, "/ui/api/runs", "sk-alice").json()["runs"]] == [run_id]


def test_another_key_cannot_read_a_chat_s_runs(keyed: Server) -> None:
    alice = openai.OpenAI(base_url=keyed.base, api_key="sk-alice", max_retries=0)
    progress = [
        chunk.smol
        for chunk in alice.chat.completions.create(model="smol/echo", messages=HI, stream=True)
        if getattr(chunk, "smol", None)
    ]
    run_id = progress[0]["run_id"]
    alice.chat.completions.create(model="smollm2", messages=HI)
    raw = next(job for job in _get(keyed, "/v1/jobs", "sk-alice").json()["data"] if job["model"] == "smollm2")
    wait_until(lambda: _get(keyed, f"/v1/artifacts/{raw['output_id']}", "sk-alice").status_code == 200)
    mine = [run["id"] for run in _get(keyed, "/ui/api/runs", "sk-alice").json()["runs"]]
    assert run_id in mine and raw["run_id"] in mine

    for run in (run_id, raw["run_id"]):
        _looks_missing(_get(keyed, f"/ui/api/runs/{run}", "sk-bob"), "run")
    _looks_missing(_get(keyed, f"/v1/artifacts/{raw['output_id']}", "sk-bob"), "artifact")
    assert _get(keyed, "/ui/api/runs", "sk-bob").json()["runs"] == []


def test_a_stored_response_is_not_readable_as_an_artifact_by_another_key(keyed: Server) -> None:
    alice = openai.OpenAI(base_url=keyed.base, api_key="sk-alice", max_retries=0)
    response = alice.responses.create(model="smollm2", input="keep this between us")
    artifact_id = str(uuid.UUID(hex=response.id.removeprefix("resp_")))
    assert _get(keyed, f"/v1/artifacts/{artifact_id}", "sk-alice").status_code == 200
    _looks_missing(_get(keyed, f"/v1/artifacts/{artifact_id}", "sk-bob"), "artifact")
    bob = openai.OpenAI(base_url=keyed.base, api_key="sk-bob", max_retries=0)
    with pytest.raises(openai.NotFoundError):
        bob.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError):
        bob.responses.input_items.list(response.id)


def test_runs_a_key_starts_in_the_web_interface_are_its_own(keyed: Server) -> None:
    chat = httpx.post(keyed.url + "/ui/api/chat", json={"message": "hello"}, cookies={"smol_key": "sk-bob"}, timeout=30)
    assert "event: done" in chat.text
    bobs = _get(keyed, "/ui/api/runs", "sk-bob").json()["runs"]
    assert len(bobs) == 1
    _looks_missing(_get(keyed, f"/ui/api/runs/{bobs[0]['id']}", "sk-alice"), "run")


def test_admin_keys_come_from_the_key_file(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text("# admins\nsk-root admin tokens=5\nsk-user\n")
    assert load_admins(path) == ["sk-root"]
    assert load_ceilings(path)["sk-root"] is not None


def test_a_server_without_keys_reads_every_run(server: Server) -> None:
    hook = httpx.post(server.base + "/hooks/echo", content="hello", headers={"content-type": "text/plain"})
    assert events_of(server, hook.json()["id"])[-1]["event"] == "done"
    output_id = httpx.get(f"{server.base}/jobs/{hook.json()['id']}").json()["output_id"]
    wait_until(lambda: httpx.get(f"{server.base}/artifacts/{output_id}").status_code == 200)
