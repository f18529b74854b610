"""Property-test your own encoder with the strategies of causalrep.testing.

A claim such as "my encoder recovers independent non-Gaussian sources from any
invertible linear mixture, up to permutation and scaling" is a statement for
all inputs, so it is tested with hypothesis: draw the mixing and the sources,
fit, and assert the identification. When the claim is false, hypothesis
shrinks the failure to a small counterexample and prints it.

Here "your encoder" is whitening followed by a FastICA-style rotation
(causalrep.LinearICA); swap in your own `fit_encoder`. The same file runs
under pytest (`pytest examples/property_test_your_encoder.py`) or as a script.

    python examples/property_test_your_encoder.py [--examples 25]
"""

import argparse

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from causalrep import InterventionalData, LinearICA
from causalrep.testing import assert_identified, invertible_affine_maps


def fit_encoder(X, latent_dim, seed):
    """Your encoder: observations (n, dim_x) -> a function of X returning (n, latent_dim)."""
    est = LinearICA(latent_dim=latent_dim, seed=seed).fit(InterventionalData(X=X))
    return est.transform


def laplace_sources(d, n, seed):
    """Independent, non-Gaussian sources (n, d): what linear ICA needs."""
    return np.random.default_rng(seed).laplace(size=(n, d))


def check_recovers_sources(d, mixing, seed, n=3000):
    """The claim: sources mixed by any invertible affine map are recovered."""
    Z = laplace_sources(d, n, seed)
    encode = fit_encoder(mixing(Z), d, seed)
    assert_identified(Z, encode(mixing(Z)), up_to="permutation")


def recovers_sources(max_examples):
    """The claim as a hypothesis test that tries ``max_examples`` drawn inputs."""

    @settings(max_examples=max_examples, deadline=None)
    @given(data=st.data(), d=st.integers(2, 4), seed=st.integers(0, 2**16))
    def prop(data, d, seed):
        check_recovers_sources(d, data.draw(invertible_affine_maps(d)), seed)

    return prop


test_encoder_recovers_linearly_mixed_sources = recovers_sources(10)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=25, help="hypothesis examples to try")
    args = parser.parse_args(argv)
    recovers_sources(args.examples)()
    print(f"the encoder recovered the sources on all {args.examples} drawn mixings")


if __name__ == "__main__":
    main()
