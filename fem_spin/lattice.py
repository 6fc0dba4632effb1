r"""Spin-diffusion tensor D0 and dipolar second moment M2 from a crystal structure.

Implements ``physics.md`` section 1.4: a rate-equation (Lowe–Gade / Redfield-type)
estimate of the high-temperature spin-diffusion tensor from nuclear coordinates, with
flip-flop rates from the secular dipolar couplings and a Gaussian zero-quantum line of
the Van Vleck second moment. SI units throughout (m, s, T, rad/s).

Equations (species I with gyromagnetic ratio :math:`\gamma`, spin I; field along the
unit vector **n**; :math:`\theta_{ij}` the angle between :math:`\mathbf r_{ij}` and **n**)

* Van Vleck second moment of spin i (rad^2/s^2), like spins I and unlike spins S (e.g. the
  2H that replace 1H in a partially deuterated crystal)::

      M2_II(i) = (3/4) (mu0/4pi)^2 gamma_I^4 hbar^2 I(I+1)            sum_j (1 - 3 cos^2 theta_ij)^2 / r_ij^6
      M2_IS(i) = (1/3) (mu0/4pi)^2 gamma_I^2 gamma_S^2 hbar^2 S(S+1)  sum_k (1 - 3 cos^2 theta_ik)^2 / r_ik^6
      M2(i)    = M2_II(i) + M2_IS(i)

* Secular like-spin coupling, written :math:`H_{ij}/\hbar = b_{ij}(3I_{zi}I_{zj} - \mathbf I_i\cdot\mathbf I_j)`::

      b_ij = (mu0/4pi) gamma^2 hbar (1 - 3 cos^2 theta_ij) / (2 r_ij^3)        (rad/s)

  Its flip-flop part is :math:`-(b_{ij}/2)(I^+_iI^-_j + I^-_iI^+_j)`; for I = 1/2 the matrix
  element between |up,down> and |down,up> is b_ij/2.
* Flip-flop (polarization-exchange) rate from Fermi's golden rule with the zero-quantum
  line :math:`g_{ij}` (normalised in angular frequency, :math:`\int g\,d\omega = 1`)::

      W_ij   = 2 pi (b_ij/2)^2 g_ij(0) * (4/3) I(I+1) = (pi/2) b_ij^2 g_ij(0) * (4/3) I(I+1)
      g_ij(0) = 1 / sqrt(2 pi (M2(i) + M2(j)))          (Gaussian, convolution of the two lines)

  so that :math:`d\langle I_{zi}\rangle/dt = \sum_j W_{ij}(\langle I_{zj}\rangle - \langle I_{zi}\rangle)`.
  The factor (4/3) I(I+1) is the high-temperature generalisation to I > 1/2 (it is 1 for
  I = 1/2); quadrupolar splittings, which would quench flip-flops of I > 1/2 spins, are
  ignored. The zero-quantum line is taken Gaussian with the full Van Vleck M2 of each spin.
* Continuum limit of the rate equation (the diffusion tensor, m^2/s)::

      D_ab = (1/2) sum_j W_0j r_a r_b          (r = r_j - r_0)

  averaged over all sites 0 of the element in the unit cell (inequivalent sites differ).
* Polarization dependence (physics.md 1.1): M2(P) = M2(0) (1 - P^2), hence
  D(P) = D(0) / sqrt(1 - P^2) = D(0) f(P).

Lattice sums are done numerically over all sites within a sphere and completed by the
continuum tail beyond it (density n of the partners)::

      sum_{r>rc} (1 - 3cos^2)^2 / r^6  ~  (4 pi n / 3) rc^-3 * (4/5)
      sum_{r>rc} r^-6                  ~  (4 pi n / 3) rc^-3
      (1/2) sum_{r>rc} W r_a r_b       ~  (n/2) K_W <g(0)> rc^-1 (4 pi / 105) (20 delta_ab + 24 n_a n_b)

with K_W = (4/3) I(I+1) (pi/2) [(mu0/4pi) gamma^2 hbar / 2]^2 and <g(0)> averaged over the
partners in the outer half of the sphere. The D sum converges only as 1/rc, so the tail
matters; the M2 sums converge as rc^-3. Cut-off radii are given in units of the mean spin
spacing n^(-1/3) (defaults 5 for M2 and 6 for D; with the tails the truncation error is
< 1e-4 relative for M2 and < 1e-3 for D on the lattices of ``tests/unit/test_lattice.py``).

Partially deuterated samples (random isotope dilution): each site of the element carries
the species with probability c (``abundance``) and the other isotope otherwise. Spin 0 sits
on an occupied site (configuration k puts it on site k mod N_sites of the cell); every
configuration is drawn independently (numpy Generator, seeded) inside a sphere of radius
r_D + r_M2 around it; the local M2 of spin 0 and of each partner j is computed from the
same configuration (cKDTree neighbour search); D is the mean over configurations (site
strata weighted equally), with its standard error. The reported M2 is the exact
configurational average c M2_II(all sites) + (1 - c) M2_IS(all sites). For small c and no
unlike broadening D ~ n^(1/3) (n = c * site density: a dilute random set is scale
invariant, b ~ r^-3, local line width ~ r^-3, W ~ r^-3, D ~ W r^2). With unlike
broadening (2H) the line width stops shrinking, and D ~ c once c M2_II(all) << M2_IS.
At c = 1 the random path reproduces the lattice result. Only the nuclei of the chosen
element are considered (13C, 14N, ... are ignored).

The Cartesian frame of a :class:`Structure` is that of its ``cell`` matrix; for CIF and
:func:`from_parameters` structures it is the standard one (x along a, y in the a-b plane,
z along c*), for :func:`simple_lattice` the cubic axes. Field directions are given in that
frame (:meth:`Structure.lattice_direction` converts [uvw]).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from fem_spin.config import ConfigError

__all__ = [
    "MU0",
    "HBAR",
    "Nucleus",
    "NUCLEI",
    "nucleus",
    "Site",
    "Structure",
    "simple_lattice",
    "from_parameters",
    "read_cif",
    "lattice_sums",
    "second_moment",
    "StructureEstimate",
    "estimate_D",
    "estimate_from_spec",
    "write_json",
    "SPEC_KEYS",
]

MU0 = 1.25663706212e-6          # vacuum permeability, N/A^2 (CODATA 2018)
HBAR = 1.054571817e-34          # reduced Planck constant, J s (CODATA 2018)
_MU0_4PI = MU0 / (4.0 * math.pi)


# --------------------------------------------------------------------------- nuclear data
@dataclass(frozen=True)
class Nucleus:
    """A magnetic isotope: ``gamma`` in rad/(s T), ``spin`` I, natural ``abundance`` (0..1)."""

    label: str
    element: str
    spin: float
    gamma: float
    abundance: float


# gamma: CODATA 2018 for 1H and 2H, IUPAC (Harris et al., Pure Appl. Chem. 73, 1795 (2001))
# for the others; natural abundances from the same IUPAC table.
NUCLEI: dict[str, Nucleus] = {n.label: n for n in (
    Nucleus("1H", "H", 0.5, 2.6752218744e8, 0.999885),
    Nucleus("2H", "H", 1.0, 4.10662791e7, 0.000115),
    Nucleus("6Li", "Li", 1.0, 3.9371709e7, 0.0759),
    Nucleus("7Li", "Li", 1.5, 10.3977013e7, 0.9241),
    Nucleus("13C", "C", 0.5, 6.728284e7, 0.0107),
    Nucleus("14N", "N", 1.0, 1.9337792e7, 0.99636),
    Nucleus("15N", "N", 0.5, -2.71261804e7, 0.00364),
    Nucleus("19F", "F", 0.5, 25.18148e7, 1.0),
    Nucleus("29Si", "Si", 0.5, -5.3190e7, 0.046832),
    Nucleus("31P", "P", 0.5, 10.8394e7, 1.0),
)}

_ELEMENT_ALIASES = {"D": "H", "T": "H"}


def nucleus(label: str) -> Nucleus:
    """The table entry for ``label`` ("1H", "H1", "H-1", "D", "19F", ...); ValueError if unknown."""
    text = str(label).strip()
    if text in ("D", "d"):
        text = "2H"
    m = re.fullmatch(r"(\d+)-?([A-Za-z]{1,2})|([A-Za-z]{1,2})-?(\d+)", text)
    if m:
        mass, sym = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        text = f"{int(mass)}{sym.capitalize()}"
    if text not in NUCLEI:
        raise ValueError(f"unknown species {label!r} (known: {', '.join(NUCLEI)})")
    return NUCLEI[text]


def _partner_isotope(nuc: Nucleus) -> Nucleus | None:
    """The other magnetic isotope of the same element in the table, if there is exactly one."""
    others = [n for n in NUCLEI.values() if n.element == nuc.element and n.label != nuc.label]
    return others[0] if len(others) == 1 else None


def _element_symbol(label: str) -> str:
    """Element symbol of a site label: "H", "D", "1H", "H1A", "19F", "Li2" -> "H", "H", "H", "H", "F", "Li"."""
    import gemmi

    text = str(label).strip()
    try:
        return nucleus(text).element
    except ValueError:
        pass
    m = re.match(r"\d*([A-Za-z]+)", text)
    letters = m.group(1) if m else text
    two = letters[:2].capitalize()
    sym = two if len(two) == 2 and gemmi.Element(two).name == two else letters[:1].upper()
    return _ELEMENT_ALIASES.get(sym, sym)


# --------------------------------------------------------------------------- structures
@dataclass(frozen=True)
class Site:
    """One atom of the unit cell: element symbol, fractional coordinates, CIF label, occupancy."""

    element: str
    fract: tuple[float, float, float]
    label: str = ""
    occupancy: float = 1.0


@dataclass
class Structure:
    """A periodic structure: ``cell`` rows are the lattice vectors a, b, c (m, Cartesian);
    ``sites`` fill one unit cell (symmetry already expanded)."""

    cell: np.ndarray
    sites: list[Site]
    name: str = ""
    source: str | None = None     # file it came from (named in error messages)

    def __post_init__(self):
        self.cell = np.asarray(self.cell, dtype=float).reshape(3, 3)
        self.sites = [s if isinstance(s, Site) else Site(_element_symbol(s[0]), tuple(map(float, s[1])))
                      for s in self.sites]

    @property
    def volume(self) -> float:
        """Unit-cell volume (m^3)."""
        return abs(float(np.linalg.det(self.cell)))

    def element_sites(self, element: str) -> list[Site]:
        """The sites of one element (symbol, e.g. "H"; isotope labels are reduced to it)."""
        el = _element_symbol(element)
        return [s for s in self.sites if s.element == el]

    def site_density(self, element: str) -> float:
        """Number density of the element's sites (1/m^3)."""
        return len(self.element_sites(element)) / self.volume

    def lattice_direction(self, u: float, v: float, w: float) -> np.ndarray:
        """Cartesian unit vector along the lattice direction [uvw] = u a + v b + w c."""
        vec = np.array([u, v, w], dtype=float) @ self.cell
        return vec / np.linalg.norm(vec)

    def plane_normal(self, h: float, k: float, l: float) -> np.ndarray:
        """Cartesian unit normal of the lattice plane (hkl)."""
        vec = np.linalg.inv(self.cell) @ np.array([h, k, l], dtype=float)
        return vec / np.linalg.norm(vec)


