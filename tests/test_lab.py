"""The reader's path: `make lab` as root on a free port, every notebook opened through the Jupyter server,
and 01 run cell by cell on the smoke profile the way a reader runs it (a kernel of the server, its
default parameters, no papermill). Driven through the server's REST and kernel (websocket) API: the
CI machine has no browser. A headless-Chromium walk through the same path is described in the README."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import uuid

import pytest

from cf_utils import paths

pytestmark = pytest.mark.slow  # a Jupyter server and a kernel of its own: make test-all

TOKEN = "cf-test-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """`make lab` with a free port and a token; the data, artifacts and figures roots in tmp_path."""
    import requests

    port = free_port()
    args = f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --IdentityProvider.token={TOKEN}"
    roots = [f"DATA_ROOT={tmp_path / 'data'}", f"ARTIFACTS_ROOT={tmp_path / 'artifacts'}",
             f"FIGURES_ROOT={tmp_path / 'figures'}"]  # fmt: skip
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(["make", "--no-print-directory", "lab", f"LAB_ARGS={args}", *roots], cwd=paths.ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=os.environ)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.headers["Authorization"] = f"token {TOKEN}"
    try:
        for _ in range(240):
            if proc.poll() is not None:
                pytest.fail(f"make lab exited with {proc.returncode}: {(tmp_path / 'lab.log').read_text()[-2000:]}")
            try:
                if session.get(f"{base}/api/status", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(f"JupyterLab did not answer in 120 s: {(tmp_path / 'lab.log').read_text()[-2000:]}")
        yield base, session, tmp_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()


def execute(ws, session_id: str, code: str, timeout: float = 600) -> list[dict]:
    """Run ``code`` in the kernel behind websocket ``ws``; return its iopub outputs (raises on an error)."""
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": "reader", "session": session_id, "msg_type": "execute_request",
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))  # fmt: skip
    outputs, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        msg = json.loads(ws.recv())
        if msg.get("parent_header", {}).get("msg_id") != msg_id or msg["channel"] != "iopub":
            continue
        kind = msg["msg_type"]
        if kind == "error":
            raise AssertionError(f"{msg['content']['ename']}: {msg['content']['evalue']}\n{code}")
        if kind in ("stream", "execute_result", "display_data"):
            outputs.append(msg["content"])
        if kind == "status" and msg["content"]["execution_state"] == "idle":
            return outputs
    raise TimeoutError(code)


def text(outputs: list[dict]) -> str:
    return "".join(o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in outputs)


def test_a_reader_opens_every_notebook_and_runs_01_by_hand_in_jupyterlab_as_root(lab):
    import websocket

    base, session, tmp_path = lab
    root = session.get(f"{base}/api/contents").json()
    assert {"notebooks", "README.md", "Makefile"} <= {c["name"] for c in root["content"]}  # the repository root
    listed = session.get(f"{base}/api/contents/notebooks").json()["content"]
    names = sorted(c["name"] for c in listed if c["type"] == "notebook")
    assert names == sorted(p.name for p in paths.NOTEBOOKS.glob("*.ipynb"))
    for name in names:
        nb = session.get(f"{base}/api/contents/notebooks/{name}", params={"content": 1}).json()
        assert nb["type"] == "notebook" and nb["content"]["cells"][0]["cell_type"] == "markdown", name
    assert session.get(f"{base}/lab/tree/notebooks/01_prepare_data.ipynb").ok  # what the browser opens

    nb = session.get(f"{base}/api/contents/notebooks/01_prepare_data.ipynb", params={"content": 1}).json()
    kernel = session.post(f"{base}/api/sessions", json={"path": "notebooks/01_prepare_data.ipynb", "type": "notebook",
                                                        "name": "", "kernel": {"name": "python3"}}).json()  # fmt: skip
    ws = websocket.create_connection(
        f"ws://{base.removeprefix('http://')}/api/kernels/{kernel['kernel']['id']}/channels?token={TOKEN}", timeout=600
    )
    try:
        shown = [text(execute(ws, kernel["id"], "".join(c["source"])))
                 for c in nb["content"]["cells"] if c["cell_type"] == "code"]  # fmt: skip
    finally:
        ws.close()
    assert "profile smoke, seed 1234:" in shown[2]  # the default profile runs in seconds
    assert (tmp_path / "data" / "smoke" / "MANIFEST.json").is_file()  # where make lab's DATA_ROOT points
    assert "nan" not in shown[2].lower() and "[...]" in shown[-1]  # whole numbers; fields shortened
