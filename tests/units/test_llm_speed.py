"""What makes the LLM fast: the wait policy, speculative parameters, the prompt cache (SmolLM2 in the slow stage)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from smolcpu.errors import UsageError
from smolcpu.models import model_path
from smolcpu.units.neural import LLMEngine, server_params

SYSTEMS = [
    "You are Ada. " + " ".join(f"Rule {n}: answer with one short sentence about the number {n}." for n in range(30)),
    "You are Grace. " + " ".join(f"Rule {n}: reply in a single word about the colour {n}." for n in range(30)),
]


def run_python(code: str, **env: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60, env=env
    ).stdout.strip()


def test_the_wait_policy_is_set_before_llama_cpp_loads_and_never_over_one_given() -> None:
    code = (
        "import os; from smolcpu.units.neural import set_wait_policy; set_wait_policy('passive');"
        " print(os.environ.get('OMP_WAIT_POLICY'))"
    )
    assert run_python(code) == "PASSIVE"
    assert run_python(code, OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
    loaded_first = "import os, xllamacpp; " + code.split(";", 1)[1]
    assert run_python(loaded_first) == "None", "once llama.cpp is loaded, setting it would lie"


def test_server_params_bound_the_prompt_cache_and_set_up_ngram_speculation(tmp_path: Path) -> None:
    import xllamacpp

    plain = server_params(tmp_path / "m.gguf", context=512, threads=1, prompt_cache_mb=64, speculative="")
    assert plain.cache_prompt and plain.cache_ram_mib == 64
    assert plain.speculative.types == [xllamacpp.common_speculative_type.COMMON_SPECULATIVE_TYPE_NONE]
    ngram = server_params(tmp_path / "m.gguf", context=512, threads=1, speculative="ngram")
    assert ngram.speculative.types == [xllamacpp.common_speculative_type.COMMON_SPECULATIVE_TYPE_NGRAM_SIMPLE]
    assert ngram.speculative.ngram_simple.size_n == 3
    with pytest.raises(UsageError, match="speculative"):
        server_params(tmp_path / "m.gguf", context=512, threads=1, speculative="psychic")


@pytest.fixture(scope="module")
def smollm2() -> Path:
    try:
        return model_path("smollm2")
    except UsageError as exc:
        pytest.skip(f"SmolLM2 is not installed ({exc})")


def alternate(engine: LLMEngine) -> list[int]:
    """Cached prompt tokens of each answer while two system prompts alternate: A, B, A, B."""
    cached = []
    for turn in range(4):
        messages = [{"role": "system", "content": SYSTEMS[turn % 2]}, {"role": "user", "content": f"Question {turn}?"}]
        cached.append(engine.chat(messages, max_tokens=2, temperature=0.0).cached_tokens)
    return cached


@pytest.mark.slow
def test_alternating_system_prompts_are_each_evaluated_once(smollm2: Path) -> None:
    engine = LLMEngine(str(smollm2), context=2048, prompt_cache_mb=32)
    try:
        first_a, first_b, again_a, again_b = alternate(engine)
    finally:
        engine.close()
    assert first_a == 0 and first_b < 10, "nothing to reuse the first time each prompt is seen"
    assert again_a > 300 and again_b > 300, "the second time, the system prompt comes from the cache"


@pytest.mark.slow
def test_without_a_prompt_cache_each_switch_evaluates_the_prompt_again(smollm2: Path) -> None:
    engine = LLMEngine(str(smollm2), context=2048, prompt_cache_mb=0)
    try:
        cached = alternate(engine)
    finally:
        engine.close()
    assert max(cached) < 10


@pytest.mark.slow
def test_speculative_decoding_answers_as_plain_decoding_does(smollm2: Path) -> None:
    messages = [{"role": "user", "content": "Repeat exactly: 12 apples, 34 pears, 56 plums, 12 apples, 34 pears."}]
    answers = []
    for speculative in ("", "ngram", f"draft:{smollm2}"):
        engine = LLMEngine(str(smollm2), context=1024, speculative=speculative)
        try:
            answers.append(engine.chat(messages, max_tokens=24, temperature=0.0).text)
        finally:
            engine.close()
    assert answers[0] and answers.count(answers[0]) == 3
