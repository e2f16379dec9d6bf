"""Which registry models a program needs: what ``smol ask`` installs before a run and what
``smol compile --target container`` packs into a deployment."""

from __future__ import annotations

from smolcpu import config
from smolcpu.lang import DEFAULT_UNIT, Graph
from smolcpu.programs._ask import examples_of

VISION_MODELS = {"classify": "efficientnet-lite0", "detect": "yolox-nano"}
"""The model each vision unit kind loads."""

EMBED_MODEL = "minilm"
"""The model of the ``embed`` kind, and of a program's small classifier (its choice examples)."""


def models_needed(graph: Graph, *, llm: str | None = None, images: bool = True) -> list[str]:
    """The models ``graph`` loads, by registry name (or the path ``llm`` names), in load order:
    the LLM if it has LLM steps, the vision models if ``images`` may come, the embedder if it
    embeds or has choice examples.

    Raises:
        UsageError: the choice examples beside the program are not readable.
    """
    kinds = {step.binding.unit if step.binding is not None else DEFAULT_UNIT for step in graph.steps()}
    names = [llm or config.LLM_MODEL] if DEFAULT_UNIT in kinds else []
    if images:
        names += [name for kind, name in VISION_MODELS.items() if kind in kinds]
    if "embed" in kinds or examples_of(graph) is not None:
        names.append(EMBED_MODEL)
    return names


__all__ = ["EMBED_MODEL", "VISION_MODELS", "models_needed"]
