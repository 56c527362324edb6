"""The one-line answer a study on the user's own images opens its report with.

    line = headline(study, claims)   # "On these images (...), at this training length (2000 steps): ..." or None

Written for any study whose runs trained on a folder (data.name=folder); None for the built-in datasets, whose
reports answer the claims table. The answer is claim 2's (sample quality, LeakyReLU / ReLU tail-averaged FCD):
the sequential verdict of the last look when the study ran with --until-decided (the one with the stated error
rate), else the report's own.
"""

from __future__ import annotations

import json
from typing import Any

import yaml

from gan.analysis.claim import ClaimResult
from gan.analysis.claim_text import fmt
from gan.analysis.claims import MARGINS
from gan.files.layout import RunDir, StudyDir
from gan.study.read import Study


def run_data(study: Study) -> dict[str, Any] | None:
    """{"name", "root", "steps", "images"} of the study's runs, from the first run folder with a config.yaml."""
    for d in study.run_dirs.values():
        if d is None or not RunDir(d).config.is_file():
            continue
        try:
            cfg = yaml.safe_load(RunDir(d).config.read_text()) or {}
            summary = json.loads(RunDir(d).summary.read_text()) if RunDir(d).summary.is_file() else {}
        except (OSError, ValueError, yaml.YAMLError):
            continue
        data, train = cfg.get("data") or {}, cfg.get("train") or {}
        return {"name": data.get("name"), "root": data.get("root"), "steps": train.get("steps"),
                "images": (summary.get("dataset") or {}).get("train_images")}
    return None


def _sequential_verdict(study: Study) -> tuple[str, str] | None:
    """(claim 2's verdict at the last look, how many seeds) from sequential.json, if the study has one."""
    try:
        looks = json.loads(StudyDir(study.dir).sequential_json.read_text())["looks"]
        last = looks[-1]
        return str(last["verdicts"]["2"]), f"sequential verdict at {last['seeds']} seeds, level {last['level']:.2g}"
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def answer(verdict: str, c: ClaimResult, margin: float) -> str:
    """Claim 2's verdict in the practitioner's words."""
    ratio = (f"LeakyReLU / ReLU FCD {fmt(c.effect)}x [95% CI {fmt(c.ci_low)}, {fmt(c.ci_high)}], "
             f"{c.n_pairs} seed pair{'s' * (c.n_pairs != 1)}")
    if verdict.startswith("supported"):
        return f"use LeakyReLU(0.2) in D: its samples are better than ReLU's ({ratio}; lower FCD is better)"
    if verdict.startswith("contradicted"):
        return f"use ReLU in D: its samples are better than LeakyReLU(0.2)'s ({ratio}; lower FCD is better)"
    if verdict.startswith("equivalent"):
        return (f"either: ReLU and LeakyReLU(0.2) in D give samples of the same quality, within ±{margin:.0%} "
                f"({ratio})")
    if verdict.startswith("no variation"):
        return f"either: every seed pair scored exactly alike ({ratio})"
    if verdict.startswith("not tested") or not c.n_pairs:
        return "no answer yet: no seed has both a completed ReLU and a completed LeakyReLU run"
    return (f"not decided: the difference is smaller than these {c.n_pairs} seed pairs can resolve ({ratio}); "
            "add seeds (--max-seeds) to decide it")


def headline(study: Study, claims: list[ClaimResult], margins: dict[int, float] | None = None) -> str | None:
    """The report's first line for a study trained on a folder of images; None otherwise."""
    data = run_data(study)
    c = next((c for c in claims if c.primary and c.number == 2), None)
    if not data or data.get("name") != "folder" or c is None:
        return None
    seq = _sequential_verdict(study)
    verdict, how = seq if seq else (c.verdict, "")
    images = f", {data['images']} training images" if data.get("images") else ""
    text = answer(verdict, c, (margins or MARGINS)[2])
    return (f"On these images ({data['root']}{images}), at this training length ({data['steps']} steps): {text}"
            + (f" [{how}]" if how else "") + ".")
