"""Spin–orbit transport additions to fem_spin.materials (docs/theory/spin_orbit_transport.md
section 8): the spin Hall angle, the Elliott–Yafet scaling lambda rho = const, the heavy-metal
library entries recomputed from their stated inputs, and the magnetic-insulator contact."""

import math

import pytest

from fem_spin.config import ConfigError
from fem_spin.materials import (
    BOLTZMANN,
    ELEMENTARY_CHARGE,
    MAGNETIC_INSULATOR_INTERFACES,
    MATERIALS,
    MagneticInsulatorInterface,
    Material,
    density_of_states_from_heat_capacity,
    get_magnetic_insulator_interface,
    get_material,
    magnetic_insulator_interface_from_table,
    material_from_table,
)

KEY = "model.regions.M"


def approx(expected, rel=1e-12):
    return pytest.approx(expected, rel=rel, abs=0)


# --------------------------------------------------------------------------- spin Hall angle
@pytest.mark.parametrize("theta", [1.0001, -1.5, math.inf])
def test_spin_hall_angle_beyond_one_is_refused_naming_the_field(theta):
    with pytest.raises(ValueError, match=r"^spin_hall_angle: must satisfy \|theta_SH\| <= 1"):
        Material("X", resistivity=1e-7, spin_diffusion_length=2e-9, spin_hall_angle=theta)


@pytest.mark.parametrize("changes, message", [
    ({"spin_hall_angle": math.nan}, "spin_hall_angle: must be a number"),
    ({"spin_hall_angle": True}, "spin_hall_angle: must be a number"),
    ({"elliott_yafet_product": 0.0}, "elliott_yafet_product: must be > 0"),
    ({"spin_hall_scaling": "resistivity"}, "spin_hall_scaling: must be one of angle, conductivity"),
])
def test_spin_orbit_fields_are_validated(changes, message):
    with pytest.raises(ValueError) as info:
        Material("X", resistivity=1e-7, spin_diffusion_length=2e-9, **changes)
    assert str(info.value).startswith(message)


def test_spin_hall_angle_defaults_to_zero_and_accepts_the_limits():
    assert Material("N", 1e-8, 1e-7).spin_hall_angle == 0.0
    for theta in (1, -1, 0.3):
        m = Material("X", 1e-7, 2e-9, spin_hall_angle=theta)
        assert type(m.spin_hall_angle) is float
        assert m.spin_hall_conductivity == approx(theta / 1e-7)


# --------------------------------------------------------------------------- Elliott–Yafet
def test_at_resistivity_keeps_lambda_rho_and_scales_d_and_theta():
    pt = get_material("Pt@300K")
    thin = pt.at_resistivity(4 * pt.resistivity)
    assert thin.resistivity == approx(4 * pt.resistivity)
    assert thin.spin_diffusion_length * thin.resistivity == approx(pt.elliott_yafet_product)
    assert thin.spin_diffusion_length == approx(pt.spin_diffusion_length / 4)
    assert thin.diffusion_constant == approx(pt.diffusion_constant / 4)
    # intrinsic regime: the spin Hall conductivity is the constant, theta grows with rho
    assert thin.spin_hall_conductivity == approx(pt.spin_hall_conductivity)
    assert thin.spin_hall_angle == approx(4 * pt.spin_hall_angle)
    assert "Elliott-Yafet" in thin.source and pt.source in thin.source
    assert pt.resistivity != thin.resistivity          # the library entry is unchanged


def test_at_resistivity_with_a_fixed_angle_and_round_trip():
    m = Material("EY", resistivity=1e-7, spin_diffusion_length=5e-9, spin_hall_angle=0.1,
                 elliott_yafet_product=5e-16)
    other = m.at_resistivity(2.5e-7)
    assert other.spin_hall_angle == 0.1 and other.spin_diffusion_length == approx(2e-9)
    back = other.at_resistivity(1e-7)
    assert back.spin_diffusion_length == approx(m.spin_diffusion_length)


def test_at_resistivity_is_refused_without_a_product_and_for_a_bad_resistivity():
    with pytest.raises(ValueError, match=r"^elliott_yafet_product: not known for 'beta-W@300K'.*Dyakonov"):
        get_material("beta-W@300K").at_resistivity(3e-6)
    with pytest.raises(ValueError, match=r"^resistivity: must be > 0"):
        get_material("Pt@300K").at_resistivity(-1.0)
    # theta_SH grown past 1 by the intrinsic scaling is refused like any other theta
    with pytest.raises(ValueError, match=r"^spin_hall_angle"):
        get_material("Pt@300K").at_resistivity(1e-5)


def test_table_at_resistivity_and_its_errors():
    m = material_from_table({"material": "Pt@300K", "at_resistivity": 3.6e-7}, KEY)
    assert m.spin_diffusion_length == approx(0.61e-15 / 3.6e-7)
    for table, key in [({"material": "Pt@300K", "at_resistivity": 3.6e-7, "resistivity": 1e-7},
                        f"{KEY}.at_resistivity"),
                       ({"material": "Cu@300K", "at_resistivity": 3e-8}, f"{KEY}.at_resistivity"),
                       ({"material": "Pt@300K", "at_resistivity": -1.0}, f"{KEY}.at_resistivity"),
                       ({"material": "Pt@300K", "spin_hall_angle": 2.0}, f"{KEY}.spin_hall_angle")]:
        with pytest.raises(ConfigError) as info:
            material_from_table(table, KEY)
        assert info.value.key == key, table


