import dataclasses
import json

import numpy as np
import pytest

from simulators import Intervention, do, shift, soft


def _arrays(n=5, p=2):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, p)), rng.normal(size=n), rng.normal(size=n)


def test_values_are_small_frozen_objects():
    intervention = do({3: 1.0, 0: -2.0})
    assert intervention.kind == "do"
    assert intervention.targets == (0, 3)
    assert intervention.changes == ((0, -2.0), (3, 1.0))
    assert intervention == do([(0, -2.0), (3, 1.0)])
    assert hash(intervention) == hash(do({0: -2.0, 3: 1.0}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        intervention.kind = "shift"
    assert shift({1: 0.5}).kind == "shift"
    assert soft({1: 0.5}).kind == "soft"


def test_numpy_scalars_are_accepted():
    intervention = shift({np.int64(2): np.float32(0.5)})
    assert intervention.targets == (2,)
    assert isinstance(intervention.targets[0], int)


def test_apply_semantics():
    parents, effect, noise = _arrays()
    rng = np.random.default_rng(1)
    assert np.array_equal(do({0: 1.5}).apply(0, parents, effect, noise, rng), np.full(5, 1.5))
    assert np.array_equal(shift({0: 2.0}).apply(0, parents, effect, noise, rng), effect + noise + 2.0)
    assert np.array_equal(soft({0: 3.0}).apply(0, parents, effect, noise, rng), 3.0 * effect + noise)
    mechanism = lambda u, e: u.sum(axis=1) - e  # noqa: E731
    assert np.array_equal(soft({0: mechanism}).apply(0, parents, effect, noise, rng), parents.sum(axis=1) - noise)
    sampler = lambda g, n: g.uniform(10, 11, n)  # noqa: E731
    values = do({0: sampler}).apply(0, parents, effect, noise, rng)
    assert values.shape == (5,)
    assert np.all((values >= 10) & (values <= 11))


def test_callables_must_return_one_finite_value_per_sample():
    parents, effect, noise = _arrays()
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"do sampler .* node 0 returned shape \(4,\)"):
        do({0: lambda g, n: np.zeros(n - 1)}).apply(0, parents, effect, noise, rng)
    with pytest.raises(ValueError, match="node 0 returned non-finite"):
        soft({0: lambda u, e: np.full_like(e, np.inf)}).apply(0, parents, effect, noise, rng)


def test_soft_factor_needs_parents():
    _, effect, noise = _arrays()
    with pytest.raises(ValueError, match="node 4, which has none"):
        soft({4: 2.0}).apply(4, np.empty((5, 0)), effect, noise, np.random.default_rng(0))


def test_check_names_the_node_and_d():
    do({2: 0.0}).check(3)
    with pytest.raises(ValueError, match=r"node 3, but the model has d=3 nodes"):
        do({3: 0.0}).check(3)


@pytest.mark.parametrize(
    ("build", "values", "message"),
    [
        (do, {}, "at least one target"),
        (do, [(1, 0.0), (1, 2.0)], "node 1 is intervened on twice"),
        (shift, [(np.int64(2), 0.0), (2, 1.0)], "node 2 is intervened on twice"),
        (do, {-1: 0.0}, "node indices >= 0"),
        (do, {1.5: 0.0}, "node indices >= 0"),
        (do, {"a": 0.0}, "node indices >= 0"),
        (do, {True: 0.0}, "node indices >= 0"),
        (do, {0: float("nan")}, "finite number or a callable"),
        (do, {0: "2"}, "finite number or a callable"),
        (do, {0: True}, "finite number or a callable"),
        (shift, {0: float("inf")}, "must be a finite number"),
        (shift, {0: lambda g, n: np.zeros(n)}, "must be a finite number, got"),
        (soft, {0: 0.0}, "cuts the parents off"),
        (soft, {0: 1}, "changes nothing"),
        (do, [(0, 1.0, 2.0)], r"\(node, value\) pairs"),
    ],
)
def test_bad_interventions_raise_value_error(build, values, message):
    with pytest.raises(ValueError, match=message):
        build(values)


def test_bad_containers_and_kinds():
    with pytest.raises(TypeError, match="dict node -> value"):
        do(3)
    with pytest.raises(ValueError, match="unknown intervention kind 'cut'"):
        Intervention("cut", ((0, 1.0),))


def test_to_dict_is_json_safe():
    def sampler(rng, n):
        return rng.normal(size=n)

    described = do({1: sampler, 0: 2}).to_dict()
    assert json.loads(json.dumps(described)) == {
        "kind": "do",
        "targets": [0, 1],
        "values": {"0": 2.0, "1": "test_to_dict_is_json_safe.<locals>.sampler"},
    }
