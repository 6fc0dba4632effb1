"""Unit tests of fem_spin.materials: two-current parameters, interfaces, microscopic
relations (physics.md section 3.1), the library and the configuration tables."""

import math

import pytest

from fem_spin.config import ConfigError
from fem_spin.materials import (
    ELEMENTARY_CHARGE,
    INTERFACES,
    MATERIALS,
    Interface,
    Material,
    diffusion_constant_from_fermi,
    dyakonov_perel_spin_lifetime,
    einstein_conductivity,
    elliott_yafet_spin_lifetime,
    free_electron_density_of_states,
    get_interface,
    get_material,
    interface_from_table,
    material_from_microscopic,
    material_from_table,
    spin_diffusion_length_from,
)

CU_FERMI_VELOCITY = 1.57e6  # m/s
CU_MOMENTUM_TIME = 2.5e-14  # s
CU_DOS = free_electron_density_of_states(8.47e28, 7.0 * ELEMENTARY_CHARGE)  # 1/(J m^3)


def approx(expected, rel=1e-12):
    """pytest.approx without its default absolute tolerance, which (1e-12) would swallow
    every resistance-area product (~1e-15 Ohm m^2)."""
    return pytest.approx(expected, rel=rel, abs=0)


# --------------------------------------------------------------------------- Material
def test_conductivities_recombine_to_rho_and_p():
    m = Material("F", resistivity=2e-7, spin_diffusion_length=5e-9, bulk_polarization=0.6)
    assert m.conductivity == approx(5e6)
    assert m.conductivity_up + m.conductivity_down == approx(1 / 2e-7)
    assert (m.conductivity_up - m.conductivity_down) / m.conductivity == approx(0.6)
    assert m.conductivity_up == approx(4e6)  # 5e6 * 1.6 / 2
    assert m.conductivity_down == approx(1e6)
    assert m.is_ferromagnet


def test_spin_flip_conductance_hand_value():
    # sigma_up = 4e6, sigma_dn = 1e6: g = 4e12 / (5e6 * (5e-9)^2) = 3.2e22 S/m^3
    m = Material("F", resistivity=2e-7, spin_diffusion_length=5e-9, bulk_polarization=0.6)
    assert m.spin_flip_conductance == approx(3.2e22)
    # normal metal: sigma/4 / lambda^2
    n = Material("N", resistivity=2e-8, spin_diffusion_length=1e-6)
    assert n.spin_flip_conductance == approx(5e7 / 4 / 1e-12)
    assert not n.is_ferromagnet


def test_spin_flip_conductance_gives_lambda_for_the_spin_accumulation():
    # -sigma_up mu_up'' + g (mu_up - mu_dn) = 0 and the same for dn:
    # mu_s'' = g (1/sigma_up + 1/sigma_dn) mu_s must equal mu_s / lambda^2
    m = Material("F", resistivity=1.3e-7, spin_diffusion_length=7e-9, bulk_polarization=-0.35)
    rate = m.spin_flip_conductance * (1 / m.conductivity_up + 1 / m.conductivity_down)
    assert rate == approx(1 / 7e-9 ** 2)


def test_infinite_lambda_means_no_spin_flip():
    m = Material("ideal", resistivity=1e-8, spin_diffusion_length=math.inf)
    assert m.spin_flip_conductance == 0.0
    assert math.isinf(m.spin_resistance_area)


def test_spin_resistance_area_and_lifetime():
    m = Material("N", resistivity=2e-8, spin_diffusion_length=4e-7, diffusion_constant=2e-2)
    assert m.spin_resistance_area == approx(8e-15)
    assert m.spin_lifetime == approx(1.6e-13 / 2e-2)
    assert Material("N", 2e-8, 4e-7).spin_lifetime is None


