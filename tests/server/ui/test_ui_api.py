"""Every /ui/api endpoint through HTTP, against a real Session served on loopback."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx

from smolcpu.artifact import RunIndex
from smolcpu.server._ui_chat import Image, _decoded
from smolcpu.testing import ScriptedLLM
from smolcpu.units.tools import Vault
from tests.server.ui.conftest import SLOW_PROGRAM

Event = tuple[str, dict[str, Any]]

CANCEL_WITHIN_S = 90
"""A bound, not a figure: about a second on a quiet machine; once over 30 s while the whole
suite ran beside other work on 2 cores."""


def events(url: str, path: str, body: dict[str, Any]) -> Iterator[Event]:
    """The server-sent events of a POST, as (name, data)."""
    with httpx.stream("POST", url + path, json=body, timeout=120) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        name = ""
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                yield name, json.loads(line[6:])


def chat(url: str, message: str, **body: Any) -> list[Event]:
    return list(events(url, "/ui/api/chat", {"message": message, **body}))


def recorded(url: str, run_id: str, count: int) -> dict[str, Any]:
    """A run's trace once the recorder process has stored at least ``count`` artifacts."""
    deadline = time.monotonic() + 30
    while True:
        trace = httpx.get(f"{url}/ui/api/runs/{run_id}").json()
        if len(trace["artifacts"]["id"]) >= count or time.monotonic() > deadline:
            return trace
        time.sleep(0.1)


def test_the_page_and_its_vendored_libraries_are_served(ui: str) -> None:
    page = httpx.get(ui + "/ui/")
    assert page.status_code == 200 and "<title>Smol</title>" in page.text
    assert httpx.get(ui + "/ui", follow_redirects=False).headers["location"] == "/ui/"
    for asset in ("app.js", "style.css", "vendor/cytoscape.min.js", "vendor/cytoscape-dagre.min.js"):
        found = httpx.get(f"{ui}/ui/{asset}")
        assert found.status_code == 200 and len(found.content) > 1000, asset
    assert "http" not in page.text.replace("http-equiv", ""), "the page must load nothing from the network"


def test_chat_streams_tokens_then_the_answer_and_records_the_run(ui: str, llm: ScriptedLLM) -> None:
    found = chat(ui, "what a nice day")
    names = [name for name, _ in found]
    tokens = [data["text"] for name, data in found if name == "token"]
    assert len(tokens) > 3 and "".join(tokens) == "Hello from Smol! You said: what a nice day"
    assert names.index("token") < names.index("done") == len(names) - 1
    done = found[-1][1]
    assert done["answer"] == "Hello from Smol! You said: what a nice day" and done["status"] == "ok"
    assert any(name == "step" and data["kind"] == "start" and data["node"] == "ask.chat" for name, data in found)
    runs = httpx.get(ui + "/ui/api/runs").json()["runs"]
    assert runs[0]["id"] == done["run_id"] and runs[0]["program"].endswith("default.smol")


def test_chat_sends_the_thread_so_far_as_history(ui: str, llm: ScriptedLLM) -> None:
    history = [{"role": "user", "content": "my name is Ada"}, {"role": "assistant", "content": "Hello Ada"}]
    done = chat(ui, "what is my name?", history=history)[-1]
    assert done[0] == "done"
    asked = llm.requests[-1]["messages"][-1]["content"]
    assert "User: my name is Ada\nYou: Hello Ada" in asked and asked.endswith("what is my name?")


def test_chat_refuses_an_empty_message_and_a_broken_image(ui: str) -> None:
    empty = httpx.post(ui + "/ui/api/chat", json={"message": "  "})
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]
    broken = httpx.post(ui + "/ui/api/chat", json={"message": "look", "images": [{"name": "x.png", "data": "@@@"}]})
    assert broken.status_code == 400 and "x.png" in broken.json()["detail"]
    wrong = httpx.post(ui + "/ui/api/chat", json={"history": []})
    assert wrong.status_code == 422


