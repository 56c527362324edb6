"""The practitioner's one command on a folder: the study preset, its plan, its folder, and a report whose first
line is the answer with both arms' same-noise samples beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from gan import cli
from gan.analysis.plan import sequential_plan
from gan.study.runner import study_dir_of
from gan.study.spec import read_study_spec
from builders_data import write_images

REPO = Path(__file__).resolve().parents[2]


def test_compare_preset_plans_and_names_its_folder_by_the_images(tmp_path):
    spec = read_study_spec(REPO / "configs/study/compare.yaml", (f"data.root={tmp_path / 'cats'}",))
    other = read_study_spec(REPO / "configs/study/compare.yaml", (f"data.root={tmp_path / 'dogs'}",))
    assert study_dir_of(spec, None).name.startswith("compare-cats-")
    assert study_dir_of(spec, None) != study_dir_of(other, None)
    assert study_dir_of(spec, "elsewhere") == Path("elsewhere")
    text = sequential_plan(spec, [8, 16, 24], jobs=1, step_s=0.05)
    assert "looks at 8, 16, 24 seeds (2 runs per seed, 2000 steps each)" in text
    assert "2000 steps each); tests claim 2\n" in text and "pairs likely needed for the sample-quality verdict" in text
    assert "0.05 s per training step" in text  # 8 seeds x 2 runs x 2000 steps x 0.05 s = 27 min
    assert "about 27 min to the first look" in text


@pytest.mark.slow
def test_a_study_on_a_folder_opens_its_report_with_the_answer(tmp_path):
    root = write_images(tmp_path / "pets", n=420, labelled=True)
    study = tmp_path / "s.yaml"
    study.write_text(f"""name: fstudy
base: {REPO / 'configs/fake.yaml'}
overrides: {{data.name: folder, train.steps: 4, train.log_every: 2, train.probe_every: 0, train.sample_every: 2,
            train.ckpt_every: 2, eval.enabled: true, eval.n_samples: 16}}
axes:
  model.d_act: [relu, "leaky_relu:0.2"]
  train.seed: [0, 1]
""")
    out = tmp_path / "study"
    assert cli.main(["study", str(study), f"data.root={root}", "--out", str(out)]) == 0
    first = (out / "report" / "report.md").read_text().splitlines()[0]
    assert first.startswith(f"On these images ({root}, 210 training images), at this training length (4 steps): ")
    assert "seed pairs" in first or "no answer yet" in first
    assert (out / "report" / "figures" / "same_noise.png").is_file()
