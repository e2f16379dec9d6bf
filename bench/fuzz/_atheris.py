"""One target under atheris (libFuzzer): ``python -m bench.fuzz._atheris TARGET [libFuzzer options] [CORPUS]``.

Smol's modules are instrumented as they are imported, so libFuzzer is guided by the edges
of Smol's own code (lark, capnp and markdown-it are not instrumented: their C parts cannot
be, and their Python would drown ours). libFuzzer's ``-max_total_time``, ``-runs`` and
``-timeout`` bound the run; a finding is written as ``crash-*`` or ``timeout-*`` beside the
corpus and ends the run.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["smolcpu", "bench.fuzz"]):
    from bench.fuzz._targets import TARGETS


def main() -> None:
    name, *options = sys.argv[1:]
    target = TARGETS[name]
    atheris.Setup([sys.argv[0], *options], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