def test_a_run_trace_by_prefix_its_artifacts_and_their_content(ui: str) -> None:
    done = chat(ui, "trace me")[-1][1]
    run_id = done["run_id"]
    trace = recorded(ui, run_id[:10], 2)
    assert trace["run"]["id"] == run_id and trace["run"]["status"] == "ok"
    columns = trace["artifacts"]
    assert set(columns) >= {"id", "type", "origin", "role", "preview", "parents", "error"}
    first = columns["id"][columns["origin"].index("in")]
    artifact = httpx.get(f"{ui}/ui/api/artifacts/{first}").json()
    assert artifact["role"] == "input" and "trace me" in artifact["text"] and artifact["attributes"]["run"] == run_id
    assert artifact["children"], "the input has the artifacts made from it"
    raw = httpx.get(f"{ui}/ui/api/artifacts/{first}/raw")
    assert b"trace me" in raw.content and raw.headers["content-security-policy"] == "sandbox"
    overlay = httpx.get(f"{ui}/ui/api/runs/{run_id}/program").json()
    assert overlay["path"].endswith("default.smol") and overlay["visited"]["ask.chat"] == "done"
    assert {"ask.chat", "route"} <= {e["data"]["id"] for e in overlay["elements"]}
    assert httpx.get(f"{ui}/ui/api/runs/no-such-run").status_code == 404
    assert httpx.get(f"{ui}/ui/api/artifacts/{'0' * 64}").status_code == 404


def test_a_past_run_runs_again_on_its_pinned_input(ui: str, llm: ScriptedLLM) -> None:
    done = chat(ui, "once more")[-1][1]
    recorded(ui, done["run_id"], 2)
    again = list(events(ui, f"/ui/api/runs/{done['run_id']}/rerun", {}))
    name, result = again[-1]
    assert name == "done", again
    assert result["rerun_of"] == done["run_id"] and result["run_id"] != done["run_id"]
    assert result["answer"] == "Hello from Smol! You said: once more"


def test_the_editor_checks_text_and_draws_its_graph(ui: str) -> None:
    good = httpx.post(ui + "/ui/api/check", json={"source": SLOW_PROGRAM}).json()
    assert good["ok"] and good["diagnostics"] == []
    ids = {element["data"]["id"] for element in good["elements"]}
    assert {"switch1.write", "switch1.run", "box:switch1", "in", "out"} <= ids
    edges = [e["data"] for e in good["elements"] if "source" in e["data"]]
    assert all(e["source"] in ids and e["target"] in ids for e in edges) and edges
    broken = httpx.post(ui + "/ui/api/check", json={"source": "out <= switch <= (\n  write => nxt\n) <= in\n"}).json()
    assert not broken["ok"] and broken["diagnostics"][0]["line"] == 2 and broken["diagnostics"][0]["column"] > 0
    unknown = httpx.post(
        ui + "/ui/api/check", json={"source": "use w = nosuchunit\nout <= switch <= (\n  w => send\n) <= in\n"}
    )
    found = unknown.json()["diagnostics"]
    assert any(d["severity"] == "error" and d["line"] == 1 for d in found), found


def test_shipped_programs_are_listed_and_opened(ui: str) -> None:
    names = httpx.get(ui + "/ui/api/programs").json()["programs"]
    assert "default" in names
    assert "match[route]" in httpx.get(ui + "/ui/api/programs/default").json()["source"]
    assert httpx.get(ui + "/ui/api/programs/nope").status_code == 404


def test_a_program_from_the_editor_runs_with_its_steps_streamed(ui: str) -> None:
    found = list(events(ui, "/ui/api/programs/run", {"source": SLOW_PROGRAM, "input": "what is 6 * 7?"}))
    steps = [(data["kind"], data["node"]) for name, data in found if name == "step"]
    assert steps == [
        ("start", "switch1.write"),
        ("end", "switch1.write"),
        ("start", "switch1.run"),
        ("end", "switch1.run"),
    ]
    name, done = found[-1]
    assert name == "done" and done["status"] == "ok" and done["answer"] == "42"
    trace = recorded(ui, done["run_id"], 1)
    assert trace["run"]["program"].endswith(".smol"), "the editor's program is saved, so the run can run again"


