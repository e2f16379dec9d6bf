"""llama.cpp (through xllamacpp) behind one small, blocking interface.

:class:`LLMEngine` loads a GGUF model on first use and answers chat requests with token
streaming, JSON-schema or grammar-constrained output, and a chooser that can only answer
one of the options it is given. Every generation has a deadline, and a prompt or answer
that does not fit the context is a :class:`~smolcpu.errors.BudgetError` with the token
counts, never a silent truncation. The calls block: the LLM unit runs them in a thread
of its worker process.
"""

from __future__ import annotations

import enum
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from smolcpu import config
from smolcpu.errors import BudgetError, RequestTimeout, UnitError, UsageError
from smolcpu.models import model_path

Message = dict[str, Any]
TokenCallback = Callable[[str], None]
LogprobsCallback = Callable[[list[dict[str, Any]]], None]

CHOOSE_SYSTEM = "Answer with exactly one of the options given, and nothing else."
"""System prompt of :meth:`LLMEngine.choose` (the grammar enforces it; this helps the model)."""


class EngineState(enum.Enum):
    NEW = "new"
    LOADED = "loaded"
    CLOSED = "closed"


@dataclass(frozen=True)
class Completion:
    """One answer: its text, why it ended, and what it cost."""

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    tokens_per_second: float
    tool_calls: tuple[dict[str, Any], ...] = ()
    cached_tokens: int = 0
    """Prompt tokens whose state came from the prompt cache instead of being evaluated."""
    generation_ms: float = 0.0
    """llama.cpp's own time for the prompt and the answer (what a server adds is the rest)."""
    engine_ms: float = 0.0
    """The whole call into llama.cpp: ``generation_ms`` and its queue, chat template and the
    pieces handed back to Python (what llama.cpp's own server spends beside the model too)."""
    logprobs: tuple[dict[str, Any], ...] = ()
    """Per answer token, as OpenAI gives them (``token``, ``logprob``, ``bytes``, ``top_logprobs``)."""


def confidence_of(logprobs: Sequence[dict[str, Any]]) -> float:
    """How sure a model was of an answer: the geometric mean of its tokens' probabilities
    (1.0: every token certain). On GSM8K dev the 1.5B model's wrong programs mostly score
    below 0.87 and its right ones above: a cheap signal that a second opinion is worth its time."""
    scores = [token["logprob"] for token in logprobs if isinstance(token.get("logprob"), int | float)]
    return math.exp(sum(scores) / len(scores)) if scores else 1.0


def gbnf_literal(text: str) -> str:
    """``text`` as a GBNF string literal (quotes, backslashes and control bytes escaped)."""
    escaped = "".join(
        "\\" + char if char in '"\\' else f"\\x{ord(char):02x}" if ord(char) < 0x20 else char for char in text
    )
    return f'"{escaped}"'


def choice_grammar(options: Sequence[str]) -> str:
    """A GBNF grammar whose only sentences are ``options``."""
    return "root ::= " + " | ".join(gbnf_literal(option) for option in options)


def server_params(
    file: Path,
    *,
    context: int,
    threads: int,
    prompt_cache_mb: int = config.LLM_PROMPT_CACHE_MB,
    speculative: str = config.LLM_SPECULATIVE,
) -> Any:
    """llama.cpp's parameters for one model file: one slot, no context shift, quiet.

    ``no_extra_bufts`` keeps the weights in one buffer (less resident memory on CPU);
    ``ctx_shift`` off makes an overflow an error instead of silently dropping the start.
    ``prompt_cache_mb`` bounds the server's prompt cache: when a request's prompt differs from
    the one the slot holds, the slot's state is kept there and the best-matching prefix is
    restored, so alternating system prompts are each evaluated once (llama.cpp's own default,
    8 GB, would not respect Smol's memory budget). ``speculative`` is as
    :data:`~smolcpu.config.LLM_SPECULATIVE` says.

    Raises:
        UsageError: ``speculative`` names no known kind.
    """
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(file)
    params.n_ctx = context
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.no_extra_bufts = True
    params.ctx_shift = False
    params.use_jinja = True
    params.verbosity = -1
    params.cache_prompt = True
    params.cache_ram_mib = prompt_cache_mb
    if speculative:
        _speculate(params, speculative, threads=threads)
    return params


SPECULATIVE_DRAFT_MAX = 8
"""Longest draft verified at once: on 2 cores a batch of draft tokens costs nearly its length in time."""

NGRAM_LOOKUP = 3
"""Tokens an n-gram draft matches on: short, as a program copies numbers and names from the question."""


