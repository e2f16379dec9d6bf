"""The FastAPI application: OpenAI-compatible endpoints, jobs, webhooks and events.

``create_app(state)`` builds it around a :class:`ServerState`; its session opens when the
server starts. Every request is a job on the state's queue; a client that goes away cancels
its job at once. Errors are OpenAI's shape, with the status their kind calls for.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import numpy as np
from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException

from smolcpu import config
from smolcpu.artifact import Artifact, RunIndex, load_json, open_store
from smolcpu.errors import (
    ArtifactError,
    ArtifactNotFound,
    BudgetError,
    JobCancelled,
    PolicyLimit,
    QueueFull,
    RequestTimeout,
    SmolError,
    UnknownModel,
    Unsupported,
    UsageError,
)
from smolcpu.models import KNOWN
from smolcpu.programs import answer_text
from smolcpu.server._access import Reader
from smolcpu.server._chat import (
    DEFAULT_MODEL,
    Reply,
    Target,
    answer_with_llm,
    answer_with_program,
    llm_models,
    program_names,
    resolve,
)
from smolcpu.server._jobs import Job
from smolcpu.server._limits import limit_requests, too_large
from smolcpu.server._openai import (
    ChatRequest,
    EmbeddingRequest,
    chat_completion,
    chunk,
    completion_id,
    error_body,
    usage,
)
from smolcpu.server._response_store import new_response_id
from smolcpu.server._responses import Draft, Events, ResponsesRequest, item_page, output_items, with_ids
from smolcpu.server._state import ServerState
from smolcpu.server._ui import mount_ui
from smolcpu.server._ui_guard import guard_ui
from smolcpu.vm import StepEvent

DISCONNECT_POLL_S = 0.1
"""How often a waiting request checks that its client is still there."""

_STATUS: list[tuple[type[SmolError], int, str]] = [
    (UnknownModel, 404, "invalid_request_error"),
    (Unsupported, 400, "invalid_request_error"),
    (UsageError, 400, "invalid_request_error"),
    (QueueFull, 429, "rate_limit_error"),
    (PolicyLimit, 403, "policy_limit"),
    (BudgetError, 400, "invalid_request_error"),
    (JobCancelled, 499, "cancelled"),
    (RequestTimeout, 504, "timeout"),
    (ArtifactNotFound, 404, "invalid_request_error"),
    (SmolError, 500, "server_error"),
]
"""Each error kind's HTTP status and OpenAI error type (the first match wins)."""


def classify(exc: SmolError) -> tuple[int, str]:
    """The HTTP status and OpenAI error type of ``exc``."""
    return next((status, kind) for cls, status, kind in _STATUS if isinstance(exc, cls))


def error_response(exc: SmolError, state: ServerState | None = None) -> JSONResponse:
    """``exc`` as OpenAI's error body with the status its kind calls for."""
    status, kind = classify(exc)
    code = {404: "model_not_found" if isinstance(exc, UnknownModel) else "not_found", 429: "queue_full"}.get(status)
    headers = {"Retry-After": str(state.queue.retry_after())} if isinstance(exc, QueueFull) and state else None
    return JSONResponse(error_body(str(exc), kind=kind, code=code), status_code=status, headers=headers)


def _state(request: Request) -> ServerState:
    return request.app.state.smol


async def _key(request: Request, authorization: str | None = Header(default=None)) -> str:
    """The caller's key id; a 401 in OpenAI's shape without a key this server accepts (async:
    FastAPI would run a plain function in a thread, a hop on every request's path)."""
    key = _state(request).authorize(authorization)
    if key is None:
        raise HTTPException(401, "a valid API key is needed: send `Authorization: Bearer KEY`")
    return key


async def _outcome(request: Request, state: ServerState, job: Job) -> Any:
    """``job``'s result; if the client goes away first, the job is cancelled (its slot freed at once)."""
    while True:
        try:
            async with asyncio.timeout(DISCONNECT_POLL_S):
                return await job.outcome()
        except TimeoutError:
            if await request.is_disconnected():
                state.queue.cancel(job)
                raise JobCancelled(f"{job.id}: the client went away") from None


def _sse(data: dict[str, Any] | str, *, event: str | None = None) -> str:
    text = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "") + f"data: {text}\n\n"


