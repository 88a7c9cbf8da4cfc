"""BIG-bench task files from the ``bigbench==1.0.0`` sdist on PyPI (Apache-2.0), offline after one fetch.

The sdist (358 MB) holds every BIG-bench task as ``bigbench/benchmark_tasks/<task>/task.json``
(programmatic tasks keep their data in other files of their folder, named by their path:
``bbq_lite/resources/Age.json``). We download it once from PyPI (the one network we have), check its
sha256, extract only the task files the stand-ins use, check each of those against a pinned
sha256, and delete the sdist. The extracted files live in ``data/cache/bigbench-<sha12>/``.

No network? Put the sdist at ``data/cache/downloads/bigbench-1.0.0.tar.gz`` (any machine can
``pip download --no-deps bigbench==1.0.0``) and it is used instead of a download.
"""

from __future__ import annotations

import json
import os
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from cf_utils import paths
from cf_utils.io import atomic_write_bytes, sha256_bytes, sha256_file
from cf_utils.progress import tqdm

PACKAGE = "bigbench==1.0.0"
SDIST_NAME = "bigbench-1.0.0.tar.gz"
SDIST_SHA256 = "1bb398a5512c6d798cdebe0dfa0ac03f67f6033fa6b39c6ef71df978c7cbc5c2"
_PREFIX = "bigbench-1.0.0/bigbench/benchmark_tasks/"
NI = "natural_instructions/subtask"  # the Natural-Instructions v1 subtasks BIG-bench exports, by number

