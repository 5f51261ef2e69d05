"""The Hub path, against a local HTTP server that answers as the Hub does (the only seam: nothing is patched).

The server serves ``/{repo}/resolve/{revision}/{file}`` (HEAD and GET, with the ``X-Repo-Commit``, ``ETag`` and
``Content-Length`` headers huggingface_hub requires, and byte ranges for safetensors headers) and
``/api/models/{repo}/revision/{revision}``; it answers 401 ``GatedRepo`` for a gated repo without the right
token and 404 for a missing repo, revision or file, each with the ``X-Error-Code`` the Hub sends.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from kvplan.core.errors import AccessError, ConfigError, KvplanError, ModelNotFoundError, NetworkError
from kvplan.sources import catalog
from kvplan.sources.hub import fetch_from_hub
from kvplan.sources.resolve import resolve_model

FAKE_TOKEN = "hf_FaKeT0kenThatMustNeverBePrinted1234"
CONFIG = {"model_type": "llama", "num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4}
BYTES = {"F16": 2, "BF16": 2, "F32": 4, "U8": 1}


def commit_of(label: str) -> str:
    return hashlib.sha1(label.encode()).hexdigest()


def safetensors_bytes(tensors: dict[str, tuple[str, list[int]]], *, pad_header_to: int = 0) -> bytes:
    entries: dict[str, Any] = {"__metadata__": {"format": "pt", "pad": "x" * pad_header_to}}
    offset = 0
    for name, (dtype, shape) in tensors.items():
        size = math.prod(shape) * BYTES[dtype]
        entries[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(entries).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * offset


@dataclass
class FakeRepo:
    snapshots: dict[str, dict[str, bytes]]  # commit -> files
    refs: dict[str, str]  # branch or tag -> commit
    gated: bool = False


@dataclass
class Request:
    method: str
    path: str
    authorized: bool
    range: str | None


@dataclass
class FakeHub:
    url: str = ""
    repos: dict[str, FakeRepo] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    fail_with: int | None = None  # answer every request with this status (an outage)
    send_commit: bool = True  # False: behave like a plain file server, without X-Repo-Commit

    def add(self, repo_id: str, files: dict[str, bytes], *, ref: str = "main", gated: bool = False) -> str:
        commit = commit_of(f"{repo_id}@{ref}:{sorted(files)}:{len(files)}")
        repo = self.repos.setdefault(repo_id, FakeRepo(snapshots={}, refs={}, gated=gated))
        repo.snapshots[commit] = {name: data for name, data in files.items()}
        repo.refs[ref] = commit
        return commit

    def paths(self, method: str | None = None) -> list[str]:
        return [r.path for r in self.requests if method is None or r.method == method]


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_HEAD(self) -> None:
            self._serve(body=False)

        def do_GET(self) -> None:
            self._serve(body=True)

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
            pass

        def _serve(self, *, body: bool) -> None:
            path = urlsplit(self.path).path
            authorized = self.headers.get("authorization") == f"Bearer {FAKE_TOKEN}"
            hub.requests.append(Request(self.command, path, authorized, self.headers.get("range")))
            if hub.fail_with is not None:
                self._reply(hub.fail_with, {}, b"", body)
                return
            api = re.fullmatch(r"/api/models/(.+)/revision/([^/]+)", path)
            if api:
                self._api(unquote(api.group(1)), unquote(api.group(2)), authorized, body)
                return
            match = re.fullmatch(r"/(.+?)/resolve/([^/]+)/(.+)", path)
            if not match:
                self._reply(404, {}, b"", body)
                return
            repo_id, revision, filename = (unquote(g) for g in match.groups())
            found = self._lookup(repo_id, revision, authorized, body)
            if found is None:
                return
            commit, files = found
            if filename not in files:
                self._reply(404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit}, b"", body)
                return
            data = files[filename]
            headers = {"ETag": f'"{hashlib.sha1(data).hexdigest()}"'}
            if hub.send_commit:
                headers["X-Repo-Commit"] = commit
            wanted = re.fullmatch(r"bytes=(\d+)-(\d+)", self.headers.get("range") or "")
            if wanted and self.command == "GET":
                start, end = int(wanted.group(1)), min(int(wanted.group(2)), len(data) - 1)
                headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
                self._reply(206, headers, data[start : end + 1], body)
            else:
                self._reply(200, headers, data, body)

        def _lookup(
            self, repo_id: str, revision: str, authorized: bool, body: bool
        ) -> tuple[str, dict[str, bytes]] | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._reply(404, {"X-Error-Code": "RepoNotFound"}, b"", body)
                return None
            if repo.gated and not authorized:
                message = f"Access to model {repo_id} is restricted. You must have access to it."
                if self.headers.get("authorization"):
                    message = "Invalid credentials in Authorization header"
                    self._reply(401, {"X-Error-Message": message}, b"", body)
                    return None
                self._reply(401, {"X-Error-Code": "GatedRepo", "X-Error-Message": message}, b"", body)
                return None
            commit = repo.refs.get(revision, revision)
            if commit not in repo.snapshots:
                self._reply(404, {"X-Error-Code": "RevisionNotFound"}, b"", body)
                return None
            return commit, repo.snapshots[commit]

        def _api(self, repo_id: str, revision: str, authorized: bool, body: bool) -> None:
            found = self._lookup(repo_id, revision, authorized, body)
            if found is not None:
                siblings = [{"rfilename": name} for name in sorted(found[1])]
                info = {"id": repo_id, "sha": found[0], "siblings": siblings, "private": False}
                self._reply(200, {"Content-Type": "application/json"}, json.dumps(info).encode(), body)

        def _reply(self, status: int, headers: dict[str, str], data: bytes, body: bool) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if body:
                self.wfile.write(data)

    return Handler


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let huggingface_hub talk to 127.0.0.1 whatever the suite's isolation set.

    huggingface_hub reads HF_HUB_OFFLINE once, when first imported, and the suite runs with it set; kvplan
    passes its own ``environ`` everywhere else, so only this import-time flag needs lifting.
    """
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    for name in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture
def fake_hub(online: None) -> Iterator[FakeHub]:
    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def env(fake_hub: FakeHub, tmp_path: Path) -> dict[str, str]:
    return {
        "HF_ENDPOINT": fake_hub.url,
        "HF_HUB_CACHE": str(tmp_path / "hf"),
        "KVPLAN_CACHE_DIR": str(tmp_path / "kvplan"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }


def tiny_files(config: dict[str, Any] = CONFIG) -> dict[str, bytes]:
    return {
        "config.json": json.dumps(config).encode(),
        "model.safetensors": safetensors_bytes({"w": ("BF16", [16, 8]), "s": ("F32", [4])}),
    }


def test_config_and_weights_from_the_hub(fake_hub: FakeHub, env: dict[str, str]) -> None:
    commit = fake_hub.add("org/tiny", tiny_files())
    model = resolve_model("org/tiny", environ=env)
    assert model.config == CONFIG and model.config_source == "hub" and model.revision == commit
    assert model.location == f"{fake_hub.url}/org/tiny/blob/{commit}/config.json"
    assert model.weights is not None
    assert model.weights.source == "hub safetensors metadata"
    assert (model.weights.total_bytes, model.weights.param_count) == (256 + 16, 128 + 4)
    assert model.weights.bytes_by_dtype == {"BF16": 256, "F32": 16}
    assert model.extra_configs is None and model.notes == ()
    # Header-only: every GET of the weights file asked for a byte range, never the whole file.
    weight_gets = [r for r in fake_hub.requests if r.method == "GET" and r.path.endswith("model.safetensors")]
    assert weight_gets and all(r.range for r in weight_gets)
    # config.json went through hf_hub_download into the cache that environ names.
    assert (Path(env["HF_HUB_CACHE"]) / "models--org--tiny" / "snapshots" / commit / "config.json").is_file()


def test_sharded_repo_reads_every_shard_header(fake_hub: FakeHub, env: dict[str, str]) -> None:
    # The second shard's header is over the 100 kB first read, so huggingface_hub makes a second range request.
    shard1 = safetensors_bytes({"a": ("F16", [10, 10])})
    shard2 = safetensors_bytes({"b": ("U8", [7]), "c": ("F16", [3])}, pad_header_to=150_000)
    names = ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
    index = {"metadata": {"total_size": 213}, "weight_map": {"a": names[0], "b": names[1], "c": names[1]}}
    files = {"config.json": json.dumps(CONFIG).encode(), names[0]: shard1, names[1]: shard2}
    commit = fake_hub.add("org/sharded", {**files, "model.safetensors.index.json": json.dumps(index).encode()})
    model = fetch_from_hub("org/sharded", environ=env)
    assert model.weights is not None
    assert model.weights.total_bytes == 200 + 7 + 6 == 213
    assert model.weights.bytes_by_dtype == {"F16": 206, "U8": 7} and model.weights.param_count is None
    ranges = [r.range for r in fake_hub.requests if r.path.endswith(names[1]) and r.method == "GET"]
    assert ranges[0] == "bytes=0-100000" and len(ranges) == 2
    # The index went to the cache environ names, not the one huggingface_hub picked at import time.
    snapshot = Path(env["HF_HUB_CACHE"]) / "models--org--sharded" / "snapshots" / commit
    assert (snapshot / "model.safetensors.index.json").is_file()


def test_second_run_is_offline_and_instant(fake_hub: FakeHub, env: dict[str, str]) -> None:
    fake_hub.add("org/tiny", tiny_files())
    first = resolve_model("org/tiny", environ=env)
    seen = len(fake_hub.requests)
    for environ in (env, {**env, "HF_HUB_OFFLINE": "1"}):
        again = resolve_model("org/tiny", environ=environ)
        assert again.config_source == "hf-cache"
        assert again.config == first.config and again.revision == first.revision
        assert again.weights is not None and first.weights is not None
        assert again.weights == first.weights
        assert again.weights.bytes_by_dtype == first.weights.bytes_by_dtype  # not part of ==
    assert len(fake_hub.requests) == seen  # no request at all


def test_mtp_tensor_names_from_hub_metadata_survive_the_offline_cache(fake_hub: FakeHub,
                                                                       env: dict[str, str]) -> None:
    """Qwen3.5-style ``mtp.*`` tensors: the Hub's header metadata names them, kvplan keeps their bytes (and
    per-layer bytes) in its cache, and the planned weights leave them out online and offline alike."""
    from kvplan.api import weights_for

    files = {"config.json": json.dumps(CONFIG).encode(),
             "model.safetensors": safetensors_bytes({"model.layers.0.w": ("BF16", [16, 8]),
                                                     "mtp.fc.weight": ("BF16", [8, 8])})}
    fake_hub.add("org/mtp", files)
    for environ in (env, {**env, "HF_HUB_OFFLINE": "1"}):
        model = resolve_model("org/mtp", environ=environ)
        assert model.weights is not None
        assert model.weights.mtp_named_bytes == 128 and model.weights.bytes_by_layer == {0: 256}
        planned = weights_for(model)
        assert planned is not None and planned.total_bytes == 256


def test_revision_is_passed_through(fake_hub: FakeHub, env: dict[str, str]) -> None:
    main = fake_hub.add("org/tiny", tiny_files())
    v1 = fake_hub.add("org/tiny", tiny_files({**CONFIG, "num_hidden_layers": 1}), ref="v1")
    model = resolve_model("org/tiny", revision="v1", environ=env)
    assert model.config["num_hidden_layers"] == 1 and model.revision == v1 != main
    assert "/org/tiny/resolve/v1/config.json" in fake_hub.paths("GET")
    # Safetensors metadata and side files are read at the resolved commit, not at a moving branch or tag.
    assert f"/org/tiny/resolve/{v1}/model.safetensors" in fake_hub.paths("GET")
    # The tag is now in the HF cache; main is not, until asked for.
    seen = len(fake_hub.requests)
    assert resolve_model("org/tiny", revision="v1", environ=env).config_source == "hf-cache"
    assert resolve_model("org/tiny", revision=v1, environ=env).config_source == "hf-cache"
    assert len(fake_hub.requests) == seen
    by_commit = resolve_model("org/tiny", revision=main, environ=env)
    assert by_commit.config_source == "hub" and by_commit.config["num_hidden_layers"] == 2


def test_modelopt_quant_config_comes_along(fake_hub: FakeHub, env: dict[str, str]) -> None:
    quant = {"producer": {"name": "modelopt"}, "quantization": {"quant_algo": "FP8"}}
    fake_hub.add("nv/fp8", {**tiny_files(), "hf_quant_config.json": json.dumps(quant).encode()})
    assert fetch_from_hub("nv/fp8", environ=env).extra_configs == {"hf_quant_config.json": quant}
    assert resolve_model("nv/fp8", environ=env).extra_configs == {"hf_quant_config.json": quant}  # from cache


def test_repo_without_safetensors_is_remembered(fake_hub: FakeHub, env: dict[str, str]) -> None:
    fake_hub.add("org/bin", {"config.json": b"{}", "pytorch_model.bin": b"\0"})
    assert fetch_from_hub("org/bin", environ=env).weights is None
    seen = [p for p in fake_hub.paths() if "safetensors" in p]
    assert fetch_from_hub("org/bin", environ=env).weights is None
    assert [p for p in fake_hub.paths() if "safetensors" in p] == seen


def test_gated_repo_without_token(fake_hub: FakeHub, env: dict[str, str]) -> None:
    fake_hub.add("meta/gated", tiny_files(), gated=True)
    with pytest.raises(AccessError) as info:
        resolve_model("meta/gated", environ=env)
    assert info.value.one_line() == ("meta/gated is gated or private: accept its licence on the Hub and set HF_TOKEN.")


def test_gated_repo_with_token(fake_hub: FakeHub, env: dict[str, str]) -> None:
    fake_hub.add("meta/gated", tiny_files(), gated=True)
    model = resolve_model("meta/gated", environ={**env, "HF_TOKEN": FAKE_TOKEN})
    assert model.config == CONFIG and model.weights is not None
    assert FAKE_TOKEN not in repr(model)
    assert all(r.authorized for r in fake_hub.requests)


def test_refused_token_never_appears(fake_hub: FakeHub, env: dict[str, str]) -> None:
    fake_hub.add("meta/gated", tiny_files(), gated=True)
    wrong = FAKE_TOKEN[::-1]
    with pytest.raises(AccessError) as info:
        resolve_model("meta/gated", environ={**env, "HF_TOKEN": wrong})
    assert "invalid credentials" in info.value.one_line()
    _assert_no_secret(info.value, wrong)


def test_token_and_endpoint_password_stay_out_of_location(fake_hub: FakeHub, env: dict[str, str]) -> None:
    fake_hub.add("org/tiny", tiny_files())
    endpoint = fake_hub.url.replace("http://", "http://mirror:s3cret-pass@")
    model = resolve_model("org/tiny", environ={**env, "HF_ENDPOINT": endpoint, "HF_TOKEN": FAKE_TOKEN})
    assert "s3cret-pass" not in model.location and FAKE_TOKEN not in model.location
    assert model.location.startswith(fake_hub.url)


def test_missing_repo(fake_hub: FakeHub, env: dict[str, str]) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("org/nothing-here", environ=env)
    line = info.value.one_line()
    assert "org/nothing-here not found" in line and "not in the HF cache" in line and "Hub:" in line
    assert "Check the model id" in line and "\n" not in line


def test_missing_revision(fake_hub: FakeHub, env: dict[str, str]) -> None:
    fake_hub.add("org/tiny", tiny_files())
    with pytest.raises(ModelNotFoundError, match="revision 'v9' of org/tiny not found"):
        resolve_model("org/tiny", revision="v9", environ=env)


def test_repo_without_config_json(fake_hub: FakeHub, env: dict[str, str]) -> None:
    fake_hub.add("org/gguf", {"model.gguf": b"GGUF"})
    with pytest.raises(ConfigError, match=r"has no config\.json on the Hub"):
        resolve_model("org/gguf", environ=env)


def test_malformed_config_on_the_hub(fake_hub: FakeHub, env: dict[str, str]) -> None:
    fake_hub.add("org/broken", {"config.json": b'{"a": 1,}'})
    with pytest.raises(ConfigError, match="malformed JSON at line 1"):
        resolve_model("org/broken", environ=env)


def test_hub_outage_is_a_network_error(fake_hub: FakeHub, env: dict[str, str]) -> None:
    fake_hub.add("org/tiny", tiny_files())
    fake_hub.fail_with = 503
    started = time.monotonic()
    with pytest.raises(NetworkError, match=f"the Hub at {fake_hub.url} answered HTTP 503 for org/tiny"):
        resolve_model("org/tiny", environ=env)
    assert time.monotonic() - started < 8  # no back-off retries


def test_a_server_that_is_not_a_hub(fake_hub: FakeHub, env: dict[str, str]) -> None:
    fake_hub.add("org/tiny", tiny_files())
    fake_hub.send_commit = False
    with pytest.raises(NetworkError, match="did not answer like a Hugging Face Hub"):
        resolve_model("org/tiny", environ=env)


def test_unreachable_hub_fails_fast(tmp_path: Path, online: None) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environ = {"HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HUB_CACHE": str(tmp_path), "HF_TOKEN": FAKE_TOKEN}
    started = time.monotonic()
    with pytest.raises(NetworkError) as info:
        resolve_model("org/unlisted-model", environ=environ)
    # huggingface_hub alone would retry with back-off for ~20 s before giving up.
    assert time.monotonic() - started < 8
    assert info.value.one_line().startswith(f"cannot reach the Hub at http://127.0.0.1:{port}")
    _assert_no_secret(info.value, FAKE_TOKEN)


def test_unwritable_hf_cache(fake_hub: FakeHub, env: dict[str, str], tmp_path: Path) -> None:
    fake_hub.add("org/tiny", tiny_files())
    (tmp_path / "plain-file").write_text("")
    with pytest.raises(KvplanError, match="cannot write to the HF cache at") as info:
        resolve_model("org/tiny", environ={**env, "HF_HUB_CACHE": str(tmp_path / "plain-file" / "hub")})
    assert "Set HF_HUB_CACHE to a writable directory" in info.value.one_line()


def test_offline_mode_never_asks_the_hub(fake_hub: FakeHub, env: dict[str, str]) -> None:
    fake_hub.add("org/tiny", tiny_files())
    for environ, hint in (({**env, "HF_HUB_OFFLINE": "1"}, "unset HF_HUB_OFFLINE"), (env, "allow network")):
        with pytest.raises(ModelNotFoundError) as info:
            resolve_model("org/tiny", environ=environ, allow_network="HF_HUB_OFFLINE" in environ)
        assert hint in info.value.one_line()
    with pytest.raises(NetworkError, match="HF_HUB_OFFLINE is set"):
        fetch_from_hub("org/tiny", environ={**env, "HF_HUB_OFFLINE": "true"})
    assert fake_hub.requests == []


def test_model_info_endpoint_answers_like_the_hub(fake_hub: FakeHub, env: dict[str, str]) -> None:
    # Not on kvplan's path today; kept so the fake stays usable if resolution starts asking for model info.
    from huggingface_hub import HfApi

    commit = fake_hub.add("org/tiny", tiny_files())
    info = HfApi(endpoint=fake_hub.url, token=False).model_info("org/tiny", revision="main")
    assert info.sha == commit and {s.rfilename for s in info.siblings or []} == set(tiny_files())


# The bundled catalog is the last resort. These name a model the catalog is expected to carry; they skip
# while it does not, rather than patching kvplan.
CATALOG_MODEL = "Qwen/Qwen2.5-7B-Instruct"
needs_catalog = pytest.mark.skipif(
    catalog.find(CATALOG_MODEL) is None, reason=f"the bundled catalog has no {CATALOG_MODEL} entry yet"
)


@needs_catalog
def test_catalog_when_the_hub_is_unreachable(tmp_path: Path, online: None) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    environ = {"HF_ENDPOINT": f"http://127.0.0.1:{port}", "HF_HUB_CACHE": str(tmp_path), "HF_TOKEN": FAKE_TOKEN}
    model = resolve_model(CATALOG_MODEL, environ=environ)
    assert model.config_source == "catalog" and model.weights is not None
    assert len(model.notes) == 1 and model.notes[0].startswith("Hub unreachable (cannot reach the Hub at")
    assert model.notes[0].endswith("using the bundled catalog entry")
    assert FAKE_TOKEN not in repr(model)


@needs_catalog
def test_catalog_for_a_gated_model_without_token(fake_hub: FakeHub, env: dict[str, str]) -> None:
    fake_hub.add(CATALOG_MODEL, tiny_files(), gated=True)
    model = resolve_model(CATALOG_MODEL, revision="v2", environ=env)
    assert model.config_source == "catalog"
    assert model.notes == (
        f"{CATALOG_MODEL} is gated and HF_TOKEN is not set: using the bundled catalog entry"
        " (revision v2 not checked: the catalog holds one snapshot)",
    )
    # With a token the refusal is the user's to fix, so it is reported rather than papered over.
    with pytest.raises(AccessError):
        resolve_model(CATALOG_MODEL, environ={**env, "HF_TOKEN": FAKE_TOKEN[::-1]})


@needs_catalog
def test_catalog_offline(fake_hub: FakeHub, env: dict[str, str]) -> None:
    model = resolve_model(CATALOG_MODEL.lower(), environ={**env, "HF_HUB_OFFLINE": "1"})
    assert model.config_source == "catalog" and "HF_HUB_OFFLINE is set" in model.notes[0]
    assert fake_hub.requests == []


@needs_catalog
def test_catalog_does_not_hide_a_missing_repo(fake_hub: FakeHub, env: dict[str, str]) -> None:
    with pytest.raises(ModelNotFoundError):
        resolve_model(CATALOG_MODEL, environ=env)  # the (fake) Hub says it does not exist


def _assert_no_secret(error: KvplanError, secret: str) -> None:
    texts = [error.one_line(), str(error), repr(error), error.hint or ""]
    assert all(secret not in text for text in texts)
