import cv2
import numpy as np
import pytest

from conftest import REFERENCE, need
from core.faces.align import (AlignParams, align_face, alignment_matrix, crop_to_frame, five_points, invert_affine,
                              mean_face, transform_points)


def _synthetic_landmarks(m_crop_to_frame: np.ndarray) -> np.ndarray:
    """68 landmarks whose five points sit exactly on the mean face mapped into the frame by a similarity."""
    mf = mean_face()
    ld = np.zeros((68, 2))
    ld[36:42] = mf[0]
    ld[42:48] = mf[1]
    ld[30], ld[48], ld[54] = mf[2], mf[3], mf[4]
    others = [i for i in range(68) if not (36 <= i < 48 or i in (30, 48, 54))]
    ld[others] = mf[2]
    return transform_points(ld, m_crop_to_frame)


def test_five_points():
    ld = np.arange(136, dtype=np.float64).reshape(68, 2)
    p = five_points(ld)
    assert p.shape == (5, 2)
    np.testing.assert_allclose(p[0], ld[36:42].mean(0))
    np.testing.assert_allclose(p[1], ld[42:48].mean(0))
    np.testing.assert_allclose(p[2:], ld[[30, 48, 54]])
    with pytest.raises(ValueError):
        five_points(np.zeros((5, 2)))


def test_parity_with_authors_test_crop():
    d = np.load(need(REFERENCE / "expected_alignment_mfs.npz"))
    crop, m = align_face(d["src_bgr"], d["landmarks"])
    assert crop.shape == (224, 224, 3) and crop.dtype == np.uint8 and m.shape == (2, 3)
    diff = np.abs(crop.astype(int) - d["test_crop_src__img"].astype(int))
    # Measured: max 1, mean 0.00014 (21 of 150528 values differ by one grey level).
    assert diff.max() <= 1 and diff.mean() < 0.01
    warped = transform_points(d["landmarks"], m)
    np.testing.assert_allclose(warped, d["test_crop_landmarks_warped"], atol=1e-3)


def test_alignment_recovers_known_similarity():
    # Axis-aligned, integer scale and offset: the eye centres land on whole pixels, so the authors' truncation
    # of the eye centres changes nothing and the fit is exact.
    crop_to_frame_m = np.array([[2.0, 0.0, 300.0], [0.0, 2.0, 200.0]])
    mf = mean_face()
    ld = _synthetic_landmarks(crop_to_frame_m)
    ld[36:48] = np.round(ld[36:48])
    m = alignment_matrix(ld)
    pts = five_points(ld)
    residual = transform_points(pts, m) - mf
    assert np.abs(residual).max() < 0.6  # rounding the eyes moved them by <= 0.5 frame px = 0.25 crop px
    # Rotated: the fit stays within the truncation error (<= 1 frame px at scale 2.3 -> < 0.5 crop px).
    ang, s, t = np.deg2rad(25.0), 2.3, np.array([310.0, 205.0])
    r = s * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    c2f = np.hstack([r, t[:, None]])
    m = alignment_matrix(_synthetic_landmarks(c2f))
    corners = np.array([[0.0, 0.0], [224.0, 0.0], [224.0, 224.0], [0.0, 224.0]])
    assert np.abs(transform_points(transform_points(corners, c2f), m) - corners).max() < 1.0


def test_synthetic_warp_recovers_rectangle():
    # A known similarity crop -> frame: rotate 25 deg, scale 2.3, translate; M is its inverse (frame -> crop).
    ang, s, t = np.deg2rad(25.0), 2.3, np.array([310.0, 205.0])
    r = s * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    crop_to_frame_m = np.hstack([r, t[:, None]])
    m = invert_affine(crop_to_frame_m)
    np.testing.assert_allclose(invert_affine(m), crop_to_frame_m, atol=1e-9)

    # Draw, in the frame, the quadrilateral that the crop box [60, 50, 160, 170] covers.
    box = np.array([[60.0, 50.0, 160.0, 170.0]])
    bx = box[0]
    truth = transform_points(np.array([[bx[0], bx[1]], [bx[2], bx[1]], [bx[2], bx[3]], [bx[0], bx[3]]]),
                             crop_to_frame_m)
    img = np.zeros((900, 1000, 3), np.uint8)
    # Pixel centres are integer coordinates, so the shape's edges sit at +-0.5 of the polygon vertices' pixels.
    cv2.fillPoly(img, [np.round((truth - 0.5) * 16).astype(np.int32)], (255, 255, 255),
                 lineType=cv2.LINE_AA, shift=4)
    crop = cv2.warpAffine(img, m, (224, 224), flags=cv2.INTER_LINEAR)
    ys, xs = np.nonzero(crop[..., 0] > 127)
    found = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
    assert np.abs(found - bx).max() <= 1.0  # the quadrilateral is the axis-aligned box again in the crop

    corners, bounds = crop_to_frame(box, m)
    assert corners.shape == (1, 4, 2) and bounds.shape == (1, 4)
    assert np.abs(corners[0] - truth).max() < 0.5
    np.testing.assert_allclose(bounds[0], [*truth.min(0), *truth.max(0)], atol=1e-9)
    # The found box in the crop maps back onto the drawn quadrilateral within the pixel grid's error.
    corners_found, _ = crop_to_frame(found[None], m)
    assert np.abs(corners_found[0] - truth).max() <= 2.3 * 1.0 + 0.5
    # Empty input keeps its shape.
    c0, b0 = crop_to_frame(np.zeros((0, 4)), m)
    assert c0.shape == (0, 4, 2) and b0.shape == (0, 4)


def test_params_rotation_shift_and_random():
    s, t = 2.0, np.array([100.0, 80.0])
    base = np.hstack([s * np.eye(2), t[:, None]])
    ld = _synthetic_landmarks(base)
    m0 = alignment_matrix(ld)
    m_shift = alignment_matrix(ld, AlignParams(shift=(10.0, -5.0)))
    np.testing.assert_allclose(m_shift[:, 2] - m0[:, 2], [10.0, -5.0], atol=1e-9)
    m_rot = alignment_matrix(ld, AlignParams(rotation_deg=90.0))
    # The crop centre stays put under rotation about it.
    centre = transform_points(np.array([[112.0, 112.0]]), invert_affine(m0))
    np.testing.assert_allclose(transform_points(centre, m_rot), [[112.0, 112.0]], atol=1e-9)
    m_big = alignment_matrix(ld, AlignParams(scale=1.1))
    assert np.linalg.det(m_big[:, :2]) > np.linalg.det(m0[:, :2])

    rng = np.random.default_rng(0)
    draws = [AlignParams.random(rng) for _ in range(500)]
    scales = np.array([p.scale for p in draws])
    assert abs(scales.mean() - 0.9) < 0.02 and 0.07 < scales.std() < 0.13
    assert all(abs(p.shift[0]) <= 25 and abs(p.shift[1]) <= 25 for p in draws)
    assert all(abs(p.rotation_deg) <= 30 for p in draws)
    stretched = [p for p in draws if p.stretch != (1.0, 1.0)]
    assert 0.2 < len(stretched) / len(draws) < 0.5  # each factor with p=0.2
    assert all(0.97 <= v <= 1.03 for p in stretched for v in p.stretch)
    for p in draws[:20]:
        crop, m = align_face(np.zeros((300, 300, 3), np.uint8), ld, p)
        assert crop.shape == (224, 224, 3) and np.isfinite(m).all()