# Every task file a stand-in reads (a task name for its task.json, or a path ending in .json), with its sha256 (computed once from the sdist above with
# cf_utils.io.sha256_file; `python -m cf_utils.data.bigbench --print-hashes` recomputes them).
TASK_FILES: dict[str, str] = {
    "bbq_lite/resources/Age.json": "d1db521eaaef8a3be7830833182d7a70464117fd18ffb3a63f7addafec57c6e7",
    "bbq_lite/resources/Disability_status.json": "9f9934750fbe03e7819bf28ebada5c23855370cde2849eaded4c0bf40956dba0",
    "bbq_lite/resources/Gender_identity.json": "d2924ad14c3af58a4c1bb52b50e455c290dc46c1f3a8f7ad40e2116d88a18f71",
    "bbq_lite/resources/Nationality.json": "1e95d0704e77bf7a2c081dc70e39036f7d63e165a8920b2b546951c12f33758e",
    "bbq_lite/resources/Physical_appearance.json": "1685943332b7495febd023d008d5b68238109dbf0be6bdd7210f38a21913a792",
    "bbq_lite/resources/Race_ethnicity.json": "6015b673b8be51f60cc88458514d77bbc80aee76bee291b3138466f2d18eb2be",
    "bbq_lite/resources/Religion.json": "7a7a7907ead93b7b979dba0600cd28509aff1ea72c2ec5f0e9fa54c309ad8f3a",
    "bbq_lite/resources/SES.json": "baa97aaeb4e763e8e2258eca2e3ccef4df097c71f086e0100046957f30f4746f",
    "bbq_lite/resources/Sexual_orientation.json": "0fee11db1f0f61f45642f53a71970a8fe94eadfb8ba3290c7fe25a9ac048d576",
    "elementary_math_qa/question_only": "765c8817c43b068720fd3bf99abaed09132420df530e58b2e6bd5a16823d58eb",
    "gem/asset": "aa482dec36e9741f51a4b9abd8d259c0131a824c4762731efdc30e30feffd09f",
    "gem/turk": "ee45350d4e49f9bc59f1c3f297e44070131222944404d236fc1c3d215816919b",
    "gem/xsum": "927d7a4c6ec326b79b41537538ac49525541a32e1e5bc0787bea3f2879ca8fb9",
    "goal_step_wikihow/step_inference": "e3cba757d9f6050a90f4a9d7b32d0159f2c0d69a4b6656588f56593f85193494",
    "misconceptions": "f6091db702cb3f3f699c570f732828283a85dbf137b1e1a65b7bcbbe98ebe6db",
    "natural_instructions/subtask002_quoref_answer_generation": "513c8c4893a56e12f9ab1b8eb4cd866d999ea3e9989f942a1051dc941a042b1c",
    "natural_instructions/subtask003_mctaco_question_generation_event_duration": "b4fe21ade9498a110b237b6a62f432c839187dfcf6ebdfaa81420695f3e17553",
    "natural_instructions/subtask006_mctaco_question_generation_transient_stationary": "c72f08fcc657839106ec9461fc64791358ce7980791d11dbc0df202240e955b7",
    "natural_instructions/subtask009_mctaco_question_generation_event_ordering": "7e6febfb5a1838bebec48426ff3ce0284a78452731d561c7ff3a7ee57ed02926",
    "natural_instructions/subtask012_mctaco_question_generation_absolute_timepoint": "951f2a71b609e04c234effbffcc16c0305f4dc61f7dfd98e8d118fb8dc975374",
    "natural_instructions/subtask015_mctaco_question_generation_frequency": "e08ab71cea88d4f4fbab991c2d092c170cdb57e716066e59094fd3f350e2d5d4",
    "natural_instructions/subtask025_cosmosqa_incorrect_answer_generation": "c612d88db314086905c709629b04444994d6b3cd8dc688fffb3f3158ab854699",
    "natural_instructions/subtask027_drop_answer_type_generation": "e01ae78dd7ca2bf214cc079ecede2d65949cf29fd1d2889b62ae3ef4a2dc353b",
    "natural_instructions/subtask028_drop_answer_generation": "0f7517c65aa27ec962c36cf093aae43143642ebef6c651767537f7bd10148d38",
    "natural_instructions/subtask029_winogrande_full_object": "0b50034573d26f63b0b270ac6229ea3535fe4981cb98a8af4c3e184f1635fda2",
    "natural_instructions/subtask038_qasc_combined_fact": "b4457e746aabfd234a4455d0347e604972e3344a5883ecf0000e40ee030bbd0c",
    "natural_instructions/subtask046_miscellaenous_question_typing": "8aea2ed4a22e6bd1f07d3879eb790bb7a8d83ae9f1a2e156050c1b8cc629d5be",
    "natural_instructions/subtask047_misc_answering_science_questions": "c58abd303b912f0d15aa16cc76a232b05c0caefda0439b6166bfa5fd4e90695f",
    "natural_instructions/subtask054_multirc_write_correct_answer": "c29c4110805659064225e9778380e7545eb1ee66f8c354bf31c4684227a599af",
    "natural_instructions/subtask055_multirc_write_incorrect_answer": "cef44264c931e25cb70fdbd798b29053130eadc9509e4d40883013590ad56fc5",
    "natural_instructions/subtask061_ropes_answer_generation": "faf0cc9707a76e3b38bce6b705b6f12e6d9885b9015bb0415cab44140c7f2014",
    "natural_instructions/subtask001_quoref_question_generation": "c4f88f0fd199ec5db4e399c9e40eeda3fcb44c320f0ca365a56328ececa05c13",
    "natural_instructions/subtask026_drop_question_generation": "f1724cde0103754df7956e4782397022edb7d69855edc068d20a920e9288aacb",
    "natural_instructions/subtask060_ropes_question_generation": "bea3e1a30ed34c59589b7aa3bc14a0b72f2151aed6ad205369a7bfaf1dcc2cc6",
    "physics": "0994a99e5b1466881ecc46e547604e25c1ab05d4de8d07e2c2be93b2cfc76aeb",
    "strategyqa": "60af9081fed20102fd8bb1e02dc7d9f12238efcba33e4c1a56b4d61cb6409803",
    "topical_chat": "3330856259c75f4745fe5a3df95cef881179691eada958170a3fc1f4abd452d4",
    "understanding_fables": "9911afc625294d4381cc09eb89877bf241ee573627d87504eb726a49367d5e71",
}


class DownloadError(RuntimeError):
    """The sdist could not be fetched, or a file does not match its pinned sha256."""


def task_dir() -> Path:
    return paths.cache_dir() / f"bigbench-{SDIST_SHA256[:12]}"


def _cached_sdist() -> Path:
    return paths.cache_dir() / "downloads" / SDIST_NAME


