"""``smol store verify``: read back every stored artifact and say which are corrupt or lost."""

from __future__ import annotations

import typer
from rich.markup import escape

from smolcpu.artifact import open_store
from smolcpu.cli._app import app, console

store_app = typer.Typer(help="The artifact store ($SMOL_STORE): check what it holds.", no_args_is_help=True)
app.add_typer(store_app, name="store")


@store_app.command("verify")
def verify(
    store: str = typer.Option(None, "--store", help="A directory or s3://BUCKET/PREFIX (default: $SMOL_STORE)."),
) -> None:
    """Check every artifact (format, key, checksum, signature) and that every one the run index
    points to is there; exits 1 when any is corrupt or missing."""
    with open_store(store) as opened:
        found = opened.verify()
        where = opened.url
    for key, reason in found.corrupt:
        console.print(f"[red]corrupt[/] {escape(key)}: {escape(reason)}", highlight=False)
    for artifact_id, key in found.missing:
        console.print(f"[red]missing[/] {escape(artifact_id)} (indexed under {escape(key)})", highlight=False)
    for name in found.leftovers:
        console.print(f"[dim]unfinished write (harmless, may be deleted): {escape(name)}[/]", highlight=False)
    console.print(
        f"{found.intact} intact, {len(found.corrupt)} corrupt, {len(found.missing)} missing"
        f" in {escape(where)}",
        highlight=False,
    )
    if not found.ok:
        console.print("[dim]`smol runs --rebuild` re-indexes what is intact[/]")
        raise typer.Exit(1)


__all__ = ["verify"]
