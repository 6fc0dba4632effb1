"""Physics models, one module each. Importing registers their [model] schemas."""

from fem_spin.models.base import Problem, SteadyProblem, TransientProblem
from fem_spin.models.nuclear_diffusion import NuclearDiffusionConfig, NuclearDiffusionProblem
from fem_spin.models.onsager import OnsagerTransportConfig, OnsagerTransportProblem
from fem_spin.models.valet_fert import ValetFertConfig, ValetFertProblem

__all__ = ["Problem", "SteadyProblem", "TransientProblem", "NuclearDiffusionConfig", "NuclearDiffusionProblem",
           "ValetFertConfig", "ValetFertProblem", "OnsagerTransportConfig", "OnsagerTransportProblem"]