@pytest.mark.parametrize("changes, message", [
    ({"resistivity": -1e-8}, "resistivity: must be > 0"),
    ({"resistivity": 0.0}, "resistivity: must be > 0"),
    ({"spin_diffusion_length": 0}, "spin_diffusion_length: must be > 0 (got 0)"),
    ({"spin_diffusion_length": -1e-9}, "spin_diffusion_length: must be > 0"),
    ({"bulk_polarization": 1.0}, "bulk_polarization: must satisfy |P| < 1 (got 1.0)"),
    ({"bulk_polarization": -1.2}, "bulk_polarization: must satisfy |P| < 1"),
    ({"diffusion_constant": 0.0}, "diffusion_constant: must be > 0"),
    ({"temperature": -4.2}, "temperature: must be > 0"),
    ({"resistivity": True}, "resistivity: must be a number"),
    ({"resistivity": math.nan}, "resistivity: must be a number"),
    ({"resistivity": 10**400}, "resistivity: must be a number below 1.8e308"),
    ({"spin_diffusion_length": -10**400}, "spin_diffusion_length: must be a number below 1.8e308"),
])
def test_material_validation_names_the_field_first(changes, message):
    kwargs = {"name": "X", "resistivity": 1e-8, "spin_diffusion_length": 1e-7} | changes
    with pytest.raises(ValueError) as info:
        Material(**kwargs)
    assert str(info.value).startswith(message)


def test_with_values_revalidates_and_keeps_the_rest():
    cu = get_material("Cu@4.2K")
    shorter = cu.with_values(spin_diffusion_length=5e-7)
    assert shorter.spin_diffusion_length == 5e-7 and shorter.resistivity == cu.resistivity
    assert cu.spin_diffusion_length == 1e-6  # frozen original unchanged
    with pytest.raises(ValueError, match=r"^bulk_polarization: must satisfy"):
        cu.with_values(bulk_polarization=1.5)
    with pytest.raises(ValueError, match=r"^colour: not a Material field"):
        cu.with_values(colour="red")


def test_integers_are_stored_as_floats():
    m = Material("N", resistivity=1, spin_diffusion_length=2)
    assert type(m.resistivity) is float and type(m.spin_diffusion_length) is float


# --------------------------------------------------------------------------- Interface
def test_interface_channel_resistances_recombine():
    i = Interface(area_resistance=1e-12, polarization=0.3)
    up, down = i.resistance_up, i.resistance_down
    assert up == approx(2e-12 / 1.3)
    assert up * down / (up + down) == approx(1e-12)
    assert (down - up) / (up + down) == approx(0.3)


def test_from_bass_pratt_conversion():
    ar_star, gamma, delta = 0.51e-15, 0.77, 0.33
    i = Interface.from_bass_pratt(ar_star, gamma, delta)
    assert i.resistance_up == approx(2 * ar_star * (1 - gamma))
    assert i.resistance_down == approx(2 * ar_star * (1 + gamma))
    assert i.area_resistance == approx(ar_star * (1 - gamma ** 2))
    assert i.polarization == gamma and i.spin_memory_loss == delta
    with pytest.raises(ValueError, match=r"^gamma: must satisfy \|P\| < 1"):
        Interface.from_bass_pratt(1e-15, 1.0)
    with pytest.raises(ValueError, match=r"^AR_star: must be >= 0"):
        Interface.from_bass_pratt(-1e-15, 0.5)


@pytest.mark.parametrize("kwargs, message", [
    ({"area_resistance": -1e-12}, "area_resistance: must be >= 0"),
    ({"area_resistance": 1e-12, "polarization": -1.0}, "polarization: must satisfy |P| < 1"),
    ({"area_resistance": 1e-12, "spin_memory_loss": -0.1}, "spin_memory_loss: must be >= 0"),
])
def test_interface_validation(kwargs, message):
    with pytest.raises(ValueError) as info:
        Interface(**kwargs)
    assert str(info.value).startswith(message)


def test_thin_layer_reproduces_the_channel_resistances():
    i = Interface.from_bass_pratt(0.5e-15, 0.7, 0.25)
    t = 2e-9
    layer = i.thin_layer(t)
    assert t / layer.conductivity_up == approx(i.resistance_up)
    assert t / layer.conductivity_down == approx(i.resistance_down)
    assert layer.resistivity * t == approx(i.area_resistance)
    assert layer.bulk_polarization == approx(0.7)
    assert layer.spin_diffusion_length == approx(t / 0.25)


