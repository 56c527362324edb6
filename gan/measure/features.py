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


def classifier_net(data_cfg: DataConfig, device: torch.device | str = "cpu") -> tuple[Classifier, dict[str, Any]]:
    """load_classifier's; on a folder, refused unless its features rank blurred and noisy images as worse."""
    net, meta = load_classifier(data_cfg, device)
    if is_folder(data_cfg):
        from gan.measure.rotation_features import check_ranking, sanity_distances

        train, test = load_split(data_cfg, train=True), load_split(data_cfg, train=False)
        meta["sanity"] = sanity_distances(net, train.images, test.images)
        if meta.get("test_acc_s") is None:  # trained just now: say how it ranks, as the rotation network does
            print("classifier features, Frechet distance to the held-out images: "
                  + ", ".join(f"{k} {v:.3f}" for k, v in meta["sanity"].items()), file=sys.stderr, flush=True)
        check_ranking(meta["sanity"], network=f"the classifier of the classes of '{data_cfg.root}'",
                      advice="add images to each class, or use eval.features=rotation")
    return net, meta
