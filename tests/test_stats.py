"""The bootstrap kernels (cf_utils/stats.py): paired and clustered resampling, p-values, Holm, power."""

import numpy as np
import pytest

from cf_utils import stats


def _outcomes(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    start = rng.random(n) < 0.6
    later = np.where(rng.random(n) < 0.2, ~start, start)  # 20% of items flip
    return np.column_stack([start, later]).astype(float)


def test_singleton_clusters_resample_like_items():
    m = _outcomes(400, 0)
    items = stats.resample_means(m, np.random.default_rng(1), 4000)
    clusters = stats.resample_cluster_means(m, np.arange(len(m)), np.random.default_rng(1), 4000)
    assert np.allclose(items.mean(axis=0), clusters.mean(axis=0), atol=0.3)
    assert np.allclose(items.std(axis=0), clusters.std(axis=0), rtol=0.08)


def test_clusters_of_copies_carry_the_variance_of_one_item():
    """Five identical copies of each item are one observation: clustering by copy restores its SE."""
    m = _outcomes(200, 3)
    copies, ids = np.repeat(m, 5, axis=0), np.repeat(np.arange(len(m)), 5)
    one = stats.resample_means(m, np.random.default_rng(4), 4000)[:, 1].std()
    naive = stats.resample_means(copies, np.random.default_rng(4), 4000)[:, 1].std()
    clustered = stats.resample_cluster_means(copies, ids, np.random.default_rng(4), 4000)[:, 1].std()
    assert clustered == pytest.approx(one, rel=0.08)
    assert naive == pytest.approx(one / np.sqrt(5), rel=0.08)  # what ignoring the clusters would claim


def test_p_value_and_holm():
    assert stats.p_value(np.linspace(-1, 1, 1001)) == pytest.approx(1.0)
    assert stats.p_value(np.linspace(0.1, 1, 100)) == 0.0
    assert stats.p_value(np.r_[np.full(10, -1.0), np.full(90, 1.0)]) == pytest.approx(0.2)
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5]) == [0.5]


def test_minimal_detectable_effect_is_2_8_standard_errors():
    assert stats.minimal_detectable(1.0) == pytest.approx(2.8016, abs=1e-3)
    # a test at that effect size rejects 80% of the time (normal approximation)
    rng = np.random.default_rng(0)
    estimates = rng.normal(stats.minimal_detectable(2.0), 2.0, 20000)
    assert (estimates / 2.0 > stats.Z_975).mean() == pytest.approx(0.80, abs=0.01)
