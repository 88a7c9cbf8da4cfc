"""The published reference run: ``results/<profile>/`` (committed) and the README's results block.

    make publish PROFILE=cpu     (python -m cf_utils.publish --profile cpu)

copies the last full run of a profile from ``artifacts/<profile>/`` (git-ignored) into
``results/<profile>/``: the report (its figure links pointing at the copied PNGs), its tables (``tables/``: .md,
.csv, .tex), forgetting.csv,
scores.csv, items.csv and generations.csv when small enough, the mitigation study's tables and
manifest.json (the commit the run was made from). It then rewrites the README's block between
``<!-- results:<profile>:begin -->`` and ``<!-- results:<profile>:end -->`` from the published report
(its headline, claims, Table 4, power, forgotten-and-learned and mitigation sections, copied verbatim), so every
number in the README is one the report printed (the profiles of README_PROFILES only). A run made from uncommitted
code is refused: its commit would not say what made it. tests/test_publish.py checks that the published files
agree with each other.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

from cf_utils import paths, pieces
from cf_utils.config import CPU, CPU_FULL, GPU_PROFILES
from cf_utils.io import atomic_write_text

FILES, LARGE, FOLDERS = paths.PUBLISHED, paths.PUBLISHED_LARGE, paths.PUBLISHED_FOLDERS  # what a run publishes
LARGE_LIMIT = 20 * 2**20  # a LARGE file is published when under this
SECTIONS = ("Headline", "The paper's claims", "Table 4", "Paired comparisons", "Power", "Forgotten and learned",
            "Mitigations", "Forgetting against dose")  # fmt: skip
EMPTY = "_(empty)_"  # how the report prints a table without rows (cf_utils.report.render)
# The profiles whose results the README shows; smoke's run is published (results/smoke/) with no block: a pipeline
# check on random-init models measures nothing a reader should weigh.
README_PROFILES = (CPU, CPU_FULL, *GPU_PROFILES)
README = paths.ROOT / "README.md"


class PublishError(Exception):
    """A run that cannot be published, with what to do."""


def begin(profile: str) -> str:
    return f"<!-- results:{profile}:begin (written by `make publish PROFILE={profile}`; do not edit) -->"


def end(profile: str) -> str:
    return f"<!-- results:{profile}:end -->"


def sections(md: str) -> dict[str, str]:
    """A report's ``## `` sections by title (the text up to the next one)."""
    parts = re.split(r"^## (.+)$", md, flags=re.M)
    return {title.strip(): body.strip() for title, body in zip(parts[1::2], parts[2::2], strict=True)}


def block(profile: str, folder: Path) -> str:
    """The README's results block of a published run: where it is, and its report's key sections."""
    report = (folder / "report.md").read_text()
    found = sections(report)
    man = json.loads((folder / "manifest.json").read_text())
    out = [
        f"Published run: [`results/{profile}/report.md`](results/{profile}/report.md), made by "
        f"`make reproduce PROFILE={profile}` at commit `{man['git']['sha'][:12]}` ({man['created_utc']}); "
        f"its inputs and outputs are in `results/{profile}/` (manifest.json: config, seeds, packages, data "
        "hashes). The sections below are copied from that report.",
        "",
    ]
    for want in SECTIONS:
        for title, body in found.items():
            if title.startswith(want) and EMPTY not in body:  # a table the profile has no rows for is left out
                out += [f"#### {title}", "", body, ""]
    return "\n".join(out).rstrip() + "\n"


def rewrite_readme(text: str, profile: str, body: str) -> str:
    """``text`` with the profile's block replaced by ``body`` (the markers must be there, once each)."""
    b, e = begin(profile), end(profile)
    if text.count(b) != 1 or text.count(e) != 1 or text.index(b) > text.index(e):
        raise PublishError(f"README.md needs one line '{b}' and, after it, one line '{e}' where the block goes")
    head, rest = text.split(b)
    _, tail = rest.split(e)
    return f"{head}{b}\n{body}{e}{tail}"


def _check_run(profile: str) -> None:
    """The run exists and names the clean commit that made it."""
    src = paths.artifacts_dir(profile)
    missing = [f for f in FILES[:3] if not (src / f).is_file()]
    if missing:
        raise PublishError(f"{src}: no {', '.join(missing)}: run `make reproduce PROFILE={profile}` first")
    man = json.loads((src / "manifest.json").read_text())
    git = man.get("git") or {}
    if not git.get("sha"):
        raise PublishError(f"{src}/manifest.json names no commit: run `make reproduce` in a git checkout")
    if git.get("dirty"):
        raise PublishError(f"{src} was made from uncommitted code (manifest.json git.dirty): commit, then run "
                           f"`make reproduce PROFILE={profile}` again before publishing")  # fmt: skip
    run = man.get("pieces") or []
    if run and (pieces.mixed(run) or run[0]["commit"] != git["sha"]):
        raise PublishError(f"{src}: its pieces ran different or uncommitted code (manifest.json pieces: "
                           f"{sorted({(p['commit'] or '?')[:12] for p in run})}): one run is one commit; start afresh "
                           f"(make clean PROFILE={profile}; make reproduce PROFILE={profile})")  # fmt: skip


def publish(profile: str, readme: Path = README) -> Path:
    """Copy the run into ``results/<profile>/`` (whole or not at all) and rewrite the README block."""
    _check_run(profile)
    src, dest = paths.artifacts_dir(profile), paths.results_dir(profile)
    shown = profile in README_PROFILES
    if shown:
        rewrite_readme(readme.read_text(), profile, "")  # the markers are there: fail before copying anything
    tmp = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "figures").mkdir(parents=True)
    for name in FILES + LARGE:
        f = src / name
        if f.is_file() and (name not in LARGE or f.stat().st_size <= LARGE_LIMIT):
            shutil.copy2(f, tmp / name)
    for folder in FOLDERS:
        if (src / folder).is_dir():
            shutil.copytree(src / folder, tmp / folder, ignore=shutil.ignore_patterns(".*"))  # no resume states
    figures = paths.figures_dir(profile)
    for fig in sorted([*figures.glob("*.png"), *figures.glob("*.pdf")]):
        shutil.copy2(fig, tmp / "figures" / fig.name)
    tables = paths.tables_dir(profile)
    if tables.is_dir():  # every table of the report (and the few it leaves out) as .md, .csv and .tex
        shutil.copytree(tables, tmp / "tables")
    # the report's figure links point from artifacts/<profile>/ to figures/<profile>/: now to the copies
    copied = {f.name for f in (tmp / "figures").iterdir()}
    report = (tmp / "report.md").read_text()
    relinked = re.sub(r"\]\(([^()\s]*/)?([^/()\s]+\.(?:png|pdf))\)",
                      lambda m: f"](figures/{m[2]})" if m[2] in copied else m[0], report)  # fmt: skip
    (tmp / "report.md").write_text(relinked)
    old = dest.with_name(f".{dest.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if dest.exists():
        dest.rename(old)
    tmp.rename(dest)
    shutil.rmtree(old, ignore_errors=True)
    if shown:
        atomic_write_text(readme, rewrite_readme(readme.read_text(), profile, block(profile, dest)))
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--profile", required=True)
    args = ap.parse_args(argv)
    try:
        dest = publish(args.profile)
    except PublishError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    block_note = " and the README block" if args.profile in README_PROFILES else ""
    print(f"published {dest.relative_to(paths.ROOT)}{block_note} of profile {args.profile}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
