"""gan/measure/quality.py: metric definitions pinned on hand-built tensors, the Evaluator API, `gan eval`."""

from __future__ import annotations

import copy
import json
import math
import sys
import types
import urllib.error

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.transforms.functional import gaussian_blur

from gan.train import distributed

from gan.measure import quality
from gan.train.checkpoint import save_checkpoint
from gan.measure.classifier import build_classifier
from gan.config.schema import RunConfig
from gan.config.load import apply_overrides, config_to_dict
from gan.data.builtin import load_split
from gan.data.images import to_float
from gan.errors import UserError
from gan.nets.models import build_models

pytestmark = pytest.mark.filterwarnings("ignore:quality metrics from")  # every test here uses < 2048 samples

KEYS = ["fcd", "kid", "kid_std", "is", "precision", "recall", "density", "coverage", "modes_covered", "class_kl"]


def _cfg(tmp_path, *overrides: str) -> RunConfig:
    return apply_overrides(RunConfig(), [f"data.root={tmp_path / 'data'}", "data.name=fake", "model.ngf=8",
                                         "model.ndf=8", "model.nz=16", "eval.n_samples=64",
                                         "eval.batch_size=32", *overrides])


@pytest.fixture(scope="module")
def shared_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("gan_cache")


@pytest.fixture
def evaluator(shared_cache, tmp_path, monkeypatch):
    """An Evaluator on `fake` data whose classifier is trained once for the whole module."""
    monkeypatch.setenv("GAN_CACHE_DIR", str(shared_cache))
    return quality.Evaluator(_cfg(tmp_path), "cpu")


