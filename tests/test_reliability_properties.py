"""Property tests of the reliability promises, one group per failure class.

Each property holds for every input Hypothesis draws: scales and offsets across
the float64 range, dtypes, degenerate shapes and file contents. The examples that
first showed each class are in docs/reliability.md.
"""

import fcntl
import io
import json
import math
import os
import re
import signal
import stat
import time
import tracemalloc

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import causalrep
import simulators
from causalrep import (
    Autoencoder,
    CheckpointError,
    InterventionalData,
    LinearICA,
    Rep4Ex,
    bench,
)
from causalrep.cli import _finite_or_null, main
from causalrep.estimators._core.checkpoint import _digest
from causalrep.estimators._core.nets import Standardizer
from causalrep.exceptions import SweepLockedError
from causalrep.identifiability import (
    _core,
    affine_r2,
    check,
    mcc,
    permutation_scaling_r2,
)
from causalrep.testing.maps import latent_samples, permutation_scalings
from causalrep.validation import check_standardisable, column_stats

torch.set_num_threads(1)

FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
exponents = st.integers(-150, 150)


def _z(n=400, d=3, seed=0):
    return np.random.default_rng(seed).laplace(size=(n, d))


# -- precision ------------------------------------------------------------------------------


@FAST
@given(exponent=exponents, offset_exponent=st.integers(-5, 12), dtype=st.sampled_from([np.float64, np.float32]))
def test_standardising_is_free_of_offset_and_scale(exponent, offset_exponent, dtype):
    """The networks see the same float32 inputs at any scale and offset."""
    z = _z().astype(dtype).astype(np.float64)
    scale = 10.0**exponent
    moved = z * scale + 10.0**offset_exponent * scale
    unit = Standardizer(3).fit(torch.from_numpy(z))(torch.from_numpy(z))
    far = Standardizer(3).fit(torch.from_numpy(moved))(torch.from_numpy(moved))
    assert far.dtype == torch.float32
    tolerance = 1e-5 * max(1.0, 10.0**offset_exponent * 1e-9)
    assert torch.allclose(unit, far, atol=tolerance), (unit - far).abs().max()
    mean, std = check_standardisable(moved, "X", "Test")
    assert np.all(std > 0) and np.all(np.isfinite(mean))


@FAST
@given(exponent=st.integers(-318, -301), column=st.integers(0, 2))
def test_spread_float64_cannot_hold_is_refused_naming_the_column(exponent, column):
    X = np.ones((50, 3)) + _z(50)
    X[:, column] = _z(50)[:, column] * 10.0**exponent
    assume(column_stats(X)[1][column] > 0)
    with pytest.raises(
        ValueError,
        match=rf"^X column {column} has standard deviation .* "
        r"below 1e-300",
    ):
        check_standardisable(X, "X", "Autoencoder")


def test_a_fit_and_its_inverse_are_the_same_at_every_scale():
    data = simulators.ahuja2023(latent_dim=2, obs_dim=6, degree=1, n_obs=100, n_int=100, seed=0)
    latents = {}
    for scale, offset in [(1.0, 0.0), (1.0, 1e9), (1e-200, 0.0), (1e300, 0.0)]:
        X = data.X * scale + offset * scale
        model = Autoencoder(2, hidden=(16,), max_steps=30, verbose=0).fit(InterventionalData(X=X))
        latents[(scale, offset)] = z = model.transform(X)
        back = model.inverse_transform(z)
        assert np.all(np.isfinite(back))
        unit = model.inverse_transform(z) / scale - offset
        if scale == 1.0 and offset == 0.0:
            reference = unit
        np.testing.assert_allclose(unit, reference, atol=1e-3 * np.abs(data.X).max())
    for z in latents.values():  # 1e9 + unit noise used to collapse to a few distinct rows
        np.testing.assert_allclose(z, latents[(1.0, 0.0)], atol=1e-4)


@FAST
@given(exponent=st.integers(-160, 160), d=st.integers(1, 4), data=st.data())
def test_metrics_are_scale_invariant(exponent, d, data):
    z = _z(300, d, seed=d)
    z_hat = data.draw(permutation_scalings(d))(z)
    noise = np.random.default_rng(1).normal(size=z.shape)
    scale = 10.0**exponent
    for estimate in (z_hat, z_hat + noise):
        for kind in ("pearson", "spearman"):
            assert mcc(z * scale, estimate * scale, kind=kind).score == pytest.approx(
                mcc(z, estimate, kind=kind).score, abs=1e-9
            )
        assert affine_r2(z * scale, estimate).mean == pytest.approx(affine_r2(z, estimate).mean, abs=1e-9)
        assert permutation_scaling_r2(estimate * scale, z).mean == pytest.approx(
            permutation_scaling_r2(estimate, z).mean, abs=1e-9
        )
    report = check(z * scale, z_hat * scale)
    assert report.passed and report.mcc.score == pytest.approx(1.0)


