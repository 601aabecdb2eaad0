import cv2
import numpy as np
import pytest

from conftest import need, REFERENCE
from core.train.dssim import authors_stride, best_window, best_window_in_map, dssim, dssim_map, window_sums


# --- the authors' semantics, written out plainly (reference only; slow on purpose) -------------------------
def ref_dssim(img1, img2):
    a = img1.astype(np.float64)
    b = img2.astype(np.float64)
    k = cv2.getGaussianKernel(11, 1.5)
    win = np.outer(k, k.T)
    mu1, mu2 = cv2.filter2D(a, -1, win), cv2.filter2D(b, -1, win)
    s1 = cv2.filter2D(a * a, -1, win) - mu1 ** 2
    s2 = cv2.filter2D(b * b, -1, win) - mu2 ** 2
    s12 = cv2.filter2D(a * b, -1, win) - mu1 * mu2
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    ssim = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s1 + s2 + c2))
    d = np.abs((1 - ssim) / 2)
    return d if d.ndim == 3 else d[:, :, None]


def ref_best_window(fake, source, hw, valid_mask=None, stride=1):
    """Python loop over window positions; the first (row-major) window within 1e-9 relative of the best sum,
    i.e. the authors' strict '>' loop with float-noise ties made explicit; (0, 0, w, h) when all are ~0."""
    d = ref_dssim(fake, source)
    if valid_mask is not None:
        d[valid_mask == 0] = 0
    h, w = hw
    H, W = d.shape[:2]
    sy, sx = (stride, stride) if np.isscalar(stride) else stride
    areas = []
    for y in range(0, H, sy):
        for x in range(0, W, sx):
            if y + h <= H and x + w <= W:
                areas.append((np.sum(d[y:y + h, x:x + w]), (x, y, x + w, y + h)))
    best = max(a for a, _ in areas)
    if best <= 1e-7:
        return (0, 0, w, h)
    for area, box in areas:
        if area >= best - 1e-9 * best:
            return box


def _pair(seed=0, size=96):
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), (7, 7), 2)
    other = base.copy()
    # a textured patch differs at a known place
    other[50:70, 20:44] = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
    return other, base


def test_dssim_map_matches_reference_and_is_zero_for_identical():
    a, b = _pair()
    d = dssim_map(a, b)
    assert d.shape == (96, 96, 3) and d.dtype == np.float64
    np.testing.assert_allclose(d, ref_dssim(a, b), atol=1e-9)
    assert dssim(a, a) == pytest.approx(0.0, abs=1e-12)
    assert 0 < dssim(a, b) < 1
    assert dssim_map(a[:, :, 0], b[:, :, 0]).shape == (96, 96, 1)


def test_window_sums_equal_direct_sums():
    rng = np.random.default_rng(1)
    s = rng.random((30, 40, 3))
    ws = window_sums(s, (7, 11))
    assert ws.shape == (24, 30)
    assert ws[5, 9] == pytest.approx(s[5:12, 9:20].sum())
    assert ws[0, 0] == pytest.approx(s[:7, :11].sum())
    assert ws[-1, -1] == pytest.approx(s[-7:, -11:].sum())
    with pytest.raises(ValueError):
        window_sums(s, (31, 2))


@pytest.mark.parametrize("hw", [(10, 20), (20, 24), (33, 17), (96, 96)])
@pytest.mark.parametrize("stride", [1, 3, (19, 19)])
def test_best_window_equals_reference_loop(hw, stride):
    a, b = _pair(seed=hw[0] + (stride if np.isscalar(stride) else 7))
    assert best_window(a, b, hw, stride=stride) == ref_best_window(a, b, hw, stride=stride)


def test_best_window_finds_the_changed_patch_and_respects_mask():
    a, b = _pair()
    x0, y0, x1, y1 = best_window(a, b, (20, 24))
    assert (x1 - x0, y1 - y0) == (24, 20)
    assert abs(x0 - 20) <= 3 and abs(y0 - 50) <= 3
    # outside the valid mask the difference does not count
    mask = np.full((96, 96), 255, np.uint8)
    mask[40:80, 10:54] = 0
    box = best_window(a, b, (20, 24), valid_mask=mask)
    assert box == ref_best_window(a, b, (20, 24), valid_mask=mask)
    assert not (abs(box[0] - 20) <= 3 and abs(box[1] - 50) <= 3)
    # nothing differs outside the mask here: no window scores, the first one is returned
    assert best_window_in_map(dssim_map(a, b), (20, 24), mask)[1] == 0.0


def test_identical_images_give_the_first_window_with_zero_score():
    a, _ = _pair()
    box, score = best_window_in_map(dssim_map(a, a), (10, 12))
    assert box == (0, 0, 12, 10) and score == 0.0


def test_authors_stride():
    assert authors_stride((224, 224)) == (44, 44)
    assert authors_stride((3, 3)) == (1, 1)


@pytest.mark.shared
def test_partial_label_window_matches_the_authors_fixture():
    """Their label: DSSIM between the blended aligned crop and the aligned source (background) crop,
    80x120 (h x w) window on a 44-px grid, no mask; stored as [y0, x0, y1, x1]."""
    d = np.load(need(REFERENCE / "expected_alignment_mfs.npz"))
    y0, x0, y1, x1 = (int(v) for v in d["mfs_partial_alpha_80x120_eval__bbox"][1])
    mfs, src = d["mfs_partial_alpha_80x120_eval__img"], d["test_crop_src__img"]
    got = best_window(mfs, src, (80, 120), stride=authors_stride(mfs.shape[:2]))
    assert got == (x0, y0, x1, y1) == ref_best_window(mfs, src, (80, 120), stride=(44, 44))
    # every position (stride 1): ours and the loop agree too
    assert best_window(mfs, src, (80, 120)) == ref_best_window(mfs, src, (80, 120))