def test_thin_layer_without_spin_memory_loss_has_no_spin_flip():
    layer = Interface(1e-12, 0.3).thin_layer(1e-9)
    assert math.isinf(layer.spin_diffusion_length)
    assert layer.spin_flip_conductance == 0.0


def test_thin_layer_of_transparent_interface_is_refused():
    with pytest.raises(ValueError, match=r"^area_resistance: must be > 0 for a thin layer"):
        Interface(0.0).thin_layer(1e-9)
    with pytest.raises(ValueError, match=r"^thickness: must be > 0"):
        Interface(1e-12).thin_layer(0.0)


def test_thin_layer_jump_in_one_dimension():
    """1-D: uniform spin-channel current j through the layer gives mu_s jump r_s j exactly."""
    i = Interface(3e-13, -0.4)
    t = 1e-9
    layer = i.thin_layer(t)
    j = 1e10  # A/m^2
    for sigma_s, r_s in ((layer.conductivity_up, i.resistance_up),
                         (layer.conductivity_down, i.resistance_down)):
        assert j * t / sigma_s == approx(r_s * j)


# --------------------------------------------------------------------------- microscopic
def test_diffusion_constant_cu_like():
    d = diffusion_constant_from_fermi(CU_FERMI_VELOCITY, CU_MOMENTUM_TIME)
    assert d == approx(1.57e6 ** 2 * 2.5e-14 / 3)
    assert d == approx(0.0205, rel=1e-2)  # ~ 2e-2 m^2/s


def test_spin_diffusion_length_from():
    assert spin_diffusion_length_from(0.02, 5e-11) == approx(1e-6)
    assert math.isinf(spin_diffusion_length_from(0.02, math.inf))


def test_elliott_yafet_lambda_scales_like_tau_p():
    eps = 1e-3

    def length(tau_p):
        d = diffusion_constant_from_fermi(CU_FERMI_VELOCITY, tau_p)
        return spin_diffusion_length_from(d, elliott_yafet_spin_lifetime(tau_p, eps))

    assert elliott_yafet_spin_lifetime(2e-14, 0.01) == approx(2e-12)
    assert length(4e-14) / length(1e-14) == approx(4.0)
    assert length(CU_MOMENTUM_TIME) == approx(
        CU_FERMI_VELOCITY * CU_MOMENTUM_TIME / math.sqrt(3 * eps))


def test_dyakonov_perel_lambda_independent_of_tau_p():
    omega = 1e11  # 1/s; Omega tau_p << 1 for the times below

    def length(tau_p):
        d = diffusion_constant_from_fermi(CU_FERMI_VELOCITY, tau_p)
        return spin_diffusion_length_from(d, dyakonov_perel_spin_lifetime(tau_p, omega))

    assert dyakonov_perel_spin_lifetime(1e-13, 1e11) == approx(1e-9)
    assert length(1e-14) == approx(length(1e-13))
    assert length(1e-14) == approx(CU_FERMI_VELOCITY / (math.sqrt(3) * omega))
    # more scattering, longer spin lifetime (motional narrowing)
    assert dyakonov_perel_spin_lifetime(1e-14, omega) > dyakonov_perel_spin_lifetime(1e-13, omega)


def test_dyakonov_perel_outside_motional_narrowing_is_refused():
    with pytest.raises(ValueError, match=r"^spin_orbit_frequency: .*Omega_so tau_p < 1"):
        dyakonov_perel_spin_lifetime(1e-12, 1e13)


def test_einstein_relation_round_trip():
    d = diffusion_constant_from_fermi(CU_FERMI_VELOCITY, CU_MOMENTUM_TIME)
    sigma = einstein_conductivity(CU_DOS, d)
    assert sigma == approx(ELEMENTARY_CHARGE ** 2 * CU_DOS * d)
    assert sigma / (ELEMENTARY_CHARGE ** 2 * CU_DOS) == approx(d)
    # Cu-like numbers give a Cu-like resistivity, ~ 1.7e-8 Ohm m
    assert 1e-8 < 1 / sigma < 3e-8