def _blobs(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Structured images: class k is a bright 8x8 square at one of 10 places, plus a little noise."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 10
    x = torch.full((n, 1, 32, 32), -1.0)
    for i, k in enumerate(labels.tolist()):
        r, c = 2 + 10 * (k // 4), 2 + 7 * (k % 4)
        x[i, :, r:r + 8, c:c + 8] = 1.0
    return (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(-1, 1), labels


########################################################################################
# pure metrics


def test_identical_sets_give_zero_distance_and_full_precision_recall():
    feats = torch.randn(300, 16, generator=torch.Generator().manual_seed(0))
    logits = torch.randn(300, 10, generator=torch.Generator().manual_seed(1))
    m = quality.quality_metrics(feats, feats, logits)
    assert list(m) == [f"quality/{k}" for k in KEYS]
    assert all(isinstance(v, float) for v in m.values())
    assert abs(m["quality/fcd"]) < 1e-3
    assert m["quality/kid"] < 0  # unbiased MMD^2 of a set with itself: the diagonal terms are left out
    for k in ("precision", "recall", "coverage"):
        assert m[f"quality/{k}"] == pytest.approx(1.0)
    assert m["quality/density"] == pytest.approx(1.0, abs=0.1)


def test_frechet_distance_of_shifted_gaussians_is_squared_shift():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(4000, 4, generator=g, dtype=torch.float64).float()
    assert quality.frechet_distance(real, real + 2.0) == pytest.approx(4 * 4.0, rel=1e-3)


def test_kid_near_zero_for_two_draws_of_one_distribution():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(300, 16, generator=g), torch.randn(300, 16, generator=g)
    assert abs(quality.kernel_distance(a, b)[0]) < 0.02
    assert quality.kernel_distance(a, b + 0.5)[0] > 0.5


def test_one_class_generator_covers_one_mode_with_kl_log_c():
    logits = F.one_hot(torch.full((200,), 3), 10).float()
    assert quality.class_coverage(logits) == (1.0, pytest.approx(math.log(10)))
    balanced = F.one_hot(torch.arange(200) % 10, 10).float()
    assert quality.class_coverage(balanced) == (10.0, pytest.approx(0.0, abs=1e-12))
    # the threshold is share >= 1/(4C): 5 of 200 = 1/40 counts, 4 of 200 does not
    labels = torch.cat([torch.zeros(5), torch.ones(4), torch.full((191,), 2)]).long()
    assert quality.class_coverage(F.one_hot(labels, 10).float())[0] == 2.0


def test_is_is_one_for_one_class_and_c_for_confident_balanced():
    one = F.one_hot(torch.full((200,), 3), 10).float() * 50
    assert quality.inception_score(one) == pytest.approx(1.0, abs=1e-4)
    balanced = F.one_hot(torch.arange(5000) % 10, 10).float() * 50  # 10 random splits of 500
    assert quality.inception_score(balanced) == pytest.approx(10.0, rel=0.02)


def test_nonfinite_fakes_give_nan_and_rng_is_untouched():
    feats = torch.randn(50, 8)
    state = torch.get_rng_state()
    m = quality.quality_metrics(feats, torch.full((50, 8), float("nan")), torch.zeros(50, 10))
    assert all(math.isnan(v) for v in m.values())
    quality.quality_metrics(feats, feats + 0.1, torch.randn(50, 10, generator=torch.Generator()))
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.filterwarnings("default:quality metrics from")
def test_few_samples_warn():
    feats = torch.randn(100, 8)
    with pytest.warns(UserWarning, match="< 2048"):
        quality.quality_metrics(feats, feats, torch.randn(100, 10))


def test_real_vs_real_below_blurred_below_noise():
    torch.manual_seed(0)
    net = build_classifier(1).eval()
    real_a, _ = _blobs(300, 1)
    real_b, _ = _blobs(300, 2)
    blurred = gaussian_blur(real_b, kernel_size=7, sigma=2.0)
    noise = torch.rand(300, 1, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        fa = net.features(real_a)
        dists = [quality.frechet_distance(fa, net.features(x)) for x in (real_b, blurred, noise)]
        kids = [quality.kernel_distance(fa, net.features(x))[0] for x in (real_b, blurred, noise)]
    assert dists[0] < dists[1] < dists[2], dists
    assert kids[0] < kids[1] < kids[2], kids


########################################################################################
# Evaluator, reference floor, `gan eval`


def test_evaluate_restores_mode_buffers_and_rng(evaluator):
    torch.manual_seed(0)
    G, _ = build_models(evaluator.cfg.model, 1, 32)
    G.eval()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    state = torch.get_rng_state()
    m = evaluator.evaluate(G)
    assert list(m) == [f"quality/{k}" for k in KEYS]
    assert all(math.isfinite(v) for v in m.values())
    assert not G.training
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())
    assert torch.equal(state, torch.get_rng_state())
    assert evaluator.evaluate(G) == m  # fixed latents, seeded subsets
    G.train()
    assert evaluator.evaluate(G) == m  # G samples in train mode whatever mode it is left in
    assert G.training


class _Wrapped(nn.Module):
    """Stands in for DDP: the model is `.module`."""

    def __init__(self, module: nn.Module):
        super().__init__()
        self.module = module


def test_evaluate_unwraps_and_ignores_synced_batchnorm(evaluator):
    """Under DDP with train.sync_bn=true, G's BatchNorms are SyncBatchNorm2d and rank 0 evaluates alone."""
    torch.manual_seed(0)
    G, _ = build_models(evaluator.cfg.model, 1, 32)
    synced = _Wrapped(distributed.convert_sync_batchnorm(copy.deepcopy(G)))
    assert evaluator.evaluate(synced) == evaluator.evaluate(G)


class _OneImage(nn.Module):
    """A 'generator' that always draws the same real image: one class only."""

    def __init__(self, image: torch.Tensor):
        super().__init__()
        self.register_buffer("image", image)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.image.expand(len(z), -1, -1, -1)


def test_one_class_generator_through_the_evaluator(evaluator, tmp_path):
    image = to_float(load_split(_cfg(tmp_path).data, train=False).images[:1])
    m = evaluator.evaluate(_OneImage(image))
    assert m["quality/modes_covered"] == 1.0
    assert m["quality/class_kl"] == pytest.approx(math.log(10))
    assert m["quality/recall"] < 0.2


def test_reference_floor_is_cached(evaluator, shared_cache, monkeypatch):
    floor = quality.reference_floor(evaluator.cfg, evaluator=evaluator)
    assert list(floor) == [f"quality/ref/{k}" for k in KEYS] + ["quality/ref/fcd_blur1"]
    assert floor["quality/ref/modes_covered"] == 10.0
    monkeypatch.setattr(quality, "Evaluator", None)  # a second call must not build anything
    assert quality.reference_floor(evaluator.cfg) == floor


def _floor_images(cfg: RunConfig) -> torch.Tensor:
    """The real train images the floor scores (reference_floor's seeded choice of eval.n_samples), as floats."""
    train = load_split(cfg.data, train=True).images
    idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(quality.EVAL_SEED))[:cfg.eval.n_samples]
    return to_float(train[idx])


def test_the_floor_records_its_blur_anchor(evaluator, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "floors"))  # floors only: the classifier is given here
    floor = quality.reference_floor(evaluator.cfg, evaluator=evaluator)
    x = _floor_images(evaluator.cfg)
    # the sanity check's blur (7x7 kernel, sigma 1), scored against the held-out features
    blurred = gaussian_blur(x, kernel_size=7, sigma=1.0)
    assert torch.equal(quality.blur_sigma1(x), blurred)
    anchor = quality.frechet_distance(evaluator.real_feats, evaluator.embed(blurred.split(32))[0])
    assert floor["quality/ref/fcd_blur1"] == pytest.approx(anchor, rel=1e-6)
    assert floor["quality/ref/fcd_blur1"] > 2 * floor["quality/ref/fcd"]  # blurred real images sit further out
    (path,) = (tmp_path / "floors").glob("reference-*.json")
    assert json.loads(path.read_text()) == floor


def test_a_floor_cached_without_the_anchor_keeps_its_values_and_gains_it(evaluator, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "floors"))
    fresh = quality.reference_floor(evaluator.cfg, evaluator=evaluator)
    (path,) = (tmp_path / "floors").glob("reference-*.json")
    old = {f"quality/ref/{k}": 100.0 + i for i, k in enumerate(KEYS)}  # an older file: other values, no anchor
    path.write_text(json.dumps(old))
    floor = quality.reference_floor(evaluator.cfg, evaluator=evaluator)
    assert floor == {**old, "quality/ref/fcd_blur1": fresh["quality/ref/fcd_blur1"]}  # nothing it had recomputed
    assert json.loads(path.read_text()) == floor


