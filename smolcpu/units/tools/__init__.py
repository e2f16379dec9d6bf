"""Tool units: functions as units (math, registers, storage, ...).

Each module registers its units with :func:`smolcpu.units.register`; the registry imports
every module under ``smolcpu.units``, so a new tool needs no line here unless it has public names.
"""

from smolcpu.units.tools._answers import CheckTool, VoteTool, number_in
from smolcpu.units.tools._math import MathTool, evaluate
from smolcpu.units.tools._memory import MemoryTool
from smolcpu.units.tools._memory_hybrid import EMBED_MODEL, MemorySearch, SearchResult
from smolcpu.units.tools._memory_vault import Hit, LinkRef, Vault
from smolcpu.units.tools._registers import Registers, RegistersTool, shared_registers
from smolcpu.units.tools._sandbox import SandboxResult, SandboxTool, run_snippet
from smolcpu.units.tools._sandbox_jail import JAILS, SandboxLayer, available_jails, choose_jail, probe, sandbox_layer
from smolcpu.units.tools._storage import Entry, Storage, StorageTool

__all__ = [
    "CheckTool",
    "VoteTool",
    "number_in",
    "EMBED_MODEL",
    "JAILS",
    "Entry",
    "Hit",
    "LinkRef",
    "MathTool",
    "MemorySearch",
    "MemoryTool",
    "Registers",
    "RegistersTool",
    "SandboxLayer",
    "SandboxResult",
    "SandboxTool",
    "SearchResult",
    "Storage",
    "StorageTool",
    "Vault",
    "available_jails",
    "choose_jail",
    "evaluate",
    "probe",
    "run_snippet",
    "sandbox_layer",
    "shared_registers",
]
