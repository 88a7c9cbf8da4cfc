"""A profile's chains have one owner (cf_utils/chains.py): no other module rebuilds the list."""

import ast
import textwrap
from pathlib import Path

import pytest

from cf_utils import chains, paths
from cf_utils.config import ConfigError, load_config

PACKAGE = paths.ROOT / "cf_utils"
OWNER = "chains.py"
# Iterating mitigation.methods for something other than chains: the only reader allowed beside the owner.
METHOD_READERS = {("mitigations.py", "check_model")}  # which listed methods need a LoRA adapter


def _config_list(node: ast.AST) -> str | None:
    """Which config list ``node`` reads: models or variants (``<...>.train.models``, ``.variants``, or ``t.models``
    where ``t = cfg.train``), methods (``<...>.mitigation.methods``), or None."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute):
            owner = ast.unparse(sub.value)
            if sub.attr in ("models", "variants") and (owner == "t" or owner.endswith("train")):
                return sub.attr
            if sub.attr == "methods" and owner.endswith("mitigation"):
                return "methods"
    return None


def _loops(node: ast.AST, fn: str = "<module>"):
    """(function, loop, the config lists it iterates) for every for statement and comprehension; a for
    statement's lists include those of the loops nested in it."""
    for child in ast.iter_child_nodes(node):
        inner = child.name if isinstance(child, ast.FunctionDef) else fn
        if isinstance(child, ast.For):
            lists = {_config_list(n.iter) for n in ast.walk(child) if isinstance(n, ast.For | ast.comprehension)}
            yield inner, child, lists - {None}
        elif isinstance(child, ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            yield inner, child, {_config_list(g.iter) for g in child.generators} - {None}
        yield from _loops(child, inner)


def rebuilt_lists(package: Path) -> list[str]:
    """Where a module of ``package`` other than chains.py builds chains from the config's lists."""
    found = set()
    for f in sorted(package.rglob("*.py")):
        if f.name == OWNER and f.parent == package:
            continue
        for fn, node, lists in _loops(ast.parse(f.read_text())):
            where = f"{f.relative_to(package.parent)}:{node.lineno} ({fn})"
            if {"models", "variants"} <= lists:
                found.add(f"{where}: models x variants")
            if "methods" in lists and (f.name, fn) not in METHOD_READERS:
                found.add(f"{where}: the mitigation chains from mitigation.methods")
    return sorted(found)


def test_no_module_but_chains_builds_the_chain_list():
    rebuilt = rebuilt_lists(PACKAGE)
    assert not rebuilt, f"the chain list is rebuilt in {rebuilt}: take it from cf_utils.chains"


def test_the_check_finds_a_rebuilt_list(tmp_path):
    """The check itself: a module that loops over models and variants, or over the methods, is found."""
    fake = tmp_path / "cf_utils"
    fake.mkdir()
    (fake / "copy.py").write_text(
        textwrap.dedent("""\
            def a(cfg):
                return [(m, v) for m in cfg.train.models for v in cfg.train.variants]


            def b(cfg):
                t = cfg.train
                for m in t.models:
                    for v in t.variants:
                        print(m, v)


            def c(cfg):
                return [(cfg.mitigation.model, v) for v in cfg.mitigation.methods]
            """)
    )
    assert set(rebuilt_lists(fake)) == {
        "cf_utils/copy.py:2 (a): models x variants",
        "cf_utils/copy.py:7 (b): models x variants",
        "cf_utils/copy.py:13 (c): the mitigation chains from mitigation.methods",
    }


@pytest.mark.parametrize("methods", [[], ["l2", "wise"]])
def test_the_study_first_then_the_mitigation_chains_it_lacks(methods):
    cfg = load_config("smoke", {"mitigation.methods": methods, "mitigation.wise_alphas": [0.5]})
    study = chains.study_chains(cfg)
    assert [c[:2] for c in study] == [(m, v) for m in cfg.train.models for v in cfg.train.variants]
    mitigation = chains.mitigation_chains(cfg)
    assert [v for _, v, _ in mitigation] == (["seq", "l2", "wise-0.5"] if methods else [])
    every = chains.all_chains(cfg)
    assert every == study + [c for c in mitigation if c[:2] not in {s[:2] for s in study}]
    assert [v for _, v, _ in chains.trained(every)] == [v for _, v, _ in every if not v.startswith("wise-")]
    mitigation_model = [cfg.mitigation.model] if methods else []
    assert chains.profile_models(cfg) == list(dict.fromkeys([*cfg.train.models, *mitigation_model]))


def test_a_variant_limited_to_some_models_runs_on_those_alone():
    cfg = load_config("cpu-full")
    study = [c[:2] for c in chains.study_chains(cfg)]
    assert ("smollm2-135m-instruct", "replay") in study and ("gemma3-270m", "replay") not in study
    assert [v for m, v in study if m == "gemma3-270m-alpaca"] == ["seq"]
    every = [c[:2] for c in chains.all_chains(cfg)]
    assert every.count(("smollm2-135m-instruct", "replay")) == 1  # the mitigation study's replay is the study's
    with pytest.raises(ConfigError, match="variant_models.replay"):
        load_config("smoke", {"train.variant_models": {"replay": ["not-a-model"]}})
