"""The units layer: tools (deterministic) and neural units (in worker processes)."""

from smolcpu.units._tool import Tool, ToolFailed, as_artifact, tool

__all__ = ["Tool", "ToolFailed", "as_artifact", "tool"]
