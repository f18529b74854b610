"""Nothing saved is lost, nothing loaded runs code: fuzzed files, pickles, atomic saves,
a process killed mid-write, and a benchmark sweep killed mid-run then resumed.

The fuzz tests start from valid files and truncate them, flip bytes in them,
overwrite runs of them, replace them with random bytes, rewrite their JSON
header with arbitrary JSON, or rebuild their zip container from wrong
members. Every example must end in the library's CheckpointError (a
ValueError) or, when the damage missed everything that matters (a byte of a
zip comment, say), in a load that returns exactly the original contents.
"""

import contextlib
import io
import json
import os
import pickle
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import causalrep
import simulators
from causalrep import Autoencoder, CheckpointError, InterventionalData, LinearICA, bench
from causalrep.cli import main
from causalrep.data import file_kind
from causalrep.estimators._core import checkpoint

torch.set_num_threads(1)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: Fuzzing settings: fixed examples (derandomize) so that a run is reproducible,
#: a generous deadline (a hang fails), no example database written to disk.
FUZZ = settings(
    max_examples=50, deadline=2000, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow]
)


class _Payload:
    """Unpickling this creates the file ``target``: proof that code ran."""

    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("files")
    data = simulators.ahuja2023(latent_dim=2, obs_dim=6, degree=2, n_obs=60, n_int=60, seed=0)
    ica = LinearICA(latent_dim=2).fit(data)
    ae = Autoencoder(latent_dim=2, hidden=(64,), max_steps=10, verbose=0, device="cpu").fit(data)
    data.save(folder / "data.npz")
    ica.save(folder / "ica.pt")
    ae.save(folder / "ae.pt")
    return {
        "folder": folder,
        "data": data,
        "bytes": {name: (folder / name).read_bytes() for name in ("data.npz", "ica.pt", "ae.pt")},
        "latents": {"ica.pt": ica.transform(data.X), "ae.pt": ae.transform(data.X)},
    }


def same_data(a, b):
    arrays = all(
        (getattr(a, k) is None and getattr(b, k) is None) or np.array_equal(getattr(a, k), getattr(b, k))
        for k in ("X", "regime", "Z", "A", "Y")
    )
    graphs = sorted(a.graph.edges) == sorted(b.graph.edges) if a.graph is not None else b.graph is None
    return arrays and graphs and dict(a.targets) == dict(b.targets) and a.meta == b.meta


# -- fuzzing ------------------------------------------------------------------------------

DAMAGE = st.tuples(
    st.sampled_from(["truncate", "flip", "overwrite", "random"]),
    st.randoms(use_true_random=False),  # positions uniform over the file, not near 0
    st.integers(1, 8),
    st.binary(min_size=1, max_size=64),
)


def apply(good, damage):
    """The bytes of ``good`` damaged as ``damage`` (kind, random, count, run) says."""
    kind, rnd, count, run = damage
    size = len(good)
    if kind == "truncate":
        return good[: rnd.randrange(size)]
    if kind == "random":
        return bytes(rnd.randrange(256) for _ in range(rnd.randrange(4096)))
    out = bytearray(good)
    if kind == "flip":
        for _ in range(count):
            out[rnd.randrange(size)] ^= rnd.randrange(1, 256)
    else:
        position = rnd.randrange(size)
        out[position : position + len(run)] = run
    return bytes(out)


@FUZZ
@given(damage=DAMAGE)
def test_fuzz_data_load(saved, damage):
    good = saved["bytes"]["data.npz"]
    path = saved["folder"] / "fuzzed.npz"
    path.write_bytes(apply(good, damage))
    try:
        loaded = InterventionalData.load(path)
    except CheckpointError:
        return
    assert same_data(loaded, saved["data"]), damage


def test_every_bit_of_every_member_name_is_guarded(saved):
    """A flipped bit in a member's name (local header or central directory) once
    made a data file load without its regime; now it is refused or harmless."""
    good = saved["bytes"]["data.npz"]
    path = saved["folder"] / "renamed.npz"
    positions = [
        start + i
        for name in (b"X.npy", b"regime.npy", b"Z.npy", b"header.npy")
        for start in range(len(good))
        if good.startswith(name, start)
        for i in range(len(name))
    ]
    assert len(positions) >= 2 * (5 + 10 + 5 + 10)
    for position in positions:
        for bit in range(8):
            damaged = bytearray(good)
            damaged[position] ^= 1 << bit
            path.write_bytes(bytes(damaged))
            try:
                loaded = InterventionalData.load(path)
            except CheckpointError:
                continue
            assert same_data(loaded, saved["data"]), (position, bit)


