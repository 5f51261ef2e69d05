"""The HF cache read from disk, and kvplan's Hub metadata cache."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote

import pytest

from kvplan.core.errors import ConfigError
from kvplan.core.weights import WeightsInfo
from kvplan.sources.hf_cache import (
    hf_hub_cache_dir,
    kvplan_cache_dir,
    load_hub_weights,
    read_hf_cache,
    save_hub_weights,
    snapshot_commit,
)

CONFIG = {"model_type": "llama", "num_hidden_layers": 2}
MAIN = hashlib.sha1(b"main").hexdigest()
V1 = hashlib.sha1(b"v1").hexdigest()


def put(cache: Path, repo_id: str, commit: str, files: dict[str, bytes], refs: tuple[str, ...] = ()) -> Path:
    """Lay files out as huggingface_hub does: blobs by hash, snapshot entries as relative symlinks."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / commit
    for name, data in files.items():
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = snapshot / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for ref in refs:
        (repo / "refs" / ref).parent.mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)  # no newline, as huggingface_hub writes it
    return snapshot


def safetensors_bytes(n_bf16: int) -> bytes:
    raw = json.dumps({"w": {"dtype": "BF16", "shape": [n_bf16], "data_offsets": [0, 2 * n_bf16]}}).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * (2 * n_bf16)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HF_HUB_CACHE": str(tmp_path / "hub"), "KVPLAN_CACHE_DIR": str(tmp_path / "kvplan")}


@pytest.fixture
def cache(env: dict[str, str]) -> Path:
    root = Path(env["HF_HUB_CACHE"])
    put(root, "org/model", MAIN, {"config.json": json.dumps(CONFIG).encode()}, refs=("main",))
    v1_config = json.dumps({**CONFIG, "num_hidden_layers": 1}).encode()
    put(root, "org/model", V1, {"config.json": v1_config}, refs=("v1", "refs/pr/1"))
    return root


@pytest.mark.parametrize(
    ("revision", "layers"),
    [(None, 2), ("main", 2), ("v1", 1), ("refs/pr/1", 1), (V1, 1), (MAIN[:7], 2), (V1[:12], 1)],
)
def test_revisions(cache: Path, env: dict[str, str], revision: str | None, layers: int) -> None:
    model = read_hf_cache("org/model", revision=revision, environ=env)
    assert model is not None
    assert model.config["num_hidden_layers"] == layers
    assert model.config_source == "hf-cache" and model.ref == "org/model"
    assert model.revision == (MAIN if layers == 2 else V1)
    assert model.location == str(cache / "models--org--model" / "snapshots" / model.revision)


@pytest.mark.parametrize("revision", ["dev", "0" * 40, "abc", "../../etc", "refs/../main", "/main"])
def test_absent_revisions(cache: Path, env: dict[str, str], revision: str) -> None:
    assert read_hf_cache("org/model", revision=revision, environ=env) is None


@pytest.mark.parametrize("repo_id", ["org/absent", "other", "../org/model", "org/model/extra", "a//b"])
def test_absent_or_invalid_repos(cache: Path, env: dict[str, str], repo_id: str) -> None:
    assert read_hf_cache(repo_id, environ=env) is None


def test_ambiguous_short_commit(env: dict[str, str]) -> None:
    root = Path(env["HF_HUB_CACHE"])
    put(root, "org/m", "abcdef1" + "0" * 33, {"config.json": b"{}"})
    put(root, "org/m", "abcdef1" + "1" * 33, {"config.json": b"{}"})
    assert snapshot_commit(root / "models--org--m", "abcdef1") is None
    assert snapshot_commit(root / "models--org--m", "abcdef10") == "abcdef1" + "0" * 33


def test_ref_to_a_missing_snapshot_or_missing_config(env: dict[str, str]) -> None:
    root = Path(env["HF_HUB_CACHE"])
    put(root, "org/m", MAIN, {"README.md": b"hi"}, refs=("main",))  # config.json never downloaded
    assert read_hf_cache("org/m", environ=env) is None
    (root / "models--org--m" / "refs" / "main").write_text(V1)
    assert read_hf_cache("org/m", environ=env) is None


def test_malformed_cached_config(env: dict[str, str]) -> None:
    put(Path(env["HF_HUB_CACHE"]), "org/m", MAIN, {"config.json": b"{oops"}, refs=("main",))
    with pytest.raises(ConfigError, match=r"config.json: malformed JSON at line 1"):
        read_hf_cache("org/m", environ=env)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"HF_HUB_CACHE": "/a", "HUGGINGFACE_HUB_CACHE": "/b", "HF_HOME": "/c"}, "/a"),
        ({"HUGGINGFACE_HUB_CACHE": "/b", "HF_HOME": "/c"}, "/b"),
        ({"HF_HOME": "/c", "XDG_CACHE_HOME": "/x"}, "/c/hub"),
        ({"XDG_CACHE_HOME": "/x"}, "/x/huggingface/hub"),
        ({}, str(Path.home() / ".cache/huggingface/hub")),
    ],
)
def test_hub_cache_dir_precedence(environ: dict[str, str], expected: str) -> None:
    assert hf_hub_cache_dir(environ) == Path(expected)


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"KVPLAN_CACHE_DIR": "/k", "XDG_CACHE_HOME": "/x"}, "/k"),
        ({"XDG_CACHE_HOME": "/x"}, "/x/kvplan"),
        ({}, str(Path.home() / ".cache/kvplan")),
    ],
)
def test_kvplan_cache_dir_precedence(environ: dict[str, str], expected: str) -> None:
    assert kvplan_cache_dir(environ) == Path(expected)


