"""``smol serve``: the OpenAI-compatible API (and the job queue, webhooks and events) over HTTP.

Loopback by default; another address is refused unless API keys guard it (``SMOL_API_KEYS``
or ``--api-key-file``). See docs/server.md.
"""

from __future__ import annotations

from pathlib import Path

import typer

from smolcpu.cli._app import app, err_console
from smolcpu.cli._cluster import CLUSTER, PLACEMENT, use_cluster
from smolcpu.server._jobs import CAPACITY, PER_KEY, WORKERS


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on; anything but loopback needs API keys."),
    port: int = typer.Option(8000, help="Port to listen on."),
    programs: Path = typer.Option(None, help="Folder of NAME.smol programs, served as models smol/NAME."),
    api_key_file: Path = typer.Option(
        None, help="File of accepted API keys, one a line, each perhaps with its ceiling: KEY tokens=2000 wall_s=60"
        " (also: SMOL_API_KEYS, without ceilings); the word `admin` lets a key read every key's runs.",
    ),
    policy: list[str] | None = typer.Option(
        None, "--policy", help="A ceiling for every run, name=value (repeatable), as `smol run --policy` takes it."
    ),
    model: str = typer.Option(None, help="The LLM the programs use (default: SMOL_LLM_MODEL or qwen2.5-coder-1.5b)."),
    workers: int = typer.Option(WORKERS, help="Jobs run at once."),
    capacity: int = typer.Option(CAPACITY, help="Jobs waiting or running at most; past it, 429 with Retry-After."),
    per_key: int = typer.Option(PER_KEY, help="Jobs of one API key run at once at most."),
    cluster: str | None = CLUSTER,
    placement: Path | None = PLACEMENT,
) -> None:
    """Serve Smol's OpenAI-compatible API: /v1/models, /v1/chat/completions, /v1/embeddings,
    /v1/responses (stored: GET, DELETE /v1/responses/ID, GET .../input_items), plus jobs (/v1/jobs), webhooks (/v1/hooks/PROGRAM) and events (/v1/events).
    Model `smol` is the default program, `smol/NAME` a program of --programs, and each LLM of
    `smol models list` answers by its name. The OpenAPI schema is at /openapi.json."""
    from smolcpu.cli._run import read_policy
    from smolcpu.server import load_keys
    from smolcpu.server import serve as run_server
    from smolcpu.server._serve import check_exposure
    from smolcpu.server._state import load_admins, load_ceilings

    use_cluster(cluster, placement)
    keys = load_keys(api_key_file)
    ceilings = load_ceilings(api_key_file)
    check_exposure(host, keys)
    if programs is not None and not programs.is_dir():
        raise typer.BadParameter(f"{programs} is not a folder", param_hint="--programs")
    guarded = f"{len(keys)} API key(s)" if keys else "no API key (loopback only)"
    if any(ceilings.values()):
        guarded += f", {sum(1 for c in ceilings.values() if c)} with a ceiling"
    err_console.print(f"[bold]smol serve[/] on http://{host}:{port}/v1 with {guarded}; Ctrl-C stops it")
    run_server(
        host=host, port=port, programs=programs, keys=keys, ceilings=ceilings, policy=read_policy(policy), model=model,
        admins=load_admins(api_key_file), workers=workers, capacity=capacity, per_key=per_key,
    )
