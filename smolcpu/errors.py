"""Every error Smol raises, sorted by who has to act on it.

    SmolError
    ├── UsageError            the caller's mistake: bad input, bad option, missing file
    │   ├── FlowSyntaxError   a .smol program that does not parse (line:col, caret)
    │   ├── Unsupported       a request for something Smol cannot honour (an API parameter)
    │   └── UnknownModel      a model name that is neither a program nor an installed model
    ├── JobCancelled          a job stopped because its caller went away or cancelled it
    ├── FlowError             a program that parsed but cannot run as written
    ├── UnitError             a unit failed while handling an artifact
    │   ├── UnitNameExists    spawn() with a name already taken
    │   ├── UnitStopped       mail to, or a request of, a unit that is gone
    │   ├── RequestTimeout    a request whose reply did not come before its deadline
    │   └── WorkerCrashed     a worker process died under a pending request
    ├── BudgetError           a step budget, memory budget or size limit would be exceeded
    │   ├── QueueFull         the server's job queue (or a key's share of it) is full
    │   └── PolicyLimit       a run would go past a limit of its resource policy
    └── ArtifactError         an artifact that cannot be decoded, verified or found
        ├── ChecksumMismatch  payload bytes that do not match their checksum
        ├── SignatureInvalid  a signature that does not verify against its pubkey
        ├── UntrustedSigner   unsigned, or signed by a key the trust store does not hold,
        │                     where a trusted signature is required
        └── ArtifactNotFound  no artifact with that id in the store

Errors are plain picklable exceptions (the message is the only argument), so they cross
process boundaries unchanged. Errors of lower libraries (capnp, lark, onnxruntime,
llama.cpp) are translated into these at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class SmolError(Exception):
    """Root of every error Smol raises on purpose."""


class UsageError(SmolError):
    """The caller asked for something that cannot be done as asked."""


class FlowSyntaxError(UsageError):
    """A program that does not parse; the message shows the line with a caret."""


class Unsupported(UsageError):
    """The request asks for something Smol cannot do as asked (refused, never ignored)."""


class UnknownModel(UsageError):
    """No program and no model has the name asked for."""


class JobCancelled(SmolError):
    """A job was cancelled (its caller disconnected or asked) before it ended."""


class FlowError(SmolError):
    """A program that parsed but cannot run as written."""


class UnitError(SmolError):
    """A unit failed while handling an artifact."""


class UnitNameExists(UnitError):
    """``spawn`` was given a name that a live unit already has."""


class UnitStopped(UnitError):
    """The unit addressed is stopped or was never there."""


class RequestTimeout(UnitError):
    """No reply came before the request's deadline."""


class WorkerCrashed(UnitError):
    """A worker process died while a request to it was pending."""


class BudgetError(SmolError):
    """A step, memory or size budget would be exceeded."""


class QueueFull(BudgetError):
    """The job queue has no room now; try again later."""


class PolicyLimit(BudgetError):
    """A run would go past a limit of its resource policy; the message names the limit."""


class ArtifactError(SmolError):
    """An artifact that cannot be decoded, verified or found."""


class ChecksumMismatch(ArtifactError):
    """The payload does not match the checksum it carries."""


class SignatureInvalid(ArtifactError):
    """The signature does not verify against the artifact's pubkey."""


class UntrustedSigner(ArtifactError):
    """A trusted signature is required, and the artifact has none (unsigned, or signed by a
    key the trust store does not hold)."""


class ArtifactNotFound(ArtifactError):
    """The store holds no artifact with the id asked for."""


__all__ = [
    "ArtifactError",
    "ArtifactNotFound",
    "BudgetError",
    "ChecksumMismatch",
    "FlowError",
    "FlowSyntaxError",
    "JobCancelled",
    "PolicyLimit",
    "QueueFull",
    "RequestTimeout",
    "SignatureInvalid",
    "SmolError",
    "UnitError",
    "UnitNameExists",
    "UnitStopped",
    "UnknownModel",
    "Unsupported",
    "UntrustedSigner",
    "UsageError",
    "WorkerCrashed",
]
