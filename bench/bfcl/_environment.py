"""BFCL's own harness in an environment of its own (``<cache>/bfcl-venv``), never in Smol's.

``bfcl-eval`` is pinned and installed without its dependencies, then its dependencies are
installed less ``sentence-transformers`` and ``faiss-cpu``: only BFCL's memory category
imports them, and sentence-transformers would bring torch (gigabytes) for nothing here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from smolcpu import config
from smolcpu.errors import UsageError
from smolcpu.models._sources import pinned_environment

BFCL = "bfcl-eval==2026.3.23"
DEPENDENCIES = (
    "requests", "tqdm", "numpy==1.26.4", "pandas", "huggingface_hub", "pydantic>=2.8.2",
    "python-dotenv>=1.0.1", "tree_sitter==0.21.3", "tree-sitter-java==0.21.0",
    "tree-sitter-javascript==0.21.4", "openai>=1.86.0", "mistralai==1.7.0", "anthropic>=0.75.0",
    "cohere==5.18.0", "typer>=0.12.5", "tabulate>=0.9.0", "datamodel-code-generator==0.25.7",
    "google-genai>=1.52.0", "qwen-agent", "mpmath==1.3.0", "tenacity>=8.5.0", "writer-sdk>=2.1.0",
    "overrides", "boto3", "beautifulsoup4", "html2text", "rank_bm25==0.2.2", "google-search-results",
    "networkx==3.3", "filelock==3.20.0", "soundfile",
)  # fmt: skip
"""bfcl-eval 2026.3.23's own requirements (its metadata), less the memory category's two, plus
soundfile, which qwen-agent imports without requiring it."""


def bfcl_python(*, progress: bool = True) -> Path:
    """The Python of BFCL's environment, built on first use.

    Raises:
        UsageError: the environment could not be made, or pip could not install into it.
    """
    return pinned_environment(
        config.cache_dir() / "bfcl-venv",
        [((BFCL,), False), (DEPENDENCIES, True)],
        stamp=".smol-bfcl",
        title="BFCL's environment (bfcl-eval)",
        progress=progress,
    )


def category_size(python: Path, category: str) -> int:
    """How many items BFCL's own data file of ``category`` holds (one JSON line each).

    Raises:
        UsageError: ``python``'s environment has no bfcl-eval, or no such category.
    """
    found = subprocess.run(
        [str(python), "-c", "import bfcl_eval, sys; print(bfcl_eval.__path__[0])"], capture_output=True, text=True, check=False
    )
    data = Path(found.stdout.strip()) / "data" / f"BFCL_v4_{category}.json"
    if found.returncode != 0 or not data.is_file():
        raise UsageError(f"BFCL's environment {python} has no data for {category}: {found.stderr.strip()[-200:]}")
    return sum(1 for line in data.read_text().splitlines() if line.strip())


__all__ = ["BFCL", "DEPENDENCIES", "bfcl_python", "category_size"]
