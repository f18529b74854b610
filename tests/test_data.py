import dataclasses
import json
import os
import stat

import networkx as nx
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from causalrep import CheckpointError, InterventionalData, LinearICA
from causalrep.exceptions import ParameterError


def make(n=10, **kw):
    rng = np.random.default_rng(1)
    base = dict(X=rng.normal(size=(n, 3)), regime=np.zeros(n, int), targets={0: ()})
    base.update(kw)
    return InterventionalData(**base)


def test_basic_properties(tiny_data):
    assert tiny_data.n == 180
    assert tiny_data.dim_x == 5
    assert tiny_data.regimes == (0, 1, 2)
    assert tiny_data.counts() == {0: 60, 1: 60, 2: 60}
    assert dict(tiny_data.targets) == {0: (), 1: (0,), 2: (1,)}


def test_arrays_are_read_only(tiny_data):
    with pytest.raises(ValueError, match="read-only"):
        tiny_data.X[0, 0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'X'"):
        tiny_data.X = np.zeros((2, 2))


def test_regime_defaults_to_observational():
    data = InterventionalData(X=np.ones((4, 2)))
    assert data.regimes == (0,)
    assert dict(data.targets) == {0: ()}


def test_accepts_torch_inputs():
    torch = pytest.importorskip("torch")
    data = InterventionalData(X=torch.ones(3, 2), Z=torch.zeros(3, 1))
    assert isinstance(data.X, np.ndarray)
    assert data.Z.shape == (3, 1)


@pytest.mark.parametrize("field", ["X", "Z", "A", "Y"])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_name_the_field(field, bad):
    rng = np.random.default_rng(0)
    arrays = dict(X=rng.normal(size=(5, 3)), Z=rng.normal(size=(5, 2)), A=rng.normal(size=(5, 1)), Y=rng.normal(size=5))
    arrays[field] = arrays[field].copy()
    arrays[field].flat[2] = bad
    with pytest.raises(ValueError, match=rf"^{field} contains 1 non-finite"):
        InterventionalData(**arrays)


@pytest.mark.parametrize(("field", "shape"), [("Z", (4, 2)), ("A", (6, 1)), ("Y", (3,))])
def test_mismatched_lengths_name_the_field(field, shape):
    with pytest.raises(ValueError, match=rf"^{field} has \d+ rows but X has 5"):
        InterventionalData(X=np.ones((5, 2)), **{field: np.ones(shape)})


def test_regime_shape_and_type_checked():
    with pytest.raises(ValueError, match="regime must have shape"):
        make(regime=np.zeros(3, int))
    with pytest.raises(TypeError, match="regime must hold integers"):
        make(regime=np.full(10, 0.5))
    with pytest.raises(ValueError, match="regime must be >= 0"):
        make(regime=np.full(10, -1), targets={-1: ()})


def test_regime_missing_from_targets():
    with pytest.raises(ValueError, match=r"regime\(s\) \[2\] appear in regime but not in targets"):
        make(regime=np.repeat([0, 2], 5))


def test_target_outside_latents():
    with pytest.raises(ValueError, match=r"targets\[1\] names latent\(s\) \[4\]"):
        make(regime=np.repeat([0, 1], 5), targets={0: (), 1: (4,)}, Z=np.ones((10, 2)))


def test_observational_regime_must_have_no_target():
    with pytest.raises(ValueError, match=r"targets\[0\] must be \(\)"):
        make(targets={0: (1,)})


def test_wrong_dimensions_and_dtypes():
    with pytest.raises(ValueError, match="X must be 2-dimensional"):
        InterventionalData(X=np.ones(5))
    with pytest.raises(TypeError, match="X must hold numbers"):
        InterventionalData(X=np.array([["a", "b"]], dtype=object))
    with pytest.raises(ValueError, match="X is empty"):
        InterventionalData(X=np.ones((0, 3)))


def test_graph_checked():
    cyclic = nx.DiGraph([(0, 1), (1, 0)])
    with pytest.raises(ValueError, match="graph has a cycle"):
        make(graph=cyclic, Z=np.ones((10, 2)))
    with pytest.raises(ValueError, match="graph nodes must be 0..d-1"):
        make(graph=nx.DiGraph([(1, 2)]))
    with pytest.raises(ValueError, match="graph has 3 nodes but Z has 2"):
        make(graph=nx.DiGraph([(0, 1), (1, 2)]), Z=np.ones((10, 2)))


def test_meta_must_be_json():
    with pytest.raises(TypeError, match="meta must be JSON-serialisable"):
        make(meta={"f": object()})


def test_subset(tiny_data):
    sub = tiny_data.subset([0, 2])
    assert sub.regimes == (0, 2)
    assert sub.n == 120
    assert set(sub.targets) == {0, 2}
    np.testing.assert_array_equal(sub.Z, tiny_data.Z[tiny_data.regime != 1])
    with pytest.raises(ValueError, match=r"unknown regime\(s\) \[7\]"):
        tiny_data.subset([7])
    with pytest.raises(ValueError, match="regimes is empty"):
        tiny_data.subset([])


@settings(max_examples=25, deadline=None)
@given(fraction=st.floats(0.05, 0.9), seed=st.integers(0, 2**31))
def test_split_is_stratified_partition(tiny_data, fraction, seed):
    train, test = tiny_data.split(fraction, seed=seed)
    assert train.n + test.n == tiny_data.n
    for k, count in tiny_data.counts().items():
        assert test.counts()[k] == int(round(fraction * count))
    rows = {tuple(r) for r in np.vstack([train.X, test.X]).round(12)}
    assert rows == {tuple(r) for r in tiny_data.X.round(12)}
    again = tiny_data.split(fraction, seed=seed)[1]
    np.testing.assert_array_equal(again.X, test.X)


def test_split_rejects_bad_fraction(tiny_data):
    for bad in (0, 1, -0.1, 1.5):
        with pytest.raises(ValueError, match="test_fraction"):
            tiny_data.split(bad)
    for bad in ("0.2", None, [0.2], True):  # used to be Python's "'>' not supported between ..."
        with pytest.raises(ParameterError, match=r"^test_fraction must be a number in \(0, 1\), got "):
            tiny_data.split(bad)
    with pytest.raises(ParameterError, match=r"^seed must be an int >= 0, a numpy.random.Generator or None, got -1"):
        tiny_data.split(0.5, seed=-1)


def test_subset_names_regimes_that_are_not_ints(tiny_data):
    for bad in (["a"], [0.5], [[0, 1]], "0"):  # ['a'] used to be int()'s "invalid literal"
        with pytest.raises(TypeError, match=r"^regimes must be a sequence of regime ints, e\.g\. \[0, 2\], got "):
            tiny_data.subset(bad)
    assert tiny_data.subset(np.array([2], dtype=np.uint8)).regimes == (2,)


def test_unsigned_and_ragged_inputs_are_named():
    with pytest.raises(ValueError, match=r"^regime values must lie in \[0, 2\*\*63 - 1\], got 18446744073709551615$"):
        make(regime=np.full(10, 2**64 - 1, dtype=np.uint64))  # used to read "-1"
    with pytest.raises(ValueError, match=r"^regime values must lie in .* got 100000000000000000000$"):
        make(regime=np.full(10, 1e20))
    with pytest.raises(
        ValueError, match=r"^X must be a rectangular array of numbers: its rows have different lengths$"
    ):
        InterventionalData(X=[[1.0, 2.0], [1.0]])
    with pytest.raises(ValueError, match=r"^Z must be a rectangular array of numbers"):
        InterventionalData(X=np.ones((2, 2)), Z=[[1.0], [1.0, 2.0]])
    with pytest.raises(ValueError, match=r"^regime must be a 1-d array of ints, got a ragged sequence$"):
        InterventionalData(X=np.ones((2, 2)), regime=[[0], [0, 1]])


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 30), dim=st.integers(1, 4), with_y=st.booleans(), seed=st.integers(0, 99))
def test_save_load_round_trip(tmp_path_factory, n, dim, with_y, seed):
    rng = np.random.default_rng(seed)
    regime = rng.integers(0, 3, n)
    data = InterventionalData(
        X=rng.normal(size=(n, dim)),
        regime=regime,
        targets={0: (), 1: (0,), 2: (0, 1)},
        Z=rng.normal(size=(n, 2)),
        Y=rng.normal(size=n) if with_y else None,
        graph=nx.DiGraph([(0, 1)]),
        meta={"seed": seed, "name": "x"},
    )
    path = tmp_path_factory.mktemp("d") / "data.npz"
    data.save(path)
    back = InterventionalData.load(path)
    for name in ("X", "regime", "Z", "A", "Y"):
        a, b = getattr(data, name), getattr(back, name)
        assert (a is None and b is None) or np.array_equal(a, b)
    assert dict(back.targets) == dict(data.targets)
    assert sorted(back.graph.edges) == [(0, 1)]
    assert back.meta == data.meta


