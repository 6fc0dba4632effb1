"""D0 and M2 from a crystal structure (fem_spin.lattice, physics.md 1.4).

Reference numbers and where they come from:
* Lennard-Jones lattice sums sum_j (r_nn/r_j)^6: sc 8.40192, bcc 12.2533, fcc 14.4539
  (Lennard-Jones & Ingham, Proc. R. Soc. A 107, 636 (1925); to more digits e.g. in the
  lattice-sum tables of Burrows, Cooper & Schwerdtfeger, program JONES).
* Van Vleck cubic second moments: published tables (Van Vleck, Phys. Rev. 74, 1168 (1948);
  Abragam ch. IV) could not be consulted here, so the cubic-anisotropy law is derived and
  checked for internal consistency instead: for a cubic Bravais lattice
      sum_j (1 - 3 cos^2 theta_j)^2 / r_j^6 = S6 [4/5 + C (l1^4 + l2^4 + l3^4 - 3/5)]
  (S6 = sum r^-6, l_i the direction cosines of the field; C = 9 (T4 - 3 T22) / S6 with
  T4 = sum x^4/r^10, T22 = sum x^2 y^2/r^10), and the absolute M2 of 19F in CaF2 (F simple
  cubic, spacing 2.725 A) is checked against an independent brute-force sum written here
  with scipy.constants, and for the expected size (a few gauss).
* f(P) = 1/sqrt(1 - P^2) check values from physics.md 1.1 (the paper's numbers).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from fem_spin import lattice as L
from fem_spin.config import ConfigError
from conftest import run_cli, serial_only

DATA = Path(L.__file__).parent / "data" / "naphthalene_model.cif"
A_CAF2 = 2.725e-10      # F-F spacing of the fluorine simple-cubic sublattice of CaF2 (m)


def cubic_rotations() -> list[np.ndarray]:
    """A few proper rotations of the cube: 4-fold about z and x, 3-fold about [111]."""
    rz = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])
    rx = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])
    r3 = np.array([[0.0, 0, 1], [1, 0, 0], [0, 1, 0]])
    return [rz, rx, r3, rz @ r3]


# --------------------------------------------------------------------------- nuclear data
def test_nuclear_table_and_labels():
    assert L.NUCLEI["1H"].gamma == 2.6752218744e8
    for label in ("1H", "H1", "H-1", "1h"):
        assert L.nucleus(label).label == "1H"
    assert L.nucleus("D").label == "2H" and L.nucleus("2H").spin == 1.0
    for label in ("13C", "19F", "31P", "7Li"):
        assert L.nucleus(label).spin in (0.5, 1.5)
    assert L.nucleus("7Li").spin == 1.5
    with pytest.raises(ValueError, match="unknown species"):
        L.nucleus("99Xx")


# --------------------------------------------------------------------------- lattice sums
@pytest.mark.parametrize("kind, nn, reference", [("sc", 1.0, 8.40192), ("bcc", math.sqrt(3) / 2, 12.2533),
                                                 ("fcc", math.sqrt(0.5), 14.4539)])
def test_lennard_jones_lattice_sums(kind, nn, reference):
    """sum r^-6 in nearest-neighbour units, to 1e-4 with the continuum tail; the tail matters."""
    st = L.simple_lattice(kind, 1.0, "19F")
    s6 = L.lattice_sums(st, "F", None, cutoff=8.0)[0] * nn ** 6
    assert s6 == pytest.approx(reference, rel=1e-4)
    raw = L.lattice_sums(st, "F", None, cutoff=8.0, tail=False)[0] * nn ** 6
    assert abs(raw - reference) > 10 * abs(s6 - reference)


def test_orientation_average_is_four_fifths_of_s6():
    """Exact orientation average (the 6 icosahedron axes form a spherical 5-design, exact for the
    degree-4 polynomial (1 - 3 cos^2)^2) equals (4/5) sum r^-6 -- for any structure."""
    phi = (1 + math.sqrt(5)) / 2
    axes = [(0, 1, phi), (0, -1, phi), (1, phi, 0), (-1, phi, 0), (phi, 0, 1), (-phi, 0, 1)]
    for st, el, cutoff in ((L.simple_lattice("sc", 1.0, "19F"), "F", 9.0),
                           (L.read_cif(DATA), "H", 12e-10)):
        s6 = L.lattice_sums(st, el, None, cutoff=cutoff)
        ang = np.mean([L.lattice_sums(st, el, ax, cutoff=cutoff) for ax in axes], axis=0)
        np.testing.assert_allclose(ang, 0.8 * s6, rtol=1e-12)


def test_van_vleck_cubic_anisotropy_law():
    """sum (1-3cos^2)^2/r^6 = S6 [4/5 + C (sum l^4 - 3/5)] for sc; C from an independent
    brute-force lattice sum; values along [100], [110], [111] and a general direction."""
    g = np.arange(-24, 25)
    r = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3).astype(float)
    r2 = (r ** 2).sum(1)
    r, r2 = r[(r2 > 0) & (r2 <= 24 ** 2)], r2[(r2 > 0) & (r2 <= 24 ** 2)]
    S6 = 8.40192
    T4 = np.sum(r[:, 0] ** 4 / r2 ** 5)
    T22 = np.sum(r[:, 0] ** 2 * r[:, 1] ** 2 / r2 ** 5)
    assert 3 * T4 + 6 * T22 == pytest.approx(S6, rel=1e-4)
    C = 9 * (T4 - 3 * T22) / S6                                          # 1.9745
    st = L.simple_lattice("sc", 1.0, "19F")
    values = {}
    for n in ([1, 0, 0], [1, 1, 0], [1, 1, 1], [0.3, -0.5, 0.81]):
        n = np.array(n, float) / np.linalg.norm(n)
        law = S6 * (0.8 + C * (np.sum(n ** 4) - 0.6))
        values[tuple(np.round(n, 3))] = got = L.lattice_sums(st, "F", n, cutoff=10.0)[0]
        assert got == pytest.approx(law, rel=1e-4)
    v100, v110, v111 = list(values.values())[:3]
    assert v100 == pytest.approx(13.3573, rel=1e-4)   # = S6 (4/5 + 2C/5)
    assert v110 == pytest.approx(5.06260, rel=1e-4)
    assert v111 == pytest.approx(2.29771, rel=1e-4)
    # linear in sum l^4: [110] lies on the line through [100] and [111]
    assert v110 == pytest.approx(v111 + (v100 - v111) * (0.5 - 1 / 3) / (1 - 1 / 3), rel=1e-9)


def test_caf2_second_moment_absolute_units():
    """M2 of 19F in CaF2 against the Van Vleck formula evaluated independently here."""
    from scipy.constants import hbar, mu_0

    gamma = 25.18148e7
    st = L.simple_lattice("sc", A_CAF2, "19F")
    widths = {}
    for n, sum_d6 in (([1, 0, 0], 13.3573), ([1, 1, 0], 5.06260), ([1, 1, 1], 2.29771)):
        expected = 0.75 * (mu_0 / (4 * math.pi)) ** 2 * gamma ** 4 * hbar ** 2 * 0.75 * sum_d6 / A_CAF2 ** 6
        m2_like, m2_unlike = L.second_moment(st, "19F", n)
        assert m2_unlike == 0.0
        assert m2_like == pytest.approx(expected, rel=1e-4)
        est = L.estimate_D(st, "19F", n)
        assert est.M2 == pytest.approx(m2_like, rel=1e-12)
        widths[tuple(n)] = math.sqrt(est.M2) / gamma * 1e4      # rms width in gauss
    print("CaF2 rms widths (G):", {k: round(v, 3) for k, v in widths.items()})
    # a few gauss, largest along [100], smallest along [111]
    assert 1.0 < widths[(1, 1, 1)] < widths[(1, 1, 0)] < widths[(1, 0, 0)] < 5.0
    assert widths[(1, 0, 0)] == pytest.approx(3.597, rel=1e-3)


# --------------------------------------------------------------------------- D tensor
def test_cubic_D_is_diagonal_and_transforms_as_a_tensor():
    st = L.simple_lattice("sc", A_CAF2, "19F")
    D = L.estimate_D(st, "19F", [0, 0, 1]).D
    assert D[0, 0] == pytest.approx(D[1, 1], rel=1e-12)
    assert np.all(D[~np.eye(3, dtype=bool)] == 0.0)
    assert D[2, 2] > D[0, 0] > 0
    print(f"CaF2 (19F, field [001]) D = diag({D[0, 0]:.3e}, {D[1, 1]:.3e}, {D[2, 2]:.3e}) m^2/s")
    n = np.array([0.3, -0.5, 0.81])
    Dn = L.estimate_D(st, "19F", n).D
    for R in cubic_rotations():
        DR = L.estimate_D(st, "19F", R @ n).D
        np.testing.assert_allclose(DR, R @ Dn @ R.T, rtol=1e-9, atol=1e-12 * np.abs(Dn).max())
    # bcc: the same in a non-trivial primitive cell
    st = L.simple_lattice("bcc", 3.5e-10, "7Li")
    Dn = L.estimate_D(st, "7Li", n).D
    R = cubic_rotations()[2]
    np.testing.assert_allclose(L.estimate_D(st, "7Li", R @ n).D, R @ Dn @ R.T, rtol=1e-9,
                               atol=1e-12 * np.abs(Dn).max())


def test_naphthalene_D_obeys_the_monoclinic_symmetry():
    """2-fold axis along b (= y in the CIF frame) and inversion: D(Rn) = R D(n) R^T."""
    st = L.read_cif(DATA)
    b = st.lattice_direction(0, 1, 0)
    assert np.allclose(b, [0, 1, 0])
    n = np.array([0.4, 0.3, 0.87])
    kw = dict(cutoff_M2=3.0, cutoff_D=6.0)
    Dn = L.estimate_D(st, "1H", n, **kw).D
    two_fold = np.diag([-1.0, 1.0, -1.0])
    np.testing.assert_allclose(L.estimate_D(st, "1H", two_fold @ n, **kw).D,
                               two_fold @ Dn @ two_fold.T, rtol=1e-9, atol=1e-12 * np.abs(Dn).max())
    np.testing.assert_allclose(L.estimate_D(st, "1H", -n, **kw).D, Dn, rtol=1e-12)
    # field along b: the 2-fold axis makes D block-diagonal (D_xy = D_yz = 0)
    Db = L.estimate_D(st, "1H", b, **kw).D
    assert Db[0, 1] == 0.0 and Db[1, 2] == 0.0 and Db[0, 2] != 0.0


def test_D_normalisation_against_an_independent_sum():
    """D_zz of 19F in CaF2 (field [001]) from the documented convention, summed here by brute
    force: b = (mu0/4pi) gamma^2 hbar (1-3cos^2)/(2 r^3), W = (pi/2) b^2 / sqrt(2 pi 2 M2),
    D_zz = (1/2) sum W z^2, out to 30 spacings plus the continuum remainder."""
    from scipy.constants import hbar, mu_0

    gamma, a, R = 25.18148e7, A_CAF2, 30
    g = np.arange(-R, R + 1)
    r = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3).astype(float)
    r2 = (r ** 2).sum(1)
    r, r2 = r[(r2 > 0) & (r2 <= R * R)] * a, r2[(r2 > 0) & (r2 <= R * R)] * a * a
    ang = (1 - 3 * r[:, 2] ** 2 / r2) ** 2
    k = mu_0 / (4 * math.pi)
    M2 = 0.75 * k ** 2 * gamma ** 4 * hbar ** 2 * 0.75 * 13.3573 / a ** 6
    W = math.pi / 2 * (k * gamma ** 2 * hbar / 2) ** 2 * ang / r2 ** 3 / math.sqrt(2 * math.pi * 2 * M2)
    Dzz = 0.5 * np.sum(W * r[:, 2] ** 2)
    # remainder: (n/2) W r^2 integrated over r > R a: n/2 * K/(R a) * int dOmega (1-3 u_z^2)^2 u_z^2
    K = math.pi / 2 * (k * gamma ** 2 * hbar / 2) ** 2 / math.sqrt(2 * math.pi * 2 * M2)
    remainder = 0.5 / a ** 3 * K / (R * a) * 4 * math.pi * 44 / 105
    est = L.estimate_D(L.simple_lattice("sc", a, "19F"), "19F", [0, 0, 1])
    assert est.D[2, 2] == pytest.approx(Dzz + remainder, rel=1e-3)
    assert abs(est.D[2, 2] - Dzz) > 5e-3 * Dzz          # the remainder matters even at 30 a
    # spin dependence of the convention, (4/3) I(I+1) W and M2 ~ I(I+1): D ~ sqrt(I(I+1)) gamma^2
    li = L.estimate_D(L.simple_lattice("sc", a, "7Li"), "7Li", [0, 0, 1]).D[2, 2]
    ratio = math.sqrt(15 / 4 / (3 / 4)) * (L.NUCLEI["7Li"].gamma / gamma) ** 2
    assert li / est.D[2, 2] == pytest.approx(ratio, rel=1e-9)


def test_D_with_inequivalent_sites_against_an_independent_sum():
    """Three inequivalent 1H sites per cubic cell (a close pair and an isolated site, so the local
    M2 differ by a factor ~10): per-site M2, g_ij(0) = 1/sqrt(2 pi (M2_i + M2_j)) and the
    average of D over the origins, summed here by brute force to 30 spin spacings plus the
    continuum remainder with g averaged over the partner sites."""
    from scipy.constants import hbar, mu_0

    a = 4e-10
    basis = np.array([[0.0, 0, 0], [0.3, 0, 0], [0.5, 0.5, 0.5]])
    st = L.from_parameters(a, a, a, 90, 90, 90, [("H", f) for f in basis])
    n = np.array([0.3, 0.2, 0.93]) / np.linalg.norm([0.3, 0.2, 0.93])
    est = L.estimate_D(st, "1H", n)
    gH, k = 2.6752218744e8, mu_0 / (4 * math.pi)
    dens = 3 / a ** 3
    ell = dens ** (-1 / 3)

    def images(radius):
        m = int(radius / a) + 2
        g = np.arange(-m, m + 1)
        cells = np.stack(np.meshgrid(g, g, g, indexing="ij"), -1).reshape(-1, 3)
        return np.concatenate([(cells + f) * a for f in basis]), np.repeat(np.arange(3), len(cells))

    def ang(v, d):
        return (1 - 3 * (v @ n / d) ** 2) ** 2

    pos, kind = images(10 * ell)
    M2 = []
    for s in range(3):
        v = pos - basis[s] * a
        d = np.linalg.norm(v, axis=1)
        m = (d > 0) & (d <= 10 * ell)
        S = np.sum(ang(v[m], d[m]) / d[m] ** 6) + 16 * math.pi * dens / (15 * (10 * ell) ** 3)
        M2.append(0.75 * k ** 2 * gH ** 4 * hbar ** 2 * 0.75 * S)
    M2 = np.array(M2)
    assert est.M2 == pytest.approx(M2.mean(), rel=1e-4)
    assert M2.max() > 5 * M2.min()
    R = 30 * ell
    pos, kind = images(R)
    KW = math.pi / 2 * (k * gH ** 2 * hbar / 2) ** 2
    D = np.zeros((3, 3))
    for s in range(3):
        v = pos - basis[s] * a
        d = np.linalg.norm(v, axis=1)
        m = (d > 0) & (d <= R)
        g = 1 / np.sqrt(2 * math.pi * (M2[s] + M2[kind[m]]))
        W = KW * ang(v[m], d[m]) / d[m] ** 6 * g
        g_far = np.mean(1 / np.sqrt(2 * math.pi * (M2[s] + M2)))
        D += 0.5 * (v[m] * W[:, None]).T @ v[m] + 0.5 * dens * KW * g_far / R * 4 * math.pi / 105 * (
            20 * np.eye(3) + 24 * np.outer(n, n))
    D /= 3
    np.testing.assert_allclose(est.D, D, rtol=0, atol=1e-3 * np.abs(D).max())


def test_cutoffs_are_converged():
    """Default cutoffs (5 and 6 spin spacings, plus the continuum tails) agree with much larger
    ones to 1e-4 (M2) and 1e-3 (D)."""
    for st, species in ((L.simple_lattice("sc", A_CAF2, "19F"), "19F"), (L.read_cif(DATA), "1H")):
        n = [0.2, 0.3, 0.93]
        a = L.estimate_D(st, species, n)
        b = L.estimate_D(st, species, n, cutoff_M2=10.0, cutoff_D=20.0)
        assert a.M2 == pytest.approx(b.M2, rel=1e-4)
        np.testing.assert_allclose(a.D, b.D, rtol=0, atol=1e-3 * np.abs(b.D).max())


# --------------------------------------------------------------------------- random dilution
def test_random_path_at_full_abundance_equals_the_lattice_sum():
    kw = dict(cutoff_M2=3.0, cutoff_D=6.0)
    for st, species, configs in ((L.simple_lattice("sc", A_CAF2, "19F"), "19F", 2),
                                 (L.read_cif(DATA), "1H", 32)):
        n = [0.2, 0.5, 0.84]
        lat = L.estimate_D(st, species, n, **kw)
        rnd = L.estimate_D(st, species, n, method="random", configurations=configs, seed=3, **kw)
        assert lat.configurations == 0 and rnd.configurations == configs
        np.testing.assert_allclose(rnd.D, lat.D, rtol=1e-10, atol=1e-10 * np.abs(lat.D).max())
        assert rnd.M2 == pytest.approx(lat.M2, rel=1e-10)
        assert rnd.M2_sampled == pytest.approx(lat.M2, rel=1e-10) and lat.M2_sampled == pytest.approx(lat.M2, rel=1e-12)
        assert rnd.M2_unlike == 0.0 and np.all(rnd.D_stderr < 1e-10 * np.abs(lat.D).max())


def test_diluted_second_moment_is_c_times_the_full_one():
    """Configurational average: <M2_II> = c M2_II(c=1), <M2_IS> = (1-c) M2_IS(all S)."""
    from scipy.constants import hbar, mu_0

    a, c = 2.5e-10, 0.3
    st = L.simple_lattice("sc", a, "1H")
    est = L.estimate_D(st, "1H", [0, 0, 1], abundance=c, configurations=300, seed=5,
                       cutoff_M2=3.0, cutoff_D=4.0)
    # independent Van Vleck formulas; the sc lattice sum along [100] is 13.3573 a^-6
    gH, gD, k, s100 = 2.6752218744e8, 4.10662791e7, mu_0 / (4 * math.pi), 13.3573 / a ** 6
    like = c * 0.75 * k ** 2 * gH ** 4 * hbar ** 2 * 0.75 * s100
    unlike = (1 - c) / 3 * k ** 2 * gH ** 2 * gD ** 2 * hbar ** 2 * 2 * s100
    got = L.second_moment(st, "1H", [0, 0, 1], abundance=c, other_isotope="2H")
    assert got == pytest.approx((like, unlike), rel=1e-4)
    assert est.other_isotope == "2H"
    assert (est.M2_like, est.M2_unlike) == pytest.approx((like, unlike), rel=5e-4)  # cutoff 3 ell
    # the sampled local M2 of the spins 0 (like part from the random neighbours, unlike part
    # from the complementary sites) averages to the same value
    assert abs(est.M2_sampled - (like + unlike)) < 4 * est.M2_stderr
    assert est.M2_stderr < 0.1 * est.M2


def test_dilute_D_scales_as_density_to_the_one_third():
    """Without unlike broadening a dilute random spin set is scale invariant: D ~ n^(1/3).
    Weighted log-log fit of D_zz over c = 0.001..0.03; tolerance 3 standard errors of the
    slope plus 0.02 for the finite-c (lattice) corrections (with 1000 configurations per point
    D_zz / c^(1/3) was found constant to +-2 % over c = 0.001..0.032); reproducible with the seed."""
    st = L.simple_lattice("sc", A_CAF2, "19F")
    cs = np.array([0.001, 0.003, 0.01, 0.03])
    kw = dict(configurations=200, seed=11, cutoff_M2=3.0, cutoff_D=5.0)
    t0 = time.perf_counter()
    ests = [L.estimate_D(st, "19F", [0, 0, 1], abundance=c, **kw) for c in cs]
    Dzz = np.array([e.D[2, 2] for e in ests])
    se = np.array([e.D_stderr[2, 2] for e in ests])
    x, y, w = np.log(cs), np.log(Dzz), (Dzz / se) ** 2
    xm = np.sum(w * x) / np.sum(w)
    slope = np.sum(w * (x - xm) * (y - np.sum(w * y) / np.sum(w))) / np.sum(w * (x - xm) ** 2)
    slope_se = 1 / math.sqrt(np.sum(w * (x - xm) ** 2))
    print(f"D_zz(c) = {Dzz}, rel. s.e. {se / Dzz}; slope {slope:.3f} +- {slope_se:.3f} "
          f"({time.perf_counter() - t0:.1f} s)")
    tol = 3 * slope_se + 0.02
    assert tol < 0.1                       # precise enough to tell 1/3 from 1/2 and 1
    assert abs(slope - 1 / 3) < tol
    assert abs(slope - 0.5) > tol and abs(slope - 1.0) > tol
    assert ests[0].spin_density == pytest.approx(0.001 / A_CAF2 ** 3)
    # reproducible with the seed, different with another seed
    small = {**kw, "configurations": 20}
    one, two = (L.estimate_D(st, "19F", [0, 0, 1], abundance=0.01, **small) for _ in range(2))
    np.testing.assert_array_equal(one.D, two.D)
    other = L.estimate_D(st, "19F", [0, 0, 1], abundance=0.01, **{**small, "seed": 12})
    assert not np.array_equal(other.D, one.D)


# --------------------------------------------------------------------------- P dependence
@pytest.mark.parametrize("P, f", [(0.5, 1.1547), (0.7, 1.4003), (0.9, 2.2942), (0.99, 7.0888)])
def test_polarization_dependence(P, f):
    est = L.estimate_D(L.simple_lattice("sc", A_CAF2, "19F"), "19F", [1, 1, 0])
    assert est.M2_at(P) == pytest.approx(est.M2 * (1 - P * P), rel=1e-14)
    np.testing.assert_allclose(est.D_at(P) / np.where(est.D == 0, 1, est.D),
                               np.where(est.D == 0, 0, f), rtol=1e-4)
    assert est.D_at(-P)[2, 2] / est.D[2, 2] == pytest.approx(f, rel=1e-4)
    # D ~ M2^(-1/2): the two scalings are consistent
    assert est.D_at(P)[0, 0] / est.D[0, 0] == pytest.approx(math.sqrt(est.M2 / est.M2_at(P)), rel=1e-12)


def test_polarization_must_be_below_one():
    est = L.estimate_D(L.simple_lattice("sc", A_CAF2, "19F"), "19F", [1, 0, 0])
    for P in (1.0, -1.0, 1.2):
        with pytest.raises(ConfigError, match=r"\|P\| < 1"):
            est.D_at(P)
        with pytest.raises(ConfigError):
            est.M2_at(P)


# --------------------------------------------------------------------------- TOML spec and errors
def test_spec_forms_and_relative_paths(tmp_path):
    est = L.estimate_from_spec({"lattice": "sc", "lattice_constant": 2.73e-10, "species": "19F",
                                "field_direction": [1, 0, 0]}, tmp_path)
    assert est.D[0, 0] > est.D[1, 1] == pytest.approx(est.D[2, 2])
    sub = tmp_path / "crystals"
    sub.mkdir()
    shutil.copy(DATA, sub / "naphthalene.cif")
    est = L.estimate_from_spec({"structure": "naphthalene.cif", "species": "1H",
                                "field_direction": [0, 0, 1], "cutoff_M2": 3.0, "cutoff_D": 6.0}, sub)
    assert est.structure.endswith("naphthalene.cif") and est.configurations == 0
    text = est.toml_line()
    assert text.startswith("D0 = [[") and np.allclose(
        __import__("tomllib").loads(text)["D0"], est.D, rtol=1e-4)
    d = est.as_dict()
    json.dumps(d)
    assert d["D_eigenvalues"] == pytest.approx(sorted(np.linalg.eigvalsh(est.D)))


MALFORMED = {
    "garbage": "data_x\nloop_\n_a\n'unterminated\n",
    "empty": "",
    "no_cell": "data_x\n_symmetry_space_group_name_H-M 'P 1'\nloop_\n_atom_site_label\n"
               "_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
               "H1 H 0 0 0\n",
    "no_atoms": "data_x\n_cell_length_a 5\n_cell_length_b 5\n_cell_length_c 5\n_cell_angle_alpha 90\n"
                "_cell_angle_beta 90\n_cell_angle_gamma 90\n_symmetry_space_group_name_H-M 'P 1'\n",
    "no_symmetry": "data_x\n_cell_length_a 5\n_cell_length_b 5\n_cell_length_c 5\n_cell_angle_alpha 90\n"
                   "_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_atom_site_label\n"
                   "_atom_site_type_symbol\n_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
                   "H1 H 0 0 0\n",
    "bad_number": DATA.read_text().replace("0.0857", "abc"),
    "bad_cell": DATA.read_text().replace("_cell_angle_beta                 122.729",
                                         "_cell_angle_beta                 300"),
    "bad_symop": DATA.read_text().replace("'1/2-x, 1/2+y, -z'", "'1/2-q, y, z'"),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_cif_gives_a_clear_error(tmp_path, name):
    path = tmp_path / f"{name}.cif"
    path.write_text(MALFORMED[name])
    with pytest.raises(ConfigError) as info:
        L.estimate_from_spec({"structure": path.name, "species": "1H"}, tmp_path)
    msg = str(info.value)
    assert "model.D0.structure" in msg and str(path) in msg and "\n" not in msg
    print(msg)


@pytest.mark.parametrize("spec, key, text", [
    ({"structure": "missing.cif", "species": "1H"}, "structure", "no such CIF file"),
    ({"structure": "noH.cif", "species": "1H"}, "species", "no H sites"),
    ({"structure": "ok.cif", "species": "1H", "abundance": 0}, "abundance", "(0, 1]"),
    ({"structure": "ok.cif", "species": "1H", "abundance": 1.5}, "abundance", "(0, 1]"),
    ({"structure": "ok.cif", "species": "1H", "abundance": "high"}, "abundance", "number"),
    ({"structure": "ok.cif", "species": "1H", "field_direction": [0, 0, 0]}, "field_direction", "non-zero"),
    ({"structure": "ok.cif", "species": "1H", "field_direction": [1, 0]}, "field_direction", "three"),
    ({"structure": "ok.cif", "species": "1H", "colour": "red"}, "colour", "unknown key"),
    ({"structure": "ok.cif", "species": "99Xx"}, "species", "unknown species"),
    ({"structure": "ok.cif"}, "species", "missing"),
    ({"structure": "ok.cif", "species": "1H", "other_isotope": "13C"}, "other_isotope", "isotope of H"),
    ({"structure": "ok.cif", "species": "1H", "abundance": 0.5, "configurations": 0},
     "configurations", ">= 1"),
    ({"structure": "ok.cif", "species": "1H", "seed": 1.5}, "seed", "integer"),
    ({"lattice": "hcp", "lattice_constant": 3e-10, "species": "19F"}, "lattice", "sc, bcc, fcc"),
    ({"lattice": "sc", "lattice_constant": -3e-10, "species": "19F"}, "lattice_constant", "> 0"),
    ({"lattice": "sc", "species": "19F"}, "lattice_constant", "missing"),
    ({"lattice": "sc", "lattice_constant": 3e-10, "structure": "ok.cif", "species": "19F"},
     "structure", "either"),
])
def test_bad_spec_values_name_the_key(tmp_path, spec, key, text):
    shutil.copy(DATA, tmp_path / "ok.cif")
    (tmp_path / "noH.cif").write_text("\n".join(
        line for line in DATA.read_text().splitlines() if not line.startswith("H")))
    with pytest.raises(ConfigError) as info:
        L.estimate_from_spec(spec, tmp_path)
    assert info.value.key == f"model.D0.{key}"
    assert text in str(info.value) and "\n" not in str(info.value)


def test_cif_symmetry_expansion_without_a_table_entry(tmp_path):
    """Symmetry operations gemmi has no space-group entry for (P-1 with its inversion centre at
    (1/8, 0, 0)) are applied directly; sites on a special position are kept once."""
    text = ("data_t\n_cell_length_a 4\n_cell_length_b 5\n_cell_length_c 6\n_cell_angle_alpha 90\n"
            "_cell_angle_beta 90\n_cell_angle_gamma 90\nloop_\n_space_group_symop_operation_xyz\n"
            "'x,y,z'\n'1/4-x,-y,-z'\nloop_\n_atom_site_label\n_atom_site_type_symbol\n"
            "_atom_site_fract_x\n_atom_site_fract_y\n_atom_site_fract_z\n"
            "F1 F 0.3 0.2 0.1\nF2 F 0.125 0 0\n")
    path = tmp_path / "p1bar.cif"
    path.write_text(text)
    st = L.read_cif(path)
    got = sorted(tuple(np.round(s.fract, 6)) for s in st.element_sites("F"))
    assert got == sorted([(0.3, 0.2, 0.1), (0.95, 0.8, 0.9), (0.125, 0.0, 0.0)])
    assert st.volume == pytest.approx(120e-30)


# --------------------------------------------------------------------------- naphthalene model
def test_naphthalene_model_cif():
    st = L.read_cif(DATA)
    H, C = st.element_sites("H"), st.element_sites("C")
    assert len(H) == 16 and len(C) == 20
    assert st.volume == pytest.approx(8.256 * 5.983 * 8.677 * math.sin(math.radians(122.729)) * 1e-30)
    # one molecule: the asymmetric unit (first 4 H / 5 C of the file) and its inversion image
    import gemmi

    small = gemmi.read_small_structure(str(DATA))
    asym = {s.label: np.array([s.fract.x, s.fract.y, s.fract.z]) @ st.cell for s in small.sites}
    hs = [v for k, v in asym.items() if k.startswith("H")]
    hs += [-v for v in hs]
    cs = [v for k, v in asym.items() if k.startswith("C")]
    cs += [-v for v in cs]
    dHH = sorted(np.linalg.norm(a - b) for i, a in enumerate(hs) for b in hs[i + 1:])
    assert 2.40e-10 < dHH[0] < 2.50e-10
    dCH = [min(np.linalg.norm(h - c) for c in cs) for h in hs]
    assert np.allclose(dCH, 1.08e-10, atol=0.01e-10)
    dCC = sorted(np.linalg.norm(a - b) for i, a in enumerate(cs) for b in cs[i + 1:])
    assert np.allclose(dCC[:11], 1.40e-10, atol=0.01e-10)     # the 11 C-C bonds
    est = L.estimate_D(st, "1H", [0, 0, 1], cutoff_M2=3.0, cutoff_D=6.0)
    assert 2.3e-10 < est.nearest_site_distance <= dHH[0]     # inter- or intramolecular


def test_naphthalene_numbers_for_information():
    st = L.read_cif(DATA)
    n = [0, 0, 1]
    full = L.estimate_D(st, "1H", n, cutoff_M2=3.0, cutoff_D=6.0)
    dilute = L.estimate_D(st, "1H", n, abundance=0.0079, configurations=32, seed=1,
                          cutoff_M2=3.0, cutoff_D=5.0)
    print("\n--- naphthalene model, 1H, field along c*, all sites protonated\n" + full.report())
    print("--- 0.79 % 1H, rest 2H (32 configurations, reduced cutoffs)\n" + dilute.report())
    for est in (full, dilute):
        eig = np.linalg.eigvalsh(est.D)
        assert np.all(eig > 0) and est.M2 > 0
        assert 1e-20 < eig.min() and eig.max() < 1e-15
    assert dilute.M2_unlike > 0 and dilute.other_isotope == "2H"
    assert dilute.D[2, 2] < full.D[2, 2]


# --------------------------------------------------------------------------- command line
pytestmark_cli = serial_only()


@pytestmark_cli
def test_cli_structure(tmp_path):
    out = tmp_path / "est.json"
    res = run_cli("structure", "--lattice", "sc", "--a", "2.73e-10", "--species", "19F",
                  "--field", "1", "0", "0", "--json", str(out))
    assert res.returncode == 0, res.stderr
    for text in ("D (m^2/s)", "eigenvalues", "rad^2/s^2", "Hz", "spin density", "D0 = [["):
        assert text in res.stdout
    data = json.loads(out.read_text())
    assert data["D"][0][0] > data["D"][1][1] > 0 and data["M2"] > 0


@pytestmark_cli
def test_cli_structure_bad_input_is_one_line(tmp_path):
    bad = tmp_path / "bad.cif"
    bad.write_text(MALFORMED["garbage"])
    for args, text in ((["structure", str(bad), "--species", "1H"], "bad.cif: structure: "),
                       (["structure", str(DATA), "--species", "1H", "--abundance", "1.5"],
                        "--abundance: must be in (0, 1]")):
        res = run_cli(*args)
        assert res.returncode == 2, res.stdout
        assert res.stderr.strip().count("\n") == 0 and "Traceback" not in res.stderr
        assert res.stderr.startswith("fem-spin: error: ") and text in res.stderr


def test_polarization_narrows_only_the_like_spin_part():
    """1H diluted in 2H: polarizing the 1H narrows M2_like only, so the speed-up is
    D/sqrt(1 - phi P^2) with phi = M2_like/M2 < 1, weaker than the paper's f(P)."""
    st = L.simple_lattice("sc", 2.0e-10, "1H")
    est = L.estimate_D(st, "1H", [0, 0, 1], abundance=0.3, other_isotope="2H", configurations=20, seed=3)
    phi = est.like_fraction
    assert 0.05 < phi < 0.95 and est.M2_unlike > 0
    P = 0.9
    assert est.M2_at(P) == pytest.approx(est.M2_like * (1 - P * P) + est.M2_unlike, rel=1e-14)
    assert est.D_at(P)[2, 2] / est.D[2, 2] == pytest.approx(1 / math.sqrt(1 - phi * P * P), rel=1e-12)
    assert est.D_at(P)[2, 2] / est.D[2, 2] < 1 / math.sqrt(1 - P * P)
