from pathlib import Path

import cv2
import numpy as np
import pytest

from core.train.augment import AugmentConfig, augment, gamma_correct, jpeg, low_light, motion_kernel

NONE = dict(p_jpeg=0, p_normalize=0, p_quant_noise=0, p_hsv=0, p_gamma=0, p_motion_blur=0, p_gaussian_blur=0,
            p_noise=0, p_tone=0, p_resize=0)


def _img(seed=0, size=224):
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (5, 5), 1.5)


def test_shape_dtype_and_determinism():
    img = _img()
    a = [augment(img, np.random.default_rng(7)) for _ in range(2)]
    assert a[0].dtype == np.uint8 and a[0].shape == img.shape
    assert np.array_equal(a[0], a[1])
    outs = [augment(img, np.random.default_rng(s)) for s in range(8)]
    assert len({o.tobytes() for o in outs}) == 8
    rng = np.random.default_rng(1)
    seq1 = [augment(img, rng) for _ in range(3)]
    rng = np.random.default_rng(1)
    assert all(np.array_equal(x, augment(img, rng)) for x in seq1)
    assert np.array_equal(img, _img())  # input untouched


def test_all_off_is_identity_and_every_step_keeps_range():
    img = _img()
    assert np.array_equal(augment(img, np.random.default_rng(0), AugmentConfig(**NONE)), img)
    everything = AugmentConfig(**{k: 1.0 for k in NONE})
    for s in range(6):
        out = augment(img, np.random.default_rng(s), everything)
        assert out.dtype == np.uint8 and out.shape == img.shape


def test_noise_saturates_instead_of_wrapping():
    """Strong noise on a white and on a black image: an overflow would wrap 255+x to small values."""
    cfg = AugmentConfig(**{**NONE, "p_noise": 1.0, "noise_sigma_weak": (21, 21), "noise_sigma_strong": (21, 21)})
    white = np.full((64, 64, 3), 255, np.uint8)
    black = np.zeros((64, 64, 3), np.uint8)
    w = augment(white, np.random.default_rng(0), cfg)
    b = augment(black, np.random.default_rng(0), cfg)
    assert w.min() > 150 and (w == 255).mean() > 0.4
    assert b.max() < 105 and (b == 0).mean() > 0.4
    q = AugmentConfig(**{**NONE, "p_quant_noise": 1.0, "quant_noise_sigma": 40.0})
    assert augment(white, np.random.default_rng(0), q).min() > 100


def test_jpeg_low_quality_changes_the_image():
    img = _img()
    q15 = jpeg(img, 15)
    assert q15.dtype == np.uint8 and q15.shape == img.shape
    err15 = np.abs(q15.astype(int) - img).mean()
    err79 = np.abs(jpeg(img, 79).astype(int) - img).mean()
    assert err15 > 1.0 and err15 > err79
    cfg = AugmentConfig(**{**NONE, "p_jpeg": 1.0, "jpeg_quality": (15, 15)})
    assert np.array_equal(augment(img, np.random.default_rng(0), cfg), q15)


def test_gamma_and_motion_kernel():
    x = np.array([[[0, 64, 255]]], np.uint8)
    assert np.allclose(gamma_correct(x, 1.0), x)
    g = gamma_correct(x, 2.0)
    assert g[0, 0, 0] == 0 and g[0, 0, 2] == pytest.approx(255) and g[0, 0, 1] > 64
    for angle in (0, 45, 90, 200):
        k = motion_kernel(angle, 5)
        assert k.shape == (11, 11) and k.sum() == pytest.approx(1.0) and k[5, 5] > 0
    assert motion_kernel(0, 3)[3, 6] > 0  # points to the right at 0 degrees


@pytest.mark.parametrize("name", ["p_hsv", "p_motion_blur", "p_gaussian_blur", "p_tone", "p_resize", "p_gamma",
                                  "p_normalize"])
def test_each_step_alone_changes_the_image(name):
    img = _img()
    changed = [not np.array_equal(augment(img, np.random.default_rng(s), AugmentConfig(**{**NONE, name: 1.0})), img)
               for s in range(4)]
    assert any(changed)


def test_rejects_bad_input():
    with pytest.raises(ValueError):
        augment(np.zeros((8, 8), np.uint8), np.random.default_rng(0))
    with pytest.raises(ValueError):
        augment(np.zeros((8, 8, 3), np.float32), np.random.default_rng(0))


def test_low_light_darkens_monotonically_and_keeps_shape():
    img = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    assert np.array_equal(low_light(img, 0.0), img)
    a, b = low_light(img, 0.5), low_light(img, 0.9)
    assert a.shape == img.shape and a.dtype == np.uint8
    assert img.mean() > a.mean() > b.mean() and b.max() <= 255 * 0.325 + 1
    assert (low_light(img, 0.5).astype(int) <= img).all()  # without noise it never brightens a pixel
    noisy = low_light(img, 0.5, np.random.default_rng(1))
    assert not np.array_equal(noisy, a) and abs(noisy.mean() - a.mean()) < 1.0
    with pytest.raises(ValueError):
        low_light(img, 1.5)


def test_h264_round_trip_keeps_the_image_and_loses_detail_with_crf():
    from core.train.augment import h264

    img = cv2.imread(str(Path(__file__).parent / "data" / "astronaut_face.jpg"))[:101, :151]  # odd sides
    fine, coarse = h264(img, 18), h264(img, 40)
    assert fine.shape == coarse.shape == img.shape and fine.dtype == np.uint8
    err = [np.abs(x.astype(int) - img).mean() for x in (fine, coarse)]
    assert err[0] < 3.0 < err[1] < 20.0


def test_low_light_and_h264_steps_are_off_by_default_and_seeded_when_on():
    img = cv2.imread(str(Path(__file__).parent / "data" / "astronaut_face.jpg"))
    on = AugmentConfig(p_low_light=1.0, p_h264=1.0)
    a = augment(img, np.random.default_rng(4), on)
    assert np.array_equal(a, augment(img, np.random.default_rng(4), on))
    assert a.mean() < augment(img, np.random.default_rng(4), AugmentConfig(p_low_light=0.0, p_h264=1.0)).mean()
    assert np.array_equal(augment(img, np.random.default_rng(4)),
                          augment(img, np.random.default_rng(4), AugmentConfig(p_low_light=0.0, p_h264=0.0)))
