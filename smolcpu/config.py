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


def storage_root() -> Path:
    """The one folder the storage tool may read and write (``SMOL_STORAGE``)."""
    return _env_path("SMOL_STORAGE", home() / "storage")


def memory_dir() -> Path:
    """The markdown memory vault, a folder that opens in Obsidian as it is (``SMOL_MEMORY``)."""
    return _env_path("SMOL_MEMORY", home() / "memory")


def index_path() -> Path:
    """The SQLite run index: runs, their artifacts and lineage (``SMOL_INDEX``)."""
    return _env_path("SMOL_INDEX", home() / "index.sqlite")


def vectors_path() -> Path:
    """The local vector store, one SQLite file with sqlite-vec and FTS5 (``SMOL_VECTORS``)."""
    return _env_path("SMOL_VECTORS", home() / "vectors.sqlite")


def experience_path() -> Path:
    """Experience memory: verified solutions ``smol dream`` keeps, a vector store (``SMOL_EXPERIENCE``)."""
    return _env_path("SMOL_EXPERIENCE", home() / "experience.sqlite")


def dream_dir() -> Path:
    """What dreaming keeps: the distilled choosers' pointer, its state and reports (``SMOL_DREAM``)."""
    return _env_path("SMOL_DREAM", home() / "dream")


def dream_audit_share() -> float:
    """The share of a distilled chooser's decisions the LLM still takes, to audit it (``SMOL_DREAM_AUDIT``)."""
    return _env_float("SMOL_DREAM_AUDIT", 0.05)


def graph_path() -> Path:
    """The local graph store: note links and artifact lineage, one SQLite file (``SMOL_GRAPH``)."""
    return _env_path("SMOL_GRAPH", home() / "graph.sqlite")


def trust_path() -> Path:
    """The trust store: the public keys whose signatures count as trusted (``SMOL_TRUST``)."""
    return _env_path("SMOL_TRUST", home() / "trusted_keys")


def s3_endpoint() -> str | None:
    """The S3-compatible endpoint for ``s3://`` stores (``SMOL_S3_ENDPOINT``, else ``AWS_ENDPOINT_URL``)."""
    return os.environ.get("SMOL_S3_ENDPOINT") or os.environ.get("AWS_ENDPOINT_URL") or None


REQUEST_TIMEOUT_S: float = _env_float("SMOL_REQUEST_TIMEOUT", 30.0)
"""Default deadline of a request to a unit."""

MAILBOX_SIZE: int = _env_int("SMOL_MAILBOX_SIZE", 1024)
"""Default capacity of a unit's mailbox; a full mailbox makes senders wait (back-pressure)."""

MAX_RESTARTS: int = _env_int("SMOL_MAX_RESTARTS", 3)
"""Restarts a supervisor allows one unit within ``RESTART_WINDOW_S`` before it escalates."""

RESTART_WINDOW_S: float = _env_float("SMOL_RESTART_WINDOW", 60.0)

UVLOOP: bool = os.environ.get("SMOL_UVLOOP", "1") != "0"
"""Run worker processes (and ``smolcpu.runtime.run``) on uvloop when it is installed; 0 turns it off."""

WORKER_START_TIMEOUT_S: float = _env_float("SMOL_WORKER_START_TIMEOUT", 60.0)
"""How long a worker process may take to start and report ready."""

SHUTDOWN_TIMEOUT_S: float = _env_float("SMOL_SHUTDOWN_TIMEOUT", 10.0)
"""How long a clean shutdown waits for mailboxes to drain before cancelling."""

STEP_BUDGET: int = _env_int("SMOL_STEP_BUDGET", 1000)
"""What one run may spend in all, so that no program loops forever: every step run or
skipped, match case taken, choice, jump and refused block entry counts one."""

POLICY_SAMPLE_S: float = _env_float("SMOL_POLICY_SAMPLE", 0.1)
"""How often a run with a wall-time or CPU limit in its policy looks at what it has spent."""

MAX_NESTING: int = 100
"""How deep blocks and groups may nest in a flow program. Every pass of the front end and
the executor works at this depth; deeper, the parser says where the limit is passed."""

STEP_TIMEOUT_S: float = _env_float("SMOL_STEP_TIMEOUT", 300.0)
"""Default deadline of one step of a program."""

MEMORY_BUDGET_BYTES: int = _env_int("SMOL_MEMORY_BUDGET", 2 * 1024**3)
"""Resident memory all of Smol's processes may use together."""

WORKER_OVERHEAD_BYTES: int = _env_int("SMOL_WORKER_OVERHEAD", 160 * 1024**2)
"""What a model worker holds beyond its model file until measured (measured: LLM 130-170 MB, ONNX 60-80 MB)."""

MEMORY_SAMPLE_S: float = _env_float("SMOL_MEMORY_SAMPLE", 1.0)
"""How often Lifecycle measures its processes (peak, restarts, the status file)."""

SANDBOX_TIMEOUT_S: float = _env_float("SMOL_SANDBOX_TIMEOUT", 10.0)
"""Wall-clock deadline of one code-sandbox snippet unless the request gives its own."""

