"""Named sweeps: the settings, methods and seeds of each benchmark suite, as plain data."""

__all__ = ["SUITES"]


def _methods(d_steps, **overrides):
    """The five methods of the ahuja2023 suite, with shared sizes."""
    common = dict(overrides, verbose=0)
    return [
        {
            "name": "InterventionalCRL",
            "estimator": "interventional",
            "params": {**common, "max_steps": d_steps},
            "from_setting": ["latent_dim", "degree"],
        },
        {"name": "Autoencoder", "estimator": "autoencoder", "params": {**common, "max_steps": d_steps}},
        {"name": "BetaVAE", "estimator": "beta_vae", "params": {**common, "max_steps": d_steps}},
        {"name": "iVAE", "estimator": "ivae", "params": {**common, "max_steps": d_steps}},
        {"name": "LinearICA", "estimator": "linear_ica", "params": {"verbose": 0}},
    ]


def _ahuja_grid():
    settings = []
    for latents in ("uniform", "scm_sparse", "scm_dense"):
        for d, degree in ((6, 2), (6, 3), (10, 2), (10, 3)):
            # Degree 3 in 10 latents has 285 non-constant monomials: an
            # injective polynomial lift needs more than the paper's 200 dimensions.
            obs_dim = 300 if (d, degree) == (10, 3) else 200
            settings.append(
                {
                    "name": f"{latents} d={d} p={degree}",
                    "simulator": "ahuja2023",
                    "params": {
                        "latent_dim": d,
                        "obs_dim": obs_dim,
                        "degree": degree,
                        "latents": latents,
                        "n_obs": 10000,
                        "n_int": 10000,
                    },
                }
            )
    return settings


def _rep4ex_methods():
    """Rep4Ex against the baselines, each at its defaults; iVAE conditions on the actions."""
    quiet = {"verbose": 0}
    return [
        {"name": "Rep4Ex", "estimator": "rep4ex", "params": {**quiet, "n_bootstrap": 0}},  # one fit: no band needed
        {"name": "Autoencoder", "estimator": "autoencoder", "params": quiet},
        {"name": "BetaVAE", "estimator": "beta_vae", "params": quiet},
        {"name": "iVAE", "estimator": "ivae", "params": {**quiet, "auxiliary": "actions"}},
        {"name": "LinearICA", "estimator": "linear_ica", "params": quiet},
    ]


def _pendulum_methods():
    """CausalDiffAE with the scene's DAG and without it, and two baselines."""
    quiet = {"verbose": 0}
    return [
        {"name": "CausalDiffAE", "estimator": "causaldiffae", "params": quiet},
        {"name": "no causal layer", "estimator": "causaldiffae", "params": {**quiet, "latent_dim": 4, "graph": []}},
        {"name": "BetaVAE", "estimator": "beta_vae", "params": {**quiet, "latent_dim": 4}},
        {"name": "LinearICA", "estimator": "linear_ica", "params": {**quiet, "latent_dim": 4}},
    ]


#: Named sweeps. ``smoke`` takes seconds (for CI); ``ahuja2023`` is the
#: synthetic grid of Ahuja et al. (2023): uniform and sparse/dense linear-SCM
#: latents, d in {6, 10}, polynomial mixing of degree 2 or 3, 10k
#: observational and 10k interventional samples, every method at its defaults;
#: ``rep4ex`` scores the representations of Rep4Ex and the baselines on
#: :func:`simulators.rep4ex` (actions on (-1, 1), MLP or polynomial mixing);
#: ``pendulum`` the latents of CausalDiffAE, with and without its DAG, on
#: 32x32 pendulum images (hours on a CPU: meant for a GPU cluster).
SUITES = {
    "smoke": {
        "settings": [
            {
                "name": "uniform d=2",
                "simulator": "ahuja2023",
                "params": {
                    "latent_dim": 2,
                    "obs_dim": 8,
                    "degree": 2,
                    "latents": "uniform",
                    "n_obs": 200,
                    "n_int": 200,
                },
            }
        ],
        "methods": _methods(50, hidden=(16,), batch_size=128, restarts=1),
        "seeds": [0],
    },
    "ahuja2023": {
        "settings": _ahuja_grid(),
        "methods": _methods(6000),
        "seeds": [0, 1, 2],
    },
    "rep4ex": {
        "settings": [
            {
                "name": f"rep4ex {mixing} mixing",
                "simulator": "rep4ex",
                "params": {"latent_dim": 2, "action_dim": 2, "obs_dim": 10, "n": 10000, "mixing": mixing},
            }
            for mixing in ("mlp", "polynomial")
        ],
        "methods": _rep4ex_methods(),
        "seeds": [0, 1, 2],
    },
    "pendulum": {
        "settings": [{"name": "pendulum 32x32", "simulator": "pendulum", "params": {"n": 3000, "size": 32}}],
        "methods": _pendulum_methods(),
        "seeds": [0, 1, 2],
    },
}
