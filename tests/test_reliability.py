"""Every bad input gets a clear answer: the rows of docs/reliability.md.

Each case names the catalogue row it belongs to. The Python API must raise
ValueError / TypeError (or the library's subclasses of them) with a message
that names the argument and says what was expected; the command line must
print exactly one line and exit with code 2. Rows already covered by other
test files are not repeated here (the catalogue names those tests).
"""

import json
import math
import re

import numpy as np
import pytest
import torch

import causalrep
import simulators
from causalrep import (
    IVAE,
    Autoencoder,
    BetaVAE,
    CausalDiffAE,
    CheckpointError,
    InterventionalCRL,
    InterventionalData,
    LinearICA,
    NotFittedError,
    Rep4Ex,
    TrainingDivergedError,
)
from causalrep.cli import main
from causalrep.estimators import ControlFunction
from causalrep.estimators._core.training import TrainConfig, train
from causalrep.identifiability import affine_r2

torch.set_num_threads(1)

pytestmark = [
    pytest.mark.filterwarnings("ignore::causalrep.estimators.IdentifiabilityWarning"),
    pytest.mark.filterwarnings("ignore::causalrep.estimators.ConvergenceWarning"),
]

TINY = dict(max_steps=20, hidden=(16,), verbose=0)
FACTORIES = {  # every estimator at a tiny size, on `ctx.data` (Rep4Ex on `ctx.rdata`)
    "InterventionalCRL": lambda **kw: InterventionalCRL(**{"latent_dim": 2, "restarts": 1, **TINY, **kw}),
    "Autoencoder": lambda **kw: Autoencoder(**{"latent_dim": 2, **TINY, **kw}),
    "BetaVAE": lambda **kw: BetaVAE(**{"latent_dim": 2, **TINY, **kw}),
    "IVAE": lambda **kw: IVAE(**{"latent_dim": 2, **TINY, **kw}),
    "CausalDiffAE": lambda **kw: CausalDiffAE(**{"latent_dim": 2, "diffusion_steps": 20, "channels": 4, **TINY, **kw}),
    "Rep4Ex": lambda **kw: Rep4Ex(**{"latent_dim": 2, "n_centers": 30, **TINY, **kw}),
    "LinearICA": lambda **kw: LinearICA(**{"latent_dim": 2, "max_iter": 50, **kw}),
}
TORCH_ESTIMATORS = [name for name in FACTORIES if name != "LinearICA"]


class Context:
    """Small data, fitted models and files shared by the cases of this module."""


def _npz(path, header=None, **arrays):
    """An .npz laid out like InterventionalData.save, with arbitrary arrays."""
    header = {"format": "causalrep.InterventionalData", "targets": {"0": []}, **(header or {})}
    np.savez(path, header=np.frombuffer(json.dumps(header).encode(), np.uint8), **arrays)
    return path


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    c = Context()
    c.dir = tmp_path_factory.mktemp("reliability")
    c.data = simulators.ahuja2023(latent_dim=2, obs_dim=6, degree=2, n_obs=60, n_int=60, seed=0)
    c.rdata = simulators.rep4ex(n=200, latent_dim=2, action_dim=2, obs_dim=10, seed=0)
    c.one = c.data.take([0])
    c.bare = InterventionalData(X=c.data.X)
    c.ae = FACTORIES["Autoencoder"]().fit(c.data)
    c.cdae = FACTORIES["CausalDiffAE"](max_steps=5).fit(c.data)
    c.rep = FACTORIES["Rep4Ex"]().fit(c.rdata)
    c.ica = FACTORIES["LinearICA"]().fit(c.data)
    c.data.save(c.dir / "data.npz")
    c.ica.save(c.dir / "ica.pt")
    c.ae.save(c.dir / "ae.pt")
    one_action = simulators.rep4ex(n=200, latent_dim=1, action_dim=1, obs_dim=10, seed=0)
    FACTORIES["Rep4Ex"](latent_dim=1).fit(one_action).save(c.dir / "rep4ex.pt")
    c.data.take([0]).save(c.dir / "one.npz")
    simulators.ahuja2023(latent_dim=2, obs_dim=4, degree=1, n_obs=30, n_int=30, seed=0).save(c.dir / "narrow.npz")
    InterventionalData(X=c.data.X, regime=c.data.regime, targets={0: (), 1: (5,), 2: (1,)}).save(
        c.dir / "unknown_target.npz"
    )
    InterventionalData(X=c.data.X * 1e306, Z=c.data.Z).save(c.dir / "huge.npz")
    X = c.data.X.copy()
    X[3, 1] = np.nan
    _npz(c.dir / "nan.npz", X=X, Z=c.data.Z)
    _npz(c.dir / "empty.npz", X=np.ones((0, 3)))
    _npz(c.dir / "flat.npz", X=np.ones(5))
    _npz(c.dir / "complex.npz", X=np.ones((4, 2), dtype=complex))
    (c.dir / "nan.csv").write_text("0.5\nnan\n")
    (c.dir / "words.csv").write_text("left,right\n")
    (c.dir / "wide.csv").write_text("1,2,3\n4,5,6\n")
    (c.dir / "empty.csv").write_text("")
    (c.dir / "folder").mkdir()
    np.save(c.dir / "plain.npy", np.ones(3))
    return c