def test_load_refuses_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        InterventionalData.load(tmp_path / "absent.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(CheckpointError, match="cannot read data file"):
        InterventionalData.load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, X=np.ones((2, 2)))
    with pytest.raises(CheckpointError, match="not an InterventionalData file"):
        InterventionalData.load(other)
    header = np.frombuffer(json.dumps({"format": "something else"}).encode(), np.uint8)
    np.savez(other, X=np.ones((2, 2)), header=header)
    with pytest.raises(CheckpointError, match="not an InterventionalData file"):
        InterventionalData.load(other)


def test_load_refuses_pickled_arrays(tmp_path):
    path = tmp_path / "pickled.npz"
    header = np.frombuffer(
        json.dumps({"format": "causalrep.InterventionalData", "targets": {"0": []}}).encode(), np.uint8
    )
    np.savez(path, X=np.array([[object()]], dtype=object), header=header)
    with pytest.raises(CheckpointError, match="cannot read data file"):
        InterventionalData.load(path)


def test_failed_save_keeps_previous_file(tmp_path, tiny_data, monkeypatch):
    path = tmp_path / "data.npz"
    tiny_data.save(path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        tiny_data.subset([0]).save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["data.npz"]


def test_copies_share_the_immutable_container(tiny_data):
    import copy

    assert copy.copy(tiny_data) is tiny_data
    assert copy.deepcopy({"d": tiny_data})["d"] is tiny_data


FAST = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _z(n=400, d=3, seed=0):
    return np.random.default_rng(seed).laplace(size=(n, d))


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


def _has_non_string_key(value):
    if isinstance(value, dict):
        return any(not isinstance(k, str) or _has_non_string_key(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_non_string_key(v) for v in value)
    return False


@FAST
@given(meta=st.dictionaries(st.one_of(st.text(max_size=3), st.integers(0, 3)), json_values, max_size=4))
def test_meta_that_is_accepted_loads_back_equal(tmp_path, meta):
    if _has_non_string_key(meta):
        with pytest.raises(TypeError, match="keys must be strings"):
            InterventionalData(X=_z(5, 2), meta=meta)
        return
    data = InterventionalData(X=_z(5, 2), meta=meta)
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
    assert link.is_symlink()
    assert stat.S_IMODE(target.stat().st_mode) == mode
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