@FUZZ
@given(name=st.sampled_from(["ica.pt", "ae.pt"]), damage=DAMAGE)
def test_fuzz_checkpoint_load(saved, name, damage):
    good = saved["bytes"][name]
    path = saved["folder"] / "fuzzed.pt"
    path.write_bytes(apply(good, damage))
    try:
        model = causalrep.load(path)
    except CheckpointError:
        return
    assert np.array_equal(model.transform(saved["data"].X), saved["latents"][name]), damage


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=4),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=12,
)
HEADER_KEYS = ["format", "arrays", "targets", "graph", "meta"]


@FUZZ
@given(
    changes=st.dictionaries(st.sampled_from(HEADER_KEYS), JSON, min_size=1),
    dropped=st.sets(st.sampled_from(HEADER_KEYS)),
    raw=st.none() | st.binary(max_size=64),
)
def test_fuzz_hand_corrupted_header(saved, changes, dropped, raw):
    data = saved["data"]
    header = {
        "format": "causalrep.InterventionalData",
        "arrays": ["X", "Z", "regime"],
        "targets": {str(k): list(v) for k, v in data.targets.items()},
        "graph": {"nodes": [0, 1], "edges": []},
        "meta": {},
    }
    header = {k: v for k, v in {**header, **changes}.items() if k not in dropped}
    text = raw if raw is not None else json.dumps(header).encode()
    path = saved["folder"] / "header.npz"
    np.savez(path, X=data.X, Z=data.Z, regime=data.regime, header=np.frombuffer(text, dtype=np.uint8))
    try:
        loaded = InterventionalData.load(path)
    except CheckpointError:
        return
    assert isinstance(loaded, InterventionalData)
    assert np.array_equal(loaded.X, data.X)


def _npy(array=None, header=None, body=b""):
    if header is None:
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=True)
        return buffer.getvalue()
    text = repr(header).encode()
    text += b" " * (63 - (len(text) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + body


MEMBER_NAMES = [
    "X.npy",
    "regime.npy",
    "Z.npy",
    "A.npy",
    "Y.npy",
    "header.npy",
    "evil.pkl",
    "archive/data.pkl",
    "X",
    "../X.npy",
]


@FUZZ
@given(
    members=st.lists(st.tuples(st.sampled_from(MEMBER_NAMES), st.integers(0, 11)), min_size=1, max_size=6),
    compression=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]),
)
def test_fuzz_zip_containers_with_wrong_members(saved, members, compression):
    folder = saved["folder"]
    marker = folder / "unpickled"
    good_header = json.dumps({"format": "causalrep.InterventionalData", "targets": {"0": []}}).encode()
    contents = [
        _npy(np.ones((4, 2))),
        _npy(np.ones(4)),
        _npy(np.ones((4, 2), complex)),
        _npy(np.array([["a", "b"]])),
        _npy(np.zeros((0, 2))),
        _npy(np.full((4, 2), np.nan)),
        _npy(np.arange(4)),
        _npy(np.frombuffer(good_header, np.uint8)),
        _npy(np.array([_Payload(str(marker))], dtype=object)),
        _npy(header={"descr": "<f8", "fortran_order": False, "shape": (10**12, 10)}),
        _npy(header={"descr": "<f8", "fortran_order": False, "shape": (3,)}, body=b"\0" * 8),
        pickle.dumps(_Payload(str(marker))),
    ]
    path = folder / "members.npz"
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, which in members:
            archive.writestr(name, contents[which])  # a repeated name warns, and is kept
    try:
        loaded = InterventionalData.load(path)
    except CheckpointError:
        pass
    else:
        assert isinstance(loaded, InterventionalData)
    assert not marker.exists()