def test_a_program_with_errors_is_answered_with_them(ui: str) -> None:
    found = list(
        events(ui, "/ui/api/programs/run", {"source": "out <= switch <= (\n  w => nxt\n) <= in\n", "input": "x"})
    )
    assert found[-1][0] == "error" and "nxt" in found[-1][1]["message"]


def test_the_vault_lists_notes_their_links_and_each_note(ui: str) -> None:
    vault = Vault()
    vault.write("Home", "Start here. See [[Ideas]] #hub")
    vault.write("Ideas", "A list of ideas, back to [[Home]].")
    vault.close()
    overview = httpx.get(ui + "/ui/api/vault").json()
    assert [note["name"] for note in overview["notes"]] == ["Home", "Ideas"]
    assert {(e["source"], e["target"]) for e in overview["edges"]} == {("Home", "Ideas"), ("Ideas", "Home")}
    home = httpx.get(ui + "/ui/api/vault/notes/Home").json()
    assert home["tags"] == ["hub"] and home["links"][0]["target"] == "Ideas" and home["backlinks"] == ["Ideas"]
    assert httpx.get(ui + "/ui/api/vault/notes/Nowhere").status_code == 400


def test_status_once_and_live(ui: str) -> None:
    status = httpx.get(ui + "/ui/api/status").json()
    assert status["budget"] > 0 and isinstance(status["processes"], list)
    with httpx.stream("GET", ui + "/ui/api/status/events?every=0.2", timeout=30) as response:
        lines = response.iter_lines()
        assert next(lines) == "retry: 200"
        assert next(lines) == "event: status"
        assert json.loads(next(lines)[6:])["budget"] == status["budget"]


def test_an_image_is_taken_as_a_data_url_or_bare_base64() -> None:
    data = b"\x89PNG\r\n\x1a\n" + bytes(5)
    encoded = base64.b64encode(data).decode()
    assert _decoded(Image(name="a.png", data=f"data:image/png;base64,{encoded}")) == data
    assert _decoded(Image(name="a.png", data=encoded)) == data


def test_leaving_a_run_cancels_it(ui: str) -> None:
    with httpx.stream(
        "POST", ui + "/ui/api/programs/run", json={"source": SLOW_PROGRAM, "input": "x"}, timeout=120
    ) as response:
        lines = response.iter_lines()
        run_id = ""
        for line in lines:
            if line.startswith("data: ") and '"start"' in line and "switch1.run" in line:
                run_id = json.loads(line[6:])["run_id"]
                break
    assert run_id, "the run reached its slow step"
    left = time.monotonic()
    while (status := httpx.get(f"{ui}/ui/api/runs/{run_id}").json()["run"]["status"]) == "running":
        assert time.monotonic() < left + CANCEL_WITHIN_S, f"the run went on {CANCEL_WITHIN_S} s after its page left"
        time.sleep(0.1)
    assert status == "cancelled"


def test_a_run_of_a_program_that_was_no_file_cannot_run_again(ui: str) -> None:
    with RunIndex() as index:
        index.start_run("run-from-text", program="<flow>")
        index.finish_run("run-from-text", "ok")
    refused = httpx.post(ui + "/ui/api/runs/run-from-text/rerun")
    assert refused.status_code == 400 and "only a program read from a file" in refused.json()["detail"]
    undrawn = httpx.get(ui + "/ui/api/runs/run-from-text/program")
    assert undrawn.status_code == 400 and "'<flow>', which is not a file here" in undrawn.json()["detail"]


def test_another_sites_page_cannot_start_a_run(ui: str) -> None:
    cross = httpx.post(ui + "/ui/api/chat", json={"message": "hi"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403 and "its own page" in cross.json()["detail"]
    assert httpx.get(ui + "/ui/api/runs", headers={"Sec-Fetch-Site": "same-site"}).status_code == 403
    form = httpx.post(ui + "/ui/api/chat", content=b'{"message": "hi"}', headers={"Content-Type": "text/plain"})
    assert form.status_code == 422, "a body a form could send is not taken"
    assert httpx.get(ui + "/ui/api/runs", headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
