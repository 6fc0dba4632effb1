"""Physics models, one module each. Importing registers their [model] schemas."""

from fem_spin.models.base import TransientProblem
from fem_spin.models.nuclear_diffusion import NuclearDiffusionConfig, NuclearDiffusionProblem

__all__ = ["TransientProblem", "NuclearDiffusionConfig", "NuclearDiffusionProblem"]