def test_check_json_never_writes_nan(tmp_path, capsys):
    assert _finite_or_null({"a": [1.0, math.nan, {"b": math.inf}], "c": "x"}) == {
        "a": [1.0, None, {"b": None}],
        "c": "x",
    }
    data = simulators.ahuja2023(latent_dim=2, obs_dim=6, degree=1, n_obs=100, n_int=100, seed=0)
    InterventionalData(X=data.X * 1e160, Z=data.Z * 1e160).save(tmp_path / "d.npz")
    LinearICA(2).fit(InterventionalData(X=data.X * 1e160)).save(tmp_path / "m.pt")
    main(["check", "--data", str(tmp_path / "d.npz"), "--model", str(tmp_path / "m.pt"), "--json"])

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    report = json.loads(capsys.readouterr().out, parse_constant=refuse)
    assert report["mcc"]["score"] > 0.99


# -- files ----------------------------------------------------------------------------------

node_labels = st.one_of(
    st.integers(0, 3),
    st.integers(0, 3).map(np.int64),
    st.integers(0, 3).map(float),
    st.booleans(),
    st.sampled_from(["0", None]),
)


@FAST
@given(nodes=st.lists(node_labels, min_size=1, max_size=4, unique_by=repr))
def test_every_graph_that_is_accepted_saves_and_loads(tmp_path, nodes):
    graph = nx.DiGraph()
    try:
        graph.add_nodes_from(nodes)
    except (TypeError, ValueError):  # networkx refuses None itself
        return
    try:
        data = InterventionalData(X=_z(5, 2), graph=graph)
    except (TypeError, ValueError):
        return
    data.save(tmp_path / "g.npz")
    loaded = InterventionalData.load(tmp_path / "g.npz")
    assert sorted(loaded.graph.nodes) == sorted(data.graph.nodes) == list(range(len(nodes)))
    assert all(type(node) is int for node in data.graph.nodes)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6), st.text(max_size=5), st.floats(allow_nan=False)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(st.text(max_size=3), st.integers(0, 3)), inner, max_size=3),
    ),
    max_leaves=8,
)


@FAST
@given(meta=st.dictionaries(st.one_of(st.text(max_size=3), st.integers(0, 3)), json_values, max_size=4))
def test_meta_that_is_accepted_loads_back_equal(tmp_path, meta):
    try:
        data = InterventionalData(X=_z(5, 2), meta=meta)
    except TypeError as err:
        assert "keys must be strings" in str(err)
        return
    data.save(tmp_path / "m.npz")
    assert InterventionalData.load(tmp_path / "m.npz").meta == data.meta


@pytest.mark.parametrize("mode", [0o644, 0o600, 0o640, 0o664])
@pytest.mark.parametrize("kind", ["data", "model"])
def test_saving_keeps_the_mode_and_the_symlink(tmp_path, mode, kind):
    data = InterventionalData(X=_z(40, 3))
    thing = data if kind == "data" else LinearICA(2).fit(data)
    target = tmp_path / "real"
    thing.save(target)
    os.chmod(target, mode)
    link = tmp_path / "link"
    link.symlink_to(target)
    thing.save(link)
    assert link.is_symlink() and stat.S_IMODE(target.stat().st_mode) == mode
    old = os.umask(0o027)
    try:
        thing.save(tmp_path / "new")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o640


@FAST
@given(dtype=st.sampled_from([np.float64, np.float32, np.int64, bool]), field=st.sampled_from(["X", "Z", "A", "Y"]))
def test_wrapping_leaves_the_callers_array_writable(dtype, field):
    arrays = {name: np.ones((4, 2), dtype=dtype) for name in ("X", "Z", "A", "Y")}
    data = InterventionalData(**arrays)
    assert arrays[field].flags.writeable
    assert not getattr(data, field).flags.writeable
    arrays[field][0, 0] = 0  # the container keeps its own values or a read-only view
    assert getattr(data, field).shape == (4, 2)


# -- checkpoints ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("checkpoints")
    data = simulators.ahuja2023(latent_dim=2, obs_dim=6, degree=1, n_obs=60, n_int=60, seed=0)
    causalrep.IVAE(2, hidden=(8,), max_steps=5, verbose=0).fit(data).save(folder / "ivae.pt")
    return folder


def _rewrite(source, target, change, digest=True):
    payload = torch.load(source, weights_only=True)
    change(payload)
    if digest:
        payload["sha256"] = _digest(payload)
    else:
        payload.pop("sha256", None)
    torch.save(payload, target)
    return target