def _err(key: str, message: str, file: str | None = None) -> ConfigError:
    return ConfigError(key, message, file=file)


def _cell_matrix(a: float, b: float, c: float, alpha: float, beta: float, gamma: float) -> np.ndarray:
    """Rows a, b, c in the standard orthogonalisation (x along a, y in the a-b plane, z along c*)."""
    ca, cb, cg = (math.cos(math.radians(x)) for x in (alpha, beta, gamma))
    sg = math.sin(math.radians(gamma))
    cy = (ca - cb * cg) / sg
    cz2 = 1.0 - cb * cb - cy * cy
    angles_ok = all(0.0 < x < 180.0 for x in (alpha, beta, gamma))
    if not (a > 0 and b > 0 and c > 0) or not angles_ok or sg <= 0 or cz2 <= 0:
        raise ValueError(f"no unit cell with a, b, c = {a}, {b}, {c} and alpha, beta, gamma = "
                         f"{alpha}, {beta}, {gamma} deg")
    return np.array([[a, 0.0, 0.0], [b * cg, b * sg, 0.0], [c * cb, c * cy, c * math.sqrt(cz2)]])


def simple_lattice(kind: str, a: float, species: str) -> Structure:
    """A cubic Bravais lattice ("sc", "bcc" or "fcc") of conventional constant ``a`` (m) whose
    sites carry ``species`` (e.g. "19F"). Uses the primitive cell (one site); the Cartesian
    axes are the cubic axes."""
    kinds = {
        "sc": np.eye(3),
        "bcc": 0.5 * np.array([[-1.0, 1, 1], [1, -1, 1], [1, 1, -1]]),
        "fcc": 0.5 * np.array([[0.0, 1, 1], [1, 0, 1], [1, 1, 0]]),
    }
    if kind not in kinds:
        raise _err("lattice", f"unknown lattice {kind!r} (expected one of sc, bcc, fcc)")
    if not (isinstance(a, (int, float)) and not isinstance(a, bool) and a > 0 and math.isfinite(a)):
        raise _err("lattice_constant", f"must be a length > 0 in m (got {a!r})")
    try:
        element = nucleus(species).element
    except ValueError as exc:
        raise _err("species", str(exc)) from None
    return Structure(kinds[kind] * float(a), [Site(element, (0.0, 0.0, 0.0), element)],
                     name=f"{kind} lattice, a = {a:.6g} m")


