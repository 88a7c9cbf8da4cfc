"""``python -m cf_utils.data.readers``: print source_sha256.json anew from the installed wheels' files."""

import hashlib
import json

from cf_utils.data import offline
from cf_utils.data.readers import locate, wheels


def _print_pins() -> None:
    """The pin table of every file the offline specs read (cf_utils.data.offline), from the installed wheels,
    as source_sha256.json holds it."""
    out: dict[str, dict] = {}
    for spec in (*offline.BENCHMARKS.values(), *offline.TASKS, offline.GENERAL):
        wheel = wheels()[spec.source.pin]
        for rel in offline.files(spec):
            data = locate(wheel, rel).read_bytes()
            out.setdefault(wheel.pin, {})[rel] = {"sha256": hashlib.sha256(data).hexdigest(),
                                                  "rows": len(wheel.parse(rel, data))}  # fmt: skip
    print(json.dumps(out, indent=1, sort_keys=True))


_print_pins()
