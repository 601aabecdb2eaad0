"""Our CADDM reproduces the authors' model outputs on their checkpoint format (fixtures from their code)."""
import importlib.util

import numpy as np
import pytest
import torch

from core.model.checkpoints import load_model
from tests.conftest import REFERENCE, need

BACKBONES = ["resnet34", "efficientnet-b3", "efficientnet-b4"]


def _reference_module():
    spec = importlib.util.spec_from_file_location("reference_weights", need(REFERENCE) / "reference_weights.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rel_close(ours: torch.Tensor, theirs: np.ndarray, rtol=1e-4):
    theirs = torch.from_numpy(theirs)
    scale = theirs.abs().max().clamp(min=1e-6)
    err = (ours - theirs).abs().max() / scale
    assert err < rtol, f"max relative error {err:.2e}"


@pytest.mark.shared
@pytest.mark.parametrize("backbone,prefixed", [(b, False) for b in BACKBONES] + [("resnet34", True)])
def test_authors_checkpoint_gives_their_outputs(tmp_path, backbone, prefixed):
    """prefixed: DataParallel's `module.` key prefixes, as some released checkpoints have them."""
    ref = _reference_module()
    path = tmp_path / f"{backbone}.pkl"
    state = ref.reference_state_dict(backbone)
    if prefixed:
        state = {f"module.{k}": v for k, v in state.items()}
    torch.save({"network": state, "epoch": 0}, path)
    expected = np.load(REFERENCE / f"expected_{backbone}.npz")
    model = load_model(path)
    assert model.config.backbone == backbone
    with torch.inference_mode():
        out = model(torch.from_numpy(expected["input"]))
    _rel_close(out["logits"], expected["eval_logits"])
    _rel_close(out["prob"], expected["eval_softmax"][:, 1])
    _rel_close(out["loc"], expected["eval_loc"])
    _rel_close(out["conf"], expected["eval_conf"])