@settings(FUZZ, max_examples=40)
@given(target=st.sampled_from(["--data", "--model"]), damage=DAMAGE)
def test_fuzz_cli_file_arguments(saved, target, damage):
    folder = saved["folder"]
    name = "data.npz" if target == "--data" else "ica.pt"
    good = saved["bytes"][name]
    path = folder / f"cli-{name}"
    path.write_bytes(apply(good, damage))
    files = {"--data": str(folder / "data.npz"), "--model": str(folder / "ica.pt"), target: str(path)}
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["check", "--data", files["--data"], "--model", files["--model"]])
    if code == 2:
        lines = err.getvalue().splitlines()
        assert len(lines) == 1, lines
        assert lines[0].startswith(f"causalrep check: error: {target}: "), lines
    else:  # the damage missed what matters: the same verdict as the intact files
        baseline = io.StringIO()
        with contextlib.redirect_stdout(baseline), contextlib.redirect_stderr(io.StringIO()):
            expected = main(["check", "--data", str(folder / "data.npz"), "--model", str(folder / "ica.pt")])
        scored = out.getvalue().replace(path.name, name)  # `check` names the file it scored
        assert (code, scored) == (expected, baseline.getvalue()), damage


# -- pickles ------------------------------------------------------------------------------


def test_the_payload_does_run_code_when_unpickled(tmp_path):
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(_Payload(str(marker))))
    assert marker.exists()  # so the refusals below are meaningful


def test_object_array_in_a_data_file_is_never_unpickled(tmp_path, capsys, saved):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.npz"
    header = json.dumps({"format": "causalrep.InterventionalData", "targets": {"0": []}})
    np.savez(evil, X=np.array([[_Payload(str(marker))]], dtype=object), header=np.frombuffer(header.encode(), np.uint8))
    with pytest.raises(CheckpointError, match=r"member 'X\.npy' holds Python objects \(a pickle\)"):
        InterventionalData.load(evil)
    assert main(["check", "--data", str(evil), "--model", str(saved["folder"] / "ica.pt")]) == 2
    assert "--data: cannot read data file" in capsys.readouterr().err
    assert not marker.exists()


def test_pickled_checkpoint_via_the_cli_never_runs(tmp_path, capsys, saved):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"format": "causalrep.estimator", "x": _Payload(str(marker))}))
    assert main(["check", "--data", str(saved["folder"] / "data.npz"), "--model", str(evil)]) == 2
    assert "--model: cannot read checkpoint" in capsys.readouterr().err
    assert not marker.exists()


def test_checkpoint_whose_structure_is_tampered_with_a_fresh_digest(saved, tmp_path):
    from causalrep.estimators._core.checkpoint import _digest

    payload = torch.load(saved["folder"] / "ae.pt", weights_only=True)
    payload["state"] = {k: v[..., :1] for k, v in payload["state"].items()}
    payload["sha256"] = _digest(payload)
    torch.save(payload, tmp_path / "tampered.pt")
    with pytest.raises(CheckpointError, match=r"does not match Autoencoder: Error\(s\) in loading state_dict"):
        causalrep.load(tmp_path / "tampered.pt")
    payload = torch.load(saved["folder"] / "ae.pt", weights_only=True)
    payload["fitted"] = json.dumps({"transform": 1})
    payload["sha256"] = _digest(payload)
    torch.save(payload, tmp_path / "tampered.pt")
    with pytest.raises(CheckpointError, match=r"unexpected fitted attribute 'transform'"):
        causalrep.load(tmp_path / "tampered.pt")


def test_a_flipped_weight_is_caught_by_the_digest(saved, tmp_path):
    payload = torch.load(saved["folder"] / "ae.pt", weights_only=True)
    name = next(iter(payload["state"]))
    payload["state"][name].view(-1)[0] += 1.0
    torch.save(payload, tmp_path / "flipped.pt")
    with pytest.raises(CheckpointError, match=r"does not match its SHA-256 digest"):
        causalrep.load(tmp_path / "flipped.pt")
    payload["state"][name].view(-1)[0] -= 1.0
    del payload["sha256"]  # a missing digest is an error unless legacy files are asked for
    torch.save(payload, tmp_path / "legacy.pt")
    with pytest.raises(CheckpointError, match=r"has no SHA-256 digest.*allow_legacy=True"):
        causalrep.load(tmp_path / "legacy.pt")
    loaded = causalrep.load(tmp_path / "legacy.pt", allow_legacy=True)
    assert loaded.transform(saved["data"].X).shape == (120, 2)
    payload["state"][name].view(-1)[0] = float("nan")  # even then, weights must be finite
    torch.save(payload, tmp_path / "nan.pt")
    with pytest.raises(CheckpointError, match=rf"network weight '{name}' holds non-finite"):
        causalrep.load(tmp_path / "nan.pt", allow_legacy=True)


