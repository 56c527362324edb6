import pytest

from gan.config.schema import RunConfig, run_name

from gan.config.load import apply_overrides, config_from_dict, config_to_dict, load_config
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
