"""The network sample quality is measured in (eval.features), chosen for the data and loaded.

    fn = load_features(cfg, device)   # FeatureNet: kind, net (features_and_logits), meta, classes

Kinds:
- classifier: gan/measure/classifier.py's, trained on the data's labels, cached. Built-in datasets, and folders
  with class subfolders (2 or more classes); on a folder it must also pass the sanity ranking (real < blurred
  sigma 1 < blurred sigma 2 < uniform noise, gan/measure/rotation_features.py's check) whenever it is loaded.
- rotation: gan/measure/rotation_features.py's, trained on the training images alone (which way was an image
  turned), cached; checked with the same ranking when it is trained. For unlabelled data.
- inception: torchmetrics' Inception-v3 from eval.inception_weights (gan/measure/quality.py's load_inception); `net`
  is then the classifier of the data's classes when it has them (for the class metrics), else None.
auto: classifier when the data has 2 or more classes, else rotation.

`classes` says whether `net`'s logits are over the data's real classes. Only then do the class metrics (IS in
the classifier's logits, modes_covered, class_kl) mean anything; otherwise gan/measure/quality.py leaves them out.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

import torch

from gan.config.schema import DataConfig, RunConfig
from gan.data.dataset import cache_root, data_key, is_folder, load_split, num_classes
from gan.errors import UserError
from gan.measure import classifier
from gan.measure.classifier import Classifier, load_classifier


@dataclass
class FeatureNet:
    kind: str  # classifier | rotation | inception
    net: Classifier | None  # features_and_logits(x); None: inception on data without classes
    meta: dict[str, Any] = field(default_factory=dict)  # "sha256" of the weights, accuracies, "sanity", "path"
    classes: bool = True  # net's logits are over the data's real classes


def resolve(cfg: RunConfig) -> str:
    """eval.features with auto decided: classifier | rotation | inception."""
    kind, classes = cfg.eval.features, num_classes(cfg.data)
    if kind == "auto":
        return "classifier" if classes >= 2 else "rotation"
    if kind == "classifier" and classes < 2:
        raise UserError(f"eval.features=classifier needs labelled images (class subfolders ROOT/<class>/, 2 or "
                        f"more), but '{cfg.data.root}' has {'one class' if classes else 'none'}; use "
                        "eval.features=auto (rotation features, trained on the images alone)")
    return kind


def load_features(cfg: RunConfig, device: torch.device | str = "cpu") -> FeatureNet:
    """The feature network eval.features names for this data: loaded from its cache, else trained and checked."""
    kind = resolve(cfg)
    if kind == "rotation":
        net, meta = rotation_net(cfg.data, device)
        return FeatureNet(kind, net, meta, classes=False)
    if kind == "inception" and num_classes(cfg.data) < 2:
        return FeatureNet(kind, None, {}, classes=False)
    net, meta = classifier_net(cfg.data, device)
    return FeatureNet(kind, net, meta, classes=True)


def rotation_net(data_cfg: DataConfig, device: torch.device | str = "cpu") -> tuple[Classifier, dict[str, Any]]:
    """The rotation feature network of this data's training split, cached beside its other feature networks."""
    from gan.measure import rotation_features as rf

    train, test = load_split(data_cfg, train=True), load_split(data_cfg, train=False)
    key = data_key(data_cfg)
    return rf.load_rotation_features(train.images, test.images, rf.cache_path_for(cache_root(data_cfg), key), device,
                                     data_key=key, steps=rf.STEPS)


CLASSIFIER_ADVICE = "add images to each class, or use eval.features=rotation"


