"""Operating point, temperature, bootstrap intervals and pixel metrics, against hand-computed cases."""

import numpy as np
import pytest

from fakedamage.calibration import calibrate, fit_temperature, fpr_upper_bound, min_reals_for, threshold_at_fpr
from fakedamage.metrics import best_threshold_pixel_f1, bootstrap_ci, pixel_scores, pixel_summary


def test_threshold_at_fpr_by_hand_with_ties():
    reals = [0.1, 0.5, 0.5, 0.9]
    # 25% of 4 reals: one false positive allowed -> only 0.9 may pass; the tied 0.5s must not
    t = threshold_at_fpr(reals, 0.25)
    assert 0.5 < t <= 0.5 + 1e-12
    assert np.mean(np.array(reals) >= t) == 0.25
    # 0%: above the highest real
    assert threshold_at_fpr(reals, 0.0) > 0.9
    # 50%: two allowed, but 0.5 is tied twice -> still only 0.9 passes (never over the target)
    assert np.mean(np.array(reals) >= threshold_at_fpr(reals, 0.5)) == 0.25


def test_threshold_margin_keeps_rates_but_not_on_a_score():
    reals, fakes = [0.1, 0.2, 0.3], [0.25, 0.7, 0.9]
    t = threshold_at_fpr(reals, 0.0, all_scores=reals + fakes)
    assert t == pytest.approx(0.5)  # midway between the top real 0.3 and the next score 0.7
    assert threshold_at_fpr(reals, 0.0) == pytest.approx(0.3) and threshold_at_fpr(reals, 0.0) > 0.3


@pytest.mark.parametrize("target", [0.0, 0.01, 0.05, 0.1, 0.3])
def test_threshold_meets_target_on_the_calibration_split(target):
    rng = np.random.default_rng(1)
    reals = np.round(rng.beta(2, 5, 500), 2)  # rounding makes many ties
    t = threshold_at_fpr(reals, target)
    assert np.mean(reals >= t) <= target


def test_temperature_recovers_the_true_scale():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(4000), np.ones(4000)].astype(int)
    u = np.r_[rng.normal(-1, 1, 4000), rng.normal(1, 1, 4000)]
    # true log-odds are 2u; the model reports 5u, i.e. overconfident by 2.5x
    t = fit_temperature(5 * u, y)
    assert t == pytest.approx(2.5, rel=0.05)


def test_calibrate_reports_what_it_chose():
    y = np.array([0] * 100 + [1] * 100)
    z = np.r_[np.linspace(-4, 1, 100), np.linspace(-1, 4, 100)]
    cal = calibrate(z, y, target_fpr=0.05)
    assert cal.fpr <= 0.05 and cal.n_real == 100 and cal.n_fake == 100 and 0 < cal.tpr < 1
    assert calibrate(z, y, temperature=False).temperature == 1.0


def test_fpr_upper_bound_by_hand():
    # no false positive in n reals: bound = 1 - 0.05 ** (1 / n) (the "rule of three", ~3/n)
    assert fpr_upper_bound(38, 0) == pytest.approx(1 - 0.05 ** (1 / 38), rel=1e-9)
    assert fpr_upper_bound(38, 0) == pytest.approx(0.0758, abs=1e-4)
    assert fpr_upper_bound(10, 10) == 1.0
    assert min_reals_for(0.01) == 299 and fpr_upper_bound(299, 0) <= 0.01 < fpr_upper_bound(298, 0)


def test_calibrate_warns_when_the_split_cannot_support_the_target():
    y = np.array([0] * 38 + [1] * 114)
    z = np.r_[np.linspace(-6, -2, 38), np.linspace(2, 6, 114)]
    groups = [f"photo{i % 6}" for i in range(152)]
    cal = calibrate(z, y, 0.01, groups=groups)
    assert cal.fpr == 0 and cal.n_sources == 6
    assert cal.warning and "38 reals" in cal.warning and "6 source photos" in cal.warning
    y = np.array([0] * 400 + [1] * 100)
    z = np.r_[np.linspace(-6, 0, 400), np.linspace(-1, 6, 100)]
    cal = calibrate(z, y, 0.01, groups=[f"p{i % 40}" for i in range(500)])
    assert cal.warning is None and cal.fpr <= 0.01 and cal.fpr_upper_95 <= 0.03


def test_bootstrap_interval_brackets_the_estimate_and_narrows_with_data():
    rng = np.random.default_rng(0)

    def data(n):
        y = np.r_[np.zeros(n), np.ones(n)].astype(int)
        return y, np.r_[rng.normal(0, 1, n), rng.normal(1.5, 1, n)]

    y, s = data(60)
    small = bootstrap_ci(y, s, n_boot=200, metrics=("auc",))["auc"]
    y2, s2 = data(600)
    large = bootstrap_ci(y2, s2, n_boot=200, metrics=("auc",))["auc"]
    from sklearn.metrics import roc_auc_score

    assert small[0] <= roc_auc_score(y, s) <= small[1]
    assert (large[1] - large[0]) < (small[1] - small[0])
    # cluster bootstrap: one group per class cannot be split, so every valid resample is the same
    same = bootstrap_ci(y, s, groups=["a"] * 60 + ["b"] * 60, n_boot=50, metrics=("auc",))["auc"]
    assert np.isnan(same[0]) or same[0] == same[1]


def test_pixel_scores_by_hand():
    target = np.zeros((4, 4), bool)
    target[:2, :2] = True  # 4 pixels
    pred = np.zeros((4, 4))
    pred[:2, :3] = 0.9  # 6 predicted: 4 TP, 2 FP
    s = pixel_scores(pred, target, 0.5)
    assert s["f1"] == pytest.approx(2 * 4 / (2 * 4 + 2 + 0))
    assert s["iou"] == pytest.approx(4 / 6)
    assert pixel_scores(np.zeros((4, 4)), np.zeros((4, 4), bool))["f1"] == 1.0
    assert pixel_summary([{"pixel_f1": 0.2, "pixel_iou": 0.1}, {"pixel_f1": 0.4, "pixel_iou": 0.3}, {}])["pixel_n"] == 2


def test_best_threshold_f1_is_an_upper_bound_of_fixed_f1():
    rng = np.random.default_rng(0)
    targets = [rng.random((16, 16)) > 0.7 for _ in range(5)]
    maps = [np.clip(t * 0.3 + rng.random((16, 16)) * 0.4, 0, 1) for t in targets]  # weak maps: all below 0.5 + noise
    fixed = np.mean([pixel_scores(m, t, 0.5)["f1"] for m, t in zip(maps, targets)])
    best = best_threshold_pixel_f1(maps, targets)
    assert best["pixel_f1_best_threshold"] >= fixed
    assert best["pixel_best_threshold"] != 0.5