def from_parameters(a: float, b: float, c: float, alpha: float, beta: float, gamma: float,
                    sites: Iterable[Site | tuple[str, Sequence[float]]], name: str = "") -> Structure:
    """A structure from cell parameters (lengths in m, angles in degrees) and the sites of the
    whole cell, given as :class:`Site` or ``(element, (x, y, z))`` with fractional coordinates."""
    try:
        cell = _cell_matrix(a, b, c, alpha, beta, gamma)
    except ValueError as exc:
        raise _err("cell", str(exc)) from None
    out = []
    for s in sites:
        if isinstance(s, Site):
            out.append(s)
            continue
        label, xyz = s
        xyz = tuple(float(x) for x in xyz)
        if len(xyz) != 3 or not all(math.isfinite(x) for x in xyz):
            raise _err("sites", f"site {label!r}: expected three finite fractional coordinates")
        out.append(Site(_element_symbol(label), xyz, str(label)))
    if not out:
        raise _err("sites", "no sites given")
    return Structure(cell, out, name=name)


def _symops_from_block(block) -> list[str]:
    import gemmi

    for tag in ("_space_group_symop_operation_xyz", "_symmetry_equiv_pos_as_xyz",
                "_space_group_symop.operation_xyz", "_symmetry_equiv.pos_as_xyz"):
        values = list(block.find_values(tag))
        if values:
            return [gemmi.cif.as_string(v) for v in values]
    return []


def read_cif(path: str | Path, *, block: str | None = None, key: str = "structure") -> Structure:
    """Read a small-molecule CIF with gemmi and expand the symmetry to the full unit cell.

    The cell (``_cell_length_*``, ``_cell_angle_*``), the atom sites (``_atom_site_fract_*``)
    and the symmetry (``_space_group_symop_operation_xyz`` / ``_symmetry_equiv_pos_as_xyz``,
    else the space-group name) are required; anything missing or malformed raises
    :class:`~fem_spin.config.ConfigError` with ``key`` and the file name. Deuterium sites
    ("D") count as hydrogen sites.
    """
    import gemmi

    path = Path(path)
    fname = str(path)
    if not path.is_file():
        raise _err(key, "no such CIF file", fname)
    try:
        doc = gemmi.cif.read(fname)
    except Exception as exc:  # gemmi raises ValueError/RuntimeError with a position
        msg = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise _err(key, f"not a readable CIF file ({msg.replace(fname + ':', 'line ')})", fname) from None
    blocks = list(doc)
    if not blocks:
        raise _err(key, "no data block (data_...) in the CIF file", fname)
    if block is not None:
        chosen = doc.find_block(block)
        if chosen is None:
            raise _err(key, f"no data block {block!r} (blocks: {', '.join(b.name for b in blocks)})",
                       fname)
    else:
        with_sites = [b for b in blocks if b.find_values("_atom_site_fract_x")]
        if not with_sites:
            raise _err(key, "no atom sites (_atom_site_fract_x/y/z) in any data block", fname)
        chosen = with_sites[0]
    params = []
    for tag in ("_cell_length_a", "_cell_length_b", "_cell_length_c",
                "_cell_angle_alpha", "_cell_angle_beta", "_cell_angle_gamma"):
        raw = chosen.find_value(tag)
        if raw is None:
            raise _err(key, f"missing {tag} (the unit cell is required)", fname)
        value = gemmi.cif.as_number(raw)
        if not math.isfinite(value):
            raise _err(key, f"{tag} is not a number (got {raw!r})", fname)
        params.append(value)
    try:
        cell = _cell_matrix(*params) * 1e-10
    except ValueError as exc:
        raise _err(key, f"{exc} (lengths in Angstrom)", fname) from None
    try:
        small = gemmi.make_small_structure_from_block(chosen)
    except Exception as exc:
        raise _err(key, f"cannot read the atom sites ({exc})", fname) from None
    if len(small.sites) == 0:
        raise _err(key, "no atom sites (_atom_site_fract_x/y/z)", fname)
    for s in small.sites:
        f = s.fract
        if not all(math.isfinite(x) for x in (f.x, f.y, f.z)):
            raise _err(key, f"atom site {s.label!r}: fractional coordinates are not numbers", fname)
    op_strings = _symops_from_block(chosen)
    ops = []
    for text in op_strings:
        try:
            ops.append(gemmi.Op(text))
        except Exception:
            raise _err(key, f"bad symmetry operation {text!r}", fname) from None
    use_gemmi = True
    if ops:  # the explicit operations are authoritative; gemmi expands them if it knows the group
        group = gemmi.find_spacegroup_by_ops(gemmi.GroupOps(ops))
        if group is not None:
            small.spacegroup_hm = group.xhm()
        else:
            use_gemmi = False
    elif small.find_spacegroup() is None:
        raise _err(key, "no symmetry information (give _space_group_symop_operation_xyz or a "
                        "space-group name; use 'P 1' if the sites already fill the cell)", fname)
    if use_gemmi:
        small.setup_cell_images()
        expanded = [(s.element.name, (s.fract.x, s.fract.y, s.fract.z), s.label, s.occ)
                    for s in small.get_all_unit_cell_sites()]
    else:  # a symmetry-operation list gemmi has no table entry for: expand by hand
        expanded = _expand(small.sites, ops, cell)
    sites = [Site(_element_symbol(el), tuple(float(x) % 1.0 for x in xyz), lab, float(occ))
             for el, xyz, lab, occ in expanded]
    return Structure(cell, sites, name=chosen.name, source=fname)