# -- atomic saves -------------------------------------------------------------------------


def _new_data(saved):
    return saved["data"].subset([0, 1])


@pytest.mark.parametrize("kind", ["data", "model"])
@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()], ids=["OSError", "KeyboardInterrupt"])
def test_a_write_failing_part_way_keeps_the_previous_file(saved, tmp_path, monkeypatch, kind, error):
    path = tmp_path / ("data.npz" if kind == "data" else "model.pt")
    path.write_bytes(saved["bytes"]["data.npz" if kind == "data" else "ae.pt"])
    before = path.read_bytes()
    module, attribute = (np, "savez") if kind == "data" else (torch, "save")
    real = getattr(module, attribute)
    written = []

    def half_then_fail(first, handle=None, **arrays):
        buffer = io.BytesIO()
        if kind == "data":
            handle, arrays = first, arrays
            real(buffer, **arrays)
        else:
            real(first, buffer)
        handle.write(buffer.getvalue()[: buffer.tell() // 2])
        written.append(buffer.tell() // 2)
        raise error

    save = _new_data(saved).save if kind == "data" else LinearICA(latent_dim=1).fit(saved["data"]).save
    monkeypatch.setattr(module, attribute, half_then_fail)
    with pytest.raises(type(error)):
        save(path)
    monkeypatch.undo()
    assert written
    assert written[0] > 0
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [path.name]
    if kind == "data":
        assert same_data(InterventionalData.load(path), saved["data"])
    else:
        np.testing.assert_array_equal(causalrep.load(path).transform(saved["data"].X), saved["latents"]["ae.pt"])


def test_saves_reach_the_disk_before_they_replace_the_file(saved, tmp_path, monkeypatch):
    events = []
    fsync, replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append("fsync"), fsync(fd))[1])
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append("replace"), replace(a, b))[1])
    saved["data"].save(tmp_path / "d.npz")
    LinearICA(latent_dim=1).fit(saved["data"]).save(tmp_path / "m.pt")
    assert events == ["fsync", "replace", "fsync", "replace"]


KILL_SCRIPT = r"""
import sys
import numpy as np
import torch
torch.set_num_threads(1)
from causalrep import Autoencoder, InterventionalData
folder = sys.argv[1]
rng = np.random.default_rng(0)
datas = [InterventionalData(X=rng.normal(size=(150_000, 8)) + k) for k in range(2)]
small = InterventionalData(X=rng.normal(size=(64, 40)))
models = [Autoencoder(latent_dim=2, hidden=(1024, 1024), max_steps=1, batch_size=64, seed=k,
                      verbose=0, device="cpu").fit(small) for k in range(2)]
for k in range(2):
    datas[k].save(f"{folder}/data{k}.npz")
    models[k].save(f"{folder}/model{k}.pt")
open(f"{folder}/ready", "w").close()
k = 0
while True:
    datas[k].save(f"{folder}/data.npz")
    models[k].save(f"{folder}/model.pt")
    k = 1 - k
"""


def _wait_for(condition, proc, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"subprocess ended before {what}: {proc.stderr.read()[-2000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_killing_a_process_mid_write_leaves_an_old_or_new_complete_file(tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for(
            lambda: (tmp_path / "ready").exists() and (tmp_path / "model.pt").exists(), proc, 120, "the first saves"
        )
        time.sleep(0.5)  # a few save cycles: the kill lands inside one of them
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    loaded = InterventionalData.load(tmp_path / "data.npz")
    versions = [InterventionalData.load(tmp_path / f"data{k}.npz").X for k in range(2)]
    assert any(np.array_equal(loaded.X, X) for X in versions)
    probe = np.random.default_rng(1).normal(size=(5, 40))
    latents = causalrep.load(tmp_path / "model.pt").transform(probe)
    assert any(np.array_equal(latents, causalrep.load(tmp_path / f"model{k}.pt").transform(probe)) for k in range(2))
    expected = {"data0.npz", "data1.npz", "model0.pt", "model1.pt", "data.npz", "model.pt", "ready"}
    left = {p.name for p in tmp_path.iterdir()} - expected
    assert all(name.startswith(".tmp-") for name in left), left


