"""The int8 runtime (`--runtime onnx-int8`): a quantized export made once per checkpoint from calibration crops,
cached and loaded without torch, recorded as what scored the result (and kept apart in the result cache)."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from core.model import int8  # noqa: E402
from core.model.inference import Predictor  # noqa: E402


@pytest.fixture(scope="module")
def calibration():
    crops = np.random.default_rng(5).integers(0, 256, (12, 224, 224, 3), dtype=np.uint8)
    return int8.Calibration("test", lambda: crops)


def test_int8_is_made_once_cached_and_recorded(tiny_model_path, calibration, tmp_path, monkeypatch):
    monkeypatch.setenv("CADDM_CACHE_DIR", str(tmp_path))
    calls = []
    real = int8.quantize
    monkeypatch.setattr(int8, "quantize", lambda *a: calls.append(1) or real(*a))
    crops = np.random.default_rng(6).integers(0, 256, (6, 224, 224, 3), dtype=np.uint8)
    p = Predictor.for_checkpoint(tiny_model_path, device="cpu", runtime="onnx-int8", calibration=calibration)
    assert p.precision == "int8" and p.runtime.endswith(" int8") and calls == [1]
    names = sorted(f.name for f in (tmp_path / "onnx").glob("*.onnx"))
    assert any(n.endswith(f"-int8-q{int8.QUANT_VERSION}-ctest.onnx") for n in names)
    again = Predictor.for_checkpoint(tiny_model_path, device="cpu", runtime="onnx-int8", calibration=calibration)
    assert calls == [1] and again.model is None                       # the cached int8 export, no torch model
    a, b = ([x.prob for x in q.predict(crops)] for q in (p, again))
    assert a == pytest.approx(b, abs=1e-6)
    fp32 = Predictor.for_checkpoint(tiny_model_path, device="cpu")
    assert fp32.precision == "fp32" and not fp32.runtime.endswith("int8")
    other = int8.Calibration("other", calibration.crops)             # another calibration set: another model
    Predictor.for_checkpoint(tiny_model_path, device="cpu", runtime="onnx-int8", calibration=other)
    assert calls == [1, 1]


def test_int8_needs_the_cpu_and_calibration(tiny_model_path):
    from core.model.checkpoints import load_model

    with pytest.raises(ValueError, match="ONNX Runtime cannot run this model in int8: an int8 model needs "
                                         "calibration"):
        Predictor(load_model(tiny_model_path), device="cpu", runtime="onnx-int8")


def test_an_int8_result_records_its_precision_and_is_cached_apart(face_clip, tiny_model_path, calibration,
                                                                   tmp_path):
    from core.analysis.cache import ResultCache
    from core.analysis.engine import AnalysisOptions
    from core.analysis.runner import analyze_cached
    from core.media.frames import FrameSelection

    cache = ResultCache(tmp_path / "results")
    options = AnalysisOptions(frames=FrameSelection("count", 3), identity=False)
    fp32 = Predictor.for_checkpoint(tiny_model_path, device="cpu")
    q = Predictor.for_checkpoint(tiny_model_path, device="cpu", runtime="onnx-int8", calibration=calibration)
    a, cached_a = analyze_cached(face_clip, fp32, options, cache)
    b, cached_b = analyze_cached(face_clip, q, options, cache)
    assert not cached_a and not cached_b                               # int8 never reads the fp32 result
    assert b.settings.extra["precision"] == "int8" and "precision" not in a.settings.extra
    assert b.settings.runtime.startswith(q.runtime)
    assert analyze_cached(face_clip, q, options, cache)[1] and analyze_cached(face_clip, fp32, options, cache)[1]


def test_the_shipped_calibration_set_gives_real_faces_from_every_source():
    from core.analysis.calibration import CALIBRATION_VERSION, calibration, calibration_crops

    crops = calibration_crops()
    assert crops.dtype == np.uint8 and crops.shape[1:] == (224, 224, 3) and len(crops) >= 60
    half = len(crops) // 2
    assert np.array_equal(crops[half:], crops[:half, :, ::-1])          # each crop also mirrored
    assert calibration().version == CALIBRATION_VERSION and calibration().crops() is crops


def test_activations_fold_into_their_convolutions_range():
    """ReLU and ReLU6 (Clip) after a convolution are quantized with it: the int8 graph keeps no activation behind a
    convolution, and the output's steps are those of [0, 6], not of the convolution's raw range."""
    import io

    import onnx
    import torch

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU6(), torch.nn.Conv2d(8, 4, 1),
                              torch.nn.ReLU()).eval()
    for p in net[0].parameters():
        p.data *= 20                                                   # raw conv range far wider than [0, 6]
    x = np.random.default_rng(7).integers(0, 256, (16, 3, 16, 16)).astype(np.float32)
    buf = io.BytesIO()
    torch.onnx.export(net, torch.from_numpy(x[:1]), buf, input_names=["x"], output_names=["y"], dynamo=False,
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    graph = onnx.load_from_string(int8.quantize(buf.getvalue(), x, (1.0, 0))).graph
    producer = {o: n.op_type for n in graph.node for o in n.output}
    assert not [n for n in graph.node if n.op_type in ("Clip", "Relu") and producer.get(n.input[0]) == "Conv"]
    scales = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    first = next(n for n in graph.node if n.op_type == "QuantizeLinear" and producer.get(n.input[0]) == "Conv")
    assert float(scales[first.input[1]]) <= 6 / 255 + 1e-6             # the ReLU6 range's step


def _two_convs(normalise: bool = False) -> bytes:
    import io

    import torch

    class Scale(torch.nn.Module):
        def forward(self, x):
            return x / 127.5 - 1

    torch.manual_seed(1)
    layers = [torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 1)]
    net = torch.nn.Sequential(*([Scale()] if normalise else []), *layers).eval()
    buf = io.BytesIO()
    torch.onnx.export(net, torch.zeros(1, 3, 16, 16), buf, input_names=["x"], output_names=["y"], dynamo=False,
                      dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
    return buf.getvalue()


def test_the_first_convolution_reads_the_pixels_own_grid_or_stays_fp32():
    """Raw 0..255 input is quantized losslessly (scale 1, zero point 0, whatever the calibration crops' extremes);
    an input with no uint8 grid ([-1, 1]: mean 127.5) is not re-rounded: the first convolution stays fp32, the
    second is int8."""
    import onnx

    from core.model.preprocess import RAW_BGR, RGB_SYMMETRIC

    rng = np.random.default_rng(8)
    raw = rng.integers(10, 200, (8, 3, 16, 16)).astype(np.float32)   # never reaches 0 or 255
    graph = onnx.load_from_string(int8.quantize(_two_convs(), raw, RAW_BGR.uint8_grid())).graph
    consts = {i.name: onnx.numpy_helper.to_array(i) for i in graph.initializer}
    q = next(n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "x")
    assert float(consts[q.input[1]]) == 1.0 and int(consts[q.input[2]]) == 0
    assert RGB_SYMMETRIC.uint8_grid() is None
    graph = onnx.load_from_string(int8.quantize(_two_convs(), (raw - 127.5) / 127.5, None)).graph
    producer = {o: n for n in graph.node for o in n.output}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert not [n for n in graph.node if n.op_type == "QuantizeLinear" and n.input[0] == "x"]
    assert convs[0].input[0] == "x" and convs[0].input[1] not in producer   # fp32 weights, no DequantizeLinear
    assert producer[convs[1].input[0]].op_type == "DequantizeLinear"   # the rest is int8
    graph = onnx.load_from_string(int8.quantize(_two_convs(normalise=True), raw, (1.0, 0))).graph
    outputs = {o for n in graph.node for o in n.output}
    first = next(n for n in graph.node if n.op_type == "Conv")          # it reads x / 127.5 - 1, not x: no grid
    assert first.input[1] not in outputs                                 # fp32 weights


def test_uint8_grid_of_input_conventions():
    from core.model.preprocess import RAW_BGR, RGB_SYMMETRIC, InputConvention

    assert RAW_BGR.uint8_grid() == (1.0, 0)
    assert InputConvention("rgb", (128.0,) * 3, (2.0,) * 3).uint8_grid() == (0.5, 128)
    assert RGB_SYMMETRIC.uint8_grid() is None                        # zero point 127.5
    assert InputConvention("rgb", (123.7, 116.3, 103.5), (58.4, 57.1, 57.4)).uint8_grid() is None