def test_free_electron_density_of_states():
    # 3n/(2E_F): n = 1e29 1/m^3, E_F = 1e-18 J -> 1.5e47 1/(J m^3)
    assert free_electron_density_of_states(1e29, 1e-18) == approx(1.5e47)


@pytest.mark.parametrize("call, name", [
    (lambda: diffusion_constant_from_fermi(-1.0, 1e-14), "fermi_velocity"),
    (lambda: diffusion_constant_from_fermi(1e6, 0.0), "momentum_relaxation_time"),
    (lambda: spin_diffusion_length_from(0.0, 1e-11), "diffusion_constant"),
    (lambda: spin_diffusion_length_from(1e-2, -1e-11), "spin_lifetime"),
    (lambda: elliott_yafet_spin_lifetime(1e-14, 0.0), "spin_flip_probability"),
    (lambda: elliott_yafet_spin_lifetime(1e-14, 1.5), "spin_flip_probability"),
    (lambda: dyakonov_perel_spin_lifetime(1e-14, -1.0), "spin_orbit_frequency"),
    (lambda: einstein_conductivity(-1.0, 1e-2), "density_of_states"),
    (lambda: einstein_conductivity(1e47, True), "diffusion_constant"),
])
def test_microscopic_helpers_name_the_bad_parameter(call, name):
    with pytest.raises(ValueError) as info:
        call()
    assert str(info.value).startswith(f"{name}: ")


def test_material_from_microscopic_elliott_yafet():
    m = material_from_microscopic("Cu-like", CU_FERMI_VELOCITY, CU_MOMENTUM_TIME, CU_DOS,
                                  spin_flip_probability=1e-3, temperature=4.2)
    d = CU_FERMI_VELOCITY ** 2 * CU_MOMENTUM_TIME / 3
    assert m.diffusion_constant == approx(d)
    assert m.conductivity == approx(ELEMENTARY_CHARGE ** 2 * CU_DOS * d)
    assert m.spin_lifetime == approx(CU_MOMENTUM_TIME / 1e-3)
    assert m.spin_diffusion_length == approx(math.sqrt(d * CU_MOMENTUM_TIME / 1e-3))
    assert m.temperature == 4.2 and m.bulk_polarization == 0.0 and m.source


def test_material_from_microscopic_needs_exactly_one_mechanism():
    with pytest.raises(ValueError, match="exactly one"):
        material_from_microscopic("X", 1e6, 1e-14, 1e47)
    with pytest.raises(ValueError, match="exactly one"):
        material_from_microscopic("X", 1e6, 1e-14, 1e47, spin_flip_probability=1e-3,
                                  spin_orbit_frequency=1e11)


# --------------------------------------------------------------------------- library
@pytest.mark.parametrize("name", sorted(MATERIALS))
def test_library_material_is_valid_and_sourced(name):
    m = MATERIALS[name]
    assert m.name == name
    assert m == Material(**{f: getattr(m, f) for f in m.__dataclass_fields__})  # re-validates
    assert m.source.strip()
    assert m.temperature is not None and name.endswith(f"@{m.temperature:g}K")
    assert 1e-9 < m.resistivity < 1e-5
    assert 1e-9 < m.spin_diffusion_length < 1e-4
    if name.split("@")[0] in ("Py", "Co", "Fe", "Ni"):
        assert 0 < m.bulk_polarization < 1
    else:
        assert m.bulk_polarization == 0.0
        # (beta-Ta and beta-W: resistive films, D of order 1e-5 m^2/s)
        assert m.diffusion_constant is not None and 1e-6 < m.diffusion_constant < 1e-1


@pytest.mark.parametrize("name", sorted(INTERFACES))
def test_library_interface_is_valid_and_sourced(name):
    i = INTERFACES[name]
    assert i == Interface(i.area_resistance, i.polarization, i.spin_memory_loss, i.source)
    assert i.source.strip() and i.area_resistance > 0 and 0 <= i.polarization < 1


