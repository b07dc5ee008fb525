"""Figures in the UI's metadata read as figures: four significant digits, whatever the scale."""

import math

import pytest

from assets.metadata import rounded


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.19148936170212766, 0.1915),
        (0.0001234567, 0.0001235),
        (812.3456, 812.3),
        (123456.7, 123500.0),
        (-0.5, -0.5),
        (0.0, 0.0),
        (None, None),
    ],
)
def test_figures_keep_four_significant_digits(value, expected):
    assert rounded(value) == expected


def test_non_finite_figures_are_kept():
    assert math.isnan(rounded(float("nan"))) and rounded(float("inf")) == float("inf")
