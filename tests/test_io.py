import pytest

from cf_utils.io import atomic_dir, atomic_write_text


def test_atomic_dir_swaps_in_only_on_success(tmp_path):
    final = tmp_path / "out"
    with atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("v1")
    assert (final / "a.txt").read_text() == "v1"
    with pytest.raises(RuntimeError):
        with atomic_dir(final) as tmp:
            (tmp / "a.txt").write_text("half")
            raise RuntimeError("killed mid-way")
    assert (final / "a.txt").read_text() == "v1"  # the old, complete version survives
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no partial folder left behind


def test_atomic_dir_clears_stale_partials_from_a_killed_run(tmp_path):
    stale = tmp_path / ".out.partial-abc"
    stale.mkdir()
    with atomic_dir(tmp_path / "out") as tmp:
        (tmp / "x").write_text("1")
    assert not stale.exists()


def test_atomic_write_failure_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "old")

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.fsync", full_disk)
    with pytest.raises(OSError, match="no space left on the device"):
        atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