INTERRUPT_SCRIPT = r"""
import json, os, signal, sys, time
import numpy as np
import torch
torch.set_num_threads(1)
from causalrep import Autoencoder, InterventionalData
folder, wanted = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(0)
datas = [InterventionalData(X=rng.normal(size=(20_000, 8)) + k) for k in range(2)]
small = InterventionalData(X=rng.normal(size=(64, 40)))
models = [Autoencoder(latent_dim=2, hidden=(256, 256), max_steps=1, batch_size=64, seed=k,
                      verbose=0, device="cpu").fit(small) for k in range(2)]
saves = []
for k in range(2):
    datas[k].save(f"{folder}/data{k}.npz")
    models[k].save(f"{folder}/model{k}.pt")
    saves += [lambda k=k: datas[k].save(f"{folder}/data.npz"), lambda k=k: models[k].save(f"{folder}/model.pt")]
took = []
for save in saves:
    start = time.perf_counter()
    save()
    took.append(time.perf_counter() - start)
kinds = [KeyboardInterrupt, SystemExit]
def interrupt(signum, frame):
    raise kinds[int(rng.integers(2))]()
signal.signal(signal.SIGALRM, interrupt)
counts = {"saved": 0, "KeyboardInterrupt": 0, "SystemExit": 0, "wrong": []}
end = time.monotonic() + 60  # a cap for a machine under heavy load; idle, it takes about a second
while time.monotonic() < end and min(counts["KeyboardInterrupt"], counts["SystemExit"], counts["saved"]) < wanted:
    i = int(rng.integers(len(saves)))
    timed = rng.uniform() < 0.8  # one save in five runs uninterrupted: its time keeps the timers in range
    try:
        start = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, float(rng.uniform(1e-5, 1.2 * took[i])) if timed else 0)
        saves[i]()
        signal.setitimer(signal.ITIMER_REAL, 0)
        if not timed:
            took[i] = time.perf_counter() - start
        counts["saved"] += 1
    except (KeyboardInterrupt, SystemExit) as err:
        counts[type(err).__name__] += 1
    except BaseException as err:  # what the test looks for: an interrupt masked by another error
        signal.setitimer(signal.ITIMER_REAL, 0)
        counts["wrong"].append(f"{type(err).__name__}: {str(err)[:200]}")
    left = [name for name in os.listdir(folder) if name.startswith(".tmp-")]
    if left:
        counts["wrong"].append(f"temporary files left behind: {left}")
        break
print(json.dumps(counts))
"""


