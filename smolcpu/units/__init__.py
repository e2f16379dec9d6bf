"""The units layer: tools (math, storage, memory, sandbox...) and neural units (in worker processes)."""

from smolcpu.units._glue import (
    CODE_REQUEST,
    IMAGE_REQUEST,
    REQUEST,
    REQUEST_TYPES,
    TOOLS_REQUEST,
    code_from,
    expression_from,
    images_from,
    question_of,
    request_artifact,
    text_for_model,
    tools_of,
)
from smolcpu.units._registry import (
    ENTRY_POINTS,
    LoadFailure,
    UnitKind,
    create_unit,
    register,
    unit_kind,
    unit_kinds,
    unit_load_failures,
)
from smolcpu.units._tool import Tool, ToolFailed, as_artifact, tool

__all__ = [
    "ENTRY_POINTS",
    "LoadFailure",
    "IMAGE_REQUEST",
    "REQUEST",
    "CODE_REQUEST",
    "REQUEST_TYPES",
    "TOOLS_REQUEST",
    "Tool",
    "ToolFailed",
    "UnitKind",
    "as_artifact",
    "code_from",
    "create_unit",
    "expression_from",
    "images_from",
    "question_of",
    "register",
    "request_artifact",
    "text_for_model",
    "tool",
    "tools_of",
    "unit_kind",
    "unit_kinds",
    "unit_load_failures",
]
