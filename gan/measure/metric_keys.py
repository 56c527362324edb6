"""Every metric key, written once: its name, what it measures and which way is better.

Producers (gan/train/, gan/measure/probes.py, gan/measure/quality.py, gan/study/derived.py, gan/study/collect.py)
and consumers (gan/analysis/, gan/report/, gan/tracking/) import the names from here, so a rename changes every
reader at once instead of silently turning a claim into "not tested". `describe(key)` answers for any key a run or
a study writes, per-layer and derived ones included (None: not a key of this project). Which keys a claim reads,
primary or descriptive, is the claim's record (gan/analysis/claims/registry.py), not a property of the key.

Kinds of key (the metric definitions themselves live with their code: gan/measure/sparsity.py, probes.py, quality.py):
  metrics.jsonl rows   loss/*, D/*, perf/* (gan/train/step.py, loop.py); probe/... (gan/measure/probes.py);
                       quality/... (gan/measure/quality.py)
  summary.json         final/<key> (last value), mean/<key> (mean over the run's probes: probe/* only)
                       (gan/tracking/summary_file.py)
  results.csv          the summary's final/*, mean/*, classifier/*, provenance/*; and gan/study/derived.py's columns:
                       tail3/log/<key>, at1000/log/<key>, half2/<key>, median/<key>
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from gan.config import schema

LOWER, HIGHER, NONE = "lower", "higher", "none"  # which way is better


@dataclass(frozen=True)
class Metric:
    name: str  # the key, or a pattern: <net> D|G, <split> real|fake, <layer> a ConvBlock name, <m> a layer metric
    description: str
    direction: str = NONE
    needs: str = ""  # produced only under this setting (empty: by every run with probes and eval on)
    label: str = ""  # its name in a report, for a reader who does not know the keys (plain(key) builds on it)


##### metrics.jsonl: training (gan/train/step.py, gan/train/loop.py)

LOSS_D, LOSS_G = "loss/D", "loss/G"
D_REAL_PROB, D_FAKE_PROB = "D/real_prob", "D/fake_prob"
STEP_MS, IMG_PER_S = "perf/step_ms", "perf/img_per_s"

##### metrics.jsonl: probes (gan/measure/probes.py)

PROBE = "probe/"
NETS, SPLITS = ("D", "G"), ("real", "fake")
LAYER_METRICS = ("neg_frac", "dead_frac", "dead_frac_eval", "grad_zero_frac", "grad_hoyer", "grad_gini",
                 "param_grad_zero_frac")


def probe(net: str, metric: str, layer: str | None = None, split: str | None = None) -> str:
    """probe/<net>[/<split>][/<layer>]/<metric>: one layer, or the mean over the net's layers without one."""
    return PROBE + "/".join(p for p in (net, split, layer, metric) if p)


PROBE_LOSS_D, PROBE_LOSS_G = PROBE + "loss/D", PROBE + "loss/G"
D_DEAD_FRAC, D_DEAD_FRAC_EVAL = probe("D", "dead_frac"), probe("D", "dead_frac_eval")
D_GRAD_ZERO_FRAC, D_PARAM_GRAD_ZERO_FRAC = probe("D", "grad_zero_frac"), probe("D", "param_grad_zero_frac")
INPUT_GRAD = PROBE + "input_grad/"
IG_NORM, IG_NORM_CV, IG_STARVED_FRAC = INPUT_GRAD + "norm", INPUT_GRAD + "norm_cv", INPUT_GRAD + "starved_frac"
IG_HOYER, IG_GINI, IG_ZERO_FRAC = INPUT_GRAD + "hoyer", INPUT_GRAD + "gini", INPUT_GRAD + "zero_frac"
IG_HOYER_POOLED, IG_GINI_POOLED = INPUT_GRAD + "hoyer_pooled", INPUT_GRAD + "gini_pooled"
IG_ABS = INPUT_GRAD + "abs"  # a histogram (W&B only), not a metrics.jsonl value
OVERFIT = PROBE + "overfit/"  # is D over-strong (gan/measure/overfit.py)
OVERFIT_R_T, OVERFIT_R_V = OVERFIT + "r_t", OVERFIT + "r_v"
OVERFIT_HELDOUT_GAP, OVERFIT_SATURATED = OVERFIT + "heldout_gap", OVERFIT + "saturated"
SATURATED_REAL, SATURATED_FAKE = 0.9, 0.1  # D saturates: mean sigmoid on reals > 0.9 and on fakes < 0.1
SATURATED_TEXT = f"D(x) > {SATURATED_REAL} and D(G(z)) < {SATURATED_FAKE}"  # the test in words, for every text
D_SATURATED = "D/saturated"  # per logged training row: is_saturated(D/real_prob, D/fake_prob) (derived only)
# claim 11's window (docs/claims.md): a ReLU run's saturated share over the logged rows with 1000 < step <= 2000;
# steps up to 1000 are a start-up transient in which every BatchNorm D saturates (0.36-0.76), telling nothing
SATURATION_WINDOW = (1000, 2000)