def test_interrupting_saves_at_random_points_surfaces_the_interrupt_itself(tmp_path):
    """A KeyboardInterrupt or SystemExit raised by a signal handler anywhere inside a
    save (numpy's zip writer, torch's C++ writer, fsync, the rename, the cleanup)
    surfaces as itself, never as torch's RuntimeError or a FileNotFoundError on the
    temporary file; no temporary file is left; the file is the old or the new one."""
    done = subprocess.run(
        [sys.executable, "-c", INTERRUPT_SCRIPT, str(tmp_path), "15"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    counts = json.loads(done.stdout.splitlines()[-1])
    assert counts["wrong"] == [], counts["wrong"][:5]
    assert min(counts["KeyboardInterrupt"], counts["SystemExit"], counts["saved"]) >= 15, counts
    versions = [InterventionalData.load(tmp_path / f"data{k}.npz").X for k in range(2)]
    assert any(np.array_equal(InterventionalData.load(tmp_path / "data.npz").X, X) for X in versions)
    probe = np.random.default_rng(1).normal(size=(5, 40))
    latents = causalrep.load(tmp_path / "model.pt").transform(probe)
    assert any(np.array_equal(latents, causalrep.load(tmp_path / f"model{k}.pt").transform(probe)) for k in range(2))


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_after_the_rename_is_not_masked_by_the_cleanup(saved, tmp_path, monkeypatch, error):
    """The rename has moved the temporary file: cleaning up must not raise
    FileNotFoundError over the interrupt, and the new file is in place."""
    replace = os.replace

    def replace_then_interrupt(source, target):
        replace(source, target)
        raise error()

    monkeypatch.setattr(os, "replace", replace_then_interrupt)
    new = _new_data(saved)
    with pytest.raises(error):
        new.save(tmp_path / "d.npz")
    monkeypatch.undo()
    assert same_data(InterventionalData.load(tmp_path / "d.npz"), new)
    assert [p.name for p in tmp_path.iterdir()] == ["d.npz"]


def test_an_interrupt_inside_torchs_writer_surfaces_as_itself(saved, tmp_path, monkeypatch):
    """torch's C++ zip writer turns an exception raised in its output's write into its
    own RuntimeError ('[enforce fail at inline_container.cc...]'); the interrupt that a
    signal handler raised there still surfaces as itself, and the old file stays."""
    path = tmp_path / "model.pt"
    path.write_bytes(saved["bytes"]["ae.pt"])

    class Interrupting(io.BytesIO):
        writes = 0

        def write(self, data):
            Interrupting.writes += 1
            if Interrupting.writes == 3:
                os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: Python's handler raises KeyboardInterrupt here
                time.sleep(1)
            return super().write(data)

    monkeypatch.setattr(checkpoint.io, "BytesIO", Interrupting)
    with pytest.raises(KeyboardInterrupt):
        LinearICA(latent_dim=1).fit(saved["data"]).save(path)
    monkeypatch.undo()
    assert Interrupting.writes >= 3
    assert path.read_bytes() == saved["bytes"]["ae.pt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_an_interrupt_while_the_checkpoint_reaches_the_disk_surfaces_as_itself(saved, tmp_path, monkeypatch):
    """Ctrl-C during the write of the serialised checkpoint to its temporary file: the
    interrupt surfaces, no temporary file is left, and the old file stays."""
    path = tmp_path / "model.pt"
    path.write_bytes(saved["bytes"]["ae.pt"])
    real_fdopen = os.fdopen

    class Interrupting(io.BufferedWriter):
        def write(self, data):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
            return super().write(data)

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: Interrupting(real_fdopen(fd, mode, buffering=0)))
    with pytest.raises(KeyboardInterrupt):
        LinearICA(latent_dim=1).fit(saved["data"]).save(path)
    monkeypatch.undo()
    assert path.read_bytes() == saved["bytes"]["ae.pt"]
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


# -- outputs never clobber inputs ---------------------------------------------------------

# Each command with its files: (argv, outputs, inputs); {flag} stands for the path given to flag.
COMMANDS = {
    "fit": (["fit", "linear_ica", "--data", "{--data}", "--out", "{--out}"], ["--out"], ["--data"]),
    "check": (
        ["check", "--data", "{--data}", "--model", "{--model}", "--plot", "{--plot}"],
        ["--plot"],
        ["--data", "--model"],
    ),
    "extrapolate": (
        ["extrapolate", "--model", "{--model}", "--actions", "{--actions}", "--plot", "{--plot}"],
        ["--plot"],
        ["--model", "--actions"],
    ),
    "simulate": (
        ["simulate", "ahuja2023", "--out", "{--out}", "--test-out", "{--test-out}"],
        ["--out", "--test-out"],
        [],
    ),
}
# Ways to name one file twice: the same text, ./name, an absolute path, a detour through a
# subfolder and .., a symbolic link, a hard link, and the file through a linked folder.
ALIASES = ["same", "dot", "absolute", "detour", "symlink", "hardlink", "linked-folder"]


def _alias(folder, name, how):
    """Another path to folder/name (run from folder), made as ``how`` says."""
    if how == "same":
        return name
    if how == "dot":
        return f"./{name}"
    if how == "absolute":
        return str(folder / name)
    if how == "detour":
        (folder / "sub").mkdir(exist_ok=True)
        return f"sub/../{name}"
    if how == "symlink":
        os.symlink(folder / name, folder / f"link-{name}")
        return f"link-{name}"
    if how == "hardlink":
        os.link(folder / name, folder / f"hard-{name}")
        return f"hard-{name}"
    os.symlink(folder, folder / "mirror", target_is_directory=True)
    return f"mirror/{name}"


@pytest.fixture(scope="module")
def saved_folder(saved):
    return saved["folder"]  # a short repr for Hypothesis's reports


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(command=st.sampled_from(sorted(COMMANDS)), how=st.sampled_from(ALIASES), data=st.data())
def test_no_command_writes_over_one_of_its_own_files(saved_folder, command, how, data):
    """Every command, every output against every input (or, for simulate, the other
    output), through every way of naming a file twice: refused in one line before
    anything is read or written; every file keeps its bytes."""
    argv, outputs, inputs = COMMANDS[command]
    out_flag = data.draw(st.sampled_from(outputs), label="output")
    victim = data.draw(st.sampled_from([f for f in inputs + outputs if f != out_flag]), label="victim")
    with tempfile.TemporaryDirectory() as name, contextlib.chdir(name):
        folder = Path(name).resolve()
        files = {"--data": "data.npz", "--model": "ica.pt", "--actions": "a.csv"}
        for file in files.values():
            source = saved_folder / file
            (folder / file).write_bytes(source.read_bytes() if source.exists() else b"0.5\n1.0\n")
        paths = {**files, "--out": "out.bin", "--plot": "plot.png", "--test-out": "test.npz"}
        if victim in outputs:
            (folder / paths[victim]).write_bytes(b"")  # an earlier output, not yet written by this call
        paths[out_flag] = _alias(folder, paths[victim], how)
        before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.is_symlink()}
        with contextlib.redirect_stderr(io.StringIO()) as err, contextlib.redirect_stdout(io.StringIO()):
            code = main([paths[a[1:-1]] if a.startswith("{") else a for a in argv])
        line = err.getvalue()
        assert code == 2, line
        assert line.count("\n") == 1, line
        pair = [f"{out_flag} {paths[out_flag]}", f"{victim} {paths[victim]}"]
        if victim in outputs:  # two outputs: the message names the second against the first
            pair.sort(key=lambda text: outputs.index(text.split()[0]), reverse=True)
        assert f"error: {pair[0]} is the same file as {pair[1]}" in line, line
        after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and not p.is_symlink()}
        assert after == before


