"""The server layer (see ARCHITECTURE.md): ``smol serve``, an OpenAI-compatible API on Smol,
and the web interface served beside it.

:func:`create_app` builds the FastAPI application around a :class:`ServerState` (one open
:class:`~smolcpu.programs.Session`, the job queue, the API keys); :func:`serve` runs it with
uvicorn. Requests are jobs on a bounded, fair :class:`JobQueue`; see docs/server.md.
:func:`mount_ui` adds the web interface (chat, program editor, run viewer, memory vault,
status); see docs/ui.md.
"""

from smolcpu.server._app import create_app, error_response
from smolcpu.server._jobs import Job, JobQueue, JobState
from smolcpu.server._serve import serve
from smolcpu.server._state import KEYS_VARIABLE, ServerState, is_loopback, load_ceilings, load_keys
from smolcpu.server._ui import mount_ui

__all__ = [
    "KEYS_VARIABLE",
    "Job",
    "JobQueue",
    "JobState",
    "ServerState",
    "create_app",
    "error_response",
    "is_loopback",
    "load_ceilings",
    "load_keys",
    "mount_ui",
    "serve",
]
