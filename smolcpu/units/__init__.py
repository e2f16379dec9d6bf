"""The units layer: tools (math, storage, memory, sandbox...) and neural units (in worker processes)."""

from smolcpu.units._registry import UnitKind, create_unit, register, unit_kind, unit_kinds
from smolcpu.units._tool import Tool, ToolFailed, as_artifact, tool

__all__ = [
    "Tool",
    "ToolFailed",
    "UnitKind",
    "as_artifact",
    "create_unit",
    "register",
    "tool",
    "unit_kind",
    "unit_kinds",
]