def create_app(state: ServerState) -> FastAPI:
    """The server's application around ``state`` (its session opens with the app)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with state:
            yield

    app = FastAPI(
        title="Smol",
        summary="An OpenAI-compatible API on Smol's programs and local models, with jobs, webhooks and events.",
        version="1",
        lifespan=lifespan,
    )
    app.state.smol = state

    @app.exception_handler(SmolError)
    async def smol_error(request: Request, exc: SmolError) -> JSONResponse:
        return error_response(exc, state)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ())[1:])
        body = error_body(f"{where}: {first.get('msg', 'invalid request')}", kind="invalid_request_error", param=where or None)
        return JSONResponse(body, status_code=400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 413:
            return too_large(config.MAX_REQUEST_BYTES)
        kind = "authentication_error" if exc.status_code == 401 else "invalid_request_error"
        return JSONResponse(error_body(str(exc.detail), kind=kind), status_code=exc.status_code)

    @app.get("/health", tags=["server"])
    async def health() -> dict[str, Any]:
        """Whether the server is up, and its queue."""
        queue = state.queue
        return {"status": "ok", "running": queue.running, "waiting": queue.waiting, "capacity": queue.capacity}

    @app.get("/v1/models", tags=["openai"])
    async def models(key: str = Depends(_key)) -> dict[str, Any]:
        """The models: ``smol`` (the default program), ``smol/<program>``, each LLM and embedder."""
        names = [DEFAULT_MODEL, *program_names(state.programs), *llm_models(), *_embedders()]
        return {"object": "list", "data": [_model(name) for name in names]}

    @app.get("/v1/models/{model:path}", tags=["openai"])
    async def model(model: str, key: str = Depends(_key)) -> dict[str, Any]:
        if model not in _embedders():
            resolve(model, programs=state.programs, stand_in="llm" in state.stand_ins)
        return _model(model)

    @app.post("/v1/chat/completions", tags=["openai"], response_model=None)
    async def chat_completions(body: ChatRequest, request: Request, key: str = Depends(_key)) -> Any:
        """A chat completion, streamed (SSE) or not, from a program or an LLM."""
        body.check()
        target = resolve(body.model, programs=state.programs, stand_in="llm" in state.stand_ins)
        job = state.queue.submit(lambda job: _chat(state, target, body, job), key=key, kind="chat", model=body.model)
        if body.stream:
            return StreamingResponse(_chat_stream(state, body, job), media_type="text/event-stream")
        reply: Reply = await _outcome(request, state, job)
        timing = {"Server-Timing": server_timing(reply)} if reply.generation_ms else None
        return JSONResponse(_completion(body, reply), headers=timing)

    @app.post("/v1/responses", tags=["openai"], response_model=None)
    async def responses(body: ResponsesRequest, request: Request, key: str = Depends(_key)) -> Any:
        """A Response, answered as the same chat completion (function tools too) after the
        conversation of ``previous_response_id``; streamed as OpenAI's Response events
        (``response.created``, ``response.output_text.delta``, ...) or not; kept unless
        ``store`` is false."""
        earlier = (await state.responses.get(body.previous_response_id, key)).history if body.previous_response_id else []
        chat = body.chat(earlier)
        chat.check()
        target = resolve(chat.model, programs=state.programs, stand_in="llm" in state.stand_ins)
        job = state.queue.submit(lambda job: _chat(state, target, chat, job), key=key, kind="response", model=chat.model)
        draft = Draft(new_response_id(), body, int(time.time()))

        async def keep(response: dict[str, Any]) -> None:
            if body.store:
                await state.responses.put(response, [*earlier, *with_ids(body.items), *response["output"]], key)

        if chat.stream:
            return StreamingResponse(_response_stream(state, job, Events(draft), keep), media_type="text/event-stream")
        reply: Reply = await _outcome(request, state, job)
        choice = reply.choices[0]
        response = draft.body(output_items(choice.text, choice.tool_calls), (reply.prompt_tokens, reply.completion_tokens))
        await keep(response)
        return response

    @app.get("/v1/responses/{response_id}", tags=["openai"])
    async def stored_response(response_id: str, key: str = Depends(_key)) -> dict[str, Any]:
        """A stored Response."""
        return (await state.responses.get(response_id, key)).response

    @app.get("/v1/responses/{response_id}/input_items", tags=["openai"])
    async def input_items(
        response_id: str,
        key: str = Depends(_key),
        after: str | None = None,
        limit: int = Query(20, ge=1, le=100),
        order: Literal["asc", "desc"] = "desc",
        include: list[str] = Query([]),
        include_listed: list[str] = Query([], alias="include[]"),
    ) -> dict[str, Any]:
        """The items a stored Response answered (the conversation before its output: earlier
        Responses' items, then its own input), newest first unless ``order`` is ``asc``,
        ``limit`` of them after the item ``after``. ``include`` (also as the ``openai``
        client sends it, ``include[]``) is refused: Smol keeps nothing more to include."""
        if include or include_listed:
            asked = ", ".join([*include, *include_listed])
            raise Unsupported(f"include is not supported on input_items (asked for {asked})")
        stored = await state.responses.get(response_id, key)
        return item_page(stored.inputs, after=after, limit=limit, order=order)

    @app.delete("/v1/responses/{response_id}", tags=["openai"])
    async def delete_response(response_id: str, key: str = Depends(_key)) -> dict[str, Any]:
        """Forget a stored Response for good (the conversations that continued from it keep their own copy)."""
        await state.responses.delete(response_id, key)
        return {"id": response_id, "object": "response", "deleted": True}

    @app.post("/v1/embeddings", tags=["openai"])
    async def embeddings(body: EmbeddingRequest, request: Request, key: str = Depends(_key)) -> dict[str, Any]:
        """Sentence vectors from the embedder (``minilm``)."""
        texts = body.texts()
        if body.model not in _embedders():
            raise UnknownModel(f"no embedding model {body.model!r}: use {', '.join(_embedders())}")
        state.allow_unit(key, "embed")
        job = state.queue.submit(lambda job: _embed(state, texts), key=key, kind="embeddings", model=body.model)
        vectors, tokens = await _outcome(request, state, job)
        data = [
            {"object": "embedding", "index": index, "embedding": _encoded(vector, body.encoding_format)}
            for index, vector in enumerate(vectors)
        ]
        return {"object": "list", "data": data, "model": body.model, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

    @app.post("/v1/hooks/{program}", tags=["jobs"], status_code=202)
    async def webhook(program: str, request: Request, key: str = Depends(_key)) -> dict[str, Any]:
        """Start ``program`` (``default`` or one of the programs folder) on the request body:
        JSON as a JSON artifact, anything else as text. The job's result is kept."""
        raw = await request.body()
        if "json" in request.headers.get("content-type", ""):
            try:
                given = Artifact.json(load_json(raw or b"null"), origin="webhook", role="input")
            except ArtifactError as exc:
                raise UsageError(f"the webhook body is not usable JSON: {exc}") from exc
        else:
            given = Artifact.text(raw.decode(errors="replace"), origin="webhook", role="input")
        return _start_program(state, program, given, key=key, kind="webhook")

    @app.post("/v1/events", tags=["jobs"], status_code=202)
    async def event(body: dict[str, Any], key: str = Depends(_key)) -> dict[str, Any]:
        """An event ``{"type": PROGRAM, "data": ...}`` starts that program on its data."""
        kind = body.get("type")
        if not isinstance(kind, str) or not kind:
            raise UsageError('an event is {"type": PROGRAM, "data": ...}')
        given = Artifact.json(body.get("data"), origin="event", role="input", attributes={"event": kind})
        return _start_program(state, kind, given, key=key, kind="event")

    @app.get("/v1/jobs", tags=["jobs"])
    async def jobs(key: str = Depends(_key)) -> dict[str, Any]:
        """The caller's jobs, newest first."""
        mine = [job.to_dict() for job in reversed(state.queue.jobs.values()) if job.key == key]
        return {"object": "list", "data": mine}

    @app.get("/v1/jobs/{job_id}", tags=["jobs"])
    async def job(job_id: str, key: str = Depends(_key)) -> dict[str, Any]:
        """A job: its state, run id, output artifact and, for a program job, its result."""
        found = _job(state, job_id, key)
        return found.to_dict() | ({"result": found.result} if isinstance(found.result, dict) else {})

    @app.delete("/v1/jobs/{job_id}", tags=["jobs"])
    async def cancel_job(job_id: str, key: str = Depends(_key)) -> dict[str, Any]:
        """Cancel a job (waiting or running)."""
        found = _job(state, job_id, key)
        state.queue.cancel(found)
        return found.to_dict()

    @app.get("/v1/jobs/{job_id}/events", tags=["jobs"])
    async def job_events(job_id: str, key: str = Depends(_key)) -> StreamingResponse:
        """A job's progress as server-sent events: what happened so far, then live until it ends."""
        found = _job(state, job_id, key)

        async def events() -> AsyncIterator[str]:
            async for item in found.follow():
                yield _sse(item, event=item["event"])

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/v1/artifacts/{artifact_id}", tags=["jobs"])
    async def artifact(artifact_id: str, key: str = Depends(_key)) -> dict[str, Any]:
        """A stored artifact of the caller's runs in its JSON form (payload in base64), with
        its text when it has one; another key's is 404, as if it were not there."""
        found = await asyncio.to_thread(_load_artifact, state.reader(key), artifact_id, state.session.index)
        return found.to_dict() | {"text": answer_text(found)}

    mount_ui(app, state.session)
    guard_ui(app, state)
    limit_requests(app, config.MAX_REQUEST_BYTES)
    return app


def _embedders() -> list[str]:
    return [name for name, spec in KNOWN.items() if spec.role == "embed"]


def _model(name: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": 0, "owned_by": "smol"}


def _job(state: ServerState, job_id: str, key: str) -> Job:
    found = state.queue.get(job_id)
    if found is None or found.key != key:
        raise ArtifactNotFound(f"no job {job_id!r}")
    return found


def _load_artifact(reader: Reader, artifact_id: str, index: RunIndex | None) -> Artifact:
    store = open_store(config.store_url())
    try:
        return reader.artifact(store, artifact_id, index)
    finally:
        store.close()


def _encoded(vector: list[float], encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes()).decode()
    return vector


async def _chat(state: ServerState, target: Target, body: ChatRequest, job: Job) -> Reply:
    """The work of a chat job (text deltas go to the job's events when it streams), held to
    the ceiling of the job's key: a program's run by its policy; a raw LLM by its units, and
    its tokens by ``max_tokens``."""
    on_delta = (lambda index, delta: job.publish("delta", index=index, delta=delta)) if body.stream else None
    ceiling = state.ceiling(job.key)
    if target.program is not None:
        return await answer_with_program(state.session, target, body, job, on_delta, policy=ceiling)
    state.allow_unit(job.key, "llm")
    if ceiling is not None and ceiling.tokens is not None:
        body = body.model_copy(update={"max_tokens": min(body.token_limit or ceiling.tokens, ceiling.tokens),
                                       "max_completion_tokens": None})
    async with state.unit("llm", params={"model": target.llm}) as ref:
        return await answer_with_llm(state.session, target, body, job, on_delta, ref)


async def _embed(state: ServerState, texts: list[str]) -> tuple[list[list[float]], int]:
    async with state.unit("embed") as ref:
        reply = await ref.request(Artifact.json({"text": texts}, origin="api", role="input"), timeout=config.REQUEST_TIMEOUT_S)
    if reply.is_error:
        raise UsageError(f"the embedder failed: {reply.error_message}")
    answer = reply.as_json()
    return answer["vectors"], int(answer.get("tokens", 0))


def _start_program(state: ServerState, program: str, given: Artifact, *, key: str, kind: str) -> dict[str, Any]:
    """Queue a job that runs ``program`` on ``given``; the job as the caller is shown it."""
    name = DEFAULT_MODEL if program == "default" else f"smol/{program}"
    target = resolve(name, programs=state.programs)

    async def work(job: Job) -> dict[str, Any]:
        def observe(event: StepEvent) -> None:
            job.run_id = event.run_id
            job.publish("step", kind=event.kind, node=event.node, worker=event.worker, outcome=event.outcome)

        result = await state.session.run(target.program, given, observer=observe, policy=state.ceiling(key), caller=key)
        job.run_id, job.output_id = result.run_id, result.output.id
        return {"status": result.status.value, "answer": answer_text(result.output), "usage": result.usage}

    job = state.queue.submit(work, key=key, kind=kind, model=name)
    links = {"self": f"/v1/jobs/{job.id}", "events": f"/v1/jobs/{job.id}/events"}
    return job.to_dict() | {"links": links}


def server_timing(reply: Reply) -> str:
    """Where a raw LLM request's time went, as a ``Server-Timing`` header: ``llm``, the model's
    own (llama.cpp's timings); ``engine``, the calls into llama.cpp in the worker process;
    ``unit``, the requests to the LLM unit from this process (the trip to the worker and back)."""
    spans = {"llm": reply.generation_ms, "engine": reply.engine_ms, "unit": reply.unit_ms}
    return ", ".join(f"{name};dur={ms:.3f}" for name, ms in spans.items())


def _completion(body: ChatRequest, reply: Reply) -> dict[str, Any]:
    choices = []
    for index, choice in enumerate(reply.choices):
        message: dict[str, Any] = {"role": "assistant", "content": choice.text or None}
        if choice.tool_calls:
            message["tool_calls"] = choice.tool_calls
        elif message["content"] is None:
            message["content"] = ""
        logprobs = {"content": choice.logprobs} if choice.logprobs is not None else None
        choices.append({"index": index, "message": message, "logprobs": logprobs, "finish_reason": choice.finish_reason})
    return chat_completion(body.model, choices, usage(reply.prompt_tokens, reply.completion_tokens))


async def _chat_stream(state: ServerState, body: ChatRequest, job: Job) -> AsyncIterator[str]:
    """A chat job as OpenAI's chunks: each delta as it comes, each choice's end, usage, ``[DONE]``.
    A program's progress (its steps, the tokens of LLM steps that are not the answer) comes as
    chunks with an empty delta and a ``smol`` field. If the client goes away (this generator
    is closed), the job is cancelled."""
    name, created = completion_id(), int(time.time())
    begun: set[int] = set()
    try:
        async for event in job.follow():
            if event["event"] not in ("delta", "step", "token"):
                continue
            index = event["index"]
            if index not in begun:
                begun.add(index)
                yield _sse(chunk(name, body.model, created, [{"index": index, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]))
            if event["event"] != "delta":
                progress = {key: value for key, value in event.items() if key not in ("job", "time", "index")}
                yield _sse(chunk(name, body.model, created, [{"index": index, "delta": {}, "finish_reason": None}], smol=progress))
                continue
            delta = dict(event["delta"])
            logprobs = delta.pop("logprobs", None)
            yield _sse(chunk(name, body.model, created, [{"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": None}]))
        try:
            reply: Reply = await job.outcome()
        except SmolError as exc:
            status, kind = classify(exc)
            yield _sse(error_body(str(exc), kind=kind, code=str(status)))
            return
        for index, choice in enumerate(reply.choices):
            yield _sse(chunk(name, body.model, created, [{"index": index, "delta": {}, "finish_reason": choice.finish_reason}]))
        if (body.stream_options or {}).get("include_usage"):
            yield _sse(chunk(name, body.model, created, [], usage=usage(reply.prompt_tokens, reply.completion_tokens)))
        yield _sse("[DONE]")
    finally:
        if not job.state.ended:
            state.queue.cancel(job)


async def _response_stream(
    state: ServerState, job: Job, events: Events, keep: Callable[[dict[str, Any]], Awaitable[None]]
) -> AsyncIterator[str]:
    """A Response job as OpenAI's Response events (:class:`Events`): its text as it comes,
    then its tool calls, then ``response.completed`` once the Response is kept (or ``error``).
    If the client goes away (this generator is closed), the job is cancelled."""

    def sent(made: list[dict[str, Any]]) -> str:
        return "".join(_sse(event, event=event["type"]) for event in made)

    try:
        yield sent(events.created())
        async for item in job.follow():
            delta = item.get("delta", {}) if item["event"] == "delta" else {}
            if delta.get("content"):
                yield sent(events.text(delta["content"]))
            for call in delta.get("tool_calls", ()):
                yield sent(events.tool_call({key: value for key, value in call.items() if key != "index"}))
        try:
            reply: Reply = await job.outcome()
        except SmolError as exc:
            status, _ = classify(exc)
            yield sent([events.event("error", code=str(status), message=str(exc), param=None)])
            return
        *ending, completed = events.completed((reply.prompt_tokens, reply.completion_tokens))
        yield sent(ending)
        await keep(completed["response"])
        yield sent([completed])
    finally:
        if not job.state.ended:
            state.queue.cancel(job)


__all__ = ["DISCONNECT_POLL_S", "classify", "create_app", "error_response", "server_timing"]