def _expand(sites, ops, cell: np.ndarray, tol: float = 0.05e-10) -> list:
    """All images of ``sites`` under ``ops``, wrapped into the cell, duplicates (< tol) removed."""
    out: list = []
    kept: list[np.ndarray] = []
    for s in sites:
        for op in ops:
            f = np.array(op.apply_to_xyz([s.fract.x, s.fract.y, s.fract.z])) % 1.0
            dup = False
            for g in kept:
                d = f - g
                d -= np.round(d)
                if np.linalg.norm(d @ cell) < tol:
                    dup = True
                    break
            if not dup:
                kept.append(f)
                out.append((s.element.name, tuple(f), s.label, s.occ))
    return out


# --------------------------------------------------------------------------- lattice machinery
class _Block:
    """The periodic images of the element's basis in a block of cells covering a sphere."""

    def __init__(self, cell: np.ndarray, fract: np.ndarray, radius: float):
        self.cell = cell
        self.fract = np.mod(fract, 1.0)
        recip = np.linalg.inv(cell).T                  # rows: reciprocal vectors (no 2 pi)
        self.n = np.ceil(radius * np.linalg.norm(recip, axis=1)).astype(int) + 1
        self.dims = 2 * self.n + 1
        self.nb = len(fract)
        self.size = int(np.prod(self.dims)) * self.nb

    def origin_index(self, s0: int) -> int:
        i, j, k = self.n
        return int(((i * self.dims[1] + j) * self.dims[2] + k) * self.nb + s0)

    def decode(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cartesian positions (relative to the home cell origin) and basis indices."""
        s = idx % self.nb
        rest = idx // self.nb
        k = rest % self.dims[2]
        rest //= self.dims[2]
        j = rest % self.dims[1]
        i = rest // self.dims[1]
        cells = np.stack([i - self.n[0], j - self.n[1], k - self.n[2]], axis=1)
        return (self.fract[s] + cells) @ self.cell, s


def _angular(vec: np.ndarray, dist: np.ndarray, n: np.ndarray) -> np.ndarray:
    """(1 - 3 cos^2 theta)^2 with cos theta = vec . n / dist."""
    cos = (vec @ n) / dist
    return (1.0 - 3.0 * cos * cos) ** 2


def lattice_sums(structure: Structure, element: str, field_direction: Sequence[float] | None = None,
                 cutoff: float = 20e-10, tail: bool = True) -> np.ndarray:
    """Per-site lattice sums over the other sites of ``element`` within ``cutoff`` (m):
    sum r^-6 if ``field_direction`` is None, else sum (1 - 3 cos^2 theta)^2 r^-6 (1/m^6).

    With ``tail`` the continuum remainder beyond the cutoff is added. Returns one value per
    site of the element in the cell."""
    fract = np.array([s.fract for s in structure.element_sites(element)], dtype=float)
    if len(fract) == 0:
        raise _err("species", f"no {_element_symbol(element)} sites in the structure", structure.source)
    n_vec = None if field_direction is None else _unit(field_direction)
    blk = _Block(structure.cell, fract, cutoff)
    pos, _ = blk.decode(np.arange(blk.size))
    density = len(fract) / structure.volume
    out = np.empty(len(fract))
    for s0 in range(len(fract)):
        vec = pos - pos[blk.origin_index(s0)]
        dist = np.linalg.norm(vec, axis=1)
        m = (dist > 0) & (dist <= cutoff)
        w = dist[m] ** -6.0
        if n_vec is not None:
            w = w * _angular(vec[m], dist[m], n_vec)
        total = float(np.sum(w))
        if tail:
            total += 4.0 * math.pi * density / (3.0 * cutoff ** 3) * (1.0 if n_vec is None else 0.8)
        out[s0] = total
    return out


def _unit(v: Sequence[float], key: str = "field_direction") -> np.ndarray:
    try:
        arr = np.asarray(v, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise _err(key, f"expected three numbers (got {v!r})") from None
    if arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise _err(key, f"expected three finite numbers (got {v!r})")
    norm = float(np.linalg.norm(arr))
    if norm == 0.0:
        raise _err(key, "must be a non-zero vector")
    return arr / norm


def _like_constant(nuc: Nucleus) -> float:
    """(3/4)(mu0/4pi)^2 gamma^4 hbar^2 I(I+1): M2_II = this * sum (1-3cos^2)^2 / r^6."""
    return 0.75 * _MU0_4PI ** 2 * nuc.gamma ** 4 * HBAR ** 2 * nuc.spin * (nuc.spin + 1)


def _unlike_constant(nuc: Nucleus, other: Nucleus | None) -> float:
    """(1/3)(mu0/4pi)^2 gamma_I^2 gamma_S^2 hbar^2 S(S+1) (zero without another isotope)."""
    if other is None:
        return 0.0
    return (_MU0_4PI ** 2 * nuc.gamma ** 2 * other.gamma ** 2 * HBAR ** 2
            * other.spin * (other.spin + 1) / 3.0)


def _rate_constant(nuc: Nucleus) -> float:
    """K_W with W_ij = K_W (1-3cos^2)^2 / r^6 * g_ij(0): (4/3)I(I+1) (pi/2) kappa^2."""
    kappa = _MU0_4PI * nuc.gamma ** 2 * HBAR / 2.0
    return (4.0 / 3.0) * nuc.spin * (nuc.spin + 1) * (math.pi / 2.0) * kappa ** 2


def second_moment(structure: Structure, species: str, field_direction: Sequence[float],
                  *, other_isotope: str | None = None, abundance: float = 1.0,
                  cutoff: float | None = None) -> tuple[float, float]:
    """Mean Van Vleck second moment (rad^2/s^2) of ``species`` over the sites of its element,
    as (like part, unlike part), for random dilution at ``abundance`` (the configurational
    average: c * M2_II(full) and (1 - c) * M2_IS(full)). ``cutoff`` (m) defaults to 5 mean
    spin spacings, tail-corrected."""
    nuc = _species(species)
    other = _other(nuc, other_isotope)
    n_el = structure.site_density(nuc.element)
    if cutoff is None:
        cutoff = 5.0 * (abundance * n_el) ** (-1.0 / 3.0)
    s = float(np.mean(lattice_sums(structure, nuc.element, field_direction, cutoff)))
    return abundance * _like_constant(nuc) * s, (1.0 - abundance) * _unlike_constant(nuc, other) * s


def _species(label: str) -> Nucleus:
    try:
        return nucleus(label)
    except ValueError as exc:
        raise _err("species", str(exc)) from None


def _other(nuc: Nucleus, other_isotope: str | None) -> Nucleus | None:
    if other_isotope is None or str(other_isotope).lower() == "none":
        return None
    if other_isotope == "auto":
        return _partner_isotope(nuc)
    try:
        other = nucleus(other_isotope)
    except ValueError as exc:
        raise _err("other_isotope", str(exc)) from None
    if other.element != nuc.element or other.label == nuc.label:
        raise _err("other_isotope", f"must be another isotope of {nuc.element} (got {other.label})")
    return other


# --------------------------------------------------------------------------- result
@dataclass
class StructureEstimate:
    """Spin-diffusion tensor and second moment estimated from a structure (SI units).

    ``D`` (m^2/s, Cartesian frame of the structure, with its standard error ``D_stderr``).
    ``M2`` = ``M2_like`` + ``M2_unlike`` (rad^2/s^2) is the exact configurational average over
    the spins (what the NMR line of the whole sample has): c M2_II(all sites) + (1 - c)
    M2_IS(all sites), from lattice sums. ``M2_sampled`` +- ``M2_stderr`` is the mean local M2
    of the spins 0 of the random configurations (a consistency check; the distribution is
    heavy-tailed for small c, where the line is also far from Gaussian). Densities in 1/m^3,
    distances and cutoff radii in m. ``configurations`` = 0 means the deterministic lattice
    sum (abundance 1)."""

    species: str
    other_isotope: str | None
    abundance: float
    field_direction: np.ndarray
    D: np.ndarray
    D_stderr: np.ndarray
    M2: float
    M2_like: float
    M2_unlike: float
    M2_sampled: float
    M2_stderr: float
    spin_density: float
    site_density: float
    nearest_site_distance: float
    mean_nearest_spin_distance: float
    configurations: int
    seed: int | None
    cutoff_M2: float
    cutoff_D: float
    structure: str = ""
    gamma: float = 0.0

    @property
    def eigenvalues(self) -> np.ndarray:
        """Principal values of D (m^2/s), ascending."""
        return np.linalg.eigvalsh(self.D)

    @property
    def line_width_hz(self) -> float:
        """sqrt(M2)/(2 pi): rms width of the equivalent Gaussian line (Hz)."""
        return math.sqrt(self.M2) / (2.0 * math.pi)

    @staticmethod
    def _check_P(P: float) -> float:
        P = float(P)
        if not abs(P) < 1.0:
            raise _err("P", f"polarization must satisfy |P| < 1 (got {P})")
        return P

    @property
    def like_fraction(self) -> float:
        """phi = M2_like / M2: the part of the line that the spin species' own polarization
        narrows. With it, D(P) = D / sqrt(1 - phi P^2) (nuclear_diffusion's like_spin_fraction)."""
        return self.M2_like / self.M2 if self.M2 > 0 else 1.0

    def D_at(self, P: float) -> np.ndarray:
        """D(P) = D sqrt(M2 / M2(P)) = D / sqrt(1 - phi P^2) (physics.md 1.1: D ~ M2^(-1/2));
        phi = 1 (pure like spins) gives the paper's f(P) = 1/sqrt(1 - P^2)."""
        return self.D * math.sqrt(self.M2 / self.M2_at(P))

    def M2_at(self, P: float) -> float:
        """M2(P) = M2_like (1 - P^2) + M2_unlike (Abragam et al. 1973): polarizing the spin
        species narrows its homonuclear part only; the unlike spins (e.g. the 2H of a
        deuterated crystal, not polarized by 1H DNP) keep broadening the line."""
        P = self._check_P(P)
        return self.M2_like * (1.0 - P * P) + self.M2_unlike

    def toml_line(self) -> str:
        """``D0 = [[...], [...], [...]]`` for a run configuration."""
        rows = ", ".join("[" + ", ".join(f"{x:.4e}" for x in row) + "]" for row in self.D)
        return f"D0 = [{rows}]"

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable dictionary of every field and the derived numbers."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, np.ndarray) else v
        out["D_eigenvalues"] = self.eigenvalues.tolist()
        out["line_width_hz"] = self.line_width_hz
        out["units"] = {"D": "m^2/s", "M2": "rad^2/s^2", "density": "1/m^3", "distance": "m",
                        "line_width_hz": "Hz"}
        return out

    def report(self) -> str:
        """Human-readable summary (several lines)."""
        n = self.field_direction
        lines = [
            f"structure        {self.structure}",
            f"species          {self.species} (abundance {self.abundance:g}"
            + (f", rest {self.other_isotope})" if self.other_isotope and self.abundance < 1 else ")"),
            f"field direction  [{n[0]:.4f}, {n[1]:.4f}, {n[2]:.4f}]",
            "method           " + ("lattice sum (all sites occupied)" if self.configurations == 0 else
                                   f"{self.configurations} random configurations (seed {self.seed})"),
            f"spin density     {self.spin_density:.4e} 1/m^3 (sites {self.site_density:.4e} 1/m^3)",
            f"nearest site     {self.nearest_site_distance * 1e10:.4f} A; mean nearest spin "
            f"{self.mean_nearest_spin_distance * 1e10:.4f} A",
            f"cutoffs          M2 {self.cutoff_M2 * 1e10:.2f} A, D {self.cutoff_D * 1e10:.2f} A "
            "(plus continuum tails)",
            f"M2               {self.M2:.4e} rad^2/s^2 (like {self.M2_like:.4e}, unlike "
            f"{self.M2_unlike:.4e}; like fraction {self.like_fraction:.3f}: "
            f"D(P) = D/sqrt(1 - {self.like_fraction:.3f} P^2))"
            + (f"; sampled {self.M2_sampled:.3e} +- {self.M2_stderr:.1e}" if self.configurations
               else ""),
            f"line width       sqrt(M2)/2pi = {self.line_width_hz:.1f} Hz"
            + (f" = {math.sqrt(self.M2) / abs(self.gamma) * 1e6:.2f} uT" if self.gamma else ""),
            "D (m^2/s)",
        ]
        for row, err in zip(self.D, self.D_stderr):
            lines.append("  [" + ", ".join(f"{x: .4e}" for x in row) + "]"
                         + ("   +- [" + ", ".join(f"{e:.1e}" for e in err) + "]"
                            if self.configurations else ""))
        lines.append("eigenvalues      " + ", ".join(f"{x:.4e}" for x in self.eigenvalues) + " m^2/s")
        lines.append(self.toml_line())
        return "\n".join(lines)


# --------------------------------------------------------------------------- estimate
@dataclass
class _Setup:
    nuc: Nucleus
    other: Nucleus | None
    c: float
    n: np.ndarray
    fract: np.ndarray
    cell: np.ndarray
    n_el: float
    r_M2: float
    r_D: float
    K_like: float
    K_unlike: float
    K_W: float
    S_full: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def tail_like(self) -> float:
        """Continuum sum of (1-3cos^2)^2/r^6 beyond r_M2 for the spin density c n_el."""
        return self.c * self.n_el * 16.0 * math.pi / (15.0 * self.r_M2 ** 3)

    def tail_D(self, g_mean: float) -> np.ndarray:
        n = self.n
        A = 4.0 * math.pi / 105.0 * (20.0 * np.eye(3) + 24.0 * np.outer(n, n))
        return 0.5 * self.c * self.n_el * self.K_W * g_mean / self.r_D * A


def _diffusion_from(setup: _Setup, vec: np.ndarray, dist: np.ndarray, m2_0: float,
                    m2_partners: np.ndarray) -> np.ndarray:
    """D = (1/2) sum_j W_0j r r^T + tail, for partners at ``vec`` (within r_D) of spin 0."""
    g = 1.0 / np.sqrt(2.0 * math.pi * (m2_0 + m2_partners))
    W = setup.K_W * _angular(vec, dist, setup.n) * dist ** -6.0 * g
    D = 0.5 * (vec * W[:, None]).T @ vec
    shell = dist > 0.5 * setup.r_D
    g_mean = float(np.mean(g[shell])) if np.any(shell) else float(np.mean(g))
    return D + setup.tail_D(g_mean)


def _lattice_estimate(setup: _Setup) -> dict:
    """All sites occupied (c = 1): per-site M2 from lattice sums, D averaged over the cell."""
    nb = len(setup.fract)
    S = setup.S_full
    m2 = setup.K_like * S
    blk = _Block(setup.cell, setup.fract, setup.r_D)
    pos, basis = blk.decode(np.arange(blk.size))
    Ds, nearest = [], []
    for s0 in range(nb):
        vec = pos - pos[blk.origin_index(s0)]
        dist = np.linalg.norm(vec, axis=1)
        m = (dist > 0) & (dist <= setup.r_D)
        Ds.append(_diffusion_from(setup, vec[m], dist[m], m2[s0], m2[basis[m]]))
        nearest.append(dist[m].min())
    return {"D": np.mean(Ds, axis=0), "D_stderr": np.zeros((3, 3)), "M2_like": float(np.mean(m2)),
            "M2_unlike": 0.0, "M2_stderr": 0.0, "nearest": float(np.mean(nearest)),
            "configurations": 0}


def _random_estimate(setup: _Setup, configurations: int, rng: np.random.Generator) -> dict:
    """Random dilution: independent configurations, origins cycling through the cell's sites."""
    from scipy.spatial import cKDTree

    nb = len(setup.fract)
    blk = _Block(setup.cell, setup.fract, setup.r_D + setup.r_M2)
    R_tot = setup.r_D + setup.r_M2
    per_site: list[list[np.ndarray]] = [[] for _ in range(nb)]
    for k in range(configurations):
        s0 = k % nb
        o = blk.origin_index(s0)
        count = int(rng.binomial(blk.size - 1, setup.c))
        idx = rng.choice(blk.size - 1, size=count, replace=False) if count else np.zeros(0, int)
        idx = np.sort(idx)
        idx[idx >= o] += 1
        idx = np.concatenate([[o], idx])
        pos, basis = blk.decode(idx)
        rel = pos - pos[0]
        keep = np.einsum("ij,ij->i", rel, rel) <= R_tot * R_tot
        keep[0] = True
        pos, basis = pos[keep], basis[keep]
        tree = cKDTree(pos)
        partners = np.array(tree.query_ball_point(pos[0], setup.r_D), dtype=int)
        partners = np.sort(partners[partners != 0])
        Q = np.concatenate([[0], partners])
        pairs = cKDTree(pos[Q]).sparse_distance_matrix(tree, setup.r_M2, output_type="ndarray")
        i, j, v = pairs["i"], pairs["j"], pairs["v"]
        other = j != Q[i]
        i, j, v = i[other], j[other], v[other]
        terms = _angular(pos[j] - pos[Q[i]], v, setup.n) * v ** -6.0
        S_like = np.bincount(i, terms, minlength=len(Q)) + setup.tail_like
        m2_like = setup.K_like * S_like
        if setup.K_unlike and setup.c < 1.0:
            m2_unlike = setup.K_unlike * np.maximum(setup.S_full[basis[Q]] - S_like, 0.0)
        else:
            m2_unlike = np.zeros(len(Q))
        m2 = m2_like + m2_unlike
        vec = pos[partners] - pos[0]
        dist = np.linalg.norm(vec, axis=1)
        if len(partners) == 0:
            D = setup.tail_D(1.0 / math.sqrt(2.0 * math.pi * 2.0 * m2[0]))
            nearest = math.nan
        else:
            D = _diffusion_from(setup, vec, dist, m2[0], m2[1:])
            nearest = float(dist.min())
        per_site[s0].append(np.concatenate([D.ravel(), [m2_like[0], m2_unlike[0], nearest,
                                                         m2_like[0] + m2_unlike[0]]]))
    return _stratified(per_site, configurations)


def _stratified(per_site: list[list[np.ndarray]], configurations: int) -> dict:
    """Mean over sites of the per-site means, and its standard error."""
    nb = len(per_site)
    arrays = [np.array(x) for x in per_site]
    means = np.array([a.mean(axis=0) for a in arrays])
    within = [a - a.mean(axis=0) for a in arrays if len(a) > 1]
    pooled = (np.sum([np.sum(w ** 2, axis=0) for w in within], axis=0)
              / max(sum(len(w) - 1 for w in within), 1)) if within else None
    var_of_mean = np.zeros(means.shape[1])
    for a in arrays:
        var = a.var(axis=0, ddof=1) if len(a) > 1 else (
            pooled if pooled is not None else np.concatenate(arrays).var(axis=0))
        var_of_mean += var / len(a)
    mean = means.mean(axis=0)
    se = np.sqrt(var_of_mean) / nb
    return {"D": mean[:9].reshape(3, 3), "D_stderr": se[:9].reshape(3, 3), "M2_like": float(mean[9]),
            "M2_unlike": float(mean[10]), "M2_stderr": float(se[12]), "nearest": float(np.nanmean(
                np.concatenate(arrays)[:, 11])), "configurations": configurations}


def _check_number(value, key: str, *, integer: bool = False) -> float:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if integer:
        ok = ok and float(value).is_integer()
    if not ok or not math.isfinite(float(value)):
        raise _err(key, f"expected {'an integer' if integer else 'a number'} (got {value!r})")
    return int(value) if integer else float(value)


def estimate_D(structure: Structure, species: str = "1H", field_direction: Sequence[float] = (0, 0, 1),
               *, abundance: float = 1.0, other_isotope: str | None = "auto",
               configurations: int = 200, seed: int = 0, cutoff_M2: float = 5.0,
               cutoff_D: float = 6.0, method: str = "auto") -> StructureEstimate:
    """Spin-diffusion tensor and second moment of ``species`` in ``structure``.

    ``abundance`` c in (0, 1]: fraction of the element's sites carrying the species, the rest
    carry ``other_isotope`` ("auto": the element's other magnetic isotope in :data:`NUCLEI`,
    e.g. 2H for 1H; None: no unlike broadening). ``cutoff_M2``/``cutoff_D`` are the summation
    radii in units of the mean spin spacing (c n)^(-1/3). ``method``: "lattice" (deterministic
    sums, c = 1 only), "random" (``configurations`` random configurations, ``seed``), "auto"
    (lattice for c = 1, random otherwise). Errors raise ConfigError with the argument name."""
    if not isinstance(structure, Structure):
        raise _err("structure", f"expected a Structure (got {type(structure).__name__})")
    if not isinstance(species, str):
        raise _err("species", f"expected a string such as '1H' (got {species!r})")
    nuc = _species(species)
    other = _other(nuc, other_isotope)
    n = _unit(field_direction)
    c = _check_number(abundance, "abundance")
    if not 0.0 < c <= 1.0:
        raise _err("abundance", f"must be in (0, 1] (got {abundance!r})")
    configurations = _check_number(configurations, "configurations", integer=True)
    if configurations < 1:
        raise _err("configurations", f"must be >= 1 (got {configurations})")
    seed = _check_number(seed, "seed", integer=True)
    for key, v in (("cutoff_M2", cutoff_M2), ("cutoff_D", cutoff_D)):
        if not _check_number(v, key) >= 1.5:
            raise _err(key, f"must be >= 1.5 mean spin spacings (got {v!r})")
    if method not in ("auto", "lattice", "random"):
        raise _err("method", f"expected auto, lattice or random (got {method!r})")
    if method == "lattice" and c < 1.0:
        raise _err("method", "the lattice method needs abundance = 1 (use random)")
    sites = structure.element_sites(nuc.element)
    if not sites:
        raise _err("species", f"no {nuc.element} sites in the structure (needed for {nuc.label})",
                   structure.source)
    partial = [s for s in sites if s.occupancy < 0.999]
    if partial:
        raise _err("structure", f"{nuc.element} site {partial[0].label or '?'} has occupancy "
                                f"{partial[0].occupancy:g}: partially occupied (disordered) sites are "
                                "not supported; keep one conformer at occupancy 1", structure.source)
    fract = np.array([s.fract for s in sites], dtype=float)
    nb = len(fract)
    use_lattice = method == "lattice" or (method == "auto" and c == 1.0)
    if not use_lattice and configurations < nb:
        raise _err("configurations", f"must be >= the number of {nuc.element} sites per cell ({nb}) "
                                     "so that every site is an origin")
    n_el = nb / structure.volume
    spacing = (c * n_el) ** (-1.0 / 3.0)
    setup = _Setup(nuc=nuc, other=other, c=c, n=n, fract=fract, cell=structure.cell, n_el=n_el,
                   r_M2=float(cutoff_M2) * spacing, r_D=float(cutoff_D) * spacing,
                   K_like=_like_constant(nuc), K_unlike=_unlike_constant(nuc, other),
                   K_W=_rate_constant(nuc))
    setup.S_full = lattice_sums(structure, nuc.element, n, setup.r_M2)
    nearest_site = _nearest_site_distance(structure.cell, fract)
    if nearest_site < 0.3e-10:
        raise _err("structure", f"two {nuc.element} sites are only {nearest_site * 1e10:.3f} A apart "
                                "(duplicated or disordered sites?)", structure.source)
    if use_lattice:
        res = _lattice_estimate(setup)
    else:
        res = _random_estimate(setup, configurations, np.random.default_rng(seed))
    s_full = float(np.mean(setup.S_full))       # exact configurational averages of M2
    m2_like, m2_unlike = c * setup.K_like * s_full, (1.0 - c) * setup.K_unlike * s_full
    D = 0.5 * (res["D"] + res["D"].T)
    D[np.abs(D) < 1e-12 * np.abs(D).max()] = 0.0          # round-off of symmetry-zero entries
    res["D"] = D
    return StructureEstimate(
        species=nuc.label, other_isotope=other.label if other else None, abundance=c,
        field_direction=n, D=res["D"], D_stderr=res["D_stderr"], M2=m2_like + m2_unlike,
        M2_like=m2_like, M2_unlike=m2_unlike, M2_sampled=res["M2_like"] + res["M2_unlike"],
        M2_stderr=res["M2_stderr"], spin_density=c * n_el,
        site_density=n_el, nearest_site_distance=nearest_site,
        mean_nearest_spin_distance=res["nearest"], configurations=res["configurations"],
        seed=None if use_lattice else seed, cutoff_M2=setup.r_M2, cutoff_D=setup.r_D,
        structure=structure.source or structure.name, gamma=nuc.gamma)


def _nearest_site_distance(cell: np.ndarray, fract: np.ndarray) -> float:
    """Shortest distance between two sites of the basis (including periodic images)."""
    lengths = np.linalg.norm(cell, axis=1)
    blk = _Block(cell, fract, float(lengths.max()))
    pos, _ = blk.decode(np.arange(blk.size))
    best = math.inf
    for s0 in range(len(fract)):
        d = np.linalg.norm(pos - pos[blk.origin_index(s0)], axis=1)
        d = d[d > 0]
        best = min(best, float(d.min()))
    return best


# --------------------------------------------------------------------------- TOML form
SPEC_KEYS = {
    "structure": "CIF file (relative to the run file's directory)",
    "block": "CIF data block name (default: the first one with atom sites)",
    "lattice": "sc, bcc or fcc (instead of structure)",
    "lattice_constant": "cubic lattice constant in m (with lattice)",
    "species": "spin species, e.g. '1H', '19F'",
    "abundance": "fraction of the element's sites carrying the species, in (0, 1]",
    "other_isotope": "isotope on the remaining sites ('auto', 'none' or e.g. '2H')",
    "field_direction": "field direction [x, y, z] in the structure's Cartesian frame",
    "configurations": "number of random configurations (abundance < 1)",
    "seed": "random seed",
    "cutoff_M2": "M2 summation radius in mean spin spacings",
    "cutoff_D": "D summation radius in mean spin spacings",
    "use": "what fills D0: 'tensor' (default), 'mean' (trace/3) or 'zz' (along the field)",
}


#: the lattice sums visit ~(4 pi/3) cutoff^3/abundance sites: more would not finish (or overflow)
_MAX_SUM_SITES = 1e8


def _fits_float(x) -> bool:
    try:
        float(x)
    except OverflowError:  # an integer beyond 1.8e308
        return False
    return True


def _check_spec_sizes(spec: dict, structure: Structure | None = None, cell_key: str = "") -> None:
    """Numbers the lattice sums cannot handle: integers beyond the float range, a unit cell far
    from atomic sizes (a length not in metres?), negative seeds, and cutoffs or abundances that
    put more than _MAX_SUM_SITES sites in the summation sphere. Without ``structure`` (before
    it is built) only the integers are checked."""
    for k in ("lattice_constant", "abundance", "configurations", "seed", "cutoff_M2", "cutoff_D"):
        v = spec.get(k)
        if isinstance(v, int) and not isinstance(v, bool) and not _fits_float(v):
            digits = int(v.bit_length() * math.log10(2)) + 1
            raise _err(k, f"expected a number (got an integer of about {digits} digits)")
    if structure is None:
        return
    with np.errstate(all="ignore"):
        volume = structure.volume
    edge = volume ** (1.0 / 3.0) if math.isfinite(volume) else math.inf
    if not 1e-11 <= edge <= 1e-6:
        raise _err(cell_key, f"gives a unit cell of {edge:.3g} m (cube root of its volume): expected "
                             f"an atomic size, 1e-11 to 1e-6 m (lengths are in metres)", structure.source)
    seed = spec.get("seed", 0)
    if isinstance(seed, (int, float)) and not isinstance(seed, bool) and seed < 0:
        raise _err("seed", f"must be >= 0 (got {seed!r})")
    c, cut_m2, cut_d = (spec.get(k, d) for k, d in (("abundance", 1.0), ("cutoff_M2", 5.0),
                                                      ("cutoff_D", 6.0)))
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
               for v in (c, cut_m2, cut_d)):
        return                              # estimate_D names the bad value
    cutoff = float(max(cut_m2, cut_d))
    within = 4.0 / 3.0 * math.pi * cutoff * cutoff * cutoff
    if not within / c <= _MAX_SUM_SITES:
        key = "abundance" if within <= _MAX_SUM_SITES else ("cutoff_D" if cut_d >= cut_m2 else "cutoff_M2")
        raise _err(key, f"the lattice sums would visit {within / c:.3g} sites (cutoff {cutoff:g} mean "
                        f"spin spacings, abundance {c:g}); at most {_MAX_SUM_SITES:.0e} are feasible")


def estimate_from_spec(spec: dict, base_dir: Path | str, key_prefix: str = "model.D0",
                       file: str | None = None) -> StructureEstimate:
    """Evaluate the inline-table form of D0, e.g.
    ``D0 = { structure = "naphthalene.cif", species = "1H", abundance = 0.0079,
    field_direction = [0, 0, 1], configurations = 200, seed = 1 }`` or
    ``D0 = { lattice = "sc", lattice_constant = 2.73e-10, species = "19F" }``.

    Errors raise ConfigError with the key ``<key_prefix>.<key>`` (CIF problems name the CIF)."""
    def key_of(k: str) -> str:
        return f"{key_prefix}.{k}" if key_prefix else k

    if not isinstance(spec, dict):
        raise ConfigError(key_prefix or "D0", f"expected a table (got {spec!r})", file=file)
    for k in spec:
        if k not in SPEC_KEYS:
            raise ConfigError(key_of(k), f"unknown key (expected one of {', '.join(SPEC_KEYS)})",
                              file=file)
    try:
        has_file, has_lattice = "structure" in spec, "lattice" in spec
        if has_file == has_lattice:
            raise _err("structure", "give either a CIF file (structure) or a cubic lattice "
                                    "(lattice = sc, bcc or fcc, with lattice_constant), not both")
        if "species" not in spec:
            raise _err("species", "missing (e.g. species = \"1H\")")
        for k in ("structure", "lattice", "species", "block", "other_isotope"):
            if k in spec and not isinstance(spec[k], str):
                raise _err(k, f"expected a string (got {spec[k]!r})")
        if has_file:
            if "lattice_constant" in spec:
                raise _err("lattice_constant", "only with lattice = ...")
            try:
                path = Path(spec["structure"]).expanduser()
            except RuntimeError:  # ~user of an unknown user
                raise _err("structure", f"cannot expand '~' in {spec['structure']!r}") from None
            if not path.is_absolute():
                path = Path(base_dir) / path
            try:
                structure = read_cif(path, block=spec.get("block"), key="structure")
            except OSError as exc:  # e.g. a file name too long
                raise _err("structure", f"cannot read the CIF file ({exc.strerror})") from None
        else:
            if "block" in spec:
                raise _err("block", "only with structure = \"FILE.cif\"")
            if "lattice_constant" not in spec:
                raise _err("lattice_constant", "missing (the cubic lattice constant in m)")
            _check_spec_sizes(spec)
            structure = simple_lattice(spec["lattice"], spec["lattice_constant"], spec["species"])
        _check_spec_sizes(spec, structure, "lattice_constant" if has_lattice else "structure")
        kwargs = {k: spec[k] for k in ("abundance", "other_isotope", "configurations", "seed",
                                       "cutoff_M2", "cutoff_D") if k in spec}
        if "other_isotope" in kwargs and kwargs["other_isotope"].lower() == "none":
            kwargs["other_isotope"] = None
        fd = spec.get("field_direction", [0, 0, 1])
        if not isinstance(fd, (list, tuple)) or len(fd) != 3 or not all(
                isinstance(x, (int, float)) and not isinstance(x, bool) and _fits_float(x) for x in fd):
            raise _err("field_direction", f"expected three numbers [x, y, z] (got {fd!r})")
        return estimate_D(structure, spec["species"], fd, **kwargs)
    except ConfigError as exc:
        raise ConfigError(key_of(exc.key) if exc.key else key_prefix, exc.message,
                          file=exc.file or file) from None


def write_json(estimate: StructureEstimate, path: Path | str) -> Path:
    """Write ``estimate.as_dict()`` as JSON."""
    path = Path(path)
    path.write_text(json.dumps(estimate.as_dict(), indent=2) + "\n")
    return path