SANDBOX_MEMORY_BYTES: int = _env_int("SMOL_SANDBOX_MEMORY", 512 * 1024**2)
"""Address space one code-sandbox snippet may map (a memory bomb gets MemoryError)."""

SANDBOX_SCRATCH_BYTES: int = _env_int("SMOL_SANDBOX_SCRATCH", 64 * 1024**2)
"""Total bytes one code-sandbox snippet may leave in its scratch directory, all files together."""

SANDBOX_ISOLATION: str = os.environ.get("SMOL_SANDBOX_ISOLATION") or "auto"
"""Which jail snippets run in: auto (bwrap, else unshare, else none: it never falls back to rlimits),
bwrap, unshare or rlimits (only when named: it isolates neither files nor network nor processes)."""

REQUIRE_TRUSTED: bool = os.environ.get("SMOL_REQUIRE_TRUSTED", "0") == "1"
"""Whether the artifact store refuses, on read, an artifact not signed by a trusted key (1 turns it on)."""

STORE_TIMEOUT_S: float = _env_float("SMOL_STORE_TIMEOUT", 10.0)
"""Deadline of one call to a remote (S3-compatible) artifact store."""

ONNX_THREADS: int = _env_int("SMOL_ONNX_THREADS", 2)
"""Intra-op threads of each ONNX Runtime session (classifier, detector, embedder)."""

MATH_TIMEOUT_S: float = _env_float("SMOL_MATH_TIMEOUT", 2.0)
"""How long the math tool may spend on one expression."""

LLM_MODEL: str = os.environ.get("SMOL_LLM_MODEL") or "qwen2.5-coder-1.5b"
"""The model the LLM unit loads when none is named: a registry name or a path to a GGUF file."""

LLM_CONTEXT: int = _env_int("SMOL_LLM_CONTEXT", 4096)
"""Context window of the LLM, in tokens; a request that does not fit fails with BudgetError."""

LLM_THREADS: int = _env_int("SMOL_LLM_THREADS", os.cpu_count() or 1)
"""Threads llama.cpp decodes with."""

LLM_WAIT_POLICY: str = os.environ.get("SMOL_LLM_WAIT_POLICY", "passive")
"""How llama.cpp's OpenMP threads wait for each other: ``passive`` (sleep), ``active`` (spin),
or empty for libgomp's default (spin a while, then sleep). Spinning threads collapse when a
core is taken by another process (measured: 2 threads, 16 -> 1.2 tokens/s); sleeping ones
fall only to about one thread's speed. Set in the worker before llama.cpp is loaded."""

LLM_PROMPT_CACHE_MB: int = _env_int("SMOL_LLM_PROMPT_CACHE_MB", 128)
"""Memory llama.cpp may keep prompt prefixes in (their KV state), so a system prompt and worked
examples are evaluated once per worker even when several prompts alternate (about 28 KB per
token with the 1.5B model); 0 keeps only the prompt last evaluated."""

LLM_SPECULATIVE: str = os.environ.get("SMOL_LLM_SPECULATIVE", "")
"""Speculative decoding: empty (off), ``ngram`` (draft by looking the last tokens up in the
prompt and answer), or ``draft:MODEL`` (a smaller model drafts). Off unless bench/llm_speed
shows a gain on this machine."""

CORES_SAMPLE_S: float = _env_float("SMOL_CORES_SAMPLE", 0.25)
"""How often Lifecycle looks for busy processes beside a working LLM to decide who runs on which core."""

LLM_MAX_TOKENS: int = _env_int("SMOL_LLM_MAX_TOKENS", 512)
"""Tokens one LLM answer may have unless the request says otherwise."""

LLM_TIMEOUT_S: float = _env_float("SMOL_LLM_TIMEOUT", 300.0)
"""Deadline of one LLM generation; past it the generation is cancelled."""

DRAFT_ROUNDS: int = _env_int("SMOL_DRAFT_ROUNDS", 3)
"""Programs ``smol draft`` lets the model write for one description: the first and the repairs."""

DRAFT_MAX_TOKENS: int = _env_int("SMOL_DRAFT_MAX_TOKENS", 400)
"""The longest program ``smol draft`` accepts, in tokens (flow programs are short; longer is a runaway)."""

DOWNLOAD_TIMEOUT_S: float = _env_float("SMOL_DOWNLOAD_TIMEOUT", 30.0)
"""How long a model download may wait for the server (connect or a read) before it fails."""

CONVERT_TIMEOUT_S: float = _env_float("SMOL_CONVERT_TIMEOUT", 1200.0)
"""How long one model conversion script may run (exporting MiniLM takes about a minute)."""


def models_mirror() -> Path:
    """Where the registry finds model files that no package ships (``SMOL_MODELS_MIRROR``).

    Defaults to ``shared/models`` beside a source checkout; a deployment points it elsewhere.
    """
    return _env_path("SMOL_MODELS_MIRROR", Path(__file__).resolve().parents[2] / "shared" / "models")


STORE_SERVICE_TIMEOUT_S: float = _env_float("SMOL_STORE_SERVICE_TIMEOUT", 10.0)
"""Deadline of one call to a served (global) vector or graph store."""
