"""Notebook hygiene, the papermill runner's parameter checks and what its run log shows (one tiny kernel)."""

import ast
import json

import pytest

from cf_utils import notebooks, paths

NOTEBOOKS = sorted(paths.NOTEBOOKS.glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs_and_with_a_literal_parameters_cell(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c["outputs"] and c["execution_count"] is None for c in code), "strip outputs before committing"
    assert nb["cells"][0]["cell_type"] == "markdown"  # purpose, inputs, outputs, runtime
    params = [c for c in code if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1
    tree = ast.parse("".join(params[0]["source"]))
    for stmt in tree.body:  # papermill's rule: independent literals only, nothing derived
        assert isinstance(stmt, ast.Assign)
        ast.literal_eval(stmt.value)
    names = {t.id for s in tree.body for t in s.targets}
    assert "profile" in names


def test_unknown_parameter_exits_2_and_names_it(capsys):
    rc = notebooks.main(["01_prepare_data", "--profile", "smoke", "-p", "seeed", "3"])
    assert rc == 2
    assert "unknown parameter(s) ['seeed']" in capsys.readouterr().err


def test_unknown_notebook_is_named(capsys):
    assert notebooks.main(["99_nope", "--profile", "smoke"]) == 2
    assert "no notebook '99_nope'" in capsys.readouterr().err


def test_a_run_log_keeps_one_line_per_progress_bar_and_the_bars_go_to_the_terminal(tmp_path, monkeypatch, capfd):
    """Under the runner a text bar draws on the kernel's own stderr (the terminal, make's log), never in
    the executed notebook: there it leaves one plain line when it closes (an inner bar, none)."""
    import nbformat

    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                          "language": "python"}})  # fmt: skip
    params = nbformat.v4.new_code_cell('profile = "smoke"')
    params.metadata["tags"] = ["parameters"]
    work = ("from cf_utils.progress import tqdm\n"
            "for _ in tqdm(range(3), desc='work', unit='it'):\n"
            "    for _ in tqdm(range(2), desc='inner', leave=False):\n"
            "        pass\n"
            "print('finished')")  # fmt: skip
    nb.cells = [nbformat.v4.new_markdown_cell("# a test notebook"), params, nbformat.v4.new_code_cell(work)]
    (tmp_path / "nbs").mkdir()
    nbformat.write(nb, tmp_path / "nbs" / "99_bars.ipynb")
    monkeypatch.setattr(paths, "NOTEBOOKS", tmp_path / "nbs")
    out = notebooks.run("99_bars", "smoke", log_dir=tmp_path / "log")
    streams = [o for c in nbformat.read(out, 4).cells for o in c.get("outputs", []) if o.output_type == "stream"]
    assert [o.name for o in streams] == ["stdout"] * len(streams)  # no stderr block at all
    text = "".join(o.text for o in streams)
    assert "\r" not in text and "%|" not in text
    assert text.splitlines()[0].startswith("work: 3/3 it in 00:0") and "finished" in text and "inner" not in text
    assert "work:" in capfd.readouterr().err  # the live bar reached the terminal


def test_a_notebook_run_and_saved_in_jupyterlab_is_clean_again_through_the_git_filter():
    """make setup installs nbstripout as the git filter of *.ipynb (.gitattributes): what git would store
    for a notebook saved with outputs, counts and the kernel's metadata is the committed file itself."""
    import subprocess

    def git(*args, stdin=None):
        return subprocess.run(["git", *args], cwd=paths.ROOT, input=stdin, capture_output=True, text=True, check=True)

    assert git("config", "filter.nbstripout.clean").stdout.strip(), "run make setup: it installs the filter"
    for path in NOTEBOOKS:
        nb = json.loads(path.read_text(encoding="utf-8"))
        nb["metadata"]["language_info"] = {"name": "python", "version": "3.11.7", "mimetype": "text/x-python"}
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        code[-1]["outputs"] = [{"output_type": "stream", "name": "stdout", "text": ["done\n"]}]
        code[-1]["execution_count"] = 7
        saved = json.dumps(nb, indent=1, ensure_ascii=False) + "\n"
        rel = path.relative_to(paths.ROOT).as_posix()
        assert (
            git("hash-object", f"--path={rel}", "--stdin", stdin=saved).stdout
            == git("hash-object", "--no-filters", rel).stdout
        ), f"{rel}: not what the filter leaves (run make setup, then .venv/bin/nbstripout {rel})"
