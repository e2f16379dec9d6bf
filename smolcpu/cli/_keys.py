"""``smol keys``: the trust store of signer keys, and checking whose signature an artifact bears."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from smolcpu.artifact import Artifact, TrustStore, open_store, parse_key, verify_signature
from smolcpu.cli._app import app, console
from smolcpu.errors import ArtifactError

keys_app = typer.Typer(
    help="Trusted signer keys ($SMOL_TRUST): a signature counts as trusted only when its key is listed here.",
    no_args_is_help=True,
)
app.add_typer(keys_app, name="keys")

TrustOption = Annotated[
    Path | None, typer.Option("--trust", help="The trust store file (default: $SMOL_TRUST, else $SMOL_HOME/trusted_keys).")
]


@keys_app.command("list")
def list_keys(trust: TrustOption = None) -> None:
    """The trusted keys and their names."""
    store = TrustStore(trust)
    if not len(store):
        console.print(f"no trusted keys in {escape(str(store.path))}; add one with `smol keys add KEY NAME`")
        return
    console.print(f"[dim]trusted keys in {escape(str(store.path))}[/]")
    for key, name in sorted(store.keys().items(), key=lambda item: item[1]):
        console.print(f"{key.hex()}  [bold]{escape(name)}[/]", soft_wrap=True)


@keys_app.command("add")
def add_key(
    key: str = typer.Argument(..., help="The signer's public key: 64 hex digits (Signer.pubkey.hex())."),
    name: str = typer.Argument(..., help="A name for it, shown when its signatures are checked."),
    trust: TrustOption = None,
) -> None:
    """Trust signatures made by KEY from now on."""
    store = TrustStore(trust)
    store.add(parse_key(key), name)
    console.print(f"trusted {escape(name)} ({key.strip().lower()}) in {escape(str(store.path))}")


@keys_app.command("remove")
def remove_key(
    key: str = typer.Argument(..., help="The key's name or its hex."), trust: TrustOption = None
) -> None:
    """Stop trusting a key; artifacts it signed then verify as intact but untrusted."""
    store = TrustStore(trust)
    removed = store.remove(key)
    console.print(f"no longer trusted: {removed.hex()}")


@keys_app.command("verify")
def verify(
    artifact: str = typer.Argument(..., help="An artifact id in the store, or a file holding an artifact's JSON form."),
    trust: TrustOption = None,
) -> None:
    """Check an artifact's signature and say whether its signer is trusted (exit 1 when not)."""
    found = _artifact(artifact)
    verification = verify_signature(found, trust=TrustStore(trust))
    console.print(escape(str(verification)), style="green" if verification.trusted else "yellow", soft_wrap=True)
    if not verification.trusted:
        raise typer.Exit(1)


def _artifact(reference: str) -> Artifact:
    path = Path(reference).expanduser()
    if path.is_file():
        try:
            return Artifact.from_json(path.read_bytes())
        except ArtifactError as exc:
            raise ArtifactError(f"{path}: {exc}") from exc
    with open_store(require_trusted=False) as store:
        return store.get(reference)
