import pytest

from cf_utils import paths
from cf_utils.config import PROFILES, ConfigError, load_config


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_loads(profile):
    cfg = load_config(profile)
    assert cfg.profile == profile
    assert cfg.data.source == {"gpu-mini": "hub", "paper": "hub"}.get(profile, "packaged")


def test_profile_overrides_defaults():
    assert not (paths.CONFIGS / "defaults.yaml").exists()  # the defaults live in cf_utils/config.py only
    assert load_config("smoke").data.bench_items == 8
    assert load_config("cpu").data.bench_items is None and load_config("cpu").data.fg_half_width == 6
    assert load_config("paper").data.train_examples == 100_000  # the paper's 100k samples per task


def _write(tmp_path, profile_yaml):
    (tmp_path / "p.yaml").write_text(profile_yaml)
    return tmp_path


def test_unknown_key_names_key_and_file(tmp_path):
    d = _write(tmp_path, "data:\n  bench_itemz: 3\n")
    with pytest.raises(ConfigError, match=r"p\.yaml.*unknown config key 'data\.bench_itemz'.*bench_items"):
        load_config("p", configs_dir=d)


@pytest.mark.parametrize(
    ("yaml_text", "pattern"),
    [
        ("seed: '7'\n", r"'seed' = '7' has the wrong type"),
        ("seed: true\n", r"'seed' = True has the wrong type"),
        ("data:\n  source: cloud\n", r"'data\.source' = 'cloud'.*one of 'packaged', 'hub'"),
        ("data: 5\n", r"data\. must be a mapping|must be a mapping"),
    ],
)
def test_mistyped_values(tmp_path, yaml_text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config("p", configs_dir=_write(tmp_path, yaml_text))


def test_out_of_range_names_file(tmp_path):
    with pytest.raises(ConfigError, match=r"p\.yaml.*train_examples = 0 is out of range"):
        load_config("p", configs_dir=_write(tmp_path, "data:\n  train_examples: 0\n"))


def test_unknown_profile_lists_choices():
    with pytest.raises(ConfigError, match=r"unknown profile 'cpuu'.*'cpu'"):
        load_config("cpuu")


def test_overrides_dotted_and_nested_and_seed():
    cfg = load_config("smoke", {"data.bench_items": 3, "data": {"eval_examples": 2}}, seed=9)
    assert (cfg.data.bench_items, cfg.data.eval_examples, cfg.seed) == (3, 2, 9)
    assert cfg.seeds() == {"data_sampling": 9, "training": 9, "bootstrap": 9}


def test_override_unknown_key_is_error():
    with pytest.raises(ConfigError, match=r"overrides: unknown config key 'data\.nope'"):
        load_config("smoke", {"data.nope": 1})


def test_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match=r"not valid YAML"):
        load_config("p", configs_dir=_write(tmp_path, "data: [\n"))


@pytest.mark.parametrize("key, value", [("fg_half_width", 6), ("bench_tokens", 1000), ("pilot_items", 10),
                                        ("pilot_by_model", {"m": {"arc_easy": 50.0}})])  # fmt: skip
def test_a_hub_profile_refuses_the_keys_it_would_ignore(key, value):
    with pytest.raises(ConfigError, match=f"{key} would be ignored"):
        load_config("gpu-mini", {f"data.{key}": value})
