"""What the conversion scripts share: compare a converted ONNX file with a reference one.

Both files run on ONNX Runtime with the same inputs; the report is the largest absolute
difference of their outputs, which must stay under the tolerance for the script to pass.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import onnxruntime as ort


def arguments(description: str, default_out: str) -> argparse.Namespace:
    """The command line every conversion script takes: where to write, what to compare with."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--out", type=Path, default=Path(default_out), help="the ONNX file to write")
    parser.add_argument("--check", type=Path, help="a reference ONNX file the output must agree with")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="largest absolute difference allowed")
    return parser.parse_args()


def largest_difference(candidate: Path, reference: Path, feeds: Iterable[dict[str, np.ndarray]]) -> float:
    """The largest absolute difference between the two models' first outputs over ``feeds``."""
    ours, theirs = ort.InferenceSession(str(candidate)), ort.InferenceSession(str(reference))
    worst = 0.0
    for feed in feeds:
        a, b = ours.run(None, feed)[0], theirs.run(None, feed)[0]
        worst = max(worst, float(np.abs(a - b).max()))
    return worst


def check(candidate: Path, reference: Path | None, feeds: list[dict[str, np.ndarray]], *, tolerance: float) -> None:
    """Print the agreement with ``reference`` (when given) and exit 1 if it is off."""
    if reference is None:
        return
    worst = largest_difference(candidate, reference, feeds)
    verdict = "agrees" if worst <= tolerance else "DISAGREES"
    print(f"{candidate} {verdict} with {reference}: max |difference| {worst:.2e} over {len(feeds)} inputs")
    if worst > tolerance:
        sys.exit(1)
