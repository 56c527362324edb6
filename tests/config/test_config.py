import pytest

from gan.config.schema import RunConfig, run_name

from gan import cli
from gan.config.schema import KEYS
from gan.config.load import (apply_overrides, close_keys, config_from_dict, config_to_dict, edit_distance,
                             load_config)
from gan.errors import UserError


def test_defaults_and_overrides():
    cfg = load_config(None, ["model.d_act=leaky_relu:0.1", "train.seed=3", "train.lr_d=0.001"])
    assert cfg.model.d_act == "leaky_relu:0.1" and cfg.train.seed == 3
    assert cfg.train.lr_d_value == 0.001 and cfg.train.lr_g_value == 2e-4
    assert run_name(cfg) == "fashion_mnist-D_leaky_relu:0.1-G_relu-s3"


def test_yaml_holds_only_differences(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("data:\n  name: mnist\ntrain:\n  steps: 7\n")
    cfg = load_config(p, ["train.steps=9"])
    assert cfg.data.name == "mnist" and cfg.train.steps == 9 and cfg.model == RunConfig().model


def test_round_trip():
    cfg = load_config(None, ["track.tags=[a,b]", "model.d_norm=spectral"])
    assert config_from_dict(config_to_dict(cfg)) == cfg


@pytest.mark.parametrize("override, words", [
    ("model.d_ac=relu", ["unknown config key 'model.d_ac'", "did you mean 'model.d_act'"]),
    ("train.steps=abc", ["'train.steps' must be an integer"]),
    ("train.lr=nan", ["'train.lr' must be a finite number"]),
    ("model.d_act=swish", ["unknown activation 'swish'", "leaky_relu:<slope>", "prelu", "tanh"]),
    ("model.d_act=leaky_relu:x", ["not a number"]),
    ("model.d_act=leaky_relu:1.5", ["slope must be in [0, 1)"]),
    ("model.d_act=relu:0.1", ["takes no argument"]),
    ("data.image_size=48", ["must be 32 or 64"]),
    ("train.steps=0", ["'train.steps' must be positive"]),
    ("train.batch_size=-4", ["'train.batch_size' must be positive"]),
    ("data.name=imagenet", ["valid values are: mnist, fashion_mnist, cifar10, fake"]),
    ("model.d_norm=group", ["valid values are: batch, none, spectral, layer"]),
    ("train.channels_last=maybe", ["must be true or false"]),
    ("name=../../etc", ["no path separators"]),
    ("nonsense", ["not of the form key=value"]),
])
def test_errors_are_one_sentence(override, words):
    with pytest.raises(UserError) as err:
        load_config(None, [override])
    msg = str(err.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


def test_malformed_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model: [unclosed\n")
    with pytest.raises(UserError, match="not valid YAML"):
        load_config(p)
    with pytest.raises(UserError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_frozen():
    cfg = RunConfig()
    with pytest.raises(Exception):
        cfg.train.steps = 3  # type: ignore[misc]
    assert apply_overrides(cfg, {"train": {"steps": 3}}).train.steps == 3


def test_eval_n_samples_below_what_the_metrics_need_is_refused_with_the_config():
    # prdc (k = 5) fails below k + 2 = 7 samples; before this check the run failed at its final evaluation
    with pytest.raises(UserError, match=r"'eval.n_samples' must be at least 7 \(prdc's k=5.*got 6"):
        load_config(None, ["eval.n_samples=6"])
    assert load_config(None, ["eval.n_samples=7"]).eval.n_samples == 7


@pytest.mark.parametrize("a, b, distance", [  # worked out by hand
    ("", "", 0), ("abc", "", 3), ("", "ab", 2), ("ndf", "ndf", 0),
    ("nfd", "ndf", 1),        # one swap of neighbours: one edit, not two substitutions
    ("nfd", "ngf", 2),        # f->g, d->f
    ("nfd", "nz", 2),         # f->z, drop d
    ("trian", "train", 1),    # the swap "ia" -> "ai"
    ("kitten", "sitting", 3),  # k->s, e->i, insert g
    ("abcd", "badc", 2),      # two separate swaps
    ("ca", "abc", 3),         # optimal string alignment: a swapped pair is not edited again (full Damerau: 2)
])
def test_edit_distance_counts_a_swap_as_one_edit(a, b, distance):
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


def test_close_keys_rank_real_keys_closest_first():
    assert close_keys("model.nfd", KEYS) == ["model.ndf", "model.nz", "model.ngf"]  # ndf: 1 swap; nz, ngf: 2 edits
    assert close_keys("trian.steps", KEYS) == ["train.steps"]  # a typo in the section
    assert close_keys("train.lrd", KEYS) == ["train.lr", "train.lr_d", "train.lr_g"]  # at most three
    assert close_keys("model.widht", KEYS) == []


@pytest.mark.parametrize("override, hint", [
    ("model.nfd=32", "did you mean 'model.ndf', 'model.nz' or 'model.ngf'?"),
    ("trian.steps=5", "did you mean 'train.steps'?"),
    ("modle.d_act=relu", "did you mean 'model.d_act' or 'model.g_act'?"),
    ("steps=5", "did you mean 'train.steps'?"),  # the section left out
    ("model.widht=8", "valid keys in 'model' are: model.nz, model.ngf, model.ndf, model.g_act, model.d_act, "
                      "model.d_extra_layers, model.d_norm"),
])
def test_unknown_key_is_one_sentence_with_close_keys(override, hint):
    key = override.split("=")[0]
    with pytest.raises(UserError) as err:
        load_config(None, [override])
    assert str(err.value) == f"unknown config key '{key}': {hint}"


def test_gan_train_with_a_mistyped_key_exits_2_with_one_sentence(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli.main(["train", "configs/fake.yaml", "model.nfd=32", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == "error: unknown config key 'model.nfd': did you mean 'model.ndf', 'model.nz' or 'model.ngf'?\n"
    assert not out.exists()
    assert cli.main(["config", "trian.steps"]) == 2
    assert capsys.readouterr().err == "error: unknown config key 'trian.steps': did you mean 'train.steps'?\n"


def test_key_names_are_keys_and_no_module_outside_config_spells_one():
    """Each dotted key another package names is a constant of gan/config/schema.py (and a real key); no module
    outside gan/config/ writes a key as a string literal (docstrings aside), so a renamed key fails at import."""
    import ast

    from conftest import REPO
    from gan.config import schema

    assert [k for k in schema.NAMED_KEYS if k not in KEYS] == []
    assert len(set(schema.NAMED_KEYS)) == len(schema.NAMED_KEYS)
    found = []
    for path in sorted((REPO / "gan").rglob("*.py")):
        if path.parent.name == "config":
            continue
        tree = ast.parse(path.read_text())
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
                and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        found += [f"{path.relative_to(REPO)}:{n.lineno}: {n.value!r}" for n in ast.walk(tree)
                  if isinstance(n, ast.Constant) and isinstance(n.value, str) and "." in n.value
                  and n.value in KEYS and id(n) not in docs]
    assert found == []