def test_a_file_of_another_kind_is_replaced_only_with_force(saved, tmp_path, capsys):
    """A plot over a dataset (check --plot), a checkpoint over a dataset (fit --out) and a
    dataset over a checkpoint (simulate --out) need --force; the same kind is replaced as before."""
    data, other, third = tmp_path / "data.npz", tmp_path / "other.npz", tmp_path / "third.png"
    for path in (data, other, third):
        path.write_bytes(saved["bytes"]["data.npz"])
    model = tmp_path / "model.pt"
    model.write_bytes(saved["bytes"]["ica.pt"])
    small = ["--param", "latent_dim=2", "--param", "obs_dim=6", "--param", "n_obs=20", "--param", "n_int=20"]
    runs = [
        (
            ["check", "--data", str(data), "--model", str(model), "--plot", str(third)],
            third,
            "--plot",
            "a dataset",
            "a plot",
        ),
        (
            ["fit", "linear_ica", "--data", str(data), "--out", str(other)],
            other,
            "--out",
            "a dataset",
            "an estimator checkpoint",
        ),
        (
            ["simulate", "ahuja2023", "--out", str(model), *small],
            model,
            "--out",
            "an estimator checkpoint",
            "a dataset",
        ),
    ]
    for argv, target, flag, held, written in runs:
        before = target.read_bytes()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1
        assert f"{flag} {target} holds {held}; writing {written} there would replace it: pass --force" in err, err
        assert target.read_bytes() == before
        assert main([*argv, "--force"]) in (0, 1), capsys.readouterr().err  # check exits 1 when not identified
        assert target.read_bytes() != before
    # The same kind is replaced without --force: other.npz now holds a checkpoint, model.pt a dataset.
    assert main(["fit", "linear_ica", "--data", str(data), "--out", str(other)]) == 0
    assert main(["simulate", "ahuja2023", "--out", str(model), *small]) == 0


def test_save_refuses_a_file_of_another_kind_without_overwrite(saved, tmp_path):
    data, model = tmp_path / "data.npz", tmp_path / "model.pt"
    data.write_bytes(saved["bytes"]["data.npz"])
    model.write_bytes(saved["bytes"]["ica.pt"])
    ica = causalrep.load(model)
    with pytest.raises(
        FileExistsError, match=r"holds a dataset; writing an estimator checkpoint there .* overwrite=True"
    ):
        ica.save(data)
    with pytest.raises(FileExistsError, match=r"holds an estimator checkpoint; writing a dataset there"):
        saved["data"].save(model)
    assert data.read_bytes() == saved["bytes"]["data.npz"]
    assert model.read_bytes() == saved["bytes"]["ica.pt"]
    with pytest.raises(ValueError, match=r"^overwrite must be True or False, got 'yes'"):
        saved["data"].save(model, overwrite="yes")
    saved["data"].save(model, overwrite=True)
    ica.save(data, overwrite=True)
    assert file_kind(model) == "dataset"
    assert file_kind(data) == "checkpoint"
    saved["data"].save(model)  # the same kind needs nothing
    (tmp_path / "notes.txt").write_text("mine")
    saved["data"].save(tmp_path / "notes.txt")  # files of no known kind are replaced as before
    assert file_kind(tmp_path / "notes.txt") == "dataset"


