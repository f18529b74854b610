r"""Judge estimated latents against true ones: pure functions on arrays.

Every function takes ``z_true`` of shape (n, d) and ``z_hat`` of shape (n, k),
numpy or torch (a 1-d array is read as one column), and is out-of-sample by
default: whatever is fitted, a matching or a regression, is fitted on one part
of the rows and scored on the other.

* :func:`mcc`: mean correlation coefficient with Hungarian matching.
* :func:`affine_r2`: R2 of the best affine map from ``z_hat`` to ``z_true``.
* :func:`permutation_scaling_r2`: R2 of each latent from its matched coordinate alone.
* :func:`block_r2`: R2 of blocks of latents from their assigned coordinates.
* :func:`dci`: disentanglement, completeness, informativeness.
* :func:`mig`, :func:`sap`, :func:`modularity_explicitness`, :func:`infomec`:
  information-based disentanglement scores for continuous latents.
* :func:`structural_hamming_distance`: learned against true latent graph,
  after matching; :func:`amari_distance`: linear maps against scaled
  permutations.
* :func:`check` / :func:`assert_identified`: a verdict up to a class of maps.
"""

from causalrep.identifiability.dci import DCIResult, dci
from causalrep.identifiability.disentanglement import (
    InfoMECResult,
    MIGResult,
    ModularityExplicitnessResult,
    MutualInformation,
    SAPResult,
    infomec,
    mig,
    modularity_explicitness,
    mutual_information,
    sap,
)
from causalrep.identifiability.graph_metrics import (
    GraphDistance,
    amari_distance,
    structural_hamming_distance,
)
from causalrep.identifiability.metrics import (
    AffineR2Result,
    BlockR2Result,
    MCCResult,
    PermutationScalingR2Result,
    affine_r2,
    block_r2,
    mcc,
    permutation_scaling_r2,
)
from causalrep.identifiability.report import (
    DEFAULT_THRESHOLDS,
    UP_TO,
    Criterion,
    DisentanglementScores,
    Report,
    assert_identified,
    check,
)

__all__ = [
    "mcc",
    "affine_r2",
    "permutation_scaling_r2",
    "block_r2",
    "dci",
    "check",
    "assert_identified",
    "Report",
    "Criterion",
    "MCCResult",
    "AffineR2Result",
    "PermutationScalingR2Result",
    "BlockR2Result",
    "DCIResult",
    "mutual_information",
    "mig",
    "sap",
    "modularity_explicitness",
    "infomec",
    "structural_hamming_distance",
    "amari_distance",
    "MutualInformation",
    "MIGResult",
    "SAPResult",
    "ModularityExplicitnessResult",
    "InfoMECResult",
    "GraphDistance",
    "DisentanglementScores",
    "UP_TO",
    "DEFAULT_THRESHOLDS",
]