def _download(dest_dir: Path) -> Path:
    """Fetch the sdist from the package index pip uses (PEP 691 JSON simple API), with a progress bar.

    Not ``pip download``: pip builds the sdist's metadata first, and pip >= 25 then refuses
    bigbench's declared direct-URL dependency. Same file, same index, no build.
    """
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    fix = (f"Fix: connect to PyPI and re-run, or place the sdist at {_cached_sdist()} "
           f"(`pip download --no-deps --no-binary :all: {PACKAGE}` on any machine with pip < 25).")  # fmt: skip
    try:
        req = urllib.request.Request(f"{index}/bigbench/", headers={"Accept": "application/vnd.pypi.simple.v1+json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            files = json.load(resp)["files"]
        url = next(f["url"] for f in files if f["filename"] == SDIST_NAME)
        sdist = dest_dir / SDIST_NAME
        with urllib.request.urlopen(url, timeout=60) as resp, sdist.open("wb") as out:
            total = int(resp.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=SDIST_NAME) as bar:
                while block := resp.read(1 << 20):
                    out.write(block)
                    bar.update(len(block))
    except (OSError, ValueError, KeyError, StopIteration) as e:  # URLError and timeouts are OSErrors
        raise DownloadError(f"could not download {PACKAGE} from {index} (needed once for the offline "
                            f"profiles): {e!r}\n{fix}") from None  # fmt: skip
    return sdist


def _check_sha(path: Path, expected: str, what: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise DownloadError(
            f"{what} {path} is corrupted or not the pinned version: sha256 {actual} != expected {expected}. "
            f"Fix: delete it and re-run to fetch it again."
        )


def _relpath(task: str) -> str:
    return task if task.endswith(".json") else f"{task}/task.json"


def _member_name(task: str) -> str:
    return f"{_PREFIX}{_relpath(task)}"


def _extract(sdist: Path, out: Path) -> None:
    wanted = {_member_name(t): t for t in TASK_FILES}
    found = set()
    with tarfile.open(sdist, "r:gz") as tar:
        for member in tar:
            task = wanted.get(member.name)
            if task is None or not member.isfile():
                continue
            data = tar.extractfile(member).read()
            if sha256_bytes(data) != TASK_FILES[task]:
                raise DownloadError(
                    f"{sdist}: task file {task} has sha256 {sha256_bytes(data)}, expected {TASK_FILES[task]}. "
                    f"Fix: delete {sdist} and re-run to fetch the pinned {PACKAGE} again."
                )
            atomic_write_bytes(out / _relpath(task), data)
            found.add(task)
    missing = sorted(set(TASK_FILES) - found)
    if missing:
        raise DownloadError(f"{sdist} lacks task files {missing}; is it really {PACKAGE}?")


def ensure_tasks() -> Path:
    """Return the folder of verified task files, fetching and extracting them on first use."""
    out = task_dir()
    done = out / "COMPLETE"
    # A pin added since the last extraction (a new stand-in) makes the folder incomplete again.
    if done.is_file() and all((out / _relpath(t)).is_file() for t in TASK_FILES):
        return out
    sdist = _cached_sdist()
    paths.cache_dir().mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=paths.cache_dir()) as tmp:
        if not sdist.is_file():
            print(f"Downloading {PACKAGE} (358 MB, once) from PyPI ...", flush=True)
            sdist = _download(Path(tmp))
        _check_sha(sdist, SDIST_SHA256, "BIG-bench sdist")
        # Extracted over the old files, not into an emptied folder: each file is replaced atomically,
        # so a run reading the cache meanwhile never finds a file missing.
        _extract(sdist, out)
    # COMPLETE is written last: a folder without it is an interrupted extraction, redone next time.
    atomic_write_bytes(done, json.dumps({"package": PACKAGE, "sdist_sha256": SDIST_SHA256}).encode())
    return out


def load_task(task: str) -> dict:
    """The parsed task.json of one task (e.g. ``gem/xsum``), verified against its pin."""
    if task not in TASK_FILES:
        raise KeyError(f"BIG-bench task {task!r} is not in TASK_FILES; add it with its sha256")
    path = ensure_tasks() / _relpath(task)
    _check_sha(path, TASK_FILES[task], "BIG-bench task file")
    return json.loads(path.read_text(encoding="utf-8"))


if __name__ == "__main__" and "--print-hashes" in sys.argv:
    for t in TASK_FILES:
        print(f'    "{t}": "{sha256_file(ensure_tasks() / _relpath(t))}",')
