"""The Onsager framework's checks without a mesh (fem_spin/physics/onsager.py;
docs/theory/onsager_framework.md section 1.7): a non-concave entropy and a singular conserved
map are rejected with a ModelError naming the key; the instance-1 entropy and map pass."""

from __future__ import annotations

import numpy as np
import pytest

from fem_spin.analytic import onsager as analytic
from fem_spin.errors import ModelError
from fem_spin.physics import onsager as framework


def _instance1_map(B, B_d=1e-4, mu=1.41e-26):
    """A of instance 1 in SI units (rows: moment, energy), at the fields B."""
    B = np.atleast_1d(B)
    out = np.zeros((len(B), 2, 2))
    out[:, 0, 1] = mu
    out[:, 1, 0] = mu * B_d
    out[:, 1, 1] = -mu * B
    return out


def test_sample_states_are_deterministic_and_span_the_space():
    a, b = framework.default_sample_states(3), framework.default_sample_states(3)
    assert np.array_equal(a, b)
    assert np.all(a[0] == 0) and a.shape[1] == 3
    assert np.linalg.matrix_rank(a) == 3
    assert 8 <= np.linalg.norm(a, axis=1).max() <= 12 + 1e-12


def test_the_single_species_entropy_is_strictly_concave():
    states = framework.default_sample_states(2)
    hessians = np.array([-analytic.covariance(w) for w in states])   # Hess psi = -C
    framework.check_entropy_concave(hessians, states, key="model.instance")


def test_saturation_is_not_a_flat_direction():
    """At large |Omega| the curvature of a bounded state decays as sech^2 w (1e-13 of the
    largest eigenvalue for a minority species at w = 8): accepted; negative is not."""
    states = framework.default_sample_states(2)
    hessians = np.array([-analytic.covariance(w) for w in states])
    hessians[5] = np.diag([1.0, 1e-16])
    framework.check_entropy_concave(hessians, states)
    hessians[5] = np.diag([1.0, -1e-6])
    with pytest.raises(ModelError, match="not strictly concave"):
        framework.check_entropy_concave(hessians, states)


@pytest.mark.parametrize("case", ["indefinite", "semidefinite", "not_finite", "asymmetric"])
def test_a_non_concave_entropy_is_rejected_naming_the_key(case):
    states = framework.default_sample_states(2)
    hessians = np.array([-analytic.covariance(w) for w in states])
    if case == "indefinite":          # psi = |Omega_1|^2/2 - |Omega_2|^2/2 at the fifth state
        hessians[5] = np.diag([1.0, -1.0])
    elif case == "semidefinite":      # a flat direction at infinite temperature: C singular
        hessians[0] = np.diag([1.0, 0.0])
    elif case == "not_finite":
        hessians[3, 0, 0] = np.nan
    else:
        hessians[2, 0, 1] += 1.0
    with pytest.raises(ModelError) as info:
        framework.check_entropy_concave(hessians, states, key="model.instance")
    assert info.value.key == "model.instance"
    assert str(info.value).startswith("model.instance: ")
    if case in ("indefinite", "semidefinite"):
        assert "not strictly concave" in str(info.value)
        at = 5 if case == "indefinite" else 0
        assert np.array2string(states[at], precision=3) in str(info.value)


def test_the_instance1_map_is_regular_at_any_field_and_scale():
    framework.check_conserved_map(_instance1_map(np.linspace(-3, 3, 7)), key="model.dipolar_field")
    # the test is relative: mu ~ 1e-26 and mu B_d ~ 1e-30 are not "small"
    framework.check_conserved_map(_instance1_map([0.1], B_d=1e-7, mu=1e-30))


@pytest.mark.parametrize("case", ["dependent_rows", "zero_row", "one_node"])
def test_a_singular_map_is_rejected_naming_the_key(case):
    A = _instance1_map(np.linspace(0, 1, 5))
    if case == "dependent_rows":      # energy proportional to moment: B_d = 0
        A[:, 1, 0] = 0.0
    elif case == "zero_row":
        A[:, 0, :] = 0.0
    else:                              # singular at one node only
        A[3, 1] = 2.5 * A[3, 0]
    where = np.column_stack([np.linspace(0, 1, 5), np.zeros(5), np.zeros(5)])
    with pytest.raises(ModelError) as info:
        framework.check_conserved_map(A, key="model.dipolar_field", where=where)
    assert info.value.key == "model.dipolar_field" and "singular" in str(info.value)
    if case == "one_node":
        assert "at x = [0.75" in str(info.value)


def test_a_system_states_a_square_map_and_positive_rates():
    kwargs = dict(components=("a", "b"), quantities=("p", "q"), massieu=lambda w: w,
                  conserved_map=((1.0, 0.0), (0.0, 1.0)), quantity_scales=(1.0, 1.0),
                  channel_rates=(1.0, 1.0), transport=None, keys={"conserved_map": "model.k"})
    assert framework.OnsagerSystem(**kwargs).size == 2
    with pytest.raises(ModelError, match="must be square"):
        framework.OnsagerSystem(**{**kwargs, "quantities": ("p",)})
    with pytest.raises(ModelError, match="2 x 2"):
        framework.OnsagerSystem(**{**kwargs, "conserved_map": ((1.0,), (0.0, 1.0))})
    with pytest.raises(ModelError, match="> 0"):
        framework.OnsagerSystem(**{**kwargs, "channel_rates": (1.0, 0.0)})
