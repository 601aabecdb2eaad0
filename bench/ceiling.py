"""How close the CPU analysis runs to this machine's limit: model FLOPs per face against the measured peak.

    .venv/bin/python bench/ceiling.py [--backbones resnet34,efficientnet-lite0] [--seconds 3]

Printed, for one core (each of the analysis's model lanes is one single-threaded ONNX Runtime session):
- the machine's measured peak: the best of fp32 GEMMs (n^3 ONNX MatMuls, n = 256, 512, 1024: the same MLAS kernels
  the model runs on; larger ones fall out of cache and run slower) and of int8
  GEMM (the same MatMul quantized by `core.model.int8.quantize`, as a model is: u8 activations x s8 weights, VNNI
  where the CPU has it), GFLOP/s counting a multiply-add as 2;
- per backbone: FLOPs a face (convolutions and matrix products at the model's input size, `torch.utils.flop_counter`,
  multiply-add = 2), ms a face of the fp32 and int8 exports at batch 16 on one thread, and the GFLOP/s and share of
  the peak that makes. Models have seeded random weights: the FLOPs and the speed do not depend on the values.
The ceiling a whole analysis could reach is 2 lanes x (1000 / ms a face) faces/s, less the producer's share of the cores
(decode, detection, landmarks, alignment: `bench/analyze_bench.py` prints it).
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.common.threads import configure_threads  # noqa: E402

configure_threads()
import numpy as np  # noqa: E402


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                flags = next((ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("flags")),
                             "")
                have = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_int8") if f" {f}" in flags]
                return f"{line.split(':', 1)[1].strip()} ({', '.join(have)})"
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _rate(fn, seconds: float) -> float:
    """Calls of `fn` per second, after one warm-up call, over about `seconds`."""
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        n += 1
    return n / (time.perf_counter() - t0)


def _gemm_onnx(n: int) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((n, n)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "gemm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, n, n])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, n, n])], [w])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def peaks(seconds: float, sizes=(256, 512, 1024)) -> dict[str, float]:
    """Measured GEMM GFLOP/s on one thread, the best over `sizes`: {"fp32": ..., "int8": ...}."""
    from core.model.int8 import quantize
    from core.model.onnx import single_thread_session

    out = {"fp32": 0.0, "int8": 0.0}
    for n in sizes:
        x = np.random.default_rng(1).standard_normal((1, 1, n, n)).astype(np.float32)
        fp32 = _gemm_onnx(n)
        for name, data in (("fp32", fp32), ("int8", quantize(fp32, x))):
            s = single_thread_session(data)
            out[name] = max(out[name], _rate(lambda: s.run(None, {"x": x}), seconds / len(sizes)) * 2 * n ** 3 / 1e9)
    return out


def model_flops(model, input_size: int) -> float:
    """FLOPs of one face's forward (multiply-add = 2)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(torch.zeros(1, 3, input_size, input_size))
    return float(counter.get_total_flops())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backbones", default="resnet34,efficientnet-lite0")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--batch", type=int, default=16)
    args = ap.parse_args()
    import torch

    from core.analysis.calibration import calibration
    from core.model.caddm import CADDM
    from core.model.config import ModelConfig
    from core.model.ort_runtime import OrtModel

    print(f"CPU: {_cpu()}; one thread (one model lane)")
    peak = peaks(args.seconds)
    print(f"measured peak, best GEMM: fp32 {peak['fp32']:.1f} GFLOP/s, int8 {peak['int8']:.1f} GFLOP/s "
          f"({peak['int8'] / peak['fp32']:.2f}x)")
    shipped = calibration()
    print(f"{'backbone':20s} {'GFLOP/face':>10s} {'runtime':>8s} {'ms/face':>8s} {'GFLOP/s':>8s} {'of peak':>8s} "
          f"{'faces/s on 2 lanes':>18s}")
    for backbone in args.backbones.split(","):
        torch.manual_seed(0)
        model = CADDM(ModelConfig(backbone)).eval()
        flops = model_flops(model, model.config.input_size)
        x = np.random.default_rng(2).standard_normal((args.batch, 3, model.config.input_size,
                                                     model.config.input_size)).astype(np.float32)
        for precision in ("fp32", "int8"):
            ort_model = OrtModel.from_model(model, precision=precision,
                                            calibration=shipped if precision == "int8" else None)
            ms = 1e3 / (_rate(lambda: ort_model(x), args.seconds) * args.batch)
            gflops = flops / ms / 1e6
            print(f"{backbone:20s} {flops / 1e9:10.2f} {precision:>8s} {ms:8.1f} {gflops:8.1f} "
                  f"{gflops / peak[precision]:8.0%} {2 * 1e3 / ms:18.1f}")


if __name__ == "__main__":
    main()
