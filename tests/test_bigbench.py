"""The BIG-bench fetch: sha checks, clear errors, and nothing half-extracted read as finished.
Fake sdists are built here with tarfile; the real one is used by test_prepare.py."""

import io
import json
import tarfile
import time

import pytest

from cf_utils.data import bigbench
from cf_utils.io import sha256_bytes, sha256_file

TASK = "physics"


def _fake_sdist(path, files: dict[str, bytes]):
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for task, data in files.items():
            info = tarfile.TarInfo(bigbench._member_name(task))
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CF_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_corrupted_sdist_is_refused(cache):
    _fake_sdist(cache / "downloads" / bigbench.SDIST_NAME, {TASK: b"{}"})
    with pytest.raises(bigbench.DownloadError, match=r"corrupted or not the pinned version.*Fix: delete it"):
        bigbench.ensure_tasks()
    assert not (bigbench.task_dir() / "COMPLETE").exists()


def test_task_file_with_wrong_hash_is_refused(cache, monkeypatch):
    sdist = _fake_sdist(cache / "downloads" / bigbench.SDIST_NAME, {TASK: b'{"examples": []}'})
    monkeypatch.setattr(bigbench, "SDIST_SHA256", sha256_file(sdist))
    monkeypatch.setattr(bigbench, "TASK_FILES", {TASK: "0" * 64})
    with pytest.raises(bigbench.DownloadError, match=rf"task file {TASK} has sha256 .* expected 0000"):
        bigbench.ensure_tasks()
    assert not (bigbench.task_dir() / "COMPLETE").exists()


def test_extraction_keeps_only_used_files_and_marks_complete(cache, monkeypatch):
    good = b'{"examples": [1]}'
    sdist = _fake_sdist(cache / "downloads" / bigbench.SDIST_NAME, {TASK: good, "unused_task": b"{}"})
    monkeypatch.setattr(bigbench, "SDIST_SHA256", sha256_file(sdist))
    monkeypatch.setattr(bigbench, "TASK_FILES", {TASK: sha256_bytes(good)})
    out = bigbench.ensure_tasks()
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "COMPLETE", f"{TASK}/task.json"]  # fmt: skip
    assert bigbench.load_task(TASK) == {"examples": [1]}
    (out / TASK / "task.json").write_bytes(b'{"examples": [2]}')  # tampered after extraction
    with pytest.raises(bigbench.DownloadError, match="corrupted"):
        bigbench.load_task(TASK)


def test_missing_task_files_are_named(cache, monkeypatch):
    sdist = _fake_sdist(cache / "downloads" / bigbench.SDIST_NAME, {"other": b"{}"})
    monkeypatch.setattr(bigbench, "SDIST_SHA256", sha256_file(sdist))
    with pytest.raises(bigbench.DownloadError, match=r"lacks task files \['bbq_lite/resources/Age.json'"):
        bigbench.ensure_tasks()


def test_interrupted_extraction_is_redone(cache, monkeypatch):
    good = b'{"examples": [3]}'
    sdist = _fake_sdist(cache / "downloads" / bigbench.SDIST_NAME, {TASK: good})
    monkeypatch.setattr(bigbench, "SDIST_SHA256", sha256_file(sdist))
    monkeypatch.setattr(bigbench, "TASK_FILES", {TASK: sha256_bytes(good)})
    half = bigbench.task_dir() / TASK
    half.mkdir(parents=True)
    (half / "task.json").write_bytes(b'{"exam')  # a killed extraction: no COMPLETE marker
    assert json.loads((bigbench.ensure_tasks() / TASK / "task.json").read_bytes()) == {"examples": [3]}


def test_no_network_gives_a_clear_error_fast(cache, monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens on port 9
    start = time.monotonic()
    with pytest.raises(
        bigbench.DownloadError, match=r"(?s)could not download bigbench==1\.0\.0.*Fix: .*place the sdist at"
    ):
        bigbench.ensure_tasks()
    assert time.monotonic() - start < 30
    assert not (bigbench.task_dir() / "COMPLETE").exists()


def test_unknown_task_is_a_clear_error():
    with pytest.raises(KeyError, match="not in TASK_FILES"):
        bigbench.load_task("no_such_task")
