"""Metrics against hand-computed cases."""

import math

import pytest

from fakedamage.metrics import binary_metrics, equal_error_rate, expected_calibration_error, tpr_at_fpr


def test_perfect_separation():
    m = binary_metrics([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9])
    assert m["auc"] == 1.0 and m["ap"] == 1.0 and m["tpr_at_1fpr"] == 1.0 and m["eer"] == 0.0
    assert m["accuracy"] == 1.0 and m["balanced_accuracy"] == 1.0


def test_tpr_at_fpr_by_hand():
    # 10 reals, 4 fakes. Highest real scores 0.9; fakes 0.95, 0.85, 0.5, 0.2
    reals = [0.9, 0.8, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1]
    fakes = [0.95, 0.85, 0.5, 0.2]
    y = [0] * 10 + [1] * 4
    s = reals + fakes
    # FPR 0 allows threshold above 0.9: only 0.95 -> TPR 0.25
    assert tpr_at_fpr(y, s, 0.01) == pytest.approx(0.25)
    # FPR <= 0.1 allows threshold 0.9 (one real): fakes above or equal 0.9 still only 0.95; at 0.85 FPR would be 0.1
    # threshold 0.85 -> reals >= 0.85: 0.9 only -> FPR 0.1, TPR 0.5
    assert tpr_at_fpr(y, s, 0.10) == pytest.approx(0.5)


def test_tpr_at_fpr_with_ties():
    # a fake tied with a real at the top: no threshold takes the fake without the real
    y = [0, 0, 0, 0, 1, 1]
    s = [0.9, 0.1, 0.1, 0.1, 0.9, 0.5]
    assert tpr_at_fpr(y, s, 0.01) == 0.0
    # threshold 0.5 admits the tied real (FPR 0.25) and both fakes
    assert tpr_at_fpr(y, s, 0.25) == pytest.approx(1.0)
    assert tpr_at_fpr(y, s, 0.24) == 0.0


def test_eer_symmetric_case():
    # reals 0.1, 0.6 ; fakes 0.4, 0.9: at threshold in (0.4, 0.6]: FPR 0.5, FNR 0.5
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]) == pytest.approx(0.5)


def test_ece_by_hand():
    # two bins used: p=0.25 for 4 images (1 positive) -> gap 0; p=0.75 for 4 images (1 positive) -> gap 0.5
    y = [1, 0, 0, 0, 1, 0, 0, 0]
    p = [0.25] * 4 + [0.75] * 4
    assert expected_calibration_error(y, p, n_bins=10) == pytest.approx(0.5 * 0.5)


def test_threshold_accuracy_and_nll():
    m = binary_metrics([0, 1], [0.6, 0.6], threshold=0.5)
    assert m["accuracy"] == 0.5 and m["fpr"] == 1.0 and m["tpr"] == 1.0
    assert m["nll"] == pytest.approx(-(math.log(0.4) + math.log(0.6)) / 2, rel=1e-5)
    assert m["brier"] == pytest.approx((0.36 + 0.16) / 2)


def test_single_class_gives_nan_auc():
    m = binary_metrics([0, 0], [0.2, 0.3])
    assert math.isnan(m["auc"])
