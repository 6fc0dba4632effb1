"""Physics models, one module each. Importing registers their [model] schemas."""

from fem_spin.models.base import Problem, SteadyProblem, TransientProblem
from fem_spin.models.nuclear_diffusion import NuclearDiffusionConfig, NuclearDiffusionProblem
from fem_spin.models.onsager import OnsagerTransportConfig, OnsagerTransportProblem
from fem_spin.models.valet_fert import ValetFertConfig, ValetFertProblem
from fem_spin.models.triplet_dnp import TripletDNPConfig, TripletDNPProblem
import fem_spin.models.longitudinal_relaxation  # noqa: F401  (registers its [model] type)
import fem_spin.models.onsager_framework  # noqa: F401  (registers its [model] type)

__all__ = ["Problem", "SteadyProblem", "TransientProblem", "NuclearDiffusionConfig", "NuclearDiffusionProblem",
           "ValetFertConfig", "ValetFertProblem", "OnsagerTransportConfig", "OnsagerTransportProblem",
           "TripletDNPConfig", "TripletDNPProblem"]
