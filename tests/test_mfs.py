import cv2
import numpy as np
import pytest

import core.train.mfs as mfs
from conftest import need, REFERENCE
from core.train.dssim import authors_stride, best_window
from core.train.mfs import (BLEND_STATS, FLIP_PERM_68, MFSConfig, MFSSample, alpha_blend, draw_sample, elastic_warp,
                            face_mask, flip_sample, hflip, hull_mask, multi_scale_facial_swap, poisson_blend,
                            preview_grid, real_sample, self_blended_sample, soften)

ONLY_PARTIAL = dict(p_global=0.0, p_source_to_fake=0.0, p_fake_to_source=0.0, p_untouched=0.0, p_partial=1.0)


def synthetic_face(seed=0):
    """(fake, source, landmarks): a textured 224x224 'face' with 68 points on/inside an ellipse; the fake
    differs from the source only inside the face (blurred and colour-shifted)."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    src = cv2.GaussianBlur(noise, (5, 5), 1.0)
    src = cv2.addWeighted(src, 0.5, np.full_like(src, (90, 130, 190)), 0.5, 0)
    t = np.linspace(0, np.pi, 17)
    jaw = np.stack([112 - 70 * np.cos(t), 100 + 90 * np.sin(t)], 1)  # 0..16 along the lower ellipse
    inner = np.stack([rng.uniform(60, 164, 51), rng.uniform(60, 170, 51)], 1)  # 17..67 inside
    inner[:10, 1] = rng.uniform(40, 60, 10)  # brows high up
    lm = np.concatenate([jaw, inner]).astype(np.float32)
    hull = hull_mask(lm)
    fake = src.copy()
    altered = cv2.GaussianBlur(src, (9, 9), 3).astype(np.int16) + np.array([25, -10, -20], np.int16)
    fake[hull > 0] = np.clip(altered, 0, 255).astype(np.uint8)[hull > 0]
    return fake, src, lm


def _valid_boxes(b):
    assert b.dtype == np.float32 and b.ndim == 2 and b.shape[1] == 4
    assert np.all(b[:, 0] < b[:, 2]) and np.all(b[:, 1] < b[:, 3])
    assert np.all(b >= 0) and np.all(b <= 224)


def test_config_validates():
    MFSConfig()
    MFSConfig(**ONLY_PARTIAL)
    with pytest.raises(ValueError):
        MFSConfig(p_global=0.9)
    with pytest.raises(ValueError):
        MFSConfig(p_untouched=0.3)
    with pytest.raises(ValueError):
        MFSConfig(windows=((300, 10),))


def test_hull_mask_and_elastic_warp():
    _, _, lm = synthetic_face()
    m = hull_mask(lm)
    assert m.dtype == np.uint8 and m.shape == (224, 224) and set(np.unique(m)) == {0, 255}
    pts = np.round(lm).astype(int)
    assert np.all(m[pts[:, 1], pts[:, 0]] == 255)
    w1 = elastic_warp(m, np.random.default_rng(3), 400, 224 * 0.08)
    w2 = elastic_warp(m, np.random.default_rng(3), 400, 224 * 0.08)
    assert w1.dtype == np.uint8 and np.array_equal(w1, w2)
    assert not np.array_equal(w1, m)
    assert np.mean(w1 != m) < 0.1  # a deformation, not a different mask
    # p_elastic 1 always warps, 0 never
    assert np.array_equal(face_mask(lm, np.random.default_rng(0), MFSConfig(p_elastic=0.0)), m)
    assert not np.array_equal(face_mask(lm, np.random.default_rng(0), MFSConfig(p_elastic=1.0)), m)


def test_alpha_blend_rounds_and_respects_alpha():
    bg = np.zeros((4, 4, 3), np.uint8)
    fg = np.full((4, 4, 3), 255, np.uint8)
    a = np.zeros((4, 4), np.float32)
    a[1, 1], a[2, 2] = 1.0, 0.5
    out = alpha_blend(bg, fg, a)
    assert out.dtype == np.uint8 and out[1, 1, 0] == 255 and out[2, 2, 0] == 128 and out[0, 0, 0] == 0


def test_poisson_keeps_the_region_in_place():
    """Cloning an image onto itself through an off-centre, non-square mask must give it back: a centre
    passed as (y, x) (the authors' bug) moves the region and fails this."""
    _, src, _ = synthetic_face(1)
    mask = np.zeros((224, 224), np.uint8)
    mask[30:90, 100:200] = 255
    out = poisson_blend(src, src, mask)
    assert np.abs(out.astype(int) - src).max() <= 2
    yx = cv2.seamlessClone(src, src, mask, (60, 150), cv2.NORMAL_CLONE)  # swapped centre
    assert np.abs(yx.astype(int) - src).mean() > 5 * max(np.abs(out.astype(int) - src).mean(), 0.1)


def test_global_fake_has_full_box_and_kinds_follow_the_config():
    fake, src, lm = synthetic_face()
    rng = np.random.default_rng(0)
    kinds = []
    for _ in range(150):
        s = multi_scale_facial_swap(fake, src, lm, rng, MFSConfig(p_poisson=0.0, windows=((40, 80),)))
        assert s.label == 1 and s.image.dtype == np.uint8 and s.image.shape == (224, 224, 3)
        _valid_boxes(s.boxes)
        assert np.array_equal(s.boxes[0], [0, 0, 224, 224])
        assert len(s.boxes) == (2 if s.kind == "partial" else 1)
        if s.kind == "global_untouched":
            assert np.array_equal(s.image, fake)
        kinds.append(s.kind)
    freq = {k: kinds.count(k) / len(kinds) for k in set(kinds)}
    assert abs(freq["global_source_to_fake"] - 0.4) < 0.12
    assert abs(freq["global_fake_to_source"] - 0.2) < 0.1
    assert abs(freq["global_untouched"] - 0.2) < 0.1
    assert abs(freq["partial"] - 0.2) < 0.1


@pytest.mark.parametrize("p_poisson", [0.0, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_partial_box_lies_where_the_image_changed(p_poisson, seed):
    fake, src, lm = synthetic_face(seed)
    cfg = MFSConfig(**ONLY_PARTIAL, p_poisson=p_poisson, windows=((40, 80), (80, 120)))
    s = multi_scale_facial_swap(fake, src, lm, np.random.default_rng(seed), cfg)
    assert s.kind == "partial" and s.blend == ("poisson" if p_poisson else "alpha")
    _valid_boxes(s.boxes)
    x0, y0, x1, y1 = s.boxes[1].astype(int)
    assert (y1 - y0, x1 - x0) in [(40, 80), (80, 120)]
    # the partial swap puts the fake onto the source: the change is measured against the source crop
    change = np.abs(s.image.astype(np.int32) - src).sum(axis=2).astype(np.float64)
    assert change.sum() > 0
    inside = change[max(y0 - 3, 0):y1 + 3, max(x0 - 3, 0):x1 + 3].sum()  # 5x5 blur reaches 2-3 px out
    assert inside / change.sum() > 0.95
    # and the box is where the fake differs from the source: that window holds the most DSSIM in the face
    assert (x0, y0, x1, y1) == best_window(fake, src, (y1 - y0, x1 - x0), hull_mask(lm))


def test_same_seed_same_output_and_different_seed_differs():
    fake, src, lm = synthetic_face()

    def run(seed):
        rng = np.random.default_rng(seed)
        return [multi_scale_facial_swap(fake, src, lm, rng) for _ in range(12)] + \
            [self_blended_sample(src, lm, rng) for _ in range(6)]

    a, b, c = run(5), run(5), run(6)
    for x, y in zip(a, b):
        assert x.kind == y.kind and x.blend == y.blend
        assert np.array_equal(x.image, y.image) and np.array_equal(x.boxes, y.boxes)
    assert any(not np.array_equal(x.image, y.image) for x, y in zip(a, c))


def test_poisson_is_counted_and_fallback_goes_to_alpha(monkeypatch):
    fake, src, lm = synthetic_face()
    cfg = MFSConfig(p_poisson=1.0, p_global=1.0, p_source_to_fake=1.0, p_fake_to_source=0.0, p_untouched=0.0,
                    p_partial=0.0, p_elastic=0.0)
    before = dict(BLEND_STATS)
    s = multi_scale_facial_swap(fake, src, lm, np.random.default_rng(0), cfg)
    assert s.blend == "poisson" and BLEND_STATS["poisson"] == before.get("poisson", 0) + 1
    assert not np.array_equal(s.image, fake)

    def broken(*args, **kwargs):
        raise cv2.error("simulated")

    monkeypatch.setattr(mfs.cv2, "seamlessClone", broken)
    s = multi_scale_facial_swap(fake, src, lm, np.random.default_rng(0), cfg)
    assert s.blend == "poisson_fallback"
    assert BLEND_STATS["poisson_fallback"] == before.get("poisson_fallback", 0) + 1
    assert np.array_equal(s.image, alpha_blend(fake, src, soften(hull_mask(lm), cfg)))


def test_partial_on_identical_crops_falls_back_to_a_global_kind():
    _, src, lm = synthetic_face()
    s = multi_scale_facial_swap(src, src.copy(), lm, np.random.default_rng(0), MFSConfig(**ONLY_PARTIAL))
    assert s.kind.startswith("global_") and len(s.boxes) == 1


def test_self_blended_sample():
    _, src, lm = synthetic_face()
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(20):
        s = self_blended_sample(src, lm, rng, MFSConfig(windows=((80, 120),)))
        kinds.add(s.kind)
        assert s.label == 1 and s.image.shape == src.shape and s.image.dtype == np.uint8
        _valid_boxes(s.boxes)
        assert np.array_equal(s.boxes[0], [0, 0, 224, 224])
        change = np.abs(s.image.astype(int) - src).sum(2)
        assert change.sum() > 0
        x0, y0, x1, y1 = s.boxes[-1].astype(int)
        d = 3 if s.kind == "sbi_partial" else 0
        assert change[max(y0 - d, 0):y1 + d, max(x0 - d, 0):x1 + d].sum() / change.sum() > 0.95
    assert kinds == {"sbi_global", "sbi_partial"}
    r = real_sample(src, lm)
    assert r.label == 0 and r.boxes.shape == (0, 4) and np.array_equal(r.image, src)


def test_flip_perm_is_a_mirror_involution():
    assert sorted(FLIP_PERM_68) == list(range(68))
    assert np.array_equal(FLIP_PERM_68[FLIP_PERM_68], np.arange(68))
    assert FLIP_PERM_68[36] == 45 and FLIP_PERM_68[0] == 16 and FLIP_PERM_68[48] == 54 and FLIP_PERM_68[30] == 30


def test_hflip_flips_image_boxes_and_landmarks_together():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
    boxes = np.array([[0, 0, 224, 224], [10, 20, 90, 60]], np.float32)
    lm = np.stack([rng.uniform(0, 223, 68), rng.uniform(0, 223, 68)], 1)
    fi, fb, fl = hflip(img, boxes, lm)
    assert np.array_equal(fb, [[0, 0, 224, 224], [134, 20, 214, 60]])
    # the pixels inside a box are the mirrored pixels inside the flipped box
    assert np.array_equal(fi[20:60, 134:214], img[20:60, 10:90][:, ::-1])
    # landmark i of the flip is the mirror of its partner; pixel centres map x -> W - 1 - x
    assert np.allclose(fl[36], [223 - lm[45, 0], lm[45, 1]])
    px = np.round(lm[7]).astype(int)
    assert np.array_equal(fi[px[1], 223 - px[0]], img[px[1], px[0]])
    bi, bb, bl = hflip(fi, fb, fl)
    assert np.array_equal(bi, img) and np.allclose(bb, boxes) and np.allclose(bl, lm)
    s = flip_sample(MFSSample(img, boxes, 1, "partial", "alpha", lm))
    assert np.array_equal(s.boxes, fb) and np.array_equal(s.image, fi) and s.kind == "partial"
    assert hflip(img)[1] is None


def test_draw_sample_and_grid():
    fake, src, lm = synthetic_face()
    samples = [multi_scale_facial_swap(fake, src, lm, np.random.default_rng(i), MFSConfig(**ONLY_PARTIAL))
               for i in range(5)]
    tile = draw_sample(samples[0])
    assert tile.shape == (224, 224, 3) and tile.dtype == np.uint8
    assert not np.array_equal(tile, samples[0].image)
    x0, y0, x1, y1 = samples[0].boxes[1].astype(int)
    assert np.array_equal(tile[y0 + 5, x0], [0, 0, 255])  # the partial box edge is drawn in red
    assert samples[0].image is not tile
    g = preview_grid(samples, cols=3, pad=4)
    assert g.shape == (2 * 228 + 4, 3 * 228 + 4, 3)
    assert draw_sample(samples[0], scale=2).shape == (448, 448, 3)


# --- against the authors' outputs (../shared) ------------------------------------------------------------
@pytest.fixture
def ref():
    return np.load(need(REFERENCE / "expected_alignment_mfs.npz"))


@pytest.mark.shared
def test_window_search_on_the_fixture_crops_matches_their_box(ref):
    """On the aligned fake and source crops, inside the face hull, on the authors' 44-px grid, the 80x120
    window is the one they return (theirs is [y0, x0, y1, x1]; ours xyxy)."""
    fake, src, lm = ref["test_crop_fake__img"], ref["test_crop_src__img"], ref["test_crop_landmarks_warped"]
    y0, x0, y1, x1 = (int(v) for v in ref["mfs_partial_alpha_80x120_eval__bbox"][1])
    assert best_window(fake, src, (80, 120), hull_mask(lm), stride=authors_stride((224, 224))) == (x0, y0, x1, y1)


@pytest.mark.shared
def test_global_alpha_swap_matches_theirs(ref):
    """Their global swap (alpha, no elastic, source face onto the fake frame, blended at frame scale and then
    aligned) against ours on the aligned crops: the same image up to resampling."""
    fake, src, lm = ref["test_crop_fake__img"], ref["test_crop_src__img"], ref["test_crop_landmarks_warped"]
    cfg = MFSConfig(p_elastic=0.0, p_poisson=0.0, p_global=1.0, p_source_to_fake=1.0, p_fake_to_source=0.0,
                    p_untouched=0.0, p_partial=0.0)
    s = multi_scale_facial_swap(fake, src, lm, np.random.default_rng(0), cfg)
    theirs = ref["mfs_global_alpha_fake2src_eval__img"].astype(int)
    assert s.kind == "global_source_to_fake" and s.blend == "alpha"
    assert np.abs(s.image.astype(int) - theirs).mean() < 0.5
    assert np.abs(fake.astype(int) - theirs).mean() > 5
