"""Every bad input to the Python API gets a clear answer: the rows of docs/reliability.md.

Each case names the catalogue row it belongs to. The Python API must raise
ValueError / TypeError (or the library's subclasses of them) with a message
that names the argument and says what was expected. The command line's cases
(one line, exit code 2) are in test_cli.py. Rows already covered by other test
files are not repeated here (the catalogue names those tests).
"""

import math

import numpy as np
import pytest
import torch

import causalrep
import simulators
from causalrep import (
    Autoencoder,
    BetaVAE,
    CausalDiffAE,
    CheckpointError,
    InterventionalCRL,
    InterventionalData,
    NotFittedError,
)
from causalrep.estimators import ControlFunction

torch.set_num_threads(1)

pytestmark = [
    pytest.mark.filterwarnings("ignore::causalrep.estimators.IdentifiabilityWarning"),
    pytest.mark.filterwarnings("ignore::causalrep.estimators.ConvergenceWarning"),
]

# The estimators that train networks (LinearICA does not), at the tiny sizes of conftest's tiny_estimator.
TORCH_ESTIMATORS = ["InterventionalCRL", "Autoencoder", "BetaVAE", "IVAE", "CausalDiffAE", "Rep4Ex"]


def _scaled(data, factor):
    return InterventionalData(X=data.X * factor, regime=data.regime, targets=data.targets, Z=data.Z, graph=data.graph)


# -- the Python API ---------------------------------------------------------------------
# (row, id, call, exception, message regex); each call gets the catalogue fixture (conftest).

