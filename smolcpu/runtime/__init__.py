"""The runtime layer: units, their mailboxes and supervision, and worker processes."""

from smolcpu.runtime._unit import Unit

__all__ = ["Unit"]