def classifier_net(data_cfg: DataConfig, device: torch.device | str = "cpu") -> tuple[Classifier, dict[str, Any]]:
    """load_classifier's; on a folder, refused unless its features rank blurred and noisy images as worse (a
    refusal is remembered beside the cache, so the next run refuses before loading or training anything)."""
    if not is_folder(data_cfg):
        return load_classifier(data_cfg, device)
    from gan.measure import rotation_features as rf

    network = f"the classifier of the classes of '{data_cfg.root}'"
    train, test = load_split(data_cfg, train=True), load_split(data_cfg, train=False)
    expected, path = classifier.identity(data_cfg, train, test), classifier.cache_path(data_cfg)
    if (failed := rf.remembered_failure(path, expected)) is not None:
        rf.refuse_remembered(failed, path, network, CLASSIFIER_ADVICE)
    net, meta = load_classifier(data_cfg, device)
    meta["sanity"] = rf.sanity_distances(net, train.images, test.images)
    if meta.get("test_acc_s") is None:  # trained just now: say how it ranks, as the rotation network does
        print("classifier features, Frechet distance to the held-out images: "
              + ", ".join(f"{k} {v:.3f}" for k, v in meta["sanity"].items()), file=sys.stderr, flush=True)
    if not rf.rises(meta["sanity"]):
        rf.remember_failure(path, expected, meta["sanity"])
    rf.check_ranking(meta["sanity"], network=network, advice=CLASSIFIER_ADVICE)
    return net, meta


def _step_seconds(nc: int, num_classes: int, batch: int, threads: int, steps: int = 3) -> float:
    """Median seconds of one training step of the feature network (batch inputs, 32 px) here on `threads` threads
    (give gan/train/machine.py's idle_cores(), as gan/study/runner.py's prepare_caches trains it)."""
    import statistics
    import time

    import torch.nn.functional as F

    from gan.measure.classifier import build_classifier

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            net = build_classifier(nc, num_classes).to(memory_format=torch.channels_last)
            opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
            x = torch.randn(batch, nc, 32, 32).contiguous(memory_format=torch.channels_last)
            y = torch.randint(0, num_classes, (batch,))
            times = []
            for i in range(steps + 1):  # the first: allocator and thread pool warm-up, not counted
                start = time.perf_counter()
                loss = F.cross_entropy(net(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if i:
                    times.append(time.perf_counter() - start)
        return statistics.median(times)
    finally:
        torch.set_num_threads(before)


def describe_features(cfg: RunConfig, threads: int) -> str:
    """What quality measurement this data will get (eval.features=auto), whether its feature network is cached,
    remembered as failed, or still to be trained, and about how long training it takes here (measured now on
    `threads` threads: give gan/train/machine.py's idle_cores(), what gan/study/runner.py's prepare_caches uses)."""
    from gan.measure import rotation_features as rf

    kind = resolve(cfg)
    if kind == "inception":
        return "quality: Inception-v3 features (eval.features=inception), nothing to train"
    train, test = load_split(cfg.data, train=True), load_split(cfg.data, train=False)
    if kind == "rotation":
        what = "rotation features (a network trained on the images alone to tell how each was turned: no class " \
               "subfolders)"
        path = rf.cache_path_for(cache_root(cfg.data), data_key(cfg.data))
        expected = rf.identity(train.images, test.images, data_key(cfg.data), rf.STEPS)
        steps, step_s = rf.STEPS, _step_seconds(train.nc, 4, 4 * rf.BATCH, threads)
        cached = path.is_file()
    else:
        what = f"a classifier of its {train.num_classes} classes (trained on the class subfolders)"
        path, expected = classifier.cache_path(cfg.data), classifier.identity(cfg.data, train, test)
        steps = expected["epochs"] * max(len(train) // classifier.TRAIN_BATCH, 1)
        step_s = _step_seconds(train.nc, train.num_classes, classifier.TRAIN_BATCH, threads)
        cached = path.is_file() and classifier.identity_path(path).is_file()
    if (failed := rf.remembered_failure(path, expected)) is not None:
        shown = ", ".join(f"{k} {v:.3g}" for k, v in failed["sanity"].items())
        return (f"quality: {what}; it FAILED its sanity check when it was made ({failed.get('when')}: {shown} do "
                f"not rise in that order), so a study on this folder is refused at once; "
                f"{rf.ROTATION_ADVICE if kind == 'rotation' else CLASSIFIER_ADVICE}")
    if cached:
        return f"quality: {what}; already trained and cached ({path})"
    minutes = steps * step_s / 60
    return (f"quality: {what}; not trained yet: the first `gan train` or `gan study` trains it once, {steps} steps, "
            f"about {max(1, round(minutes))} min here (a step measured now: {step_s:.2g} s on {threads} "
            f"thread{'s' * (threads > 1)}), then checks that it ranks blurred and noisy images as worse")