API_CASES = [
    # NaN or inf in X, Z, A or Y
    (
        "non-finite",
        "nan-in-actions-predict_interventional",
        lambda c: c.rep.predict_interventional([[np.nan, 0.0]]),
        ValueError,
        r"^a contains 1 non-finite values \(NaN or inf\)",
    ),
    (
        "non-finite",
        "inf-in-A-predict",
        lambda c: c.rep.predict(c.rdata.X[:2], np.array([[np.inf, 0.0], [0.0, 0.0]])),
        ValueError,
        r"^A contains 1 non-finite",
    ),
    (
        "non-finite",
        "nan-in-do-value",
        lambda c: c.cdae.intervene(c.data.X[:2], {0: np.nan}),
        ValueError,
        r"^do\[0\] contains 1 non-finite",
    ),
    (
        "non-finite",
        "nan-in-X-of-a-data-file",
        lambda c: InterventionalData.load(c.dir / "nan.npz"),
        CheckpointError,
        r"invalid contents in data file .*nan\.npz: X contains 1 non-finite",
    ),
    (
        "non-finite",
        "nan-in-Z-inverse_transform",
        lambda c: c.ae.inverse_transform([[0.0, np.nan]]),
        ValueError,
        r"^Z contains 1 non-finite",
    ),
    # wrong dimensionality
    (
        "ndim",
        "X-3d",
        lambda c: InterventionalData(X=np.ones((4, 2, 1))),
        ValueError,
        r"^X must be 2-dimensional, got shape \(4, 2, 1\)",
    ),
    (
        "ndim",
        "Z-1d",
        lambda c: InterventionalData(X=np.ones((4, 2)), Z=np.ones(4)),
        ValueError,
        r"^Z must have 2 dimensions, got shape \(4,\)",
    ),
    (
        "ndim",
        "A-3d",
        lambda c: InterventionalData(X=np.ones((4, 2)), A=np.ones((4, 1, 1))),
        ValueError,
        r"^A must have 2 dimensions, got shape \(4, 1, 1\)",
    ),
    (
        "ndim",
        "Y-3d",
        lambda c: InterventionalData(X=np.ones((4, 2)), Y=np.ones((4, 1, 1))),
        ValueError,
        r"^Y must have 1 or 2 dimensions",
    ),
    (
        "ndim",
        "regime-2d",
        lambda c: InterventionalData(X=np.ones((4, 2)), regime=np.zeros((4, 1), int)),
        ValueError,
        r"^regime must have shape \(4,\) to match X, got \(4, 1\)",
    ),
    (
        "ndim",
        "inverse_transform-Z-1d",
        lambda c: c.ae.inverse_transform(np.ones(2)),
        ValueError,
        r"^Z must be 2-dimensional",
    ),
    (
        "ndim",
        "decode-z-too-wide",
        lambda c: c.cdae.decode(np.zeros((2, 6)), np.zeros((2, 3))),
        ValueError,
        r"^z must have shape \(2, 2\), got \(2, 3\)",
    ),
    (
        "ndim",
        "actions-too-wide",
        lambda c: c.rep.predict_interventional(np.zeros((2, 3))),
        ValueError,
        r"^a: actions must have shape \(m, 2\), got \(2, 3\)",
    ),
    # mismatched lengths
    (
        "lengths",
        "decode-x_T-and-z-lengths",
        lambda c: c.cdae.decode(np.zeros((3, 6)), np.zeros((2, 2))),
        ValueError,
        r"^z must have shape \(3, 2\), got \(2, 2\)",
    ),
    (
        "lengths",
        "do-value-length",
        lambda c: c.cdae.intervene(c.data.X[:3], {1: np.zeros(2)}),
        ValueError,
        r"^do\[1\] must be a number or have shape \(3,\)",
    ),
    # dtypes: integers and bools become float64 (tested below); the rest is refused
    (
        "dtype",
        "complex-X",
        lambda c: InterventionalData(X=np.ones((3, 2), complex)),
        TypeError,
        r"^X must be real, got dtype complex128",
    ),
    (
        "dtype",
        "complex-Z",
        lambda c: InterventionalData(X=np.ones((3, 2)), Z=np.ones((3, 1), complex)),
        TypeError,
        r"^Z must be real",
    ),
    (
        "dtype",
        "strings-A",
        lambda c: InterventionalData(X=np.ones((2, 2)), A=np.array([["a"], ["b"]])),
        TypeError,
        r"^A must hold numbers, got dtype <U1",
    ),
    (
        "dtype",
        "objects-Y",
        lambda c: InterventionalData(X=np.ones((2, 2)), Y=np.array([1.0, None], dtype=object)),
        TypeError,
        r"^Y must hold numbers, got dtype object",
    ),
    (
        "dtype",
        "strings-transform",
        lambda c: c.ae.transform(np.array([["1"] * 6])),
        TypeError,
        r"^X must hold numbers, got dtype <U1",
    ),
    ("dtype", "complex-transform", lambda c: c.ica.transform(np.ones((2, 6), complex)), TypeError, r"^X must be real"),
    (
        "dtype",
        "bool-regime",
        lambda c: InterventionalData(X=np.ones((3, 2)), regime=[True, False, True], targets={0: (), 1: (0,)}),
        TypeError,
        r"^regime must hold integers, got dtype bool",
    ),
    (
        "dtype",
        "strings-regime",
        lambda c: InterventionalData(X=np.ones((2, 2)), regime=["0", "1"], targets={0: (), 1: (0,)}),
        TypeError,
        r"^regime must hold integers, got dtype <U1",
    ),
    (
        "dtype",
        "float-target",
        lambda c: InterventionalData(X=np.ones((2, 2)), regime=[0, 1], targets={0: (), 1: (0.5,)}),
        TypeError,
        r"^targets\[1\] must be a tuple of latent indices \(ints >= 0\), got \(0\.5,\)",
    ),
    (
        "dtype",
        "string-target",
        lambda c: InterventionalData(X=np.ones((2, 2)), regime=[0, 1], targets={0: (), 1: "0"}),
        TypeError,
        r"^targets\[1\] must be a tuple of latent indices",
    ),
    (
        "dtype",
        "huge-target",
        lambda c: InterventionalData(X=np.ones((2, 2)), regime=[0, 1], targets={0: (), 1: (10**30,)}),
        TypeError,
        r"^targets\[1\] must be a tuple of latent indices",
    ),
    (
        "dtype",
        "string-latent_dim",
        lambda c: c.make("Autoencoder", latent_dim="2").fit(c.data),
        ValueError,
        r"^latent_dim must be an int >= 1, got '2' \(a str\)",
    ),
    # empty arrays
    (
        "empty",
        "X-without-columns",
        lambda c: InterventionalData(X=np.ones((3, 0))),
        ValueError,
        r"^X is empty \(shape \(3, 0\)\)",
    ),
    (
        "empty",
        "Z-without-columns",
        lambda c: InterventionalData(X=np.ones((3, 2)), Z=np.ones((3, 0))),
        ValueError,
        r"^Z is empty",
    ),
    (
        "empty",
        "transform-no-rows",
        lambda c: c.ae.transform(np.ones((0, 6))),
        ValueError,
        r"^X is empty \(shape \(0, 6\)\)",
    ),
    (
        "empty",
        "predict_interventional-no-rows",
        lambda c: c.rep.predict_interventional(np.ones((0, 2))),
        ValueError,
        r"^a is empty",
    ),
    ("empty", "subset-of-no-regime", lambda c: c.data.subset([]), ValueError, r"^regimes is empty"),
    # a single sample
    (
        "single",
        "split-one-sample",
        lambda c: c.one.split(0.5),
        ValueError,
        r"^regime 0 has 1 samples: too few to split with test_fraction=0.5",
    ),
    *[
        (
            "single",
            f"fit-one-sample-{name}",
            lambda c, name=name: c.make(name).fit(c.rdata.take([0]) if name == "Rep4Ex" else c.one),
            ValueError,
            message,
        )
        for name, message in [
            ("InterventionalCRL", r"^InterventionalCRL\.fit needs at least 2 samples, data has 1"),
            ("Autoencoder", r"^Autoencoder\.fit needs at least 2 samples, data has 1"),
            ("BetaVAE", r"^BetaVAE\.fit needs at least 2 samples, data has 1"),
            ("IVAE", r"^IVAE with auxiliary='regime' needs several regimes"),
            ("CausalDiffAE", r"^CausalDiffAE\.fit needs at least 2 samples, data has 1"),
            ("Rep4Ex", r"^Rep4Ex needs at least 20 samples, got 1"),
            ("LinearICA", r"^LinearICA\.fit needs at least 2 samples, data has 1"),
        ]
    ],
    # a regime with fewer samples than the estimator needs
    (
        "small-regime",
        "rep4ex-19-samples",
        lambda c: c.make("Rep4Ex").fit(c.rdata.take(np.arange(19))),
        ValueError,
        r"^Rep4Ex needs at least 20 samples, got 19",
    ),
    (
        "small-regime",
        "split-regime-of-one",
        lambda c: c.data.take(np.r_[np.flatnonzero(c.data.regime != 2), 60 + 30]).split(0.3),
        ValueError,
        r"^regime 2 has 1 samples: too few to split",
    ),
    # latent_dim of 0 or larger than dim_x (InterventionalCRL: test_interventional.py)
    *[
        (
            "latent_dim",
            f"latent_dim-{value}-{name}",
            lambda c, name=name, value=value: c.make(name, latent_dim=value).fit(
                {"Rep4Ex": c.rdata, "CausalDiffAE": c.bare}.get(name, c.data)
            ),
            ValueError,
            message,
        )
        for name in ("Autoencoder", "BetaVAE", "IVAE", "CausalDiffAE", "Rep4Ex", "LinearICA")
        for value, message in [
            (0, r"^latent_dim must be an int >= 1( or None)?, got 0"),
            (
                99,
                r"latent_dim=99 (is larger than the observation dimension dim_x=6|exceeds "
                r"the 2 action\(s\))",
            ),
        ]
    ],
    # graphs
    (
        "graph",
        "graph-nodes-not-0..d-1",
        lambda c: c.make("CausalDiffAE", latent_dim=None, graph={"nodes": [1, 2], "edges": [[1, 2]]}).fit(c.data),
        ValueError,
        r"^graph nodes must be 0\.\.d-1, got \[1, 2\]",
    ),
    (
        "graph",
        "graph-self-loop",
        lambda c: c.make("CausalDiffAE", graph=[(0, 0)]).fit(c.data),
        ValueError,
        r"^graph has a cycle: 0 -> 0",
    ),
    # the same node twice
    (
        "twice",
        "target-named-twice",
        lambda c: InterventionalData(X=np.ones((2, 2)), regime=[0, 1], targets={0: (), 1: (0, 0)}),
        ValueError,
        r"^targets\[1\] names a latent twice: \(0, 0\)",
    ),
    (
        "twice",
        "soft-twice",
        lambda c: simulators.soft([(1, 2.0), (1, 3.0)]),
        ValueError,
        r"^node 1 is intervened on twice in one soft intervention",
    ),
    # hyperparameters out of range, for every estimator
    *[
        (
            "hyperparameters",
            f"{param}={value!r}-{name}",
            lambda c, name=name, param=param, value=value: c.make(name, **{param: value}).fit(
                c.rdata if name == "Rep4Ex" else c.data
            ),
            ValueError,
            message,
        )
        for name in TORCH_ESTIMATORS
        for param, value, message in [
            ("lr", -1.0, r"^lr must be a number > 0, got -1\.0"),
            ("lr", math.inf, r"^lr must be a number > 0, got inf"),
            ("lr", math.nan, r"^lr must be a number > 0, got nan"),
            ("batch_size", 0, r"^batch_size must be an int >= 1, got 0"),
            ("max_steps", 0, r"^max_steps must be an int >= 1, got 0"),
            ("hidden", 16, r"^hidden must be a sequence of positive ints, got 16"),
            ("hidden", (16, 0), r"^hidden must be a sequence of positive ints, got \(16, 0\)"),
            ("seed", -1, r"^seed must be an int >= 0, a numpy\.random\.Generator or None, got -1"),
            ("device", "gpu", r"^device must be 'auto', 'cpu', 'cuda', 'cuda:N' or such a torch\.device, got 'gpu'"),
        ]
    ],
    *[
        (
            "hyperparameters",
            f"max_epochs=0-{name}",
            lambda c, name=name: c.make(name, max_epochs=0).fit(c.data),
            ValueError,
            r"^max_epochs must be an int >= 1 or None, got 0",
        )
        for name in ("InterventionalCRL", "Autoencoder", "BetaVAE", "IVAE", "CausalDiffAE")
    ],
    (
        "hyperparameters",
        "ioss_lambda=-1",
        lambda c: c.make("InterventionalCRL", ioss_lambda=-1.0).fit(c.data),
        ValueError,
        r"^ioss_lambda must be a number >= 0, got -1\.0",
    ),
    (
        "hyperparameters",
        "decoder-unknown-name",
        lambda c: c.make("InterventionalCRL", decoder="spline").fit(c.data),
        ValueError,
        r"^decoder must be one of 'polynomial', 'mlp', got 'spline'",
    ),
    (
        "hyperparameters",
        "LinearICA-tol=-1",
        lambda c: c.make("LinearICA", tol=-1).fit(c.data),
        ValueError,
        r"^tol must be a number > 0, got -1",
    ),
    (
        "hyperparameters",
        "unknown-keyword",
        lambda c: Autoencoder(latent_dim=2, lr_rate=0.1),
        TypeError,
        r"unexpected keyword argument 'lr_rate'",
    ),
    # used before fit
    (
        "before-fit",
        "counterfactual",
        lambda c: CausalDiffAE().counterfactual(c.data.X, {0: 1.0}),
        NotFittedError,
        r"^this CausalDiffAE is not fitted yet: call fit\(data\) first",
    ),
    (
        "before-fit",
        "stage1_transform",
        lambda c: InterventionalCRL(2).stage1_transform(c.data.X),
        NotFittedError,
        r"^this InterventionalCRL is not fitted yet",
    ),
    (
        "before-fit",
        "inverse_transform",
        lambda c: BetaVAE(2).inverse_transform(np.zeros((1, 2))),
        NotFittedError,
        r"^this BetaVAE is not fitted yet",
    ),
    (
        "before-fit",
        "control-function",
        lambda c: ControlFunction().predict(np.zeros((1, 2)), np.zeros((1, 2))),
        NotFittedError,
        r"^this ControlFunction is not fitted yet: call fit\(Z, A, Y\) first",
    ),
    # transform with another dim_x than fit
    (
        "dim_x",
        "Rep4Ex-transform",
        lambda c: c.rep.transform(np.ones((2, 11))),
        ValueError,
        r"^X has 11 features, but Rep4Ex is expecting 10 features as input",
    ),
    (
        "dim_x",
        "CausalDiffAE-invert",
        lambda c: c.cdae.invert(np.ones((2, 5))),
        ValueError,
        r"^X has 5 features, but CausalDiffAE is expecting 6 features as input",
    ),
    (
        "dim_x",
        "inverse_transform-Z-width",
        lambda c: c.ae.inverse_transform(np.ones((2, 3))),
        ValueError,
        r"^Z has 3 columns but Autoencoder has latent_dim=2",
    ),
    # files: device of load, saving into a missing folder
    (
        "files",
        "load-unknown-device",
        lambda c: causalrep.load(c.dir / "ica.pt", device="gpu"),
        ValueError,
        r"^device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'",
    ),
    (
        "files",
        "load-a-folder",
        lambda c: causalrep.load(c.dir / "folder"),
        CheckpointError,
        r"^cannot read checkpoint .*folder",
    ),
    (
        "files",
        "data-load-a-folder",
        lambda c: InterventionalData.load(c.dir / "folder"),
        CheckpointError,
        r"^cannot read data file .*folder",
    ),
    (
        "files",
        "data-load-an-npy",
        lambda c: InterventionalData.load(c.dir / "plain.npy"),
        CheckpointError,
        r"^cannot read data file .*plain\.npy: File is not a zip file",
    ),
    (
        "files",
        "data-load-a-checkpoint",
        lambda c: InterventionalData.load(c.dir / "ica.pt"),
        CheckpointError,
        r"is not an InterventionalData file: unexpected member",
    ),
    (
        "files",
        "load-a-data-file",
        lambda c: causalrep.load(c.dir / "data.npz"),
        CheckpointError,
        r"^cannot read checkpoint .*data\.npz",
    ),
    (
        "files",
        "save-into-missing-folder",
        lambda c: c.ae.save(c.dir / "absent" / "m.pt"),
        FileNotFoundError,
        r"^cannot save to .*m\.pt: folder .*absent does not exist",
    ),
    (
        "files",
        "data-save-into-missing-folder",
        lambda c: c.data.save(c.dir / "absent" / "d.npz"),
        FileNotFoundError,
        r"^cannot save to .*d\.npz: folder .*absent does not exist",
    ),
    # spreads and magnitudes that float64 standardisation cannot represent
    *[
        (
            "scale",
            f"X*{factor:g}-{name}",
            lambda c, name=name, factor=factor: c.make(name).fit(_scaled(c.data, factor)),
            ValueError,
            message,
        )
        for name in ("InterventionalCRL", "Autoencoder", "CausalDiffAE", "LinearICA")
        for factor, message in [
            (
                1e306,
                r"^X column \d+ has values up to \S+ in magnitude; \w+ accepts magnitudes "
                r"up to 1e\+305 \(its decoded values would overflow float64\): rescale X",
            ),
            (
                1e-304,
                r"^X column \d+ has standard deviation \S+, below 1e-300: \w+ cannot "
                r"represent so small a spread in float64: rescale X",
            ),
        ]
    ],
    # constant or identical rows
    *[
        (
            "scale",
            f"constant-X-{name}",
            lambda c, name=name: c.make(name).fit(
                InterventionalData(X=np.full((40, 6), 3e9), regime=c.data.regime[:40], targets=c.data.targets)
            ),
            ValueError,
            r"^X is constant: all 40 rows are identical, so "
            r"\w+ has nothing to learn from",
        )
        for name in ("Autoencoder", "BetaVAE", "CausalDiffAE", "LinearICA")
    ],
    (
        "scale",
        "A*1e35-Rep4Ex",
        lambda c: c.make("Rep4Ex").fit(InterventionalData(X=c.rdata.X, A=c.rdata.A * 1e35, Y=c.rdata.Y)),
        ValueError,
        r"^A has values up to .* in magnitude; Rep4Ex computes in float32",
    ),
    (
        "scale",
        "transform-1e300",
        lambda c: c.ae.transform(np.full((2, 6), 1e300)),
        ValueError,
        r"^X has values up to \S+ standard deviations away from the fitted data's mean; "
        r"Autoencoder computes in float32 and accepts up to 1e\+30",
    ),
]


@pytest.mark.parametrize(
    ("row", "call", "error", "message"),
    [pytest.param(row, call, error, message, id=f"{row}:{name}") for row, name, call, error, message in API_CASES],
)
def test_api_bad_input_is_refused_and_named(catalogue, row, call, error, message):
    assert issubclass(error, (ValueError, TypeError, OSError))
    with pytest.raises(error, match=message):
        call(catalogue)


# -- behaviour documented in the catalogue, beyond refusals -----------------------------


def test_integers_and_bools_are_converted_to_float64(catalogue):
    ints = InterventionalData(
        X=np.arange(12).reshape(6, 2), Z=np.ones((6, 1), dtype=np.int32), Y=np.array([True, False] * 3)
    )
    assert ints.X.dtype == ints.Z.dtype == ints.Y.dtype == np.float64
    np.testing.assert_array_equal(ints.X, np.arange(12.0).reshape(6, 2))
    np.testing.assert_array_equal(ints.Y, [1.0, 0.0] * 3)
    X = np.round(catalogue.data.X[:5]).astype(np.int64)
    np.testing.assert_array_equal(catalogue.ae.transform(X), catalogue.ae.transform(X.astype(float)))