def _scaled(data, factor):
    return InterventionalData(X=data.X * factor, regime=data.regime, targets=data.targets, Z=data.Z, graph=data.graph)


# -- the Python API ---------------------------------------------------------------------
# (row, id, call, exception, message regex); each call gets the module's Context.

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
        lambda c: FACTORIES["Autoencoder"](latent_dim="2").fit(c.data),
        ValueError,
        r"^latent_dim must be a positive int, got '2'",
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
            lambda c, name=name: FACTORIES[name]().fit(c.rdata.take([0]) if name == "Rep4Ex" else c.one),
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
        lambda c: FACTORIES["Rep4Ex"]().fit(c.rdata.take(np.arange(19))),
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
            lambda c, name=name, value=value: FACTORIES[name](latent_dim=value).fit(
                {"Rep4Ex": c.rdata, "CausalDiffAE": c.bare}.get(name, c.data)
            ),
            ValueError,
            message,
        )
        for name in ("Autoencoder", "BetaVAE", "IVAE", "CausalDiffAE", "Rep4Ex", "LinearICA")
        for value, message in [
            (0, r"^latent_dim must be a positive int, got 0"),
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
        lambda c: FACTORIES["CausalDiffAE"](latent_dim=None, graph={"nodes": [1, 2], "edges": [[1, 2]]}).fit(c.data),
        ValueError,
        r"^graph nodes must be 0\.\.d-1, got \[1, 2\]",
    ),
    (
        "graph",
        "graph-self-loop",
        lambda c: FACTORIES["CausalDiffAE"](graph=[(0, 0)]).fit(c.data),
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
            lambda c, name=name, param=param, value=value: FACTORIES[name](**{param: value}).fit(
                c.rdata if name == "Rep4Ex" else c.data
            ),
            ValueError,
            message,
        )
        for name in TORCH_ESTIMATORS
        for param, value, message in [
            ("lr", -1.0, r"^lr must be a positive number, got -1\.0"),
            ("lr", math.inf, r"^lr must be a positive number, got inf"),
            ("lr", math.nan, r"^lr must be a positive number, got nan"),
            ("batch_size", 0, r"^batch_size must be a positive int, got 0"),
            ("max_steps", 0, r"^max_steps must be a positive int, got 0"),
            ("hidden", 16, r"^hidden must be a sequence of positive ints, got 16"),
            ("hidden", (16, 0), r"^hidden must be a sequence of positive ints, got \(16, 0\)"),
            ("seed", -1, r"^seed must be a non-negative int, got -1"),
            ("device", "gpu", r"^device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got 'gpu'"),
        ]
    ],
    *[
        (
            "hyperparameters",
            f"max_epochs=0-{name}",
            lambda c, name=name: FACTORIES[name](max_epochs=0).fit(c.data),
            ValueError,
            r"^max_epochs must be a positive int, got 0",
        )
        for name in ("InterventionalCRL", "Autoencoder", "BetaVAE", "IVAE", "CausalDiffAE")
    ],
    (
        "hyperparameters",
        "ioss_lambda=-1",
        lambda c: FACTORIES["InterventionalCRL"](ioss_lambda=-1.0).fit(c.data),
        ValueError,
        r"^ioss_lambda must be a finite number >= 0, got -1\.0",
    ),
    (
        "hyperparameters",
        "decoder-unknown-name",
        lambda c: FACTORIES["InterventionalCRL"](decoder="spline").fit(c.data),
        ValueError,
        r"^decoder must be 'polynomial' or 'mlp', got 'spline'",
    ),
    (
        "hyperparameters",
        "LinearICA-tol=-1",
        lambda c: FACTORIES["LinearICA"](tol=-1).fit(c.data),
        ValueError,
        r"^tol must be a positive number, got -1",
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
        r"^X has 11 features but Rep4Ex was fitted on 10",
    ),
    (
        "dim_x",
        "CausalDiffAE-invert",
        lambda c: c.cdae.invert(np.ones((2, 5))),
        ValueError,
        r"^X has 5 features but CausalDiffAE was fitted on 6",
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
            lambda c, name=name, factor=factor: FACTORIES[name]().fit(_scaled(c.data, factor)),
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
            lambda c, name=name: FACTORIES[name]().fit(
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
        lambda c: FACTORIES["Rep4Ex"]().fit(InterventionalData(X=c.rdata.X, A=c.rdata.A * 1e35, Y=c.rdata.Y)),
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
    "row,call,error,message",
    [pytest.param(row, call, error, message, id=f"{row}:{name}") for row, name, call, error, message in API_CASES],
)
def test_api_bad_input_is_refused_and_named(ctx, row, call, error, message):
    assert issubclass(error, (ValueError, TypeError, OSError))
    with pytest.raises(error, match=message):
        call(ctx)


# -- the command line -------------------------------------------------------------------
# (row, id, argv with {d} for the files folder, message regex); exit code 2, one line.

CLI_CASES = [
    (
        "non-finite",
        "nan-in-data-file",
        ["check", "--data", "{d}/nan.npz", "--model", "{d}/ica.pt"],
        r"--data: invalid contents in data file .*nan\.npz: X contains 1 non-finite",
    ),
    (
        "non-finite",
        "nan-in-actions-csv",
        ["extrapolate", "--model", "{d}/rep4ex.pt", "--actions", "{d}/nan.csv"],
        r"--actions .*nan\.csv must hold at least one row of finite numbers",
    ),
    (
        "non-finite",
        "nan-in-grid",
        ["extrapolate", "--model", "{d}/rep4ex.pt", "--grid=nan:1:3"],
        r"--grid expects LO:HI:N with finite LO, HI and an int N >= 1, got 'nan:1:3'",
    ),
    (
        "ndim",
        "X-1d-in-data-file",
        ["fit", "linear_ica", "--data", "{d}/flat.npz", "--out", "{d}/m.pt", "--param", "latent_dim=1"],
        r"--data: invalid contents .*flat\.npz: X must be 2-dimensional",
    ),
    (
        "ndim",
        "actions-csv-too-wide",
        ["extrapolate", "--model", "{d}/rep4ex.pt", "--actions", "{d}/wide.csv"],
        r"--actions .*wide\.csv has 3 column\(s\) but the model takes 1 action\(s\)",
    ),
    (
        "dtype",
        "complex-X-in-data-file",
        ["check", "--data", "{d}/complex.npz", "--model", "{d}/ica.pt"],
        r"--data: invalid contents .*: X must be real, got dtype complex128",
    ),
    (
        "dtype",
        "words-in-actions-csv",
        ["extrapolate", "--model", "{d}/rep4ex.pt", "--actions", "{d}/words.csv"],
        r"--actions expects a CSV file of numbers, .*words\.csv is not one",
    ),
    (
        "dtype",
        "latent_dim-not-a-number",
        ["fit", "autoencoder", "--data", "{d}/data.npz", "--out", "{d}/m.pt", "--param", "latent_dim=two"],
        r"latent_dim must be a positive int, got 'two'",
    ),
    (
        "empty",
        "empty-X-in-data-file",
        ["check", "--data", "{d}/empty.npz", "--model", "{d}/ica.pt"],
        r"--data: invalid contents .*empty\.npz: X is empty",
    ),
    (
        "empty",
        "empty-actions-csv",
        ["extrapolate", "--model", "{d}/rep4ex.pt", "--actions", "{d}/empty.csv"],
        r"--actions .*empty\.csv must hold at least one row of finite numbers",
    ),
    (
        "empty",
        "grid-of-zero-points",
        ["extrapolate", "--model", "{d}/rep4ex.pt", "--grid=0:1:0"],
        r"--grid expects LO:HI:N .*got '0:1:0'",
    ),
    (
        "single",
        "one-sample-data-file",
        ["fit", "linear_ica", "--data", "{d}/one.npz", "--out", "{d}/m.pt"],
        r"LinearICA\.fit needs at least 2 samples, data has 1",
    ),
    (
        "targets",
        "target-outside-latent_dim",
        ["fit", "interventional", "--data", "{d}/unknown_target.npz", "--out", "{d}/m.pt", "--param", "latent_dim=2"],
        r"regime 1 targets latent\(s\) \[5\], outside range\(latent_dim=2\)",
    ),
    (
        "latent_dim",
        "latent_dim-0",
        ["fit", "autoencoder", "--data", "{d}/data.npz", "--out", "{d}/m.pt", "--param", "latent_dim=0"],
        r"latent_dim must be a positive int, got 0",
    ),
    (
        "latent_dim",
        "latent_dim-above-dim_x",
        ["fit", "autoencoder", "--data", "{d}/data.npz", "--out", "{d}/m.pt", "--param", "latent_dim=99"],
        r"latent_dim=99 is larger than the observation dimension dim_x=6",
    ),
    *[
        (
            "hyperparameters",
            f"{param}",
            ["fit", "interventional", "--data", "{d}/data.npz", "--out", "{d}/m.pt", "--param", param],
            message,
        )
        for param, message in [
            ("lr=-1", r"lr must be a positive number, got -1"),
            ("batch_size=0", r"batch_size must be a positive int, got 0"),
            ("decoder=spline", r"decoder must be 'polynomial' or 'mlp', got 'spline'"),
            ("hidden=16", r"hidden must be a sequence of positive ints, got 16"),
            (
                "lr_rate=0.1",
                r"bad interventional parameter: .*unexpected keyword argument "
                r"'lr_rate'",
            ),
        ]
    ],
    (
        "hyperparameters",
        "device-for-a-cpu-method",
        ["fit", "linear_ica", "--data", "{d}/data.npz", "--out", "{d}/m.pt", "--device", "cuda"],
        r"--device: linear_ica runs on the CPU only, got 'cuda'",
    ),
    (
        "hyperparameters",
        "blocks-not-json",
        ["check", "--data", "{d}/data.npz", "--model", "{d}/ica.pt", "--up-to", "block", "--blocks", "[[0,"],
        r"--blocks expects a JSON list of blocks such as",
    ),
    (
        "dim_x",
        "data-of-another-width",
        ["check", "--data", "{d}/narrow.npz", "--model", "{d}/ica.pt"],
        r"--data .*narrow\.npz does not fit --model .*ica\.pt: X has 4 features but LinearICA "
        r"was fitted on 6",
    ),
    (
        "files",
        "data-is-a-folder",
        ["check", "--data", "{d}/folder", "--model", "{d}/ica.pt"],
        r"--data: cannot read data file .*folder",
    ),
    (
        "files",
        "checkpoint-as-data",
        ["check", "--data", "{d}/ica.pt", "--model", "{d}/ica.pt"],
        r"--data: .*ica\.pt is not an InterventionalData file: unexpected member",
    ),
    (
        "files",
        "data-as-checkpoint",
        ["check", "--data", "{d}/data.npz", "--model", "{d}/data.npz"],
        r"--model: cannot read checkpoint",
    ),
    (
        "files",
        "absent-model",
        ["extrapolate", "--model", "{d}/absent.pt", "--grid=0:1:2"],
        r"--model: no such checkpoint: .*absent\.pt",
    ),
    (
        "files",
        "model-that-cannot-extrapolate",
        ["extrapolate", "--model", "{d}/ica.pt", "--grid=0:1:2"],
        r"--model: .*ica\.pt holds a LinearICA, which cannot extrapolate",
    ),
    (
        "files",
        "data-without-Z-for-check",
        ["check", "--data", "{d}/unknown_target.npz", "--model", "{d}/ica.pt"],
        r"--data: .*unknown_target\.npz has no true latents Z to check against",
    ),
    (
        "files",
        "out-into-missing-folder",
        [
            "simulate",
            "ahuja2023",
            "--out",
            "{d}/absent/d.npz",
            "--param",
            "latent_dim=2",
            "--param",
            "obs_dim=6",
            "--param",
            "n_obs=20",
            "--param",
            "n_int=20",
        ],
        r"cannot save to .*d\.npz: folder .*absent does not exist",
    ),
    (
        "files",
        "model-out-into-missing-folder",
        ["fit", "linear_ica", "--data", "{d}/data.npz", "--out", "{d}/absent/m.pt"],
        r"cannot save to .*m\.pt: folder .*absent does not exist",
    ),
    (
        "scale",
        "data-beyond-float64",
        ["fit", "autoencoder", "--data", "{d}/huge.npz", "--out", "{d}/m.pt"],
        r"X column \d+ has values up to .* in magnitude; Autoencoder accepts magnitudes up to",
    ),
    (
        "divergence",
        "learning-rate-that-diverges",
        [
            "fit",
            "autoencoder",
            "--data",
            "{d}/data.npz",
            "--out",
            "{d}/m.pt",
            "--param",
            "lr=1e30",
            "--param",
            "hidden=[8]",
            "--param",
            "max_steps=20",
            "--param",
            "verbose=0",
        ],
        r"loss term 'reconstruction' became non-finite \(nan\) at epoch \d+",
    ),
]


@pytest.mark.parametrize(
    "argv,message", [pytest.param(argv, message, id=f"{row}:{name}") for row, name, argv, message in CLI_CASES]
)
def test_cli_bad_input_is_one_line_and_exit_2(ctx, capsys, argv, message):
    argv = [a.replace("{d}", str(ctx.dir)) for a in argv]
    code = main(argv)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, captured
    assert len(lines) == 1 and lines[0].startswith(f"causalrep {argv[0]}: error: "), lines
    assert re.search(message, lines[0]), lines[0]
    assert not (ctx.dir / "m.pt").exists()


# -- behaviour documented in the catalogue, beyond refusals -----------------------------


def test_integers_and_bools_are_converted_to_float64(ctx):
    ints = InterventionalData(
        X=np.arange(12).reshape(6, 2), Z=np.ones((6, 1), dtype=np.int32), Y=np.array([True, False] * 3)
    )
    assert ints.X.dtype == ints.Z.dtype == ints.Y.dtype == np.float64
    np.testing.assert_array_equal(ints.X, np.arange(12.0).reshape(6, 2))
    np.testing.assert_array_equal(ints.Y, [1.0, 0.0] * 3)
    X = np.round(ctx.data.X[:5]).astype(np.int64)
    np.testing.assert_array_equal(ctx.ae.transform(X), ctx.ae.transform(X.astype(float)))


def test_a_single_sample_is_transformed(ctx):
    assert ctx.ae.transform(ctx.data.X[:1]).shape == (1, 2)
    np.testing.assert_allclose(ctx.ae.transform(ctx.data.X[:1]), ctx.ae.transform(ctx.data.X)[:1], rtol=1e-6, atol=1e-6)


def test_cli_linear_ica_fits_without_a_device(ctx, tmp_path):
    assert (
        main(
            [
                "fit",
                "linear_ica",
                "--data",
                str(ctx.dir / "data.npz"),
                "--out",
                str(tmp_path / "ica.pt"),
                "--param",
                "latent_dim=2",
            ]
        )
        == 0
    )
    np.testing.assert_allclose(causalrep.load(tmp_path / "ica.pt").transform(ctx.data.X), ctx.ica.transform(ctx.data.X))


# -- numerical health ---------------------------------------------------------------------


def test_divergence_names_the_term_the_epoch_and_the_step():
    calls = []

    def loss(module, x):
        calls.append(1)
        bad = torch.tensor(math.nan) if len(calls) == 6 else torch.zeros(())
        return {"fit": module(x).pow(2).mean(), "penalty": bad}

    with pytest.raises(
        TrainingDivergedError,
        match=r"^loss term 'penalty' became non-finite \(nan\) at epoch 1 "
        r"\(step 5\); lower the learning rate",
    ):
        train(
            torch.nn.Linear(2, 1),
            loss,
            (torch.ones(40, 2),),
            TrainConfig(batch_size=10, val_fraction=0.0, verbose=False),
            0,
            torch.device("cpu"),
        )


@pytest.mark.parametrize(
    "name,term",
    [
        ("InterventionalCRL", "reconstruction"),
        ("Autoencoder", "reconstruction"),
        ("BetaVAE", "negative_elbo"),
        ("IVAE", "negative_elbo"),
        ("CausalDiffAE", "diffusion|elbo"),
        ("Rep4Ex", "reconstruction|mmr"),
    ],
)
@pytest.mark.filterwarnings("ignore:Encountered NaN")  # Pyro's own notice of the divergence
def test_a_diverging_fit_names_its_loss_term(ctx, name, term):
    with pytest.raises(
        TrainingDivergedError,
        match=rf"^loss term '({term})' became non-finite \((nan|inf|-inf)\) at "
        r"epoch \d+ \((step \d+|on the validation part)\)",
    ):
        # InterventionalCRL's default stage 1 is solved exactly; its SGD path is the MLP's.
        extra = {"encoder": "mlp"} if name == "InterventionalCRL" else {}
        FACTORIES[name](lr=1e30, **extra).fit(ctx.rdata if name == "Rep4Ex" else ctx.data)


@pytest.mark.parametrize("name", ["InterventionalCRL", "Autoencoder", "LinearICA"])
def test_extreme_scales_identify_as_well_as_unit_scale(ctx, name):
    data = simulators.ahuja2023(latent_dim=2, obs_dim=8, degree=1, n_obs=200, n_int=200, seed=0)
    params = (
        {"max_steps": 100, "degree": 1}
        if name == "InterventionalCRL"
        else {"max_steps": 100}
        if name == "Autoencoder"
        else {}
    )
    scores = {}
    for factor in (1.0, 1e6, 1e-6):
        scaled = _scaled(data, factor)
        scores[factor] = affine_r2(data.Z, FACTORIES[name](**params).fit(scaled).transform(scaled.X)).mean
    assert scores[1.0] > 0.95, scores
    assert abs(scores[1e6] - scores[1.0]) < 1e-3 and abs(scores[1e-6] - scores[1.0]) < 1e-3, scores


def test_linear_ica_is_scale_free_across_the_float64_range():
    data = simulators.ahuja2023(latent_dim=2, obs_dim=8, degree=1, n_obs=200, n_int=200, seed=0)
    for factor in (1e-200, 1e200):
        scaled = _scaled(data, factor)
        assert affine_r2(data.Z, LinearICA(2).fit(scaled).transform(scaled.X)).mean > 0.999
