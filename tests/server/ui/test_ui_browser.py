"""The web interface in headless Chromium (Debian's, through Playwright), as a person uses
it; screenshots go to test-output/ui/. Skipped where chromium or Playwright is missing."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from smolcpu.artifact import Artifact, RunIndex, open_store
from smolcpu.models import model_spec
from smolcpu.programs import Session
from smolcpu.server import mount_ui
from smolcpu.testing import chromium, chromium_path, loopback_server
from smolcpu.units import request_artifact
from tests.server.ui.conftest import SLOW_PROGRAM

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(chromium_path() is None, reason="chromium is not installed (apt-get install chromium)")

SHOTS = Path(__file__).resolve().parents[2] / "test-output" / "ui"
WAIT_MS = 60_000


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        context = chromium(playwright, tmp_path / "profile")
        try:
            found = context.new_page()
            found.set_default_timeout(WAIT_MS)
            yield found
        finally:
            context.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))


def graph_has(page: Any, container: str, expression: str) -> Any:
    return page.evaluate(
        f"() => {{ const cy = document.getElementById({container!r}).cy; return cy && {expression}; }}"
    )


def test_a_chat_message_gets_a_streamed_answer(ui: str, page: Any) -> None:
    page.goto(ui + "/ui/#chat")
    page.fill("#chat-input", "hello little machine")
    page.press("#chat-input", "Enter")
    answer = page.locator(".message.assistant .text").last
    sync_api.expect(answer).to_have_text("Hello from Smol! You said: hello little machine", timeout=WAIT_MS)
    assert int(page.get_attribute("body", "data-chat-tokens")) >= 5, "the answer came token by token"
    assert page.locator(".message.assistant .meta a").first.inner_text().startswith("run run-")
    shot(page, "chat")
    page.locator(".message.user button", has_text="branch from here").first.click()
    assert page.input_value("#chat-input") == "hello little machine", "branching from a question puts it back to edit"
    assert page.locator("#threads li").count() == 2


def test_an_image_dropped_on_the_chat_is_attached(ui: str, page: Any) -> None:
    page.goto(ui + "/ui/#chat")
    page.evaluate(
        """() => {
        const bytes = Uint8Array.from(atob('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], 'dot.png', { type: 'image/png' }));
        document.getElementById('chat-drop').dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
    }"""
    )
    sync_api.expect(page.locator("#attachments img")).to_have_count(1)
    assert page.get_attribute("#attachments img", "src").startswith("data:image/png;base64,")


def test_a_program_opens_with_its_graph(ui: str, page: Any) -> None:
    page.goto(ui + "/ui/#editor")
    page.wait_for_selector("#program-select option[value=default]", state="attached")
    page.select_option("#program-select", "default")
    page.wait_for_selector("body[data-checked]", state="attached")
    sync_api.expect(page.locator("#check-summary")).to_have_text("0 error(s), 0 warning(s)")
    assert graph_has(page, "program-graph", "cy.nodes().length") > 20
    assert graph_has(page, "program-graph", "cy.getElementById('ask.chat').length") == 1
    shot(page, "editor-default-program")


def test_diagnostics_appear_as_you_type(ui: str, page: Any) -> None:
    page.goto(ui + "/ui/#editor")
    page.fill("#source", "out <= switch <= (\n  w => nxt\n) <= in\n")
    sync_api.expect(page.locator("#diagnostics li.error").first).to_contain_text("2:")
    sync_api.expect(page.locator("#gutter .bad")).to_have_text("2")


def test_a_running_step_lights_up(ui: str, page: Any) -> None:
    page.goto(ui + "/ui/#editor")
    page.fill("#source", SLOW_PROGRAM)
    page.wait_for_function(
        "() => document.getElementById('program-graph').cy?.getElementById('switch1.run').length === 1"
    )
    page.fill("#run-input", "what is 6 * 7?")
    page.click("#run-button")
    page.wait_for_function(
        "() => document.getElementById('program-graph').cy.getElementById('switch1.run').hasClass('running')"
    )
    assert graph_has(page, "program-graph", "cy.getElementById('switch1.write').hasClass('done')")
    shot(page, "editor-step-running")
    page.wait_for_function(
        "() => document.getElementById('program-graph').cy.getElementById('switch1.run').hasClass('done')"
    )
    sync_api.expect(page.locator("#run-output")).to_contain_text("ok: 42")
    shot(page, "editor-run-done")


def test_a_run_trace_opens(ui: str, page: Any) -> None:
    with httpx.stream("POST", ui + "/ui/api/chat", json={"message": "leave a trace"}, timeout=120) as response:
        done = json.loads([line for line in response.iter_lines() if line.startswith("data: ")][-1][6:])
    run_id = done["run_id"]
    page.goto(ui + "/ui/#runs")
    page.wait_for_selector(f"#run-list li[data-run='{run_id}']")
    page.click(f"#run-list li[data-run='{run_id}']")
    page.wait_for_selector(f"body[data-trace-open='{run_id}']", state="attached")
    sync_api.expect(page.locator("#run-header")).to_contain_text(run_id)
    assert page.locator("#artifact-list .vrow").count() >= 2
    page.locator("#artifact-list .vrow", has_text="in/input").click()
    sync_api.expect(page.locator("#artifact-detail pre")).to_contain_text("leave a trace")
    assert graph_has(page, "lineage-graph", "cy.nodes().length") >= 2
    shot(page, "run-trace")
    page.click("#show-program")
    page.wait_for_function(
        "() => document.getElementById('lineage-graph').cy.getElementById('ask.chat').hasClass('done')"
    )
    assert not graph_has(page, "lineage-graph", "cy.getElementById('ask.write').hasClass('done')")
    shot(page, "run-on-its-program")


def test_the_vault_and_the_status_show(ui: str, page: Any) -> None:
    from smolcpu.units.tools import Vault

    vault = Vault()
    vault.write("Home", "See [[Ideas]]")
    vault.write("Ideas", "Back [[Home]]")
    vault.close()
    page.goto(ui + "/ui/#vault")
    page.wait_for_selector("body[data-vault-notes='2']", state="attached")
    page.locator("#note-list li", has_text="Ideas").click()
    sync_api.expect(page.locator("#note-detail pre")).to_have_text("Back [[Home]]")
    assert graph_has(page, "note-graph", "cy.edges().length") == 2
    shot(page, "vault")
    page.goto(ui + "/ui/#status")
    page.wait_for_selector("body[data-status-updates]", state="attached")
    sync_api.expect(page.locator("#status-total")).to_contain_text("budget")
    shot(page, "status")


DOT_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_the_images_a_request_carries_show_in_its_trace(ui: str, page: Any) -> None:
    request = request_artifact("what is this?", images=[("dot.png", "image/png", DOT_PNG)])
    with RunIndex() as index:
        index.start_run("run-with-image", program="<flow>")
        stored = Artifact.create(
            request.payload, type=request.type, origin="in", role="input", attributes={"run": "run-with-image"}
        )
        with open_store(index=index) as store:
            store.put(stored)
        index.finish_run("run-with-image", "ok")
    page.goto(ui + "/ui/#runs/run-with-image")
    page.wait_for_selector("body[data-trace-open='run-with-image']", state="attached")
    picture = page.locator("#artifact-detail img").first
    sync_api.expect(picture).to_have_attribute("src", re.compile(r"^data:image/png;base64,iVBOR"))
    page.wait_for_function("() => document.querySelector('#artifact-detail img').naturalWidth === 1")


@pytest.mark.slow
def test_the_real_llm_streams_into_the_chat(page: Any, smol_home: Path) -> None:
    if not model_spec("smollm2").installed:
        pytest.skip("the test model is not installed: smol models install smollm2")

    async def build(stack: AsyncExitStack) -> FastAPI:
        session = await stack.enter_async_context(Session(model="smollm2", classifier=False))
        app = FastAPI()
        mount_ui(app, session)
        return app

    with loopback_server(build) as url:
        page.goto(url + "/ui/#chat")
        page.fill("#chat-input", "Say hello to my friend Ada in one short sentence.")
        page.press("#chat-input", "Enter")
        page.wait_for_function("() => Number(document.body.dataset.chatTokens || 0) > 3", timeout=300_000)
        shot(page, "chat-real-llm-streaming")
        page.wait_for_selector(".message.assistant .meta a", timeout=300_000)
        assert page.locator(".message.assistant .text").last.inner_text().strip()
        shot(page, "chat-real-llm-done")
        page.goto(url + "/ui/#status")
        sync_api.expect(page.locator("#status-processes table.grid td", has_text="smollm2").first).to_be_visible()
        shot(page, "status-real-llm")