@FAST
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=3).map(tuple))
def test_every_array_is_checked_against_the_configuration(checkpoints, tmp_path, shape):
    assume(shape != (3,))  # the true shape: 3 regimes

    def reshape(payload):
        payload["arrays"]["regimes"] = torch.zeros(shape, dtype=torch.int64)

    path = _rewrite(checkpoints / "ivae.pt", tmp_path / "bad.pt", reshape)
    with pytest.raises(CheckpointError, match=r"array 'regimes' has shape"):
        causalrep.load(path)


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda p: p["arrays"].clear(), r"array 'regimes' is missing"),
        (lambda p: p["arrays"].update(extra=torch.zeros(2)), r"unexpected array\(s\) \['extra'\]"),
        (lambda p: p["arrays"].update(regimes=torch.tensor([0.0, math.nan, 2.0])), r"array 'regimes' holds non-finite"),
    ],
)
def test_emptied_or_foreign_arrays_are_refused(checkpoints, tmp_path, change, message):
    with pytest.raises(CheckpointError, match=message):
        causalrep.load(_rewrite(checkpoints / "ivae.pt", tmp_path / "bad.pt", change))


def test_a_missing_digest_needs_the_legacy_opt_in(checkpoints, tmp_path):
    path = _rewrite(checkpoints / "ivae.pt", tmp_path / "legacy.pt", lambda p: None, digest=False)
    with pytest.raises(CheckpointError, match=r"has no SHA-256 digest"):
        causalrep.load(path)
    assert causalrep.load(path, allow_legacy=True).transform(_z(5, 6)).shape == (5, 2)


# -- degenerate data ------------------------------------------------------------------------


@FAST
@given(
    index=st.one_of(
        st.lists(st.integers(-8, 7), max_size=6),
        st.lists(st.booleans(), min_size=0, max_size=8),
        st.lists(st.floats(-3, 3), min_size=1, max_size=3),
    )
)
def test_take_is_numpy_indexing_or_a_clear_error(index):
    data = InterventionalData(X=np.arange(12.0).reshape(6, 2))
    raw = np.asarray(index)
    if raw.dtype.kind == "f" and raw.size:
        with pytest.raises(TypeError, match=r"index must hold ints or be a boolean mask"):
            data.take(index)
    elif raw.dtype == bool and raw.shape != (6,):
        with pytest.raises(ValueError, match=r"a boolean mask must have shape \(6,\)"):
            data.take(index)
    elif raw.dtype == bool and not raw.any() or raw.size == 0:
        with pytest.raises(ValueError, match=r"index selects no samples"):
            data.take(index)
    elif raw.dtype != bool and (raw.min() < -6 or raw.max() >= 6):
        with pytest.raises(ValueError, match=r"index -?\d+ is out of range for 6 samples"):
            data.take(index)
    else:
        np.testing.assert_array_equal(data.take(index).X, data.X[raw])


@pytest.mark.parametrize("rows", [np.full((30, 4), 5.0), np.full((30, 4), 3e9) + 1e-7])
@pytest.mark.parametrize(
    "model", [Autoencoder(2, max_steps=5, verbose=0), causalrep.BetaVAE(2, max_steps=5, verbose=0)]
)
def test_identical_rows_are_refused(rows, model):
    with pytest.raises(ValueError, match=r"^X is constant: all 30 rows are identical"):
        model.fit(InterventionalData(X=rows))


def test_constant_actions_are_refused_before_training():
    data = simulators.rep4ex(n=100, latent_dim=2, action_dim=2, obs_dim=10, seed=0)
    A = data.A.copy()
    A[:, 1] = 0.25
    start = time.process_time()
    with pytest.raises(ValueError, match=r"^A column 1 is constant .* Rep4Ex needs A to vary"):
        Rep4Ex(latent_dim=2).fit(InterventionalData(X=data.X, A=A, Y=data.Y))
    assert time.process_time() - start < 1.0


@pytest.mark.parametrize("sizes", [(0, 5), (2, 0), (2, -1), (1.5, 3), (True, 3)])
def test_strategy_sizes_are_checked_when_built(sizes):
    with pytest.raises(ValueError, match=r"latent_samples needs sizes that are ints >= 1"):
        latent_samples(*sizes)


# -- sweeps and the command line ------------------------------------------------------------

SWEEP = {
    "settings": [
        {
            "name": "tiny",
            "simulator": "ahuja2023",
            "params": {"latent_dim": 2, "obs_dim": 6, "degree": 1, "n_obs": 40, "n_int": 40},
        }
    ],
    "methods": [{"name": "ica", "estimator": "LinearICA", "params": {"verbose": 0}}],
}