def test_bench_out_that_is_a_file_or_a_dataset_is_refused(saved, tmp_path, capsys):
    taken = tmp_path / "results"
    taken.write_text("mine")
    assert main(["bench", "smoke", "--out", str(taken)]) == 2  # used to be "[Errno 17] File exists"
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert f"out {taken} is a file; the results of a suite go to a folder" in err, err
    data = tmp_path / "data.npz"
    data.write_bytes(saved["bytes"]["data.npz"])
    with pytest.raises(FileExistsError, match=r"holds a dataset; records are appended to a JSON-lines file"):
        bench.run(SWEEP["settings"], SWEEP["methods"][1:], [0], workers=1, out=data)
    assert data.read_bytes() == saved["bytes"]["data.npz"]
    assert taken.read_text() == "mine"


def test_demo_refuses_to_plot_over_a_dataset_before_it_fits(saved, tmp_path, capsys):
    target = tmp_path / "data.png"
    target.write_bytes(saved["bytes"]["data.npz"])
    assert main(["demo", "--plot", str(target)]) == 2
    out, err = capsys.readouterr()
    assert "simulating" not in out  # refused before simulating or fitting anything
    assert err == f"causalrep demo: error: --plot {target} holds a dataset; writing a plot there would replace it: " + (
        "pass --force to replace it, or choose another --plot\n"
    )
    assert target.read_bytes() == saved["bytes"]["data.npz"]


# -- an interrupted benchmark sweep ------------------------------------------------------

SWEEP = {
    "settings": [
        {
            "name": "uniform d=2",
            "simulator": "ahuja2023",
            "params": {"latent_dim": 2, "obs_dim": 6, "degree": 2, "latents": "uniform", "n_obs": 100, "n_int": 100},
        }
    ],
    "methods": [
        {
            "name": "Autoencoder",
            "estimator": "Autoencoder",
            "params": {"max_steps": 100, "hidden": [16], "batch_size": 64, "verbose": 0},
        },
        {"name": "LinearICA", "estimator": "LinearICA", "params": {"verbose": 0}},
    ],
    "seeds": [0, 1, 2],
}
SWEEP_SCRIPT = (
    "import json, sys\nfrom causalrep import bench\nspec = json.loads(sys.argv[1])\n"
    "bench.run(spec['settings'], spec['methods'], spec['seeds'], engine='local', "
    "workers=1, out=sys.argv[2])\n"
)


def _untimed(records):
    return [{k: v for k, v in r.items() if k not in bench.TIMING_FIELDS} for r in records]


def _complete_lines(path):
    return path.exists() and any(line.endswith("\n") for line in path.read_text().splitlines(keepends=True))


def test_a_sweep_killed_mid_run_resumes_to_the_uninterrupted_records(tmp_path):
    out = tmp_path / "records.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-c", SWEEP_SCRIPT, json.dumps(SWEEP), str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_for(lambda: _complete_lines(out), proc, 180, "the first record")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker process
        proc.wait(30)
        proc.stderr.close()
    before = bench.read_records(out)
    total = len(SWEEP["methods"]) * len(SWEEP["seeds"])
    assert 1 <= len(before) < total
    resumed = bench.run(SWEEP["settings"], SWEEP["methods"], SWEEP["seeds"], engine="local", workers=1, out=out)
    fresh = bench.run(
        SWEEP["settings"], SWEEP["methods"], SWEEP["seeds"], engine="local", workers=1, out=tmp_path / "fresh.jsonl"
    )
    assert all(r["status"] == "ok" for r in fresh), [r["error"] for r in fresh]
    assert _untimed(resumed) == _untimed(fresh)
    by_key = {(r["setting"], r["method"], r["seed"]): r for r in resumed}
    for record in before:  # recorded before the kill: kept as they were, not fitted again
        assert by_key[(record["setting"], record["method"], record["seed"])] == record
    on_disk = bench.read_records(out)
    assert len(on_disk) == total
    assert len({(r["setting"], r["method"], r["seed"]) for r in on_disk}) == total
    assert _untimed(sorted(on_disk, key=lambda r: (r["method"], r["seed"]))) == _untimed(
        sorted(fresh, key=lambda r: (r["method"], r["seed"]))
    )
