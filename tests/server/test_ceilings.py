"""A server key can carry a ceiling (in the key file): its runs get the tighter of it and the
program's policy, and a run past it ends with a clear limit status."""

from __future__ import annotations

import httpx
import openai
import pytest

from smolcpu.errors import UsageError
from smolcpu.lang import Policy
from smolcpu.server import load_ceilings, load_keys
from tests.server.conftest import Server
from tests.server.test_jobs import events_of

HI = [{"role": "user", "content": "hi there, how are you today?"}]


@pytest.fixture
def key_file(tmp_path):  # noqa: ANN001, ANN201
    path = tmp_path / "keys"
    path.write_text(
        "# a key alone has no ceiling; settings after a key are its ceiling\n"
        "sk-free\n"
        "sk-small tokens=5 units=llm,math\n"
        "sk-tools units=math\n"
    )
    return path


def test_the_key_file_keeps_its_old_form_and_gains_ceilings(key_file) -> None:  # noqa: ANN001
    assert load_keys(key_file, environ={"SMOL_API_KEYS": "sk-env"}) == ["sk-env", "sk-free", "sk-small", "sk-tools"]
    assert load_ceilings(key_file) == {
        "sk-free": None,
        "sk-small": Policy(tokens=5, units=frozenset({"llm", "math"})),
        "sk-tools": Policy(units=frozenset({"math"})),
    }


def test_a_bad_ceiling_names_its_line(tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "keys"
    path.write_text("sk-one\nsk-two tokens=lots\n")
    with pytest.raises(UsageError, match=r"keys:2: the ceiling of key key-\w+ does not parse: .*tokens"):
        load_keys(path)


def _serve(make_server, key_file) -> Server:  # noqa: ANN001
    return make_server(keys=load_keys(key_file, environ={}), ceilings=load_ceilings(key_file))


def test_a_program_run_past_a_key_ceiling_gets_a_clear_limit_status(make_server, key_file) -> None:  # noqa: ANN001
    server = _serve(make_server, key_file)
    small = openai.OpenAI(base_url=server.base, api_key="sk-small", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        small.chat.completions.create(model="smol/echo", messages=HI)
    assert caught.value.body["type"] == "policy_limit"
    assert "ended limit: limit tokens: the run used" in caught.value.body["message"]
    assert "its policy allows 5" in caught.value.body["message"]
    free = openai.OpenAI(base_url=server.base, api_key="sk-free", max_retries=0)
    assert free.chat.completions.create(model="smol/echo", messages=HI).choices[0].message.content.startswith("You said")


def test_a_webhook_job_of_a_limited_key_ends_limit_before_anything_runs(make_server, key_file) -> None:  # noqa: ANN001
    server = _serve(make_server, key_file)
    hook = httpx.post(
        server.base + "/hooks/echo", content="hello", headers={"content-type": "text/plain", "authorization": "Bearer sk-tools"}
    )
    assert hook.status_code == 202
    job_id = hook.json()["id"]
    events = events_of_key(server, job_id, "sk-tools")
    assert events[-1]["event"] == "done"
    done = httpx.get(f"{server.base}/jobs/{job_id}", headers={"authorization": "Bearer sk-tools"}).json()
    assert done["result"]["status"] == "limit"
    assert done["result"]["answer"].startswith("limit units: step switch1.answer runs on unit kind `llm`")
    assert not server.script.llm.requests
    runs = httpx.get(server.url + "/ui/api/runs", cookies={"smol_key": "sk-tools"}).json()["runs"]
    shown = next(run for run in runs if run["id"] == done["run_id"])
    assert shown["status"] == "limit" and shown["usage"]["reason"].startswith("limit units")
    calc = httpx.post(
        server.base + "/hooks/calc", content="2 * 3", headers={"content-type": "text/plain", "authorization": "Bearer sk-tools"}
    ).json()
    events_of_key(server, calc["id"], "sk-tools")
    result = httpx.get(f"{server.base}/jobs/{calc['id']}", headers={"authorization": "Bearer sk-tools"}).json()["result"]
    assert result["status"] == "ok" and result["answer"] == "6"
    assert result["usage"]["policy"] == {"units": ["math"]}


def test_a_raw_model_is_held_to_the_key_ceiling_too(make_server, key_file) -> None:  # noqa: ANN001
    server = _serve(make_server, key_file)
    tools = openai.OpenAI(base_url=server.base, api_key="sk-tools", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError, match="may not use unit kind `llm`"):
        tools.chat.completions.create(model="smollm2", messages=HI)
    small = openai.OpenAI(base_url=server.base, api_key="sk-small", max_retries=0)
    reply = small.chat.completions.create(model="smollm2", messages=HI, max_tokens=100)
    assert reply.usage.completion_tokens <= 5 and reply.choices[0].finish_reason == "length"


def events_of_key(server: Server, job_id: str, key: str) -> list[dict]:
    """The events of a job of ``key`` (see ``events_of``)."""
    return events_of(server, job_id, headers={"authorization": f"Bearer {key}"})
