"""Make YOLOX-Nano's batch axis dynamic, so the detector can run several images at once.

No package ships YOLOX weights: the source is the ONNX file itself (Megvii YOLOX, Apache-2.0,
exported by the public sample repository Kazuhito00/YOLOX-ONNX-TFLite-Sample), pinned by
sha256 in the model registry as ``yolox-nano``. This script checks that pin, then rewrites
the three head reshapes from a fixed batch of 1 to "keep the batch" and names the batch
axis, leaving every weight untouched. Needs the ``onnx`` package (the Python of ``smol
models converter`` has it)::

    "$(./smol models converter)" smolcpu/models/conversions/convert_yolox_nano.py \\
        --source ../shared/models/yolox_nano.onnx --out yolox_nano_dynamic.onnx --check ../shared/models/yolox_nano.onnx
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
from convert_check import check
from onnx import numpy_helper

SHA256 = "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14"


def dynamic_batch(model: onnx.ModelProto) -> int:
    """Let every Reshape keep the incoming batch and name axis 0 of inputs and outputs; returns reshapes changed."""
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    changed = 0
    for node in model.graph.node:
        shape = initializers.get(node.input[1]) if node.op_type == "Reshape" else None
        if shape is None:
            continue
        target = numpy_helper.to_array(shape).copy()
        if target[0] == 1:
            target[0] = 0  # ONNX Reshape: 0 copies the input's dimension (allowzero is 0 here)
            shape.CopyFrom(numpy_helper.from_array(target, shape.name))
            changed += 1
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    del model.graph.value_info[:]  # inferred shapes that still say batch 1
    return changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="yolox_nano.onnx (sha256-pinned)")
    parser.add_argument("--out", type=Path, default=Path("yolox_nano_dynamic.onnx"))
    parser.add_argument("--check", type=Path, help="a reference ONNX file the output must agree with")
    parser.add_argument("--tolerance", type=float, default=1e-3)
    args = parser.parse_args()
    digest = hashlib.sha256(args.source.read_bytes()).hexdigest()
    if digest != SHA256:
        sys.exit(f"{args.source} has sha256 {digest}, not the pinned {SHA256}")
    model = onnx.load(str(args.source))
    print(f"batch kept by {dynamic_batch(model)} reshapes")
    onnx.checker.check_model(model)
    onnx.save(model, str(args.out))
    print(f"wrote {args.out}")
    rng = np.random.default_rng(0)
    feeds = [{"images": rng.uniform(0, 255, (1, 3, 416, 416)).astype(np.float32)} for _ in range(4)]
    check(args.out, args.check, feeds, tolerance=args.tolerance)


if __name__ == "__main__":
    main()
