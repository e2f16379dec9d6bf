"""The vm layer: the InstructionExecutor that runs compiled flow programs, and its choosers.

``Executor(graph)`` runs a graph from :mod:`smolcpu.lang` on the runtime: each step a
request to the unit its worker is bound to, control by LANGUAGE.md, every step's input and
output recorded under the run id. A :class:`Chooser` decides ``select`` blocks and
word-pattern ``match`` cases. ``run_program`` is the whole path from a file to a result.
:class:`Lifecycle` starts model workers on first use and keeps them under the memory budget;
its :class:`CoreKeeper` keeps busy processes off the cores of a working LLM.
"""

from smolcpu.vm._chooser import (
    Choice,
    Chooser,
    Decision,
    FirstChooser,
    LlmChooser,
    NearestChooser,
    ScriptedChooser,
    parse_chooser,
)
from smolcpu.vm._distilled import (
    DistilledChooser,
    DistilledModel,
    MODEL_ROLE,
    load_model,
    point_key,
    pointer_path,
    read_pointer,
)
from smolcpu.vm._cores import CoreKeeper, CorePlan, cpu_seconds, pin, plan_cores
from smolcpu.vm._executor import Execution, Executor, ExecutorState
from smolcpu.vm._lifecycle import Lifecycle, LifecycleState, MemoryReport, ModelWorker, WorkerSpec, megabytes
from smolcpu.vm._lifecycle_status import LiveStatus, read_statuses, status_dir
from smolcpu.vm._replay import Replay
from smolcpu.vm._result import RunResult, Status, StepEvent, Visit
from smolcpu.vm._workers import UnitSource, Workers

__all__ = [
    "DistilledChooser",
    "DistilledModel",
    "MODEL_ROLE",
    "load_model",
    "point_key",
    "pointer_path",
    "read_pointer",
    "Choice",
    "Chooser",
    "CoreKeeper",
    "Decision",
    "CorePlan",
    "Execution",
    "Executor",
    "ExecutorState",
    "FirstChooser",
    "Lifecycle",
    "LifecycleState",
    "LiveStatus",
    "LlmChooser",
    "MemoryReport",
    "NearestChooser",
    "ModelWorker",
    "Replay",
    "RunResult",
    "ScriptedChooser",
    "Status",
    "StepEvent",
    "UnitSource",
    "Visit",
    "WorkerSpec",
    "cpu_seconds",
    "Workers",
    "megabytes",
    "parse_chooser",
    "pin",
    "plan_cores",
    "read_statuses",
    "status_dir",
]
