"""Ed25519 signatures on artifacts: who made it, and that nothing changed since.

A signature is checked against the key the artifact carries, which proves only that it is
intact since that key signed it. Whether the key is one we know is the trust store's word
(:class:`~smolcpu.artifact.TrustStore`): :func:`verify_signature` reports both, and
:func:`require_trusted` refuses what is not signed by a trusted key.
"""

from __future__ import annotations

import dataclasses

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from smolcpu.artifact._artifact import Artifact
from smolcpu.artifact._trust import TrustStore
from smolcpu.errors import SignatureInvalid, UntrustedSigner


class Signer:
    """An Ed25519 key that signs artifacts; ``pubkey`` names it inside each one."""

    def __init__(self, key: Ed25519PrivateKey | None = None) -> None:
        self._key = key or Ed25519PrivateKey.generate()
        self.pubkey: bytes = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    @classmethod
    def from_seed(cls, seed: bytes) -> Signer:
        """A signer from a 32-byte private seed (for keys kept on disk)."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, artifact: Artifact) -> Artifact:
        """The artifact with this signer's pubkey and a signature over header and payload."""
        unsigned = artifact.replace(pubkey=self.pubkey, signature=b"")
        return unsigned.replace(signature=self._key.sign(unsigned.signing_bytes()))

    def __repr__(self) -> str:
        return f"<Signer pubkey={self.pubkey.hex()[:16]}…>"


@dataclasses.dataclass(frozen=True, slots=True)
class Verification:
    """What checking an artifact's signature found: it is intact, signed by ``signer``, and
    whether the trust store holds that key (under ``name``)."""

    artifact_id: str
    signer: bytes
    trusted: bool
    name: str | None = None

    def __str__(self) -> str:
        who = f"trusted key {self.name!r}" if self.trusted else "a key the trust store does not hold"
        return f"artifact {self.artifact_id}: intact, signed by {who} ({self.signer.hex()})"


def verify_signature(artifact: Artifact, *, trust: TrustStore | None = None) -> Verification:
    """Check that the artifact is signed by its ``pubkey`` and intact, and say whether that
    key is trusted (by ``trust``; without one, no key is).

    The payload checksum is checked too, so a changed payload fails even when the checksum
    field was left as it was.

    Raises:
        SignatureInvalid: unsigned, or the signature does not cover what is there.
    """
    if not artifact.signature or not artifact.pubkey:
        raise SignatureInvalid(f"artifact {artifact.id} is not signed")
    artifact.verify_checksum()
    try:
        Ed25519PublicKey.from_public_bytes(artifact.pubkey).verify(
            artifact.signature, artifact.signing_bytes()
        )
    except (InvalidSignature, ValueError) as exc:
        raise SignatureInvalid(
            f"artifact {artifact.id}: signature does not match its header and payload"
        ) from exc
    name = trust.name_of(artifact.pubkey) if trust is not None else None
    return Verification(artifact.id, artifact.pubkey, trusted=name is not None, name=name)


def require_trusted(artifact: Artifact, trust: TrustStore) -> Verification:
    """:func:`verify_signature`, refusing anything not signed by a key ``trust`` holds.

    Raises:
        UntrustedSigner: unsigned (a stripped signature included), or signed by an unknown key.
        SignatureInvalid: signed, but the signature does not cover what is there.
    """
    if not artifact.signature and not artifact.pubkey:
        raise UntrustedSigner(
            f"artifact {artifact.id} is not signed, and this store requires a signature by a trusted key"
        )
    verification = verify_signature(artifact, trust=trust)
    if not verification.trusted:
        raise UntrustedSigner(
            f"artifact {artifact.id} is signed by key {artifact.pubkey.hex()}, which the trust store"
            f" {trust.path} does not hold; if you know that key, add it with `smol keys add`"
        )
    return verification


__all__ = ["Signer", "Verification", "require_trusted", "verify_signature"]
