"""The runtime layer: units, their mailboxes and supervision, worker processes, and the cluster.

``ActorSystem`` spawns units (in this process or, with ``process=True``, each in a worker
process of its own; with a :class:`Placement`, the kinds it names on Ray actors, and
``share`` hosts one object that units on every node call); a ``UnitRef`` reaches one with ``send``, ``request``, ``stream``, ``stop`` and ``poison``; a
unit's ``Ctx`` gives it its peers, ``spawn`` and pub/sub.
"""

from smolcpu.runtime._loop import loop_factory, run
from smolcpu.runtime._mailbox import Envelope, Mailbox
from smolcpu.runtime._placement import KindPlacement, Placement, read_placement
from smolcpu.runtime._recorder import Recorder, Store, StoreProcess
from smolcpu.runtime._ref import UnitRef
from smolcpu.runtime._run_log import RunLog
from smolcpu.runtime._supervision import Decider, Directive, Failure, OneForOne, restart_always
from smolcpu.runtime._system import (
    ActorSystem,
    Ctx,
    SystemState,
    UnitFactory,
    UnitState,
    is_lifecycle_event,
    lifecycle_event,
)
from smolcpu.runtime._unit import Unit

__all__ = [
    "ActorSystem",
    "Ctx",
    "Decider",
    "Directive",
    "Envelope",
    "Failure",
    "KindPlacement",
    "Mailbox",
    "OneForOne",
    "Placement",
    "Recorder",
    "RunLog",
    "Store",
    "StoreProcess",
    "SystemState",
    "Unit",
    "UnitFactory",
    "UnitRef",
    "UnitState",
    "is_lifecycle_event",
    "lifecycle_event",
    "loop_factory",
    "read_placement",
    "restart_always",
    "run",
]
