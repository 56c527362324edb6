"""docs/own-images.md quotes a compare study's headline: it is what gan/analysis/headline.py prints for the facts
and claim the page names (the Fashion-MNIST answer study's claim 2 on an invented 10,000-image folder)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import scipy.stats as sps

from gan.analysis.claims.registry import MARGINS, claim
from gan.analysis.claims.result import ClaimResult
from gan.analysis.headline import headline_text
from gan.analysis.stats import PairedTest

PAGE = Path(__file__).resolve().parents[2] / "docs" / "own-images.md"
# 10,000 images, 10% held out; the compare preset: 2000 steps, evaluated every 500, 2048 samples
FOLDER = {"name": "folder", "root": "/home/me/my_images", "images": 9000, "steps": 2000, "eval_every": 500,
          "evaluated": [1000, 1500, 2000], "n_samples": 2048, "held_out": 1000, "floor": 0.31, "blur_anchor": 35.2,
          "arms": {"ReLU": 13.2, "LeakyReLU(0.2)": 15.0}}


def test_the_quoted_headline_is_what_the_code_prints():
    # claim 2 of results/answer/fashion_mnist: 1.14x [1.09, 1.19], 24 pairs, Holm p 0.0014
    low, high, n = math.log(1.09), math.log(1.19), 24
    sd = (high - low) / 2 * math.sqrt(n) / sps.t.ppf(0.975, n - 1)
    test = PairedTest(math.log(1.14), low, high, n, sd, 0.0014, 0.96, math.log1p(MARGINS[2]))
    c = ClaimResult(2, claim(2).text, "tail3/log/quality/fcd", "contradicted (size unclear)", "", test, log=True,
                    p=0.0002, p_adjusted=0.0014)
    printed = headline_text(FOLDER, [c], MARGINS, "contradicted (size unclear)",
                            "sequential verdict at 24 seeds, level 0.039")
    quoted = re.search(r"^> (On these images .*)$", PAGE.read_text(), re.M).group(1)
    assert quoted == printed
