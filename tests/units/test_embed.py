"""The embedder on the real all-MiniLM-L6-v2 ONNX model (installed: a slow test)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from smolcpu.artifact import Artifact
from smolcpu.errors import UsageError
from smolcpu.units._registry import create_unit
from smolcpu.units.neural import Embed
from tests.units.onnx_models import MINILM, model_fixture, onnx_unit

embedder = onnx_unit(Embed, MINILM)
minilm = model_fixture(MINILM)


def test_vectors_are_unit_length_and_384_wide(embedder: Embed) -> None:
    vectors = embedder.embed_many(["hello", "", "a longer sentence about the weather in Paris"])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def test_similar_meaning_lands_nearby(embedder: Embed) -> None:
    cat, kitten, revenue = embedder.embed_many(
        ["A cat sits on the mat.", "A kitten is resting on a rug.", "Quarterly revenue grew by five percent."]
    )
    assert cat @ kitten > 0.5 > cat @ revenue + 0.4


def test_padding_in_a_batch_does_not_change_a_vector(embedder: Embed) -> None:
    short = "Short text."
    alone = embedder.embed(short)
    batched = embedder.embed_many([short, "a much longer text " * 20])[0]
    assert np.allclose(alone, batched, atol=1e-5)


def test_long_text_is_truncated_not_refused(embedder: Embed) -> None:
    assert embedder.embed("word " * 5000).shape == (384,)


def test_bad_input_is_a_usage_error(embedder: Embed) -> None:
    with pytest.raises(UsageError):
        embedder.embed_many([])
    with pytest.raises(UsageError):
        embedder.embed_many([42])  # type: ignore[list-item]


def test_unit_replies_with_the_vector(embedder: Embed) -> None:
    question = Artifact.text("Where is the Eiffel tower?")
    reply = asyncio.run(embedder.handle(None, None, question))
    body = reply.as_json()
    assert reply.parents == (question.id,) and body["dimensions"] == 384
    assert np.allclose(body["vector"], embedder.embed(question.as_text()), atol=1e-5)


def test_unit_embeds_a_json_list_in_one_batch(embedder: Embed) -> None:
    texts = ["first text", "second, longer text", ""]
    reply = asyncio.run(embedder.handle(None, None, Artifact.json(texts)))
    assert np.allclose(reply.as_json()["vectors"], embedder.embed_many(texts), atol=1e-5)


def test_registry_makes_an_embedder(minilm: Path) -> None:
    unit = create_unit("embed", model_path=minilm)
    assert isinstance(unit, Embed)
