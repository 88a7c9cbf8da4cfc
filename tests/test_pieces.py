"""A run in pieces (cf_utils/pieces.py): each make reproduce's start, end and code; one run, one code."""

from __future__ import annotations

import json

import pytest
from test_publish import readme, run  # noqa: F401 - the fixture

from cf_utils import paths, pieces, publish
from cf_utils.report.render import run_lines

CLEAN = {"commit": "a" * 40, "dirty": False, "diff_sha256": None}
OTHER = {"commit": "b" * 40, "dirty": False, "diff_sha256": None}
EDITED = {"commit": "a" * 40, "dirty": True, "diff_sha256": "c" * 64}


def test_a_run_resumed_in_pieces_keeps_every_piece_and_its_end_moves_with_the_steps():
    first = pieces.begin("p", CLEAN)
    assert first["piece"] == 1 and first["end"] is None and not first["finished"]
    pieces.touch("p")
    assert pieces.read("p")[0]["end"] is not None  # a killed piece ends at its last finished step
    second = pieces.begin("p", CLEAN)  # the kill: the next make reproduce resumes the same run
    assert second["piece"] == 2 and len(pieces.read("p")) == 2
    pieces.end("p")
    run_ = pieces.read("p")
    assert run_[-1]["finished"] and not pieces.mixed(run_) and pieces.seconds(run_) >= 0


def test_an_unfinished_run_begun_from_a_commit_refuses_other_code_and_says_how_to_go_on():
    pieces.begin("p", CLEAN)
    for other in (OTHER, EDITED):
        with pytest.raises(pieces.MixedCode, match=r"git checkout a{40}.*make clean PROFILE=p"):
            pieces.begin("p", other)
    assert len(pieces.read("p")) == 1  # nothing recorded for the refused piece


def test_a_finished_run_is_over_and_a_working_tree_run_goes_on_with_a_warning(capsys):
    pieces.begin("p", CLEAN)
    pieces.end("p")
    assert pieces.begin("p", OTHER)["piece"] == 1  # a new run: the last one reached its report
    pieces.end("p")
    pieces.begin("q", EDITED)
    assert pieces.begin("q", OTHER)["piece"] == 2 and "cannot be published" in capsys.readouterr().out
    assert pieces.mixed(pieces.read("q"))


def test_touch_without_a_run_in_pieces_writes_nothing():
    pieces.touch("p")
    assert not paths.output("p", "pieces.json").exists()


def test_the_report_sums_the_pieces_and_publish_refuses_a_run_of_mixed_code(run, tmp_path):  # noqa: F811
    man = json.loads(paths.output("cpu", "manifest.json").read_text())
    clean = {**CLEAN, "commit": man["git"]["sha"]}
    man["pieces"] = [{"piece": 1, **clean, "start": "2026-12-08T00:00:00+00:00", "end": "2026-12-08T01:00:00+00:00",
                      "finished": False, "load_average": 1.0},
                     {"piece": 2, **clean, "start": "2026-12-08T02:00:00+00:00", "end": "2026-12-08T02:30:00+00:00",
                      "finished": True, "load_average": 0.5}]  # fmt: skip
    assert any("2 piece(s)" in line and "90 min" in line for line in run_lines("cpu", man))
    paths.output("cpu", "manifest.json").write_text(json.dumps(man))
    path = readme(tmp_path)
    assert (publish.publish("cpu", readme=path) / "report.md").is_file()
    man["pieces"][1].update(OTHER)
    paths.output("cpu", "manifest.json").write_text(json.dumps(man))
    with pytest.raises(publish.PublishError, match="different or uncommitted code"):
        publish.publish("cpu", readme=path)
