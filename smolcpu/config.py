"""Defaults in one place, each overridable by an environment variable named beside it.

Every wait in Smol has a deadline; the defaults live here so that a reader can see them
all at once and a test or a deployment can change them without touching code.
"""

from __future__ import annotations

import os
from pathlib import Path


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser() if value else default


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


def home() -> Path:
    """Where Smol keeps its state: artifacts, the run index, registers (``SMOL_HOME``)."""
    return _env_path("SMOL_HOME", Path.home() / ".smol")


def cache_dir() -> Path:
    """Where assembled and downloaded models are cached (``SMOL_CACHE``)."""
    return _env_path("SMOL_CACHE", Path.home() / ".cache" / "smol")


def store_url() -> str:
    """The artifact store: a directory path (default) or ``s3://bucket/prefix`` (``SMOL_STORE``)."""
    return os.environ.get("SMOL_STORE") or str(home() / "artifacts")


REQUEST_TIMEOUT_S: float = _env_float("SMOL_REQUEST_TIMEOUT", 30.0)
"""Default deadline of a request to a unit."""

MAILBOX_SIZE: int = _env_int("SMOL_MAILBOX_SIZE", 1024)
"""Default capacity of a unit's mailbox; a full mailbox makes senders wait (back-pressure)."""

MAX_RESTARTS: int = _env_int("SMOL_MAX_RESTARTS", 3)
"""Restarts a supervisor allows one unit within ``RESTART_WINDOW_S`` before it escalates."""

RESTART_WINDOW_S: float = _env_float("SMOL_RESTART_WINDOW", 60.0)

WORKER_START_TIMEOUT_S: float = _env_float("SMOL_WORKER_START_TIMEOUT", 60.0)
"""How long a worker process may take to start and report ready."""

SHUTDOWN_TIMEOUT_S: float = _env_float("SMOL_SHUTDOWN_TIMEOUT", 10.0)
"""How long a clean shutdown waits for mailboxes to drain before cancelling."""

STEP_BUDGET: int = _env_int("SMOL_STEP_BUDGET", 1000)
"""Steps one run may take in all, so that no program loops forever."""

STEP_TIMEOUT_S: float = _env_float("SMOL_STEP_TIMEOUT", 300.0)
"""Default deadline of one step of a program."""

MEMORY_BUDGET_BYTES: int = _env_int("SMOL_MEMORY_BUDGET", 2 * 1024**3)
"""Resident memory all of Smol's processes may use together."""
