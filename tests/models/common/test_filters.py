"""The shared filters: the wide Gaussian matches OpenCV's full-grid blur."""
import cv2
import numpy as np
import pytest

from lumograph.models.common.filters import wide_gaussian


def _steps_field(h=300, w=420, seed=0):
    rng = np.random.default_rng(seed)
    cells = (rng.random((12, 15)) > 0.5).astype(np.float32)
    field = cv2.resize(cells, (w, h), interpolation=cv2.INTER_NEAREST)  # hard step edges
    return field + rng.normal(0, 0.05, field.shape).astype(np.float32)


@pytest.mark.parametrize("sigma", [2.0, 7.5, 9.0, 14.0, 25.0])
def test_wide_gaussian_matches_full_grid_blur(sigma):
    field = _steps_field()
    exact = cv2.GaussianBlur(field, (0, 0), sigma)
    fast = wide_gaussian(field, sigma)
    assert fast.shape == field.shape and fast.dtype == np.float32
    err = np.abs(fast - exact)
    assert float(err.max()) < 0.05  # of a unit step
    assert float(err.mean()) < 0.005


def test_wide_gaussian_is_the_full_blur_below_sigma_8_and_keeps_channels():
    field = _steps_field()
    np.testing.assert_array_equal(wide_gaussian(field, 7.9), cv2.GaussianBlur(field, (0, 0), 7.9))
    rgb = np.dstack([field, 1 - field, field * 0.5])
    out = wide_gaussian(rgb, 16.0)
    assert out.shape == rgb.shape
    np.testing.assert_allclose(out[..., 1], 1 - out[..., 0], atol=1e-4)  # linear, per channel
