r"""Multi-terminal conductances and four-terminal resistances (docs/theory/spin_orbit_transport.md
section 7.1; Büttiker, Phys. Rev. Lett. 57, 1761 (1986) and IBM J. Res. Dev. 32, 317 (1988)).

A device with n terminals, each an ideal reservoir at potential V_j (U = V_j, S = 0 on its
surface), is linear: the currents into the device are I = G V with the n x n conductance matrix
G_ij = dI_i/dV_j (S). Charge conservation makes every column sum to zero (sum_i I_i = 0), and
a common shift of all V_j changes nothing (U = const, S = 0 is a solution: the spin Hall terms
see only gradients of U), so every row sums to zero too.

A four-terminal resistance R_{ij,kl} drives a current I in at terminal i and out at j, the
others floating (zero net current, the ideal voltmeter of Büttiker 1988), and reads V_k - V_l:
G V = I is solved with one terminal grounded (G is singular, its reduced matrix is not).
Reciprocity: G(m, B)^T = G(-m, -B) (section 2's discrete identity) gives
R_{kl,ij}(m, B) = R_{ij,kl}(-m, -B).

Pure numpy, no dolfinx: the model (fem_spin/models/valet_fert.py) fills G by one solve per
terminal and asks this module for the resistances.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np

from fem_spin.config import ConfigError

__all__ = ["Measurement", "parse_terminals", "parse_measurements", "terminal_voltages",
           "four_terminal_resistance", "onsager_asymmetry", "conservation_residual"]

_MEASUREMENT_KEYS = ("name", "current", "voltage")
_NAME = re.compile(r"^[A-Za-z0-9_\-]+$")


@dataclasses.dataclass(frozen=True)
class Measurement:
    """R = (V(plus) - V(minus)) / I for a current I in at ``source`` and out at ``drain``, the
    other terminals floating (indices into the terminal list)."""

    name: str
    source: int
    drain: int
    plus: int
    minus: int

    def column(self) -> str:
        return f"R_{self.name}_ohm"


def parse_terminals(terminals, key: str = "terminals") -> tuple[str, ...]:
    """The terminal names: at least two distinct facet-group names."""
    if not isinstance(terminals, (list, tuple)) or not all(isinstance(t, str) and t for t in terminals):
        raise ConfigError(key, f"must be a list of facet-group names (got {terminals!r})")
    if len(terminals) < 2:
        raise ConfigError(key, f"a multi-terminal device needs at least two terminals (got {list(terminals)})")
    seen = set()
    for t in terminals:
        if t in seen:
            raise ConfigError(key, f"terminal {t!r} is listed twice")
        seen.add(t)
    return tuple(terminals)


def _pair(value, terminals: tuple[str, ...], key: str, what: str) -> tuple[int, int]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2
            or not all(isinstance(v, str) for v in value)):
        raise ConfigError(key, f"must be [{what}] terminal names (got {value!r})")
    for v in value:
        if v not in terminals:
            raise ConfigError(key, f"{v!r} is not one of the terminals ({', '.join(terminals)})")
    if value[0] == value[1]:
        raise ConfigError(key, f"the two terminals must differ (got {list(value)})")
    return terminals.index(value[0]), terminals.index(value[1])


def parse_measurements(measurements, terminals: tuple[str, ...],
                       key: str = "measurements") -> tuple[Measurement, ...]:
    """Each measurement a table {current = [in, out], voltage = [plus, minus], name = "..."}
    (name default "m1", "m2", ...: results columns R_<name>_ohm)."""
    if not isinstance(measurements, (list, tuple)) or not measurements:
        raise ConfigError(key, "give at least one {current = [in, out], voltage = [plus, minus]}")
    out, names = [], set()
    for n, table in enumerate(measurements):
        k = f"{key}[{n}]"
        if not isinstance(table, dict):
            raise ConfigError(k, f"must be a table {{current = [in, out], voltage = [plus, minus]}} (got {table!r})")
        for field in table:
            if field not in _MEASUREMENT_KEYS:
                raise ConfigError(f"{k}.{field}", f"unknown key (known: {', '.join(_MEASUREMENT_KEYS)})")
        for field in ("current", "voltage"):
            if field not in table:
                raise ConfigError(f"{k}.{field}", "required")
        name = table.get("name", f"m{n + 1}")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{k}.name", f"must be letters, digits, '_' or '-' (got {name!r})")
        if name in names:
            raise ConfigError(f"{k}.name", f"{name!r} is used twice")
        names.add(name)
        source, drain = _pair(table["current"], terminals, f"{k}.current", "in, out")
        plus, minus = _pair(table["voltage"], terminals, f"{k}.voltage", "plus, minus")
        out.append(Measurement(name, source, drain, plus, minus))
    return tuple(out)


def terminal_voltages(G: np.ndarray, currents: np.ndarray, ground: int) -> np.ndarray:
    """V with G V = ``currents`` (into the device, summing to zero) and V[ground] = 0."""
    G = np.asarray(G, dtype=float)
    n = G.shape[0]
    keep = [k for k in range(n) if k != ground]
    V = np.zeros(n)
    V[keep] = np.linalg.solve(G[np.ix_(keep, keep)], np.asarray(currents, dtype=float)[keep])
    return V


def four_terminal_resistance(G: np.ndarray, m: Measurement) -> float:
    """R_{ij,kl} = (V_k - V_l)/I for I in at m.source, out at m.drain, the rest floating (Ohm)."""
    currents = np.zeros(len(G))
    currents[m.source], currents[m.drain] = 1.0, -1.0
    V = terminal_voltages(G, currents, m.drain)
    return float(V[m.plus] - V[m.minus])


def onsager_asymmetry(G_plus: np.ndarray, G_minus: np.ndarray) -> float:
    """max |G(m, B)^T - G(-m, -B)| / max |G| (0 for an exactly reciprocal pair)."""
    G_plus, G_minus = np.asarray(G_plus, dtype=float), np.asarray(G_minus, dtype=float)
    return float(np.abs(G_plus.T - G_minus).max() / np.abs(G_plus).max())


def conservation_residual(G: np.ndarray) -> tuple[float, float]:
    """(max |column sum|, max |row sum|) / max |G|: charge conservation and gauge invariance."""
    G = np.asarray(G, dtype=float)
    scale = np.abs(G).max()
    return float(np.abs(G.sum(axis=0)).max() / scale), float(np.abs(G.sum(axis=1)).max() / scale)
