"""The trust store: the signer keys whose signatures mean "made by someone we know".

A signature alone proves only that an artifact is intact since some key signed it; anyone
can make a key, change a payload and sign it again, or strip signature and key together.
What a signature is *worth* depends on whose key it is, and that is what this store says.

The store is a text file, one key a line, that a person can read and edit (like ssh's
``authorized_keys``)::

    # name, then the Ed25519 public key in hex
    4f1c...e2a9 build-server

Its place is ``config.trust_path()`` (``SMOL_TRUST``, default ``$SMOL_HOME/trusted_keys``);
``smol keys list|add|remove`` edit it.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

from smolcpu import config
from smolcpu.errors import UsageError

KEY_BYTES = 32
"""Size of an Ed25519 public key."""

_HEX_KEY = re.compile(rf"[0-9a-f]{{{2 * KEY_BYTES}}}")
_NAME = re.compile(r"[\w.@+-]{1,64}")


def parse_key(text: str) -> bytes:
    """A public key from its hex form (what ``smol keys list`` and ``Signer.pubkey.hex()`` show).

    Raises:
        UsageError: not 64 hex digits.
    """
    cleaned = text.strip().lower()
    if not _HEX_KEY.fullmatch(cleaned):
        raise UsageError(f"{text!r} is not an Ed25519 public key: give its {2 * KEY_BYTES} hex digits")
    return bytes.fromhex(cleaned)


class TrustStore:
    """The trusted signer keys, by name, read from (and written back to) one file.

    Args:
        path: the file; ``config.trust_path()`` by default. A missing file is an empty store.
    """

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else config.trust_path()
        self._keys = self._read()

    def _read(self) -> dict[bytes, str]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return {}
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read the trust store {self.path}: {exc}") from exc
        keys: dict[bytes, str] = {}
        for number, line in enumerate(lines, 1):
            fields = line.split("#", 1)[0].split()
            if not fields:
                continue
            if len(fields) != 2 or not _HEX_KEY.fullmatch(fields[0].lower()):
                raise UsageError(
                    f"{self.path}:{number}: a line of the trust store is '<64 hex digits> <name>', not {line!r}"
                )
            keys[bytes.fromhex(fields[0].lower())] = fields[1]
        return keys

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"<TrustStore {str(self.path)!r} keys={len(self._keys)}>"

    def keys(self) -> dict[bytes, str]:
        """Every trusted key and its name."""
        return dict(self._keys)

    def name_of(self, pubkey: bytes) -> str | None:
        """The name ``pubkey`` is trusted under, or None when it is not trusted."""
        return self._keys.get(bytes(pubkey))

    def trusts(self, pubkey: bytes) -> bool:
        """Whether signatures by ``pubkey`` count as trusted."""
        return bytes(pubkey) in self._keys

    def add(self, pubkey: bytes, name: str) -> None:
        """Trust ``pubkey`` under ``name`` (a key already there is renamed).

        Raises:
            UsageError: a bad key or name, or the name is taken by another key.
        """
        if len(pubkey) != KEY_BYTES:
            raise UsageError(f"an Ed25519 public key has {KEY_BYTES} bytes, not {len(pubkey)}")
        if not _NAME.fullmatch(name):
            raise UsageError(f"key name {name!r}: use letters, digits and . _ - @ + (at most 64)")
        holder = next((key for key, known in self._keys.items() if known == name and key != pubkey), None)
        if holder is not None:
            raise UsageError(f"the name {name!r} is taken by key {holder.hex()}; remove it first or pick another")
        self._keys[bytes(pubkey)] = name
        self._write()

    def remove(self, key_or_name: str) -> bytes:
        """Stop trusting the key named ``key_or_name`` (its name or its hex); returns the key.

        Raises:
            UsageError: no such key in the store.
        """
        wanted = key_or_name.strip().lower()
        for key, name in self._keys.items():
            if name == key_or_name or key.hex() == wanted:
                del self._keys[key]
                self._write()
                return key
        raise UsageError(f"no key {key_or_name!r} in the trust store {self.path} (smol keys list shows them)")

    def _write(self) -> None:
        """Replace the file in one step, readable by its owner only."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lines = ["# Trusted signer keys: Ed25519 public key (hex), then its name. Edit with `smol keys`."]
        lines += [f"{key.hex()} {name}" for key, name in sorted(self._keys.items(), key=lambda item: item[1])]
        descriptor, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".trusted-", suffix=".tmp")
        try:
            with open(descriptor, "w", encoding="utf-8") as handle:
                handle.write("\n".join(lines) + "\n")
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


__all__ = ["KEY_BYTES", "TrustStore", "parse_key"]
