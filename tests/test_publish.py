"""The published reference run (cf_utils/publish.py): results/<profile>/ and the README block.

Two kinds of test: publishing a synthetic run (what is copied, relinked, refused), and the committed
results/ folders themselves (their files agree with each other and with the README)."""

from __future__ import annotations

import json
import re

import pandas as pd
import pytest
from test_report_frames import CPU_MODELS, write_run

from cf_utils import metrics, paths, provenance, publish, report
from cf_utils.config import load_config
from cf_utils.io import sha256_file

README_TEXT = "# Title\n\nbefore\n\n{b}\nold text 99.9\n{e}\n\nafter\n"
PUBLISHED = sorted(p.name for p in (paths.ROOT / "results").glob("*") if (p / "report.md").is_file())


def readme(tmp_path, profile="cpu"):
    path = tmp_path / "README.md"
    path.write_text(README_TEXT.format(b=publish.begin(profile), e=publish.end(profile)))
    return path


@pytest.fixture
def run(tmp_path, monkeypatch):
    """A synthetic cpu run with its report and a manifest from a clean commit; results/ in tmp_path."""
    monkeypatch.setattr(paths, "results_dir", lambda profile: tmp_path / "results" / profile)
    write_run("cpu", models=CPU_MODELS, variants=("seq",))
    cfg = load_config("cpu", {"eval.n_boot": 30, "seed": 0})
    man = provenance.build(cfg) | {"git": {"sha": "0123456789abcdef", "dirty": False}}
    paths.output("cpu", "manifest.json").write_text(json.dumps(man))
    report.build(cfg)
    return cfg


def test_publish_copies_the_run_relinks_its_figures_and_rewrites_only_the_block(run, tmp_path):
    path = readme(tmp_path)
    dest = publish.publish("cpu", readme=path)
    for name in ("report.md", "manifest.json", "forgetting.csv", "scores.csv", "items.csv"):
        assert (dest / name).is_file(), name
    assert (dest / "scores.csv").read_bytes() == paths.output("cpu", "scores.csv").read_bytes()
    assert {"table4_forgetting.csv", "assumptions.md"} <= {f.name for f in (dest / "tables").iterdir()}
    md = (dest / "report.md").read_text()
    links = re.findall(r"\]\((figures/[^)]+)\)", md)
    assert links and all((dest / link).is_file() for link in links)
    assert "../../figures" not in md
    text = path.read_text()
    assert text.startswith("# Title\n\nbefore\n\n") and text.endswith("\n\nafter\n")
    assert "old text 99.9" not in text
    block = text.split(publish.begin("cpu"))[1].split(publish.end("cpu"))[0]
    assert "commit `0123456789ab`" in block
    for title in ("#### Headline", "#### The paper's claims", "#### Table 4"):
        assert title in block
    assert publish.publish("cpu", readme=path) == dest and path.read_text() == text  # idempotent


def test_a_run_from_uncommitted_code_is_refused_and_nothing_is_written(run, tmp_path):
    man = json.loads(paths.output("cpu", "manifest.json").read_text())
    man["git"]["dirty"] = True
    paths.output("cpu", "manifest.json").write_text(json.dumps(man))
    path = readme(tmp_path)
    before = path.read_text()
    with pytest.raises(publish.PublishError, match="uncommitted code"):
        publish.publish("cpu", readme=path)
    assert path.read_text() == before and not (tmp_path / "results").exists()


def test_a_readme_without_the_markers_is_named_before_anything_is_copied(run, tmp_path):
    path = tmp_path / "README.md"
    path.write_text("# no block here\n")
    with pytest.raises(publish.PublishError, match="results:cpu:begin"):
        publish.publish("cpu", readme=path)
    assert not (tmp_path / "results").exists()


def test_what_is_a_result_and_what_is_published_are_outputs_of_a_run():
    names = paths.RESULTS + paths.PUBLISHED + paths.PUBLISHED_LARGE
    assert set(names) <= set(paths.OUTPUTS), set(names) - set(paths.OUTPUTS)


def test_no_run_says_which_command_makes_one(tmp_path):
    with pytest.raises(publish.PublishError, match="make reproduce PROFILE=gpu-mini"):
        publish.publish("gpu-mini", readme=readme(tmp_path, "gpu-mini"))


# ---------------------------------------------------------------- the committed results


def test_some_run_is_published():
    assert PUBLISHED, "no results/<profile>/: make reproduce PROFILE=smoke && make publish PROFILE=smoke"


@pytest.mark.parametrize("profile", PUBLISHED)
def test_published_files_are_the_runs_own(profile):
    """Every published result file has the sha256 its manifest recorded when the run wrote it."""
    folder = paths.ROOT / "results" / profile
    man = json.loads((folder / "manifest.json").read_text())
    present = [name for name in man["results"] if (folder / name).is_file()]
    assert {"scores.csv", "forgetting.csv"} <= set(present)
    for name in present:
        assert sha256_file(folder / name) == man["results"][name], name
    assert not man["git"]["dirty"]


@pytest.mark.parametrize("profile", PUBLISHED)
def test_published_fg_recomputes_from_the_published_scores(profile):
    folder = paths.ROOT / "results" / profile
    table = pd.read_csv(folder / "forgetting.csv")
    files = json.loads((folder / "manifest.json").read_text())["data"]["files"]  # the floors' baselines
    again = metrics.forgetting_table(
        metrics.read_scores(folder / "scores.csv"), baselines=metrics.baselines(profile, files)
    )
    key = ["model", "variant", "category"]
    both = table.merge(again, on=key, suffixes=("", "_again"), validate="one_to_one")
    assert len(both) == len(table) == len(again)
    for col in ("initial", "final", "fg", "final_drop"):
        assert (both[col] - both[f"{col}_again"]).abs().max() <= 0.006, col


@pytest.mark.parametrize("profile", [p for p in PUBLISHED if p in publish.README_PROFILES])
def test_every_number_in_the_readme_block_is_in_the_published_report(profile):
    text = publish.README.read_text()
    assert publish.begin(profile) in text, f"README.md has no results block for {profile}: make publish"
    block = text.split(publish.begin(profile))[1].split(publish.end(profile))[0]
    report_md = (paths.ROOT / "results" / profile / "report.md").read_text()
    numbers = set(re.findall(r"-?\d+\.\d+", block))
    assert numbers, "the block shows no numbers"
    assert sorted(n for n in numbers if n not in report_md) == []
    assert block.strip() == publish.block(profile, paths.ROOT / "results" / profile).strip()
