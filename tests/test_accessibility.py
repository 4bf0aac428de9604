"""What the pages owe people who see colour differently, or not at all (WCAG 2.2 AA; the browser
tests run axe-core on every page): the map's classes differ in lightness as well as hue."""

from __future__ import annotations

import itertools

import pytest

from dashboards.maps import PALETTE_OF, PALETTES, PTAL_PALETTE, palette


def luminance(hex_colour: str) -> float:
    """WCAG's relative luminance of an sRGB colour."""
    def lin(c: float) -> float:
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b)


@pytest.mark.parametrize("name", sorted(set(PALETTE_OF.values()) - {PTAL_PALETTE}))
@pytest.mark.parametrize("k", [3, 4, 5, 6, 7])
def test_every_measures_palette_goes_from_light_to_dark_so_classes_differ_in_greyscale(name, k):
    # ColorBrewer's sequential schemes (colour-blind safe): each class darker than the one before,
    # by a contrast ratio of at least 1.2 between neighbours (a greyscale print tells them apart)
    shades = [luminance(c) for c in palette(k, name)]
    ratios = [(a + 0.05) / (b + 0.05) for a, b in itertools.pairwise(shades)]
    assert min(ratios) >= 1.2, (name, k, ratios)


def test_ptals_nine_bands_are_nine_shades_each_darker_than_the_last():
    shades = [luminance(c) for c in PALETTES["Greens"]]
    ratios = [(a + 0.05) / (b + 0.05) for a, b in itertools.pairwise(shades)]
    assert min(ratios) >= 1.09 and len(shades) == 9