def test_library_trends():
    assert MATERIALS["Cu@4.2K"].spin_diffusion_length > MATERIALS["Cu@300K"].spin_diffusion_length
    assert MATERIALS["Cu@4.2K"].resistivity < MATERIALS["Cu@300K"].resistivity
    assert MATERIALS["Al@4.2K"].spin_lifetime > MATERIALS["Al@300K"].spin_lifetime
    assert MATERIALS["Al@4.2K"].spin_lifetime == approx(100e-12, rel=1e-9)
    assert INTERFACES["Co/Cu@4.2K"].area_resistance == approx(0.51e-15 * (1 - 0.77 ** 2))


def test_get_material_and_interface():
    assert get_material("Py@4.2K") is MATERIALS["Py@4.2K"]
    assert get_interface("Co/Cu@4.2K") is INTERFACES["Co/Cu@4.2K"]
    with pytest.raises(ValueError, match=r"unknown material 'Unobtainium'.*Cu@4\.2K"):
        get_material("Unobtainium")
    with pytest.raises(ValueError, match=r"unknown interface 'Cu/Cu'.*Co/Cu@4\.2K"):
        get_interface("Cu/Cu")


# --------------------------------------------------------------------------- configuration tables
KEY = "model.regions.N"


def config_error(table, reader=material_from_table, **kwargs) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        reader(table, KEY, **kwargs)
    return info.value


def test_table_library_name_with_override():
    m = material_from_table({"material": "Cu@4.2K", "spin_diffusion_length": 5e-7}, KEY)
    assert m.spin_diffusion_length == 5e-7
    assert m.resistivity == MATERIALS["Cu@4.2K"].resistivity
    assert m.diffusion_constant == MATERIALS["Cu@4.2K"].diffusion_constant


def test_table_explicit_fields_and_ignored_keys():
    table = {"resistivity": 1.2e-7, "spin_diffusion_length": 5e-9, "bulk_polarization": 0.4,
             "magnetization": [1, 0, 0], "interface": "Py/Cu@4.2K"}
    m = material_from_table(table, KEY, ignore=("magnetization", "interface"))
    assert (m.resistivity, m.spin_diffusion_length, m.bulk_polarization) == (1.2e-7, 5e-9, 0.4)
    assert m.name == "N"


def test_table_microscopic_fields():
    table = {"fermi_velocity": CU_FERMI_VELOCITY, "momentum_relaxation_time": CU_MOMENTUM_TIME,
             "density_of_states": CU_DOS, "spin_flip_probability": 1e-3, "temperature": 4.2}
    m = material_from_table(table, KEY)
    expected = material_from_microscopic("N", CU_FERMI_VELOCITY, CU_MOMENTUM_TIME, CU_DOS,
                                         spin_flip_probability=1e-3, temperature=4.2)
    assert m == expected


