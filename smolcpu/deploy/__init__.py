"""Deploying a program: a container build context that serves it with ``smol serve``.

This is the compiler's last target (concept/001: "targeting ... container specs"). It sits
above the programs layer and below the cli: it needs the compiled graph (``lang``), what the
program's units load (``programs.models_needed`` and the ``models`` registry with its sha256
pins) and Smol's own installed distribution, none of which the language front end may know.
"""

from smolcpu.deploy._container import MANIFEST, Context, dockerfile, manifest, serve_command, write_container
from smolcpu.deploy._requirements import pinned_requirements

__all__ = ["MANIFEST", "Context", "dockerfile", "manifest", "pinned_requirements", "serve_command", "write_container"]