def is_saturated(real_prob: float, fake_prob: float) -> bool:
    """D saturates: the batch mean of sigmoid(D(x)) above SATURATED_REAL and of sigmoid(D(G(z))) below
    SATURATED_FAKE (SATURATED_TEXT says it in words for every table, figure and report). The one test: the over-fit
    probe, the derived results.csv columns and claim 11's rule all call it."""
    return float(real_prob) > SATURATED_REAL and float(fake_prob) < SATURATED_FAKE
D_LAYER_DEAD = re.compile(r"^(?:mean/)?probe/D/([^/]+)/dead_frac$")  # group 1: a layer, or a split

##### metrics.jsonl: sample quality (gan/measure/quality.py)

QUALITY, QUALITY_REF = "quality/", "quality/ref/"


def quality(name: str) -> str:
    return QUALITY + name


def reference(key: str) -> str:
    """quality/<m> -> quality/ref/<m>: what real images score (the floor beside a run's value)."""
    return key.replace(QUALITY, QUALITY_REF, 1)


FCD, FID, KID, KID_STD, IS = (quality(k) for k in ("fcd", "fid", "kid", "kid_std", "is"))
PRECISION, RECALL, DENSITY, COVERAGE = (quality(k) for k in ("precision", "recall", "density", "coverage"))
MODES_COVERED, CLASS_KL = quality("modes_covered"), quality("class_kl")
REF_CLASSIFIER_TEST_ACC = QUALITY_REF + "classifier_test_acc"
REF_HELD_OUT = QUALITY_REF + "held_out_images"  # how many real images every evaluation compares against


def blurred_reference(key: str) -> str:
    """quality/<distance> -> quality/ref/<distance>_blur1: the distance of the floor's real images blurred with a
    Gaussian of sigma 1 (the feature sanity check's mildest corruption): real images anyone would call 'near the
    data', the headline's anchor for 'far from the data'."""
    return reference(key) + "_blur1"


REF_FCD_BLUR1 = blurred_reference(FCD)

##### summary.json sections and results.csv columns

FINAL, MEAN, CLASSIFIER, PROVENANCE = "final", "mean", "classifier", "provenance"  # summary.json sections
DATASET = "dataset"  # summary.json: what the run trained on (gan.data.training_set.load_training_set)
TRAIN_IMAGES, TRAIN_HASH = DATASET + "/train_images", DATASET + "/train_hash"
TRAIN_CONTENT_HASH = DATASET + "/train_content_hash"
CLASSIFIER_HASH, CLASSIFIER_TEST_ACC = CLASSIFIER + "/hash", CLASSIFIER + "/test_acc"
CODE_VERSION = PROVENANCE + "/code_version"
TAIL_EVALS = 3  # derived.tail_log_mean's k, spelled in its column name
EARLY_STEP = 1000  # derived.early_log_value's step, spelled in its column name


def final(key: str) -> str:
    return f"{FINAL}/{key}"


def mean(key: str) -> str:
    return f"{MEAN}/{key}"


def median(key: str) -> str:
    return f"median/{key}"


def tail_log(key: str) -> str:
    """'quality/fcd' -> 'tail3/log/quality/fcd'."""
    return f"tail{TAIL_EVALS}/log/{key}"


def early_log(key: str) -> str:
    """'quality/fcd' -> 'at1000/log/quality/fcd'."""
    return f"at{EARLY_STEP}/log/{key}"


def half2(key: str) -> str:
    """'probe/D/dead_frac' -> 'half2/probe/D/dead_frac'."""
    return f"half2/{key}"