@pytest.mark.parametrize("table, key, words", [
    ({"resistivity": -1e-8, "spin_diffusion_length": 1e-7}, "model.regions.N.resistivity", "> 0"),
    ({"resistivity": 1e-8, "spin_diffusion_length": 0.0}, "model.regions.N.spin_diffusion_length",
     "> 0"),
    ({"resistivity": 1e-8, "spin_diffusion_length": -1e-7},
     "model.regions.N.spin_diffusion_length", "> 0"),
    ({"resistivity": 1e-7, "spin_diffusion_length": 5e-9, "bulk_polarization": 1.0},
     "model.regions.N.bulk_polarization", "|P| < 1"),
    ({"material": "Py@4.2K", "bulk_polarization": -1.5}, "model.regions.N.bulk_polarization",
     "|P| < 1"),
    ({"material": "Cu@4.2K", "resistivty": 1e-8}, "model.regions.N.resistivty", "unknown key"),
    ({"material": "Kryptonite"}, "model.regions.N.material", "unknown material"),
    ({"material": "Cu@4.2K", "spin_diffusion_length": True},
     "model.regions.N.spin_diffusion_length", "must be a number"),
    ({"resistivity": "1e-8", "spin_diffusion_length": 1e-7}, "model.regions.N.resistivity",
     "must be a number"),
    ({"material": 3}, "model.regions.N.material", "must be a string"),
    ({"resistivity": 1e-8}, "model.regions.N.spin_diffusion_length", "missing required key"),
    ({"fermi_velocity": 1e6, "momentum_relaxation_time": 1e-14, "density_of_states": 1e47,
      "spin_flip_probability": 1e-3, "spin_orbit_frequency": 1e11},
     "model.regions.N.spin_orbit_frequency", "exactly one"),
    ({"fermi_velocity": 1e6, "momentum_relaxation_time": 1e-14, "density_of_states": 1e47},
     "model.regions.N.spin_flip_probability", "exactly one"),
    ({"fermi_velocity": 1e6, "momentum_relaxation_time": 1e-14, "spin_flip_probability": 1e-3},
     "model.regions.N.density_of_states", "missing required key"),
    ({"fermi_velocity": -1e6, "momentum_relaxation_time": 1e-14, "density_of_states": 1e47,
      "spin_flip_probability": 1e-3}, "model.regions.N.fermi_velocity", "> 0"),
    ({"fermi_velocity": 1e6, "momentum_relaxation_time": 1e-14, "density_of_states": 1e47,
      "spin_flip_probability": 1e-3, "resistivity": 1e-8}, "model.regions.N.resistivity",
     "cannot be combined"),
    ({"material": "Cu@4.2K", "fermi_velocity": 1e6}, "model.regions.N.fermi_velocity",
     "cannot be combined"),
])
def test_table_errors_name_the_key(table, key, words):
    err = config_error(table)
    assert err.key == key
    assert words in err.message
    assert str(err).startswith(f"{key}: ")


def test_table_unknown_key_is_not_ignored_by_default():
    err = config_error({"material": "Py@4.2K", "magnetization": [1, 0, 0]})
    assert err.key == "model.regions.N.magnetization" and "unknown key" in err.message


def test_interface_table_forms():
    assert interface_from_table({"interface": "Co/Cu@4.2K"}, KEY) == INTERFACES["Co/Cu@4.2K"]
    changed = interface_from_table({"interface": "Co/Cu@4.2K", "spin_memory_loss": 0.1}, KEY)
    assert changed.spin_memory_loss == 0.1
    assert changed.area_resistance == INTERFACES["Co/Cu@4.2K"].area_resistance
    explicit = interface_from_table({"area_resistance": 1e-12, "polarization": 0.3}, KEY)
    assert explicit == Interface(1e-12, 0.3)
    bass_pratt = interface_from_table({"AR_star": 0.5e-15, "gamma": 0.7, "delta": 0.25,
                                       "material": "Py@4.2K"}, KEY, ignore=("material",))
    assert bass_pratt == Interface.from_bass_pratt(0.5e-15, 0.7, 0.25)


@pytest.mark.parametrize("table, key, words", [
    ({"area_resistance": -1e-12}, "model.regions.N.area_resistance", ">= 0"),
    ({"area_resistance": 1e-12, "polarization": 1.0}, "model.regions.N.polarization", "|P| < 1"),
    ({"AR_star": 1e-15, "gamma": -1.0}, "model.regions.N.gamma", "|P| < 1"),
    ({"AR_star": 1e-15, "delta": -0.1}, "model.regions.N.delta", ">= 0"),
    ({"gamma": 0.5}, "model.regions.N.AR_star", "missing required key"),
    ({"AR_star": 1e-15, "area_resistance": 1e-12}, "model.regions.N.area_resistance",
     "cannot be combined"),
    ({"interface": "Co/Ag"}, "model.regions.N.interface", "unknown interface"),
    ({"interface": "Co/Cu@4.2K", "polarisation": 0.2}, "model.regions.N.polarisation",
     "unknown key"),
    ({"area_resistance": False}, "model.regions.N.area_resistance", "must be a number"),
    ({}, "model.regions.N.area_resistance", "missing required key"),
])
def test_interface_table_errors_name_the_key(table, key, words):
    err = config_error(table, reader=interface_from_table)
    assert err.key == key
    assert words in err.message
