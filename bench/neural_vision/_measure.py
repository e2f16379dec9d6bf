"""One measurement, run in a fresh process so that its RSS belongs to one model alone."""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from smolcpu.units.neural import Classify, Detect, Embed
from smolcpu.units.neural._onnx import onnx_session

SENTENCES = [
    "The cat sat on the mat.",
    "Quarterly revenue grew by five percent while costs stayed flat.",
    "Smol runs small neural nets and deterministic tools on a CPU within two gigabytes.",
]


def rss_mb() -> float:
    """This process's resident memory, in MB."""
    return psutil.Process().memory_info().rss / 1024**2


def median_ms(call: Any, items: list[Any]) -> float:
    """The median time of ``call(item)`` over ``items``, in milliseconds."""
    times = []
    for item in items:
        start = time.perf_counter()
        call(item)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _throughput(call: Any, chunks: list[Any], items: int) -> float:
    start = time.perf_counter()
    for chunk in chunks:
        call(chunk)
    return items / (time.perf_counter() - start)


def measure(kind: str, model: str, images: list[str], *, lean: bool, batch: int) -> dict[str, Any]:
    """Latency (median ms per item, model only and end to end), throughput and RSS of one model.

    RSS is taken after the model has loaded and answered three requests, before the bench
    builds its own lists of inputs, so that it is what a worker serving the model holds.
    """
    import onnxruntime  # noqa: F401  (its libraries count as the process's base, not the model's)

    items: list[Any] = SENTENCES * 10 if kind == "embed" else [Path(p).read_bytes() for p in images]
    base = rss_mb()
    tool: Any = {"classify": Classify, "detect": Detect, "embed": Embed}[kind](model_path=model)
    tool.session = onnx_session(Path(model), lean=lean)
    end_to_end = getattr(tool, kind)
    for item in items[:3]:
        end_to_end(item)
    result: dict[str, Any] = {"rss_base_mb": base, "rss_serving_mb": rss_mb()}
    result["e2e_ms"] = median_ms(end_to_end, items)
    if kind == "embed":
        result["model_ms"] = result["e2e_ms"]
        result["serial_per_s"] = _throughput(tool.embed, items, len(items))
        chunks = [items[i : i + batch] for i in range(0, len(items), batch)]
        result["batched_per_s"] = _throughput(tool.embed_many, chunks, len(items))
        return result
    prepared = [tool.prepare(item) for item in items]
    tensors = [(tensor if kind == "classify" else tensor[0])[None] for tensor in prepared]
    result["model_ms"] = median_ms(tool.infer, tensors)
    result["serial_per_s"] = _throughput(tool.infer, tensors, len(tensors))
    if tool.session.get_inputs()[0].shape[0] != 1:
        stacked = [np.concatenate(tensors[i : i + batch]) for i in range(0, len(tensors), batch)]
        tool.infer(stacked[0])
        result["batched_per_s"] = _throughput(tool.infer, stacked, len(tensors))
    return result
