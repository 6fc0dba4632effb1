"""The multi-terminal algebra of fem_spin/models/terminals.py (note section 7.1): four-terminal
resistances of a resistor star against Kirchhoff by hand, Büttiker's reciprocity
R_{kl,ij}(G^T) = R_{ij,kl}(G) for a nonreciprocal G, and the configuration's checks."""

from __future__ import annotations

import numpy as np
import pytest

from fem_spin.config import ConfigError
from fem_spin.models.terminals import (Measurement, conservation_residual, four_terminal_resistance,
                                       onsager_asymmetry, parse_measurements, parse_terminals)


def star(resistances) -> np.ndarray:
    """G of terminals joined to one inner node by resistors r_i: the inner node eliminated
    (Schur complement of the nodal Laplacian)."""
    g = 1 / np.asarray(resistances, dtype=float)
    return np.diag(g) - np.outer(g, g) / g.sum()


def test_star_resistances_match_kirchhoff():
    r = [1.0, 2.0, 5.0, 7.0]
    G = star(r)
    assert max(conservation_residual(G)) < 1e-15
    # in at 0, out at 1: R_2t = r0 + r1; a floating terminal reads the inner node
    assert four_terminal_resistance(G, Measurement("a", 0, 1, 0, 1)) == pytest.approx(r[0] + r[1], rel=1e-12)
    assert four_terminal_resistance(G, Measurement("b", 0, 1, 2, 1)) == pytest.approx(r[1], rel=1e-12)
    assert four_terminal_resistance(G, Measurement("c", 0, 1, 2, 3)) == pytest.approx(0.0, abs=1e-12)
    assert four_terminal_resistance(G, Measurement("d", 0, 1, 0, 2)) == pytest.approx(r[0], rel=1e-12)


def test_buttiker_reciprocity_of_a_nonreciprocal_conductance():
    rng = np.random.default_rng(3)
    G = star([1.0, 3.0, 2.0, 4.0])
    # an antisymmetric part with zero row and column sums (a Hall-like, B- or m-odd coupling)
    a = rng.standard_normal((4, 4))
    a = a - a.T
    a -= a.mean(axis=0, keepdims=True) + a.mean(axis=1, keepdims=True) - a.mean()
    a = 0.1 * (a - a.T) / 2
    G_plus, G_minus = G + a, G - a          # G(m) and G(-m) = G(m)^T
    assert onsager_asymmetry(G_plus, G_minus) < 1e-15
    assert onsager_asymmetry(G_plus, G_plus) > 1e-3
    forward = Measurement("f", 0, 1, 2, 3)
    reverse = Measurement("r", 2, 3, 0, 1)
    r_f_plus, r_r_minus = four_terminal_resistance(G_plus, forward), four_terminal_resistance(G_minus, reverse)
    assert r_r_minus == pytest.approx(r_f_plus, rel=1e-12)
    assert four_terminal_resistance(G_plus, reverse) != pytest.approx(r_f_plus, rel=1e-3)


def test_configuration_checks_name_the_key():
    terminals = parse_terminals(["a", "b", "c"])
    m = parse_measurements([{"current": ["a", "b"], "voltage": ["c", "b"]}, {"name": "x", "current": ["c", "a"],
                                                                            "voltage": ["a", "b"]}], terminals)
    assert m[0] == Measurement("m1", 0, 1, 2, 1) and m[1].column() == "R_x_ohm"
    for bad, key in [(["a", "a"], "terminals"), ("a", "terminals"), ([], "terminals")]:
        with pytest.raises(ConfigError, match=f"^{key}:"):
            parse_terminals(bad)
    for bad, key in [([{"current": ["a", "d"], "voltage": ["a", "b"]}], r"measurements\[0\]\.current"),
                     ([{"current": ["a", "b"]}], r"measurements\[0\]\.voltage"),
                     ([{"current": ["a", "b"], "voltage": ["a", "b"], "name": "x y"}], r"measurements\[0\]\.name"),
                     ([{"name": "x", "current": ["a", "b"], "voltage": ["a", "b"]}] * 2, r"measurements\[1\]\.name"),
                     ("x", "measurements")]:
        with pytest.raises(ConfigError, match=f"^{key}:"):
            parse_measurements(bad, terminals)
