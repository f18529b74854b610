"""Simulators of latent causal models and the observations they generate.

Graphs (:mod:`~simulators.graphs`) carry a latent SCM
(:mod:`~simulators.scm`); interventions (:mod:`~simulators.interventions`)
change some of its mechanisms; a mixing (:mod:`~simulators.mixing`) maps the
latents to observations; :mod:`~simulators.settings` puts the pieces together
into :class:`causalrep.InterventionalData`, including the synthetic settings
of published papers; :data:`SETTINGS` names every ready-made setting.
"""

from .contrastive_crl import contrastive_crl
from .graphs import chain, check_dag, collider, erdos_renyi, fork, fully_connected, scale_free
from .images import morpho_counterfactual, morpho_digits, pendulum, pendulum_counterfactual
from .interventions import Intervention, do, shift, soft
from .light_tunnel import LIGHT_TUNNEL_INPUTS, light_tunnel
from .mixing import LinearMixing, MLPMixing, PolynomialMixing, RandomMLPMixing
from .multienv import multienv, multienv_noise
from .registry import SETTINGS, setting
from .rep4ex import rep4ex, rep4ex_truth
from .scm import LatentSCM
from .settings import ahuja2023, interventional

__all__ = [
    "check_dag",
    "erdos_renyi",
    "scale_free",
    "chain",
    "fork",
    "collider",
    "fully_connected",
    "LatentSCM",
    "Intervention",
    "do",
    "shift",
    "soft",
    "LinearMixing",
    "PolynomialMixing",
    "MLPMixing",
    "RandomMLPMixing",
    "interventional",
    "ahuja2023",
    "contrastive_crl",
    "rep4ex",
    "rep4ex_truth",
    "multienv",
    "multienv_noise",
    "pendulum",
    "pendulum_counterfactual",
    "morpho_digits",
    "morpho_counterfactual",
    "light_tunnel",
    "LIGHT_TUNNEL_INPUTS",
    "SETTINGS",
    "setting",
]
