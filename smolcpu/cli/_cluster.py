"""``--cluster`` and ``--placement``: the options that put ``smol run``, ``ask`` and ``serve`` on Ray.

They only set ``SMOL_CLUSTER`` and ``SMOL_PLACEMENT`` (checked first, so a bad address or
file is a clear message before anything starts): every actor system the command makes
reads them, and places the unit kinds the placement names on the cluster (docs/cluster.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

from smolcpu import config
from smolcpu.cli._app import err_console
from smolcpu.errors import UsageError
from smolcpu.runtime import read_placement

CLUSTER = typer.Option(
    None,
    "--cluster",
    help="Place units on this Ray cluster: ray://HOST:PORT, HOST:PORT, auto, or local (a Ray of its own here).",
)
PLACEMENT = typer.Option(
    None, "--placement", help="TOML file: per unit kind, replicas, cpus, labels, retries (docs/cluster.md)."
)


def use_cluster(cluster: str | None, placement: Path | None) -> None:
    """Make the actor systems of this command place units on ``cluster`` as ``placement`` says.

    Raises:
        UsageError: a bad address or placement file, or ``--placement`` without ``--cluster``.
    """
    if cluster is None:
        if placement is not None:
            raise UsageError("--placement says how units go on a cluster: give --cluster too")
        return
    read_placement(cluster, placement)
    os.environ["SMOL_CLUSTER"] = cluster
    if placement is not None:
        os.environ["SMOL_PLACEMENT"] = str(placement.resolve())
    if not config.store_url().startswith("s3://"):
        err_console.print(
            "[yellow]the artifact store is on this machine;[/] for artifacts every node can read,"
            " set SMOL_STORE=s3://BUCKET/PREFIX (and SMOL_S3_ENDPOINT)"
        )


__all__ = ["CLUSTER", "PLACEMENT", "use_cluster"]
