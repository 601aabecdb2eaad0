import os
import pickle

import pytest
import torch

from core.common import hashing
from core.model.checkpoints import load_model, read_checkpoint_info, save_model
from core.common.hashing import sha256_file
from core.common.errors import CheckpointError
from core.model.caddm import CADDM
from core.model.config import ModelConfig

SMALL = ModelConfig("timm:resnet18", adm_width=32)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(1)
    model = CADDM(SMALL).eval()
    path = tmp_path_factory.mktemp("ckpt") / "small.safetensors"
    save_model(model, path, name="small-test", training={"data": "none", "command": "test"}, metrics={"auc": 0.5})
    return model, path


def test_round_trip_same_outputs_and_card(saved):
    model, path = saved
    loaded = load_model(path)
    assert not loaded.training
    assert loaded.config.to_dict() == model.config.to_dict()
    assert loaded.metadata["name"] == "small-test" and loaded.metadata["metrics"] == {"auc": 0.5}
    assert loaded.info.name == "small-test" and loaded.info.format == "caddm-inspector"
    assert loaded.info.sha256 == sha256_file(path) and loaded.info.path == str(path.resolve())
    x = torch.rand(2, 3, 224, 224) * 255
    with torch.inference_mode():
        a, b = model(x), loaded(x)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_fp16_storage_is_close(saved, tmp_path):
    model, full = saved
    path = save_model(model, tmp_path / "half.safetensors", half=True)
    assert path.stat().st_size < 0.55 * full.stat().st_size
    x = torch.rand(2, 3, 224, 224) * 255
    with torch.inference_mode():
        assert torch.allclose(model(x)["prob"], load_model(path)(x)["prob"], atol=1e-2)


class _Evil:
    def __reduce__(self):
        return (os.system, ("touch /tmp/caddm-pwned",))


def _expect(path, words):
    for read in (load_model, read_checkpoint_info):  # the identity read refuses what loading refuses
        with pytest.raises(CheckpointError) as err:
            read(path)
        message = str(err.value)
        assert str(path) in message
        assert any(w in message for w in words), message
    return message


def test_bad_files_give_one_clear_error(tmp_path, saved):
    _expect(tmp_path / "missing.pt", ["not found"])
    _expect(tmp_path, ["folder"])
    (tmp_path / "empty.pt").write_bytes(b"")
    _expect(tmp_path / "empty.pt", ["empty"])
    (tmp_path / "notes.pt").write_text("hello, this is not a checkpoint")
    _expect(tmp_path / "notes.pt", ["not a model", "corrupt", "not a CADDM"])
    good = saved[1].read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(good[: len(good) // 2])
    _expect(tmp_path / "cut.safetensors", ["corrupt or truncated"])
    torch.save({"network": {"x": torch.zeros(2)}}, tmp_path / "t.pkl")
    pkl = (tmp_path / "t.pkl").read_bytes()
    (tmp_path / "cut.pkl").write_bytes(pkl[: len(pkl) // 2])
    _expect(tmp_path / "cut.pkl", ["corrupt", "truncated"])
    # a state_dict of some other network
    torch.save({"network": torch.nn.Linear(3, 2).state_dict()}, tmp_path / "other.pkl")
    _expect(tmp_path / "other.pkl", ["not a CADDM checkpoint"])
    # a plain safetensors file that is not ours
    from safetensors.torch import save_file
    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    _expect(tmp_path / "plain.safetensors", ["not a CADDM Inspector checkpoint"])


def test_pickle_with_code_is_refused_not_run(tmp_path):
    marker = "/tmp/caddm-pwned"
    if os.path.exists(marker):
        os.unlink(marker)
    path = tmp_path / "evil.pkl"
    with open(path, "wb") as f:
        pickle.dump({"network": _Evil()}, f)
    _expect(path, ["refused"])
    assert not os.path.exists(marker)
    torch.save({"network": _Evil()}, tmp_path / "evil2.pt")
    _expect(tmp_path / "evil2.pt", ["refused"])
    assert not os.path.exists(marker)


def test_checkpoint_info_from_the_header_alone(saved, monkeypatch):
    """The identity of our checkpoints comes from the safetensors header: no model is built, no tensor read."""
    _, path = saved

    def refuse(*a, **k):
        raise AssertionError("the model was built")
    monkeypatch.setattr(CADDM, "__init__", refuse)
    info = read_checkpoint_info(path)
    assert (info.name, info.backbone, info.format) == ("small-test", "timm:resnet18", "caddm-inspector")
    assert info.sha256 == sha256_file(path) and info.card["metrics"] == {"auc": 0.5}
    assert info.threshold is None  # no calibration in the card
    assert "sha256: " + info.sha256 in info.describe()


def test_calibrated_threshold_travels_with_the_checkpoint(saved, tmp_path):
    model, _ = saved
    path = save_model(model, tmp_path / "cal.safetensors", calibration={"threshold": 0.62, "fpr_real": 0.05})
    assert read_checkpoint_info(path).threshold == 0.62
    assert load_model(path).info.threshold == 0.62
    bad = save_model(model, tmp_path / "bad.safetensors", calibration={"threshold": "high"})
    assert read_checkpoint_info(bad).threshold is None


def test_checkpoint_hashed_once_per_file_version(saved, tmp_path, monkeypatch):
    model, _ = saved
    path = save_model(model, tmp_path / "once.safetensors")
    calls = []
    real = hashing.sha256_file
    monkeypatch.setattr(hashing, "sha256_file", lambda p, *a, **k: calls.append(str(p)) or real(p, *a, **k))
    first = read_checkpoint_info(path).sha256
    load_model(path)
    read_checkpoint_info(path)
    assert calls == [str(path.resolve())]
    os.utime(path, ns=(0, 1))  # a new version of the file (another mtime) is hashed again
    assert read_checkpoint_info(path).sha256 == first and len(calls) == 2