def test_explicit_table_takes_the_spin_orbit_fields():
    m = material_from_table({"resistivity": 2e-7, "spin_diffusion_length": 2e-9,
                             "spin_hall_angle": -0.2, "spin_hall_scaling": "conductivity",
                             "elliott_yafet_product": 4e-16}, KEY)
    assert (m.spin_hall_angle, m.spin_hall_scaling, m.elliott_yafet_product) == (-0.2, "conductivity", 4e-16)


# --------------------------------------------------------------------------- library
def test_heavy_metal_entries_recomputed_from_their_stated_inputs():
    pt = MATERIALS["Pt@300K"]
    assert pt.spin_diffusion_length == approx(3.4e-9)
    assert pt.spin_hall_angle == approx(0.056)
    assert pt.resistivity * pt.spin_diffusion_length == approx(0.61e-15)   # derived resistivity
    assert 1.5e-7 < pt.resistivity < 2.5e-7                                # ~18 uOhm cm
    py = MATERIALS["Py@300K"]
    assert py.resistivity * py.spin_diffusion_length == approx(py.elliott_yafet_product)
    assert py.elliott_yafet_product == approx(0.91e-15)
    # D from the Sommerfeld coefficient, written out here independently of the library code
    for name, element, gamma, molar_mass, density in [("Pt@300K", "Pt", 6.8e-3, 195.08e-3, 21.45e3),
                                                      ("beta-Ta@300K", "Ta", 5.9e-3, 180.95e-3, 16.65e3),
                                                      ("beta-W@300K", "W", 1.3e-3, 183.84e-3, 19.25e3)]:
        m = MATERIALS[name]
        dos = 3 * gamma * density / (math.pi**2 * BOLTZMANN**2 * molar_mass)
        assert m.diffusion_constant == approx(1 / (ELEMENTARY_CHARGE**2 * dos * m.resistivity), rel=1e-12)
        assert m.temperature == 300.0 and element in name
    # sign convention (docs/theory/spin_orbit_transport.md section 2): Pt > 0, Ta and W < 0
    assert MATERIALS["Pt@300K"].spin_hall_angle > 0
    assert MATERIALS["beta-Ta@300K"].spin_hall_angle == approx(-0.15)
    assert MATERIALS["beta-W@300K"].spin_hall_angle == approx(-0.30)
    # light metals and ferromagnets carry no spin Hall angle
    for name in ("Cu@4.2K", "Cu@300K", "Al@4.2K", "Al@300K", "Py@4.2K", "Py@300K", "Co@4.2K"):
        assert MATERIALS[name].spin_hall_angle == 0.0, name


def test_density_of_states_from_heat_capacity_hand_value():
    # free electrons: gamma = pi^2 k_B^2 N(E_F) V_m / 3 inverts exactly
    n = 1.0e47
    gamma = math.pi**2 * BOLTZMANN**2 * n * 1e-5 / 3
    assert density_of_states_from_heat_capacity(gamma, 1e-5) == approx(n)
    with pytest.raises(ValueError, match="^molar_volume"):
        density_of_states_from_heat_capacity(1e-3, 0.0)


# --------------------------------------------------------------------------- magnetic insulator
def test_magnetic_insulator_interface_library_and_validation():
    yig = get_magnetic_insulator_interface("YIG/Pt@300K")
    assert yig is MAGNETIC_INSULATOR_INTERFACES["YIG/Pt@300K"]
    assert yig.mixing_conductance == complex(7e14, 5e13)
    assert yig.source.strip() and yig.temperature == 300.0
    assert yig == MagneticInsulatorInterface(**{f: getattr(yig, f) for f in yig.__dataclass_fields__})
    with pytest.raises(ValueError, match=r"^mixing_conductance_real: must be >= 0"):
        MagneticInsulatorInterface("bad", mixing_conductance_real=-1e14)
    with pytest.raises(ValueError, match=r"^mixing_conductance_imag: must be finite"):
        MagneticInsulatorInterface("bad", 1e14, math.inf)
    assert MagneticInsulatorInterface("rot", 0, -1e13).mixing_conductance_imag == -1e13
    with pytest.raises(ValueError, match=r"unknown magnetic insulator interface 'GGG'.*YIG/Pt@300K"):
        get_magnetic_insulator_interface("GGG")
    with pytest.raises(ValueError, match=r"^colour: not a MagneticInsulatorInterface field"):
        yig.with_values(colour="red")


def test_magnetic_insulator_interface_tables():
    key = "model.mixing.YIG"
    assert magnetic_insulator_interface_from_table({"interface": "YIG/Pt@300K", "mixing_conductance_imag": 0},
                                                   key).mixing_conductance == complex(7e14, 0)
    explicit = magnetic_insulator_interface_from_table({"mixing_conductance_real": 1e15, "m": 1},
                                                       key, ignore=("m",))
    assert explicit.name == "YIG" and explicit.mixing_conductance_real == 1e15
    for table, field in [({"mixing_conductance_real": -1e14}, "mixing_conductance_real"),
                         ({"mixing_conductance_imag": 1e13}, "mixing_conductance_real"),
                         ({"interface": "GGG"}, "interface"),
                         ({"mixing_conductance_real": 1e14, "colour": 1}, "colour")]:
        with pytest.raises(ConfigError) as info:
            magnetic_insulator_interface_from_table(table, key)
        assert info.value.key == f"{key}.{field}", table