def window(key: str, after: int = SATURATION_WINDOW[0], upto: int = SATURATION_WINDOW[1]) -> str:
    """'D/saturated' -> 'w1001_2000/D/saturated': over the logged rows with after < step <= upto."""
    return f"w{after + 1}_{upto}/{key}"


TAIL_N_EVALS = f"tail{TAIL_EVALS}/n_evals"
MEDIAN_STEP_MS = median(STEP_MS)

##### W&B only: media and tables

SAMPLES = "samples"  # the fixed-noise grid, as an image
TABLE_METRICS, TABLE_SAMPLES = final("metrics"), final("samples")

##### the registry

_LAYER_TEXT = {
    "neg_frac": "share of pre-activation entries <= 0",
    "dead_frac": "share of channels <= 0 at every position of every probe sample (training view)",
    "dead_frac_eval": "share of channels <= 0 on the whole held-out set, D in eval mode (data view)",
    "grad_zero_frac": "share of exact zeros in dLoss/d(pre-activation)",
    "grad_hoyer": "Hoyer sparsity of dLoss/d(pre-activation) per sample, mean over samples",
    "grad_gini": "Gini sparsity of dLoss/d(pre-activation) per sample, mean over samples",
    "param_grad_zero_frac": "share of exact zeros in the block's conv weight gradient",
}
_G_METRICS = ("neg_frac", "dead_frac", "grad_zero_frac", "grad_hoyer")
_D_LOWER = ("dead_frac", "dead_frac_eval")

