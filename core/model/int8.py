"""int8 CADDM for the CPU: ONNX Runtime static quantization of the fp32 export (QDQ format, int8 weights per
output channel, uint8 activations with ranges calibrated on real face crops), the runtime `--runtime onnx-int8`.

Quantized (`OP_TYPES`): the convolutions, the classifier and the activations that follow them (ReLU, ReLU6 as
`Clip`): the quantizer then folds each activation into its convolution's output range ([0, 6] rather than the
convolution's raw range, about ten times finer steps; without them lite0's frame |dP| mean was 0.19, with them
0.02-0.04). The rest stays fp32: the shape arithmetic of timm's "same" padding (efficientnet-lite) broke when every
operator was. The first convolution reads the image: its input is quantized on the pixels' own grid when the model's
input convention puts them on one (`InputConvention.uint8_grid`: raw 0..255 values, scale 1, zero point 0: lossless);
otherwise (RGB scaled to [-1, 1]: 127.5 is no integer zero point) it stays fp32, because re-rounding the input moves
every pixel by up to half an intensity step, the largest single error of lite0's int8 model (quantized alone, that
convolution moved 400 held-out frames by |dP| p99 0.148; each later stage alone by at most 0.134, less with depth).
Ranges are the minimum and maximum each activation reaches on the calibration crops (`core.analysis.calibration`:
shipped photos and sample frames, so an int8 model is the same wherever it is made from the same checkpoint). On
this project's 2-core AMD EPYC (AVX-512 VNNI), one thread, batch 16: resnet34 74.9 -> 20.3 ms a face,
efficientnet-lite0 21.8 -> 19.7 ms (its depthwise convolutions gain little). What it costs in scores is measured by
`bench/int8_gate.py`; the model card and README give the figures. dlib's face descriptor network stays fp32: in int8
(this recipe) it was 1.6x faster (2.2 against 3.5 ms a chip) but moved pair distances by up to 0.057 and changed 122
of 87,990 same/different verdicts at dlib's 0.6 on 420 faces of 70 videos, for about 5% of an analysis's CPU time.

`quantize(fp32_onnx, calibration (N, 3, H, W) float32 model input, input_grid) -> int8 ONNX bytes`. The export is
cached beside the fp32 one (`core.model.ort_runtime`), named with `QUANT_VERSION` and the calibration set's version.
"""
from __future__ import annotations

import contextlib
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

#: Part of a cached int8 export's name: bump when the quantization recipe changes.
QUANT_VERSION = 3
OP_TYPES = ("Conv", "Gemm", "MatMul", "Relu", "Clip")
CALIBRATION_BATCH = 8


@dataclass(frozen=True)
class Calibration:
    """The face crops an int8 model is calibrated on: `version` names the set (part of the cached export's name),
    `crops()` gives them, (N, 224, 224, 3) BGR uint8 aligned faces, only when a model is quantized."""

    version: str
    crops: Callable[[], np.ndarray]


def quantize(fp32_onnx: bytes, calibration: np.ndarray, input_grid: tuple[float, int] | None = None) -> bytes:
    """The int8 (QDQ) version of an fp32 ONNX model whose one input is "x", calibrated on `calibration`
    ((N, 3, H, W) float32, already in the model's input convention). `input_grid` (scale, zero point): the uint8
    grid the input's values lie on (pixel p is (p - zero point) * scale), on which the first convolution's input
    is then quantized when it reads the input as it is; None, or a graph that changes the input before its first
    convolution (normalises it): that convolution stays fp32 (module docstring)."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    calibration = np.ascontiguousarray(calibration, dtype=np.float32)
    if calibration.ndim != 4 or len(calibration) == 0:
        raise ValueError(f"calibration: expected (N, 3, H, W) model input, got {calibration.shape}")

    class Batches(CalibrationDataReader):
        def __init__(self):
            self._it = iter(range(0, len(calibration), CALIBRATION_BATCH))

        def get_next(self):
            start = next(self._it, None)
            return None if start is None else {"x": calibration[start : start + CALIBRATION_BATCH]}

    with tempfile.TemporaryDirectory(prefix="caddm-int8-") as tmp, _quiet():
        src, pre, out = (Path(tmp) / n for n in ("fp32.onnx", "pre.onnx", "int8.onnx"))
        src.write_bytes(fp32_onnx)
        quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        first, reads_input = _first_conv(pre)
        exclude, overrides = [], {}
        if first is not None and (input_grid is None or not reads_input):
            exclude = [first.name]
        elif first is not None:
            scale, zero_point = input_grid
            overrides = {first.input[0]: [{"scale": np.array(scale, np.float32),
                                            "zero_point": np.array(zero_point, np.uint8)}]}
        quantize_static(str(pre), str(out), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        op_types_to_quantize=list(OP_TYPES), calibrate_method=CalibrationMethod.MinMax,
                        nodes_to_exclude=exclude, extra_options={"TensorQuantOverrides": overrides})
        return out.read_bytes()


def _first_conv(path: Path):
    """(the convolution nearest the input "x" (graph order is topological) or None, whether it reads "x" itself or
    through zero padding alone: only then does its input lie on the input's grid). The node gets a name when it has
    none (the quantizer excludes nodes by name)."""
    import onnx

    model = onnx.load(str(path))
    first = next((n for n in model.graph.node if n.op_type == "Conv"), None)
    if first is None:
        return None, False
    if not first.name:
        first.name = "caddm_first_conv"
        onnx.save(model, str(path))
    producer = {o: n for n in model.graph.node for o in n.output}
    tensor = first.input[0]
    while tensor in producer and producer[tensor].op_type == "Pad" and len(producer[tensor].input) < 3:
        tensor = producer[tensor].input[0]                     # constant padding with zeros (no value given)
    return first, tensor == "x"


@contextlib.contextmanager
def _quiet():
    """ONNX Runtime's and the quantizer's notices (unused initializers, pre-processing advice) are not the user's
    business: errors only while quantizing."""
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        ort.set_default_logger_severity(2)
