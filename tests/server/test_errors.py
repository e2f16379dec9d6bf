"""Refusals in OpenAI's error shape: unknown model, unsupported parameters, bad keys, a full queue."""

from __future__ import annotations

import threading
import time

import httpx
import openai
import pytest

from smolcpu.server import ServerState, load_keys
from tests.server.conftest import Server
from tests.server.test_chat import client

HI = [{"role": "user", "content": "hi"}]


def test_an_unknown_model_is_404_model_not_found(server: Server) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client(server).chat.completions.create(model="gpt-4o", messages=HI)
    assert caught.value.code == "model_not_found"
    assert "smol/<program>" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        client(server).chat.completions.create(model="smol/nowhere", messages=HI)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"top_p": 0.5}, "top_p"),
        ({"frequency_penalty": 0.3}, "frequency_penalty"),
        ({"logit_bias": {"42": 1.0}}, "logit_bias"),
        ({"extra_body": {"mirostat": 2}}, "mirostat"),
        ({"n": 50}, "n is at most"),
    ],
)
def test_parameters_smol_cannot_honour_are_refused_not_ignored(server: Server, options: dict, named: str) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(server).chat.completions.create(model="smollm2", messages=HI, **options)
    assert named in caught.value.message
    assert caught.value.body["type"] == "invalid_request_error"


def test_a_program_refuses_what_only_a_raw_llm_has(server: Server) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client(server).chat.completions.create(model="smol", messages=HI, logprobs=True, temperature=0.3)
    assert "logprobs, temperature" in caught.value.message and "smollm2" in caught.value.message


def test_an_image_to_a_raw_llm_is_refused(server: Server) -> None:
    picture = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    with pytest.raises(openai.BadRequestError) as caught:
        client(server).chat.completions.create(
            model="smollm2", messages=[{"role": "user", "content": [{"type": "text", "text": "what?"}, picture]}]
        )
    assert "cannot see images" in caught.value.message


def test_a_malformed_request_is_400_in_openai_shape(server: Server) -> None:
    reply = httpx.post(server.base + "/chat/completions", json={"model": "smollm2", "messages": []})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == "messages"


def test_a_server_with_keys_refuses_a_bad_key_and_takes_a_good_one(make_server, tmp_path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("# keys\nsk-good-one\n")
    server = make_server(keys=load_keys(key_file, environ={}))
    with pytest.raises(openai.AuthenticationError) as caught:
        openai.OpenAI(base_url=server.base, api_key="sk-bad", max_retries=0).models.list()
    assert caught.value.body["type"] == "authentication_error"
    assert httpx.get(server.base + "/models").status_code == 401
    good = openai.OpenAI(base_url=server.base, api_key="sk-good-one", max_retries=0)
    assert good.chat.completions.create(model="smollm2", messages=HI).choices[0].message.content == "You said: hi"


def test_the_web_interface_of_a_server_with_keys_wants_the_key_too(make_server) -> None:
    server = make_server(keys=["sk-good-one"])
    for path in ("/ui/", "/ui/api/runs", "/ui/api/programs"):
        assert httpx.get(server.url + path).status_code == 401, path
    assert httpx.get(server.url + "/ui/?key=sk-bad").status_code == 401
    with httpx.Client(base_url=server.url) as browser:
        entered = browser.get("/ui/?key=sk-good-one")
        assert entered.status_code == 303 and "key=" not in entered.headers["location"]
        assert "httponly" in entered.headers["set-cookie"].lower()
        assert browser.get("/ui/api/runs").status_code == 200


def test_keys_come_from_the_environment_and_a_file(tmp_path) -> None:
    key_file = tmp_path / "keys"
    key_file.write_text("c\n\n# not a key\n")
    assert load_keys(key_file, environ={"SMOL_API_KEYS": "a, b"}) == ["a", "b", "c"]
    state = ServerState(keys=["secret"], record=False)
    assert state.authorize("Bearer secret") == state.authorize("Bearer secret") != "local"
    assert state.authorize("Bearer secreT") is None and state.authorize(None) is None


def test_a_full_queue_answers_429_with_retry_after(make_server) -> None:
    server = make_server(workers=1, capacity=1)
    server.script.llm.delay = 0.3
    first = threading.Thread(
        target=lambda: httpx.post(server.base + "/chat/completions", json={"model": "smollm2", "messages": HI}, timeout=30)
    )
    first.start()
    deadline = time.monotonic() + 10
    while server.state.queue.running == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    refused = httpx.post(server.base + "/chat/completions", json={"model": "smollm2", "messages": HI})
    first.join()
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"]["type"] == "rate_limit_error"