_METRICS = [
    Metric(LOSS_D, "D's BCE loss on the training batch (real -> 1, fake -> 0)"),
    Metric(LOSS_G, "G's non-saturating loss on the training batch"),
    Metric(D_REAL_PROB, "mean sigmoid(D(x)) on the real batch"),
    Metric(D_FAKE_PROB, "mean sigmoid(D(G(z))) on the fake batch"),
    Metric(STEP_MS, "wall time per training step since the last logged row (ms)", LOWER),
    Metric(IMG_PER_S, "training images per second since the last logged row", HIGHER),
    Metric(PROBE_LOSS_D, "D loss on the fixed probe batch"),
    Metric(PROBE_LOSS_G, "G loss on the fixed probe batch"),
    Metric(IG_NORM, "mean per-sample |dL_G/dx|_2 at x = G(z)"),
    Metric(IG_NORM_CV, "SD / mean of the per-sample |dL_G/dx|_2"),
    Metric(IG_STARVED_FRAC, "share of fakes whose |dL_G/dx|_2 is below 1% of the batch median", LOWER),
    Metric(IG_HOYER, "per-sample Hoyer sparsity of dL_G/dx, mean over samples", LOWER),
    Metric(IG_GINI, "per-sample Gini sparsity of dL_G/dx, mean over samples", LOWER),
    Metric(IG_HOYER_POOLED, "Hoyer sparsity of dL_G/dx over the whole batch at once", LOWER),
    Metric(IG_GINI_POOLED, "Gini sparsity of dL_G/dx over the whole batch at once", LOWER),
    Metric(IG_ZERO_FRAC, "share of exact zeros in dL_G/dx over the batch", LOWER),
    Metric(IG_ABS, "histogram of |dL_G/dx| (W&B only)"),
    Metric(OVERFIT_R_T, "E[sign D(x)] over real training images (ADA's r_t; 1: every one called real)", LOWER),
    Metric(OVERFIT_R_V, "(E D(x_train) - E D(x_held)) / (E D(x_train) - E D(G(z))) on logits (0: held-out reals "
           "look like training reals; 1: like fakes)", LOWER),
    Metric(OVERFIT_HELDOUT_GAP, "D's real loss on held-out test images minus on training images", LOWER),
    Metric(OVERFIT_SATURATED, f"1 when D saturates ({SATURATED_TEXT} on the probe batch); its run mean is the "
           "share of saturated probes", LOWER),
    *(Metric(probe("D", m), f"D, mean over layers: {t}", LOWER if m in _D_LOWER else NONE)
      for m, t in _LAYER_TEXT.items()),
    *(Metric(probe("G", m), f"G, mean over layers: {_LAYER_TEXT[m]}") for m in _G_METRICS),
    Metric(FCD, "Frechet distance in the dataset classifier's features (FCD)", LOWER),
    Metric(FID, "Frechet Inception distance", LOWER, needs="eval.features=inception"),
    Metric(KID, "kernel Inception-style distance in the same features", LOWER),
    Metric(KID_STD, "SD of KID over its subsets"),
    Metric(IS, "Inception-style score from the classifier's logits", HIGHER),
    Metric(PRECISION, "prdc precision (k = 5)", HIGHER),
    Metric(RECALL, "prdc recall (k = 5)", HIGHER),
    Metric(DENSITY, "prdc density (k = 5)", HIGHER),
    Metric(COVERAGE, "prdc coverage (k = 5)", HIGHER),
    Metric(MODES_COVERED, "classes the classifier finds among the fakes", HIGHER),
    Metric(CLASS_KL, "KL divergence of the fakes' class histogram from uniform", LOWER),
    Metric(REF_CLASSIFIER_TEST_ACC, "the quality classifier's test accuracy (summary.json quality_ref)", HIGHER),
    Metric(REF_HELD_OUT, "held-out real images the quality metrics compare samples against (the test split; "
           "summary.json quality_ref): fewer than 2048 bias FCD upwards"),
    Metric(REF_FCD_BLUR1, "FCD of the floor's real images blurred with a Gaussian of sigma 1 against the held-out "
           "ones (summary.json quality_ref, the floor's cache): the report headline's anchor for 'far from the data'",
           LOWER),
    # results.csv columns a claim reads (gan/study/derived.py: how they are computed)
    Metric(half2(IG_HOYER), "claim 1: input-gradient Hoyer, mean over the 2nd half's probes", LOWER),
    Metric(tail_log(FCD), "claims 2, 4, 5, 7, 8, 9: mean log FCD over the last 3 evaluations", LOWER),
    Metric(tail_log(FID), "as tail3/log/quality/fcd, with Inception features", LOWER,
           needs="eval.features=inception"),
    Metric(tail_log(KID), "beside every quality claim: mean log KID over the last 3 evaluations (descriptive)", LOWER),
    Metric(half2(D_DEAD_FRAC), "claim 3: D dead fraction (training view), mean over the 2nd half", LOWER),
    Metric(half2(D_DEAD_FRAC_EVAL), "claim 3 (beside it): D dead fraction, data view, 2nd half", LOWER),
    Metric(half2(D_SATURATED), "beside claim 2: share of the 2nd half's logged training steps with a saturated D "
           f"({SATURATED_TEXT})", LOWER),
    Metric(window(D_SATURATED), f"claim 11's statistic: share of the logged training steps {SATURATION_WINDOW[0] + 1}"
           f"-{SATURATION_WINDOW[1]} with a saturated D ({SATURATED_TEXT}); a cell's S is its mean over the ReLU runs",
           LOWER, needs=f"train.steps >= {SATURATION_WINDOW[1]}"),
    Metric(half2(OVERFIT_HELDOUT_GAP), "beside claim 2: D's held-out minus training real loss, 2nd-half mean", LOWER),
    Metric(early_log(FCD), "claim 2 at the early horizon: log FCD at the evaluation nearest step 1000", LOWER,
           needs="an evaluation within 750-1250 steps"),
    Metric(early_log(FID), "as at1000/log/quality/fcd, with Inception features", LOWER,
           needs="eval.features=inception"),
    Metric(TAIL_N_EVALS, "how many evaluations tail3/log/* averaged (< 3 on short runs)"),
    Metric(MEDIAN_STEP_MS, "median of the run's logged step times (ms); runs share the CPU", LOWER),
    Metric(CLASSIFIER_HASH, "sha256 of the classifier that measured the run's quality"),
    Metric(TRAIN_IMAGES, "images the run trained on (data.train_size, or the whole training split)"),
    Metric(TRAIN_HASH, "sha256 of the indices of those images: runs that trained on the same images share it"),
    Metric(TRAIN_CONTENT_HASH, "sha256 of those images' uint8 pixels as trained on (after any subset): runs that "
           "trained on the same pixels share it, whatever decoded them"),
    Metric(CLASSIFIER_TEST_ACC, "that classifier's test accuracy", HIGHER),
    *(Metric(f"{PROVENANCE}/{k}", f"where the run ran: {t} (gan/train/provenance.py)") for k, t in (
        ("code_version", "git commit, -dirty when the tree had changes"), ("torch", "torch version"),
        ("python", "Python version"), ("cpu", "CPU model"),
        ("cpu_kind", "CPU kind: vendor, family.model, torch capability, kernel-changing ISA flags; runs retrain "
         "bit for bit only on the same kind"), ("threads", "torch threads"),
        ("device", "device"), ("precision", schema.PRECISION))),
    Metric(SAMPLES, "the fixed-noise sample grid (W&B image)"),
]
REGISTRY: dict[str, Metric] = {m.name: m for m in _METRICS}

