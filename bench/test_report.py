"""bench/report.py's reading of targets from medians (no timing here)."""

import importlib.util
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def report():
    path = Path(__file__).with_name("report.py")
    spec = importlib.util.spec_from_file_location("bench_report", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PAIRED = ("float32 vs float64", 1_000_000, 32, "both types", "paired-faster-than",
          ("full-float32", "full-float64"), 1.5)


def test_paired_target_is_the_median_of_the_passes_ratios(report):
    # pass ratios 2.0, 1.2, 1.6: their median is 1.6, while the ratio of the
    # pooled medians (float64 0.030 over float32 0.020) would be 1.5
    group = {"full-float64 #1": 0.040, "full-float32 #1": 0.020,
             "full-float64 #2": 0.024, "full-float32 #2": 0.020,
             "full-float64 #3": 0.030, "full-float32 #3": 0.01875,
             "diagonal-float64 #1": 1.0, "diagonal-float32 #1": 1.0}
    medians = {("float32 vs float64", 1_000_000, 32, "both types"): group}
    description, ratio, bound, met = report.evaluate_target(medians, PAIRED)
    assert ratio == pytest.approx(1.6)
    assert met and bound == "≥ 1.5×"
    assert "median of 3 alternating passes" in description


def test_paired_target_skips_incomplete_passes_and_reports_none_measured(report):
    key = ("float32 vs float64", 1_000_000, 32, "both types")
    # pass 2 lacks its float32 half: only pass 1 counts
    medians = {key: {"full-float64 #1": 0.012, "full-float32 #1": 0.010,
                     "full-float64 #2": 0.040}}
    _, ratio, _, met = report.evaluate_target(medians, PAIRED)
    assert ratio == pytest.approx(1.2) and not met
    _, ratio, _, met = report.evaluate_target({}, PAIRED)
    assert ratio is None and not met


def test_paired_at_most_bounds_ours_over_the_peer(report):
    target = ("busy machine fit", 200_000, 32, "float64", "paired-at-most",
              ("gaussext-default", "gaussext-1-thread"), 1.3)
    key = ("busy machine fit", 200_000, 32, "float64")
    # pass ratios default / 1-thread: 1.2, 1.5, 0.5 -> median 1.2
    medians = {key: {"gaussext-default #1": 0.012, "gaussext-1-thread #1": 0.010,
                     "gaussext-default #2": 0.030, "gaussext-1-thread #2": 0.020,
                     "gaussext-default #3": 0.010, "gaussext-1-thread #3": 0.020}}
    description, ratio, bound, met = report.evaluate_target(medians, target)
    assert ratio == pytest.approx(1.2) and met and bound == "≤ 1.3×"
    assert "gaussext-default / gaussext-1-thread" in description
    medians[key]["gaussext-default #3"] = 0.040  # ratios 1.2, 1.5, 2.0 -> 1.5
    assert not report.evaluate_target(medians, target)[3]