def _speculate(params: Any, speculative: str, *, threads: int) -> None:
    """Set up speculative decoding: ``ngram`` (prompt lookup) or ``draft:MODEL`` (a small model drafts)."""
    import xllamacpp

    kinds = xllamacpp.common_speculative_type
    spec = params.speculative
    if speculative == "ngram":
        spec.types = [kinds.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
        spec.ngram_simple.size_n = NGRAM_LOOKUP
        spec.ngram_simple.size_m = SPECULATIVE_DRAFT_MAX
    elif speculative.startswith("draft:"):
        spec.types = [kinds.COMMON_SPECULATIVE_TYPE_DRAFT_SIMPLE]
        spec.draft.mparams.path = str(model_path(speculative.removeprefix("draft:")))
        spec.draft.n_max = SPECULATIVE_DRAFT_MAX
        spec.draft.cpuparams.n_threads = threads
        spec.draft.cpuparams_batch.n_threads = threads
    else:
        raise UsageError(f"unknown speculative decoding {speculative!r}: use '', 'ngram' or 'draft:MODEL'")


def set_wait_policy(policy: str = config.LLM_WAIT_POLICY) -> None:
    """Tell OpenMP how llama.cpp's threads wait (see :data:`~smolcpu.config.LLM_WAIT_POLICY`).

    libgomp reads ``OMP_WAIT_POLICY`` once, when it is loaded with llama.cpp: so this acts
    only before the first ``import xllamacpp`` of the process (a worker process calls it in
    :meth:`LLMEngine.load`), and an ``OMP_WAIT_POLICY`` already set wins.
    """
    if policy and "xllamacpp" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", policy.upper())


class LLMEngine:
    """A GGUF model served by llama.cpp in this process; load once, ask many times."""

    def __init__(
        self,
        model: str | Path | None = None,
        *,
        context: int = config.LLM_CONTEXT,
        threads: int = config.LLM_THREADS,
        timeout: float = config.LLM_TIMEOUT_S,
        prompt_cache_mb: int = config.LLM_PROMPT_CACHE_MB,
        speculative: str = config.LLM_SPECULATIVE,
    ) -> None:
        self.model = str(model or config.LLM_MODEL)
        self.context = context
        self.threads = threads
        self.timeout = timeout
        self.prompt_cache_mb = prompt_cache_mb
        self.speculative = speculative
        self.state = EngineState.NEW
        self._server: Any = None
        self._lock = threading.Lock()
        self._cancelled = threading.Event()

    def __repr__(self) -> str:
        return f"<LLMEngine {self.model} {self.state.value} n_ctx={self.context}>"

    def load(self) -> None:
        """Load the model (finds it through the registry; a missing one names its install command)."""
        with self._lock:
            if self.state is EngineState.LOADED:
                return
            if self.state is EngineState.CLOSED:
                raise UnitError(f"{self!r} is closed; make a new engine")
            set_wait_policy()
            import xllamacpp

            params = server_params(
                model_path(self.model),
                context=self.context,
                threads=self.threads,
                prompt_cache_mb=self.prompt_cache_mb,
                speculative=self.speculative,
            )
            try:
                self._server = xllamacpp.Server(params)
            except RuntimeError as exc:
                raise UnitError(f"llama.cpp could not load {params.model.path}: {exc}") from exc
            self.state = EngineState.LOADED

    def cancel(self) -> None:
        """Stop the generation under way (from another thread) at its next token."""
        self._cancelled.set()

    def close(self) -> None:
        """Free the model; the engine cannot be used again."""
        with self._lock:
            self._server = None
            self.state = EngineState.CLOSED

    def chat(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int = config.LLM_MAX_TOKENS,
        json_schema: dict[str, Any] | None = None,
        grammar: str | None = None,
        tools: Sequence[dict[str, Any]] | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        logprobs: int | None = None,
        on_token: TokenCallback | None = None,
        on_logprobs: LogprobsCallback | None = None,
    ) -> Completion:
        """Answer ``messages`` (OpenAI chat format), calling ``on_token`` with each piece of text.

        ``stop``: strings that end the answer (not included in it). ``logprobs``: give each
        answer token's log probability with that many most likely alternatives (0: none), in
        the completion and, as they are decoded, to ``on_logprobs`` (before the piece's
        ``on_token``).

        Raises:
            UsageError: the request is malformed (e.g. a grammar that does not parse).
            BudgetError: the prompt, or prompt and answer, do not fit the context.
            RequestTimeout: the answer was not done within the engine's timeout.
        """
        if json_schema is not None and grammar is not None:
            raise UsageError("give json_schema or grammar, not both")
        request: dict[str, Any] = {"messages": list(messages), "max_tokens": max_tokens, "stream": True}
        optional = {"json_schema": json_schema, "grammar": grammar, "tools": tools, "temperature": temperature, "seed": seed}
        request.update({key: value for key, value in optional.items() if value is not None})
        if stop:
            request["stop"] = list(stop)
        if logprobs is not None:
            request |= {"logprobs": True, "top_logprobs": logprobs}
        self.load()
        return self._generate(request, on_token, on_logprobs)

    def choose(self, prompt: str, options: Sequence[str], *, system: str = CHOOSE_SYSTEM) -> str:
        """The option the model picks for ``prompt``; constrained decoding makes it one of ``options``.

        Raises:
            UsageError: no options, or an empty one.
        """
        unique = list(dict.fromkeys(options))
        if not unique or any(not isinstance(option, str) or not option for option in unique):
            raise UsageError("choose needs at least one option, and every option must be a non-empty string")
        listed = "\n".join(f"- {option}" for option in unique)
        messages = [
            {"role": "system", "content": system},
            {"role": "user", "content": f"{prompt}\n\nOptions:\n{listed}"},
        ]
        longest = max(len(option.encode()) for option in unique)
        answer = self.chat(messages, grammar=choice_grammar(unique), temperature=0.0, max_tokens=longest + 8)
        if answer.text not in unique:
            raise UnitError(f"the chooser answered {answer.text!r}, which is none of the options")
        return answer.text

    def _generate(
        self, request: dict[str, Any], on_token: TokenCallback | None, on_logprobs: LogprobsCallback | None
    ) -> Completion:
        deadline = time.monotonic() + self.timeout
        pieces: list[str] = []
        token_logprobs: list[dict[str, Any]] = []
        last: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        tool_deltas: dict[int, dict[str, Any]] = {}
        timed_out = False

        def receive(chunk: dict[str, Any]) -> bool:
            nonlocal last, timed_out
            if "error" in chunk:
                errors.append(chunk["error"])
                return True
            last = chunk
            for choice in chunk.get("choices", ()):
                delta = choice.get("delta") or {}
                scored = (choice.get("logprobs") or {}).get("content") or []
                if scored:
                    token_logprobs.extend(scored)
                    if on_logprobs is not None:
                        on_logprobs(scored)
                if delta.get("content"):
                    pieces.append(delta["content"])
                    if on_token is not None:
                        on_token(delta["content"])
                for call in delta.get("tool_calls") or ():
                    merged = tool_deltas.setdefault(call.get("index", 0), {"name": "", "arguments": ""})
                    function = call.get("function") or {}
                    merged["name"] += function.get("name") or ""
                    merged["arguments"] += function.get("arguments") or ""
            timed_out = time.monotonic() > deadline
            return timed_out or self._cancelled.is_set()

        with self._lock:
            if self.state is not EngineState.LOADED:
                raise UnitError(f"{self!r} cannot generate")
            self._cancelled.clear()
            began = time.perf_counter()
            self._server.handle_chat_completions(request, receive)
            engine_ms = (time.perf_counter() - began) * 1000
        if self._cancelled.is_set():
            raise UnitError(f"the generation of {self.model} was cancelled")
        if errors:
            raise _translated(errors[0])
        if timed_out:
            raise RequestTimeout(f"the LLM ({self.model}) did not finish within {self.timeout:g}s")
        completion = self._completion("".join(pieces), last, tool_deltas, max_tokens=request["max_tokens"])
        return replace(completion, logprobs=tuple(token_logprobs), engine_ms=engine_ms)

    def _completion(
        self, text: str, last: dict[str, Any], tool_deltas: dict[int, dict[str, Any]], *, max_tokens: int
    ) -> Completion:
        timings = last.get("timings") or {}
        finish = next((choice.get("finish_reason") for choice in last.get("choices", ())), None) or "stop"
        prompt_tokens = int(timings.get("prompt_n", 0)) + int(timings.get("cache_n", 0))
        completion_tokens = int(timings.get("predicted_n", 0))
        if finish == "length" and completion_tokens < max_tokens:
            raise BudgetError(
                f"the answer filled the LLM's context ({prompt_tokens} prompt + {completion_tokens} answer tokens,"
                f" context {self.context}) before it ended; shorten the messages or raise SMOL_LLM_CONTEXT"
            )
        return Completion(
            text=text,
            finish_reason=finish,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            tokens_per_second=float(timings.get("predicted_per_second", 0.0)),
            tool_calls=tuple(tool_deltas[index] for index in sorted(tool_deltas)),
            cached_tokens=int(timings.get("cache_n", 0)),
            generation_ms=float(timings.get("prompt_ms", 0.0)) + float(timings.get("predicted_ms", 0.0)),
        )


def _translated(error: dict[str, Any]) -> Exception:
    """A llama.cpp server error as the Smol error that says who must act."""
    message = str(error.get("message", error))
    if error.get("type") == "exceed_context_size_error":
        return BudgetError(
            f"the prompt has {error.get('n_prompt_tokens')} tokens but the LLM's context holds {error.get('n_ctx')};"
            " shorten the messages or raise SMOL_LLM_CONTEXT"
        )
    if error.get("code") == 400 or error.get("type") == "invalid_request_error":
        return UsageError(f"the LLM refused the request: {message}")
    return UnitError(f"the LLM failed: {message}")


__all__ = ["CHOOSE_SYSTEM", "Completion", "LogprobsCallback", "TokenCallback", "EngineState", "LLMEngine", "choice_grammar", "gbnf_literal", "server_params", "set_wait_policy"]
