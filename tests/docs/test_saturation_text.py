"""The saturation test is one function (gan/measure/metric_keys.is_saturated) with one text (SATURATED_TEXT) that
every table, figure and report reads; the pages that state its thresholds in words must state the same ones."""

import re
from pathlib import Path

from gan.measure import metric_keys as mk

ROOT = Path(__file__).resolve().parents[2]
REAL = re.compile(r"(?:D\(x\)|D/real_prob|sigmoid\(l\(x_train\)\))`? *> *([0-9.]*[0-9])")
FAKE = re.compile(r"(?:D\(G\(z\)\)|D/fake_prob|sigmoid\(l\(G\(z\)\)\))`? *< *([0-9.]*[0-9])")
PAIR = re.compile(r"the ([0-9.]*[0-9]) / ([0-9.]*[0-9]) threshold")


def _pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "results").glob("*/README.md"))]


def test_every_page_states_the_thresholds_is_saturated_uses():
    assert mk.is_saturated(mk.SATURATED_REAL + 1e-9, mk.SATURATED_FAKE - 1e-9)
    assert not mk.is_saturated(mk.SATURATED_REAL, mk.SATURATED_FAKE - 1e-9)  # strict: at the threshold, not
    assert mk.SATURATED_TEXT == f"D(x) > {mk.SATURATED_REAL} and D(G(z)) < {mk.SATURATED_FAKE}"
    stated, wrong = 0, []
    for page in _pages():
        text = " ".join(page.read_text().split())  # a sentence may wrap between lines
        found = [(m.group(0), m.group(1), mk.SATURATED_REAL) for m in REAL.finditer(text)]
        found += [(m.group(0), m.group(1), mk.SATURATED_FAKE) for m in FAKE.finditer(text)]
        for m in PAIR.finditer(text):
            found += [(m.group(0), m.group(1), mk.SATURATED_REAL), (m.group(0), m.group(2), mk.SATURATED_FAKE)]
        stated += len(found)
        wrong += [f"{page.relative_to(ROOT)}: '{words}'" for words, value, expected in found if float(value) != expected]
    assert stated >= 10  # the pages do state it (README, claims, metrics, answer, own-images): the check is not empty
    assert wrong == []