def test_a_second_sweep_into_the_same_file_is_refused(tmp_path, capsys):
    out = tmp_path / "records.jsonl"
    with open(out, "a") as handle:  # as a running sweep holds it
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        with pytest.raises(SweepLockedError, match=r"another sweep is writing to .*records"):
            bench.run(SWEEP["settings"], SWEEP["methods"], [0], workers=1, out=out)
        assert main(["bench", "smoke", "--out", str(tmp_path)]) == 2
        assert capsys.readouterr().err.count("\n") == 1
    assert out.read_text() == ""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(")")[-1].split()[0] not in "ZX"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads /proc")
def test_workers_die_with_their_parent():
    """A worker watches its parent (bench.engines.worker_init starts the watch) and ends with it."""
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # stands for the sweep's process: starts a worker, then dies at once
        worker = os.fork()
        if worker == 0:
            bench.engines.watch_parent(os.getppid(), period=0.05)
            time.sleep(60)  # reached only if the watch returned instead of ending the worker
            os._exit(0)
        os.write(write, str(worker).encode())
        os._exit(0)
    os.close(write)
    worker = int(os.read(read, 32))
    os.close(read)
    os.waitpid(child, 0)
    deadline = time.monotonic() + 10
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(worker):
        os.kill(worker, signal.SIGKILL)
        raise AssertionError("the worker outlived its parent by 10 s")


@pytest.mark.parametrize(
    "error,code",
    [(KeyboardInterrupt(), 130), (MemoryError(), 2), (RuntimeError("x\ny"), 2), (ZeroDivisionError(), 2)],
)
def test_every_cli_error_is_one_line_and_exit_2(monkeypatch, capsys, tmp_path, error, code):
    """Errors exit 2; an interrupt exits 130 (128 + SIGINT), with one line each."""

    def fail(args):
        raise error

    monkeypatch.setattr("causalrep.cli._simulate", fail)  # the parser is built in main
    assert main(["simulate", "ahuja2023", "--out", str(tmp_path / "d.npz")]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("causalrep simulate: "), err


def test_an_interrupt_inside_a_cli_save_is_reported_as_an_interrupt(monkeypatch, capsys, tmp_path):
    """Ctrl-C while 'fit' writes its checkpoint: 'interrupted', exit 130, never torch's text."""
    data = tmp_path / "d.npz"
    InterventionalData(X=np.random.default_rng(0).normal(size=(40, 3))).save(data)
    real_fdopen = os.fdopen

    class Interrupting(io.BufferedWriter):
        def write(self, chunk):
            os.kill(os.getpid(), signal.SIGINT)  # Python's handler raises KeyboardInterrupt in torch's writer
            time.sleep(1)
            return super().write(chunk)

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: Interrupting(real_fdopen(fd, mode, buffering=0)))
    argv = ["fit", "linear_ica", "--data", str(data), "--out", str(tmp_path / "m.pt"), "--param", "latent_dim=2"]
    assert main(argv) == 130
    assert capsys.readouterr().err == "causalrep fit: interrupted\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz"]


@pytest.mark.parametrize(
    "argv,message",
    [
        (
            ["extrapolate", "--model", "{d}/r.pt", "--grid=0:1:10000000000"],
            r"--grid asks for 10000000000 points; at most 1000000",
        ),
        (
            [
                "simulate",
                "ahuja2023",
                "--out",
                "{d}",
                "--param",
                "latent_dim=2",
                "--param",
                "obs_dim=6",
                "--param",
                "n_obs=20",
                "--param",
                "n_int=20",
            ],
            r"cannot save to .*: it is a folder",
        ),
    ],
)
def test_cli_refuses_huge_grids_and_unwritable_outputs(tmp_path, capsys, argv, message):
    data = simulators.rep4ex(n=100, latent_dim=1, action_dim=1, obs_dim=4, seed=0)
    Rep4Ex(latent_dim=1, max_steps=5, hidden=(8,), n_centers=10, verbose=0).fit(data).save(tmp_path / "r.pt")
    assert main([a.replace("{d}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert re.search(message, err), err


# -- memory ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["mcc", "affine_r2", "check", "spearman"])
def test_metrics_need_a_fraction_of_their_inputs(monkeypatch, name):
    """With chunks far smaller than the inputs, extra memory stays under half of them
    (benchmarks/bench_memory.py measures 2M x 200)."""
    monkeypatch.setattr(_core, "CHUNK_BYTES", 2**20)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(40_000, 20))
    z_hat = z + 0.1 * rng.normal(size=z.shape)
    run = {
        "mcc": lambda: mcc(z, z_hat),
        "affine_r2": lambda: affine_r2(z, z_hat),
        "check": lambda: check(z, z_hat),
        "spearman": lambda: mcc(z, z_hat, kind="spearman"),
    }
    tracemalloc.start()
    run[name]()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 0.5 * (z.nbytes + z_hat.nbytes), peak / (z.nbytes + z_hat.nbytes)
