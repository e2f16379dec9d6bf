"""ONNX Runtime for the neural units: sessions with few threads and no arena, and their tool base.

Every ONNX model in Smol (classifier, detector, embedder) loads through :func:`onnx_session`
so that they share one policy: two intra-op threads (the machine's two cores), one inter-op
thread, no CPU memory arena, and threads that stop spinning when a run ends (see
:func:`onnx_session`). Model files come from the model registry by name, or from a path
given by the caller.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from smolcpu import config
from smolcpu.errors import UsageError
from smolcpu.models import model_path as registry_model_path
from smolcpu.units._tool import Tool


def model_file(name: str, model_path: str | Path | None) -> Path:
    """The ONNX file to load: ``model_path`` when given, else registry model ``name``.

    Raises:
        UsageError: the path does not exist, or the model is not installed (the message
            names the ``smol models install`` command).
    """
    return registry_model_path(name if model_path is None else model_path)


def onnx_session(path: Path, *, threads: int = config.ONNX_THREADS, lean: bool = True) -> Any:
    """An ONNX Runtime CPU session for ``path`` with Smol's thread and memory settings.

    Lean (the default) means no CPU memory arena, which would keep the peak of every run
    resident, and pool threads that spin between the operators of a run (waking a parked
    thread per operator costs about 10% of a small model's latency) but stop spinning when
    the run ends: ONNX Runtime's default keeps them spinning for tens of milliseconds after
    every run, burning a core that the LLM or another worker needs. ``lean=False`` keeps
    ONNX Runtime's own defaults, for comparison.

    Raises:
        UsageError: the file is not a loadable ONNX model.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if lean:
        options.enable_cpu_mem_arena = False
        options.add_session_config_entry("session.intra_op.allow_spinning", "1")
        options.add_session_config_entry("session.force_spinning_stop", "1")
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped Fail/InvalidGraph errors
        raise UsageError(f"cannot load ONNX model {path}: {exc}") from exc


class OnnxTool(Tool):
    """A tool backed by one ONNX model: loaded in ``setup`` (or on first use), run with 2 threads.

    Subclasses name their registry model in ``model_name``; ``model_path`` (a path or a
    registry name) overrides it.
    """

    _abstract = True
    deterministic = True
    model_name: ClassVar[str]

    def __init__(self, *, model_path: str | Path | None = None, threads: int = config.ONNX_THREADS) -> None:
        self.model_path = model_path
        self.threads = threads
        self.session: Any = None

    def __repr__(self) -> str:
        state = "loaded" if self.session is not None else "not loaded"
        return f"<{type(self).__name__} {self.model_name} {state}>"

    async def setup(self) -> None:
        self.load()

    def load(self) -> None:
        """Open the ONNX session (once); every inference method calls this first."""
        if self.session is None:
            self.session = onnx_session(model_file(self.model_name, self.model_path), threads=self.threads)


__all__ = ["OnnxTool", "model_file", "onnx_session"]