def test_weights_prefer_shards_then_hub_metadata_then_index(env: dict[str, str]) -> None:
    root = Path(env["HF_HUB_CACHE"])
    index = {"metadata": {"total_size": 4000}, "weight_map": {"w": "model-00001-of-00001.safetensors"}}
    put(root, "org/m", MAIN, {"config.json": b"{}", "model.safetensors.index.json": json.dumps(index).encode()})
    (root / "models--org--m" / "refs").mkdir()
    (root / "models--org--m" / "refs" / "main").write_text(MAIN)

    def weights() -> WeightsInfo | None:
        model = read_hf_cache("org/m", environ=env)
        assert model is not None
        return model.weights

    assert weights() == WeightsInfo(total_bytes=4000, source="safetensors index total_size")
    fetched = WeightsInfo(
        total_bytes=4000, source="hub safetensors metadata", param_count=2000, bytes_by_dtype={"BF16": 4000}
    )
    save_hub_weights("org/m", MAIN, fetched, env)
    got = weights()
    assert got == fetched and got is not None and got.bytes_by_dtype == {"BF16": 4000}
    put(root, "org/m", MAIN, {"model-00001-of-00001.safetensors": safetensors_bytes(2000)})
    got = weights()
    assert got is not None and got.source == "safetensors headers" and got.total_bytes == 4000


def test_hub_weights_cache_round_trip_and_misses(env: dict[str, str]) -> None:
    assert load_hub_weights("org/m", MAIN, env) == (False, None)
    save_hub_weights("org/m", MAIN, None, env)  # a repo without safetensors is remembered too
    assert load_hub_weights("org/m", MAIN, env) == (True, None)
    assert load_hub_weights("org/m", V1, env) == (False, None)
    path = Path(env["KVPLAN_CACHE_DIR"]) / "hub-safetensors" / "org--m" / f"{MAIN}.json"
    assert path.is_file()
    for broken in ("{not json", "[]", json.dumps({"schema": 99, "repo_id": "org/m", "commit": MAIN})):
        path.write_text(broken)
        assert load_hub_weights("org/m", MAIN, env) == (False, None)
    bad_weights: dict[str, Any] = {
        "total_bytes": "12",
        "param_count": None,
        "bytes_by_dtype": {},
        "source": "x",
        "exact": True,
    }
    path.write_text(json.dumps({"schema": 1, "repo_id": "org/m", "commit": MAIN, "weights": bad_weights}))
    assert load_hub_weights("org/m", MAIN, env) == (False, None)
    # Only full commits and valid repo ids ever become file names.
    save_hub_weights("../x", MAIN, None, env)
    save_hub_weights("org/m", "main", None, env)
    assert sorted(p.name for p in path.parent.parent.rglob("*.json")) == [f"{MAIN}.json"]


def test_unwritable_kvplan_cache_is_not_an_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    environ = {"KVPLAN_CACHE_DIR": str(blocker / "cache")}  # a directory under a file cannot exist
    save_hub_weights("org/m", MAIN, None, environ)
    assert load_hub_weights("org/m", MAIN, environ) == (False, None)


class _ConfigOnlyHub(BaseHTTPRequestHandler):
    """Just enough Hub for hf_hub_download: /{repo}/resolve/{revision}/config.json with its headers."""

    files: ClassVar[dict[str, tuple[str, bytes]]] = {
        "main": (MAIN, json.dumps(CONFIG).encode()),
        "v1": (V1, json.dumps({"num_hidden_layers": 1}).encode()),
    }

    def do_HEAD(self) -> None:
        self._serve(body=False)

    def do_GET(self) -> None:
        self._serve(body=True)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self, *, body: bool) -> None:
        revision = unquote(self.path.split("/resolve/")[1].split("/")[0])
        commit, data = next((c, d) for ref, (c, d) in self.files.items() if revision in (ref, c))
        self.send_response(200)
        self.send_header("X-Repo-Commit", commit)
        self.send_header("ETag", f'"{hashlib.sha1(data).hexdigest()}"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if body:
            self.wfile.write(data)


@pytest.fixture
def hub_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    import huggingface_hub.constants

    # Read once at import, and the suite runs offline: lift it for this loopback server only.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ConfigOnlyHub)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_reads_what_hf_hub_download_wrote(hub_url: str, env: dict[str, str]) -> None:
    from huggingface_hub import hf_hub_download

    for revision in (None, "v1"):
        hf_hub_download(
            "org/real", "config.json", revision=revision, cache_dir=env["HF_HUB_CACHE"], endpoint=hub_url, token=False
        )
    main = read_hf_cache("org/real", environ=env)
    tagged = read_hf_cache("org/real", revision="v1", environ=env)
    assert main is not None and (main.config, main.revision) == (CONFIG, MAIN)
    assert tagged is not None and (tagged.config, tagged.revision) == ({"num_hidden_layers": 1}, V1)


def test_cached_model_resolves_without_importing_huggingface_hub(cache: Path, env: dict[str, str]) -> None:
    # A fresh interpreter, so modules imported by other tests do not count. The endpoint is unroutable: the
    # cache must answer before any network is considered.
    code = (
        "import sys\n"
        "from kvplan.sources.resolve import resolve_model\n"
        "model = resolve_model('org/model', revision='v1')\n"
        "assert model.config_source == 'hf-cache', model\n"
        "assert 'huggingface_hub' not in sys.modules, 'huggingface_hub imported'\n"
        "assert 'httpx2' not in sys.modules and 'httpx' not in sys.modules\n"
    )
    environ = {**os.environ, **env, "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_OFFLINE": "0"}
    result = subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
