"""The report's first line says what was measured (gan/analysis/headline.py): the interval the verdict used and the
95% one, labelled; early training, samples far from the data and a biased FCD said in the line itself."""

from __future__ import annotations

import math

import pytest
import scipy.stats as sps

from gan.analysis.claims.registry import MARGINS, claim
from gan.analysis.claims.result import ClaimResult
from gan.analysis.headline import headline_text
from gan.analysis.stats import PairedTest


def claim2(ratio: float, ci95: tuple[float, float], n: int, p_equiv: float, verdict: str, p_adjusted: float = 0.9
           ) -> ClaimResult:
    """Claim 2 as analysis.json holds it, rebuilt from what a report printed: the ratio, its 95% CI, the pairs."""
    low, high = math.log(ci95[0]), math.log(ci95[1])
    sd = (high - low) / 2 * math.sqrt(n) / sps.t.ppf(0.975, n - 1)
    test = PairedTest(math.log(ratio), low, high, n, sd, p_adjusted, p_equiv, math.log1p(MARGINS[2]))
    return ClaimResult(2, claim(2).text, "tail3/log/quality/fcd", verdict, "", test, log=True, p=p_adjusted,
                       p_adjusted=p_adjusted)


# issue 43's photo crops: 600 steps evaluated every 200, 8 pairs, 2048 samples against 500 held-out images, both
# arms' samples coloured blobs (FCD ~27x the floor)
PHOTO_CROPS = {"name": "folder", "root": "/home/me/photo_crops", "images": 4500, "steps": 600, "eval_every": 200,
               "evaluated": [200, 400, 600], "n_samples": 2048, "held_out": 500, "floor": 1.5,
               "arms": {"ReLU": 40.1, "LeakyReLU(0.2)": 40.0}}


def test_the_photo_crop_headline_says_what_it_measured():
    text = headline_text(PHOTO_CROPS, [claim2(0.998, (0.895, 1.11), 8, 0.042, "equivalent")], MARGINS)
    assert text.startswith("On these images (/home/me/photo_crops, 4500 training images), at this training length "
                           "(600 steps): either: ReLU and LeakyReLU(0.2) in D gave samples of the same quality within "
                           "±10% (LeakyReLU / ReLU FCD 0.998x; ")
    # the interval the verdict used, then the 95% one, each labelled
    assert "equivalence test: 90% CI [0.916, 1.09] inside ±10%, TOST p 0.042; 95% CI [0.895, 1.11]; 8 seed pairs)" \
        in text
    assert ("it is about early training: the 3 evaluations averaged (steps 200, 400 and 600) cover the whole "
            "600-step run") in text
    assert ("both arms' samples are still far from the data's own floor: FCD 40.1 (ReLU) and 40 (LeakyReLU(0.2)), 27x and 27x what "
            "real held-out images score (1.5); 'the same quality' means equally far from real images") in text
    assert ("FCD was measured against only 500 held-out images, fewer than 2048: both arms' FCD are biased upwards, "
            "which pulls their ratio towards 1") in text
    assert "within ±10% (LeakyReLU / ReLU FCD 0.998x [95% CI" not in text  # the old line quoted only the 95% CI


def test_a_long_run_near_the_data_gets_no_caveat():
    facts = {**PHOTO_CROPS, "steps": 10000, "evaluated": [9000, 9500, 10000], "eval_every": 500,
             "held_out": 10000, "arms": {"ReLU": 4.3, "LeakyReLU(0.2)": 4.4}, "floor": 1.0}
    text = headline_text(facts, [claim2(1.02, (0.94, 1.11), 8, 0.03, "equivalent")], MARGINS)
    assert "Read it with care" not in text and text.endswith("8 seed pairs).")


@pytest.mark.parametrize("verdict, words", [
    ("supported (beyond the margin)", "use LeakyReLU(0.2) in D: its samples scored better than ReLU's, by more than "
     "±10% (the whole 95% CI beyond it) (LeakyReLU / ReLU FCD 0.8x, 95% CI [0.75, 0.85], p (Holm) 0.001; 8 seed "
     "pairs; lower FCD is better)"),
    ("supported (size unclear)", "its samples scored better than ReLU's; whether by more than ±10% is unclear"),
])
def test_every_verdict_quotes_its_95_interval_labelled(verdict, words):
    text = headline_text({**PHOTO_CROPS, "arms": {}}, [claim2(0.8, (0.75, 0.85), 8, 0.5, verdict, 0.001)], MARGINS)
    assert words in text


def test_an_undecided_verdict_says_neither_could_be_told():
    text = headline_text(PHOTO_CROPS, [claim2(0.97, (0.85, 1.1), 8, 0.2, "inconclusive", 0.6)], MARGINS)
    words = ("not decided: these 8 seed pairs can tell neither a difference nor equivalence within ±10% (LeakyReLU / "
             "ReLU FCD 0.97x, 95% CI [0.85, 1.1], p (Holm) 0.6); add seeds (--max-seeds) to decide it.")
    assert words in text


def test_a_study_without_claim_2_names_what_it_tested():
    c7 = ClaimResult(7, claim(7).text, "tail3/log/quality/fcd", "supported (size unclear)", "")
    c2 = ClaimResult(2, claim(2).text, "tail3/log/quality/fcd", "not tested", "needs relu and a leaky_relu arm")
    text = headline_text({**PHOTO_CROPS, "name": "fashion_mnist", "images": 60000}, [c2, c7], MARGINS)
    assert text == ("On Fashion-MNIST (60000 training images), at this training length (600 steps): no sample-quality "
                    "answer: claim 2 was not tested (needs relu and a leaky_relu arm); tested: claim 7 (The LeakyReLU "
                    "slope matters) supported (size unclear).")
