"""Reading datasets from the Hugging Face hub: the only place the data layer touches the hub.

``load_rows`` reads one split as plain dicts, from named parquet/jsonl files at a pinned revision
with the packaged ``datasets`` builders, so no repository loading script ever runs (``datasets>=4``
refuses them). ``resolve_revision`` asks the hub which commit a revision is today, so a run can
record the asked-for revision and the sha it read. With the hub out of reach both raise
``HubUnavailableError`` quickly. Tests feed fixture files through the same path with
``load_rows(..., local_files=...)``.

References: huggingface_hub ``HfApi.dataset_info``; datasets ``load_dataset`` with ``data_files``
and ``hf://`` paths.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import quote

from huggingface_hub.utils import httpx

from cf_utils.paths import cache_dir

HUB_TIMEOUT_S = 10.0

# Every failure of the hub transport or of the hub itself (offline mode, DNS, timeout, 404, gated,
# unknown revision or file pattern) is an OSError or a transport HTTPError.
_HUB_ERRORS = (OSError, httpx.HTTPError)

Rows = list[dict]


class HubUnavailableError(RuntimeError):
    """The hub could not serve a dataset: unreachable, or the id / revision / files are wrong."""


def _unavailable(repo: str, revision: str, error: BaseException) -> HubUnavailableError:
    return HubUnavailableError(
        f"cannot load hub dataset '{repo}' at revision '{revision}': the Hugging Face hub is unreachable "
        f"from here, or the dataset id, revision or file pattern is wrong ({type(error).__name__}: {error}). "
        "The gpu-mini and paper profiles need the hub; the offline profiles cpu and smoke need no hub: "
        "run `make reproduce PROFILE=cpu`."
    )


@functools.cache
def resolve_revision(repo: str, revision: str) -> str:
    """The commit sha the hub resolves ``revision`` to today (for the manifest).

    Also the fast reachability check before any download: one small API call with a short timeout.
    """
    from huggingface_hub import HfApi

    try:
        return HfApi().dataset_info(repo, revision=revision, timeout=HUB_TIMEOUT_S).sha
    except _HUB_ERRORS as e:
        raise _unavailable(repo, revision, e) from e


def _hf_cache() -> str:
    return str(cache_dir() / "hf-datasets")


def _builder(path: str) -> str:
    suffix = path.rsplit(".", 1)[-1]
    return {"parquet": "parquet", "jsonl": "json", "json": "json"}[suffix]


@contextlib.contextmanager
def _datasets_quietly() -> Iterator:
    """``datasets`` pings a download counter over the network on every load_dataset call, even for
    local files; a slow DNS answer there stalls offline runs for seconds. Switch it off meanwhile."""
    import datasets

    saved = datasets.config.HF_UPDATE_DOWNLOAD_COUNTS
    datasets.config.HF_UPDATE_DOWNLOAD_COUNTS = False
    try:
        yield datasets
    finally:
        datasets.config.HF_UPDATE_DOWNLOAD_COUNTS = saved


def _read_files(files: Sequence[str], split: str) -> Rows:
    with _datasets_quietly() as datasets:
        builder = _builder(files[0])
        ds = datasets.load_dataset(builder, data_files={split: list(files)}, split=split, cache_dir=_hf_cache())
    return ds.to_list()


def _hub_url(repo: str, revision: str, pattern: str) -> str:
    # A branch such as refs/convert/parquet must be URL-encoded inside an hf:// path.
    return f"hf://datasets/{repo}@{quote(revision, safe='')}/{pattern}"


def load_rows(
    repo: str,
    *,
    revision: str,
    config: str | None = None,
    split: str,
    data_files: str | Sequence[str] | None = None,
    local_files: Sequence[str | Path] | None = None,
) -> Rows:
    """All rows of one split, as plain dicts in source order.

    With ``data_files`` the named parquet/jsonl files are read at ``revision`` with the packaged
    builder (no repository code runs). Without, the repository's own data-file config ``config`` is
    used. ``local_files`` reads those files instead of the hub (fixtures, offline copies).
    Raises HubUnavailableError when the hub cannot serve the dataset.
    """
    if local_files is not None:
        return _read_files([str(p) for p in local_files], split)
    resolve_revision(repo, revision)
    patterns = [data_files] if isinstance(data_files, str) else list(data_files or [])
    try:
        if patterns:
            return _read_files([_hub_url(repo, revision, p) for p in patterns], split)
        with _datasets_quietly() as datasets:
            ds = datasets.load_dataset(repo, config, split=split, revision=revision, cache_dir=_hf_cache())
        return ds.to_list()
    except _HUB_ERRORS as e:
        raise _unavailable(repo, revision, e) from e