def test_floor_file_name_depends_on_the_classifier_hash(evaluator, tmp_path, monkeypatch):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "floors"))  # floors only: the classifier is given here
    real = load_split(evaluator.cfg.data, train=False).images
    torch.manual_seed(3)
    other = quality.Evaluator(evaluator.cfg, "cpu", classifier=build_classifier(1), real_images=real)
    a = quality.reference_floor(evaluator.cfg, evaluator=evaluator)
    b = quality.reference_floor(evaluator.cfg, evaluator=other)
    names = sorted(p.name for p in (tmp_path / "floors").glob("reference-*.json"))
    assert names == sorted(f"reference-fake512-32px-v1-classifier-n64-c{ev.classifier_meta['sha256'][:12]}.json"
                           for ev in (evaluator, other))
    assert a != b  # the floor of one classifier is never served for another


@pytest.mark.parametrize("damage", [lambda t: t[: len(t) // 2], lambda t: "", lambda t: '["not", "a mapping"]'])
def test_damaged_floor_file_is_recomputed_with_a_warning(evaluator, tmp_path, monkeypatch, damage):
    monkeypatch.setenv("GAN_CACHE_DIR", str(tmp_path / "floors"))
    floor = quality.reference_floor(evaluator.cfg, evaluator=evaluator)
    (path,) = (tmp_path / "floors").glob("reference-*.json")
    path.write_text(damage(path.read_text()))
    with pytest.warns(UserWarning, match="damaged real-data floor cache .* computing it again"):
        again = quality.reference_floor(evaluator.cfg, evaluator=evaluator)
    assert again == floor and json.loads(path.read_text()) == floor


def test_summary_and_results_csv_record_the_classifier_hash(shared_cache, tmp_path, monkeypatch):
    from conftest import TINY
    from gan.study.spec import PlannedRun, StudySpec
    from gan.study.collect import collect_results
    from gan.train.launch import main_train
    monkeypatch.setenv("GAN_CACHE_DIR", str(shared_cache))
    run_dir = tmp_path / "study" / "runs" / "r0"
    assert main_train(None, [*TINY, f"data.root={tmp_path / 'data'}", "eval.enabled=true", "eval.n_samples=64",
                             "eval.batch_size=32", "train.steps=2"], str(run_dir), None) == 0
    (ident,) = shared_cache.glob("classifier-*.json")
    digest = json.loads(ident.read_text())["sha256"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["classifier"]["hash"] == f"sha256:{digest}" and summary["classifier"]["test_acc"] >= 0.5
    run = PlannedRun("r0", {"train.seed": 0}, "r0")
    csv_path = collect_results(tmp_path / "study", StudySpec("s", None, {}, {"train.seed": [0]}, (run,)), [run])
    import csv
    (row,) = list(csv.DictReader(csv_path.open()))
    assert row["classifier/hash"] == f"sha256:{digest}"


def test_report_notes_a_study_that_mixes_classifiers(tmp_path):
    import csv
    from gan.report.study_report import write_report
    study = tmp_path / "study"
    study.mkdir()
    rows = [{"run": f"r{i}", "status": "completed", "model.d_act": act, "train.seed": i // 2,
             "final/quality/fcd": 10.0 + i, "classifier/hash": "sha256:" + ("a" * 64 if i < 2 else "b" * 64)}
            for i, act in enumerate(["relu", "leaky_relu:0.2"] * 2)]
    with (study / "results.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    with pytest.warns(UserWarning, match="2 different quality classifiers"):
        write_report(study)
    md = (study / "report" / "report.md").read_text()
    assert "measured by 2 different quality classifiers (aaaaaaaaaaaa, bbbbbbbbbbbb" in md


def test_eval_run_writes_eval_json(shared_cache, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GAN_CACHE_DIR", str(shared_cache))
    cfg = _cfg(tmp_path, "train.device=cpu")
    torch.manual_seed(0)
    G, D = build_models(cfg.model, 1, 32)
    run = tmp_path / "run"
    save_checkpoint({"G": G.state_dict(), "D": D.state_dict(), "config": config_to_dict(cfg), "step": 7},
                    run / "checkpoints" / "last.pt")
    from gan.commands.eval import eval_run

    assert eval_run(run, ["eval.n_samples=40"]) == 0
    result = json.loads((run / "eval.json").read_text())
    assert result["step"] == 7 and result["n_samples"] == 40
    assert set(result["metrics"]) == {f"quality/{k}" for k in KEYS}
    assert "quality/fcd" in capsys.readouterr().out
    with pytest.raises(UserError, match="no checkpoint"):
        eval_run(tmp_path / "nowhere", [])


@pytest.mark.slow
def test_gan_eval_cli(shared_cache, tmp_path, monkeypatch):
    from conftest import run_cli
    monkeypatch.setenv("GAN_CACHE_DIR", str(shared_cache))
    cfg = _cfg(tmp_path, "train.device=cpu")
    G, D = build_models(cfg.model, 1, 32)
    save_checkpoint({"G": G.state_dict(), "D": D.state_dict(), "config": config_to_dict(cfg), "step": 2},
                    tmp_path / "run" / "checkpoints" / "last.pt")
    done = run_cli("eval", str(tmp_path / "run"), "eval.n_samples=32")
    assert done.returncode == 0, done.stderr
    assert "quality/modes_covered" in done.stdout and (tmp_path / "run" / "eval.json").is_file()
    missing = run_cli("eval", str(tmp_path / "nowhere"))
    assert missing.returncode == 2 and missing.stderr.startswith("error: no checkpoint")


########################################################################################
# Inception features: never a silent fallback


def test_inception_without_torch_fidelity_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch_fidelity", None)  # import fails as if not installed
    with pytest.raises(UserError, match="torch-fidelity"):
        quality.load_inception()
    with pytest.raises(UserError, match="eval.features=classifier"):
        quality.Evaluator(_cfg(tmp_path, "eval.features=inception"), "cpu",
                          classifier=build_classifier(1), real_images=torch.zeros(4, 1, 32, 32))


def test_inception_weights_offline_is_a_user_error(monkeypatch):
    import torchmetrics.image.fid as tm_fid

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setitem(sys.modules, "torch_fidelity", types.ModuleType("torch_fidelity"))
    monkeypatch.setattr(tm_fid, "NoTrainInceptionV3", offline)
    with pytest.raises(UserError, match="hub/checkpoints"):
        quality.load_inception()
