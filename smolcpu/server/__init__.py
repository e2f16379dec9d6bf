"""The server layer: what ``smol serve`` puts on the network. ``mount_ui`` adds the web
interface (chat, program editor, run viewer, memory vault, status) to a FastAPI app."""

from smolcpu.server._ui import mount_ui

__all__ = ["mount_ui"]
