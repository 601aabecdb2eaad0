"""Invisible perturbations and the score-consistency loss (core.train.consistency)."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from core.train.consistency import logodds_consistency, perturb, score_stability


def _images(n=4, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, (n, 32, 40, 3), dtype=np.uint8)
    img[0] = 0  # clipping at the bottom
    img[1] = 255  # and at the top
    return torch.from_numpy(img)


def test_noise_moves_each_value_by_at_most_one_and_clips():
    x = _images()
    y = perturb(x, np.random.default_rng(1), ("noise",))
    d = y.to(torch.int16) - x.to(torch.int16)
    assert d.abs().max() == 1 and 0.6 < (d[2:] != 0).float().mean() < 0.73  # two thirds move
    assert y.dtype == torch.uint8 and y.shape == x.shape
    assert (d[0] >= 0).all() and (d[1] <= 0).all()


def test_shift_is_one_pixel_with_the_edge_repeated():
    x = _images()
    y = perturb(x, np.random.default_rng(2), ("shift",))
    for a, b in zip(x[2:], y[2:]):  # (the first two are flat: any shift matches)
        matches = [torch.equal(b[1:], a[:-1]) and torch.equal(b[0], a[0]),
                   torch.equal(b[:-1], a[1:]) and torch.equal(b[-1], a[-1]),
                   torch.equal(b[:, 1:], a[:, :-1]) and torch.equal(b[:, 0], a[:, 0]),
                   torch.equal(b[:, :-1], a[:, 1:]) and torch.equal(b[:, -1], a[:, -1])]
        assert sum(matches) == 1


def test_jpeg_is_a_light_reencode():
    smooth = torch.from_numpy(np.tile(np.linspace(0, 255, 40, dtype=np.uint8)[None, :, None], (2, 32, 1, 3)).copy())
    y = perturb(smooth, np.random.default_rng(3), ("jpeg",))
    d = (y.to(torch.int16) - smooth.to(torch.int16)).abs().float()
    assert 0 < d.mean() < 3


def test_perturb_is_seeded_and_mixes_kinds():
    x = _images(16)
    a = perturb(x, np.random.default_rng([3, 0, 1]))
    b = perturb(x, np.random.default_rng([3, 0, 1]))
    c = perturb(x, np.random.default_rng([3, 0, 2]))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a, x)


@pytest.mark.parametrize("images, kinds", [(torch.zeros(2, 8, 8, 3), ("noise",)),
                                           (torch.zeros(8, 8, 3, dtype=torch.uint8), ("noise",)),
                                           (torch.zeros(2, 8, 8, 3, dtype=torch.uint8), ("blur",)),
                                           (torch.zeros(2, 8, 8, 3, dtype=torch.uint8), ())])
def test_perturb_rejects_bad_input(images, kinds):
    with pytest.raises(ValueError):
        perturb(images, np.random.default_rng(0), kinds)


def test_logodds_consistency_value_and_gradient():
    a = torch.tensor([[0.0, 1.0], [2.0, 0.0]], requires_grad=True)
    b = torch.tensor([[0.0, 1.0], [0.0, 0.0]], requires_grad=True)
    loss = logodds_consistency(a, b)  # log-odds 1 vs 1 and -2 vs 0: ((0)**2 + (-2)**2) / 2
    assert loss.item() == pytest.approx(2.0)
    loss.backward()
    assert a.grad.abs().sum() > 0 and b.grad.abs().sum() > 0
    assert logodds_consistency(a, a + 5.0).item() == 0.0  # a common shift of both logits keeps P(fake)


def test_score_stability_measures_what_a_model_follows():
    """A 'model' whose score is the mean pixel value moves under noise a little; one that reads a single pixel
    moves under a shift; a constant one moves under neither."""
    def model(f):
        return SimpleNamespace(predict=lambda crops: [SimpleNamespace(prob=float(f(c))) for c in crops])

    crops = _images(8).numpy()
    constant = score_stability(model(lambda c: 0.5), crops)
    assert constant["noise"]["p99"] == 0 and constant["shift"]["p99"] == 0 and constant["noise"]["n"] == 8
    pixel = score_stability(model(lambda c: c[5, 5, 0] / 255.0), crops)
    assert pixel["shift"]["mean"] > 0.05 and pixel["noise"]["p99"] <= 1 / 255 + 1e-9
    again = score_stability(model(lambda c: c[5, 5, 0] / 255.0), crops)
    assert again == pixel