# what a report calls the metrics a claim or a table reads (describe() has the full definitions)
_LABELS = {
    FCD: "FCD", FID: "FID", KID: "KID", IS: "IS", MODES_COVERED: "classes found among the fakes",
    IG_HOYER: "Hoyer sparsity of the gradient G receives", IG_ZERO_FRAC: "share of zeros in the gradient G receives",
    IG_NORM: "size of the gradient G receives", D_DEAD_FRAC: "share of dead D units (training view)",
    D_DEAD_FRAC_EVAL: "share of dead D units (held-out data)",
    D_GRAD_ZERO_FRAC: "share of zeros in D's pre-activation gradients",
    D_PARAM_GRAD_ZERO_FRAC: "share of zeros in D's weight gradients",
    D_SATURATED: "share of steps with a saturated D", OVERFIT_HELDOUT_GAP: "D's held-out minus training real loss",
    OVERFIT_R_T: "share of training images D calls real (r_t)", OVERFIT_R_V: "where held-out images sit (r_v)",
    OVERFIT_SATURATED: "share of probes with a saturated D", STEP_MS: "step time (ms)",
    LOSS_D: "D loss", LOSS_G: "G loss", D_REAL_PROB: "D(x) on real images", D_FAKE_PROB: "D(G(z)) on fakes",
}
_LABEL_PREFIXES = [(f"tail{TAIL_EVALS}/log/", f", mean log of the last {TAIL_EVALS} evaluations"),
                   (f"at{EARLY_STEP}/log/", f", log at the evaluation nearest step {EARLY_STEP}"),
                   ("half2/", ", 2nd-half mean"), ("final/", ", last value"), ("mean/", ", mean over the run"),
                   ("median/", ", median over the run")]
for _key, _label in _LABELS.items():
    if _key in REGISTRY:
        REGISTRY[_key] = replace(REGISTRY[_key], label=_label)


def plain(key: str) -> str:
    """A key in a reader's words: 'tail3/log/quality/fcd' -> 'FCD, mean log of the last 3 evaluations'; the key
    itself when the registry has no name for it."""
    for prefix, how in _LABEL_PREFIXES:
        if key.startswith(prefix) and key[len(prefix):] in _LABELS:
            return _LABELS[key[len(prefix):]] + how
    if key.startswith(QUALITY_REF) and quality(key[len(QUALITY_REF):]) in _LABELS:
        return _LABELS[quality(key[len(QUALITY_REF):])] + " of real images against the held-out ones (the floor)"
    return _LABELS.get(key) or key


_PATTERNS = [(re.compile(rf"^probe/(D|G)/(?:(?:real|fake)/)?(?:[^/]+/)?({'|'.join(LAYER_METRICS)})$"),
              "one layer or one split of: ")]
_PREFIXES = [("final/", "last value of "), ("mean/", "mean over the run's probes of "), ("median/", "median of "),
             ("half2/", "2nd-half mean of "), (f"tail{TAIL_EVALS}/log/", f"mean log over the last {TAIL_EVALS} of "),
             (f"at{EARLY_STEP}/log/", f"log at the evaluation nearest step {EARLY_STEP} of "),
             (QUALITY_REF, "real-data floor of ")]


def describe(key: str) -> Metric | None:
    """The registry entry of `key` (per-layer keys and derived columns included); None when it is unknown."""
    if key in REGISTRY:
        return REGISTRY[key]
    for prefix, what in _PREFIXES:
        rest = key.removeprefix(prefix)
        if rest != key and (base := describe(quality(rest) if prefix == QUALITY_REF else rest)):
            return replace(base, name=key, description=what + base.description)
    for pattern, what in _PATTERNS:
        if m := pattern.match(key):
            return Metric(key, what + _LAYER_TEXT[m.group(2)])
    return None
