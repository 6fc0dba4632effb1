"""The configuration reference of the docs (docs/_ext/config_reference.py, rendered into
docs/reference/configuration.md by make docs) lists every key of every schema: each field of
the shared sections, of every registered [model] and [geometry] type and of the tables nested
in them, walked here independently of the generator, is a row of its section's table."""

import dataclasses
import re
import sys
import typing

from conftest import REPO

sys.path.insert(0, str(REPO / "docs" / "_ext"))
import config_reference  # noqa: E402

from fem_spin import config, contracts  # noqa: E402


def schema_keys() -> dict[str, set[str]]:
    """{section heading: keys} from the section classes themselves (what build_section accepts)."""
    contracts.load_plugins()
    classes = {"[time]": config.TimeConfig, "[solver]": config.SolverConfig,
               "[output]": config.OutputConfig, "[limits]": config.LimitsConfig}
    classes.update({f'[model] type = "{k}"': v for k, v in contracts.MODELS.items()})
    classes.update({f'[geometry] type = "{k}"': v for k, v in contracts.GEOMETRIES.items()})
    out = {}
    for heading, cls in classes.items():
        hints = typing.get_type_hints(cls)
        keys = {f.name for f in dataclasses.fields(cls) if f.init and not f.metadata.get("derived")}
        out[heading] = keys
        for name in keys:            # tables given by a section class of their own (optics)
            if dataclasses.is_dataclass(hints[name]):
                out[f"{heading}: {name}"] = {f.name for f in dataclasses.fields(hints[name])
                                             if f.init and not f.metadata.get("derived")}
    return out


def rendered_keys(page: str) -> dict[str, set[str]]:
    out, section = {}, None
    for line in page.splitlines():
        heading = re.match(r"#{2,3} (.*)", line)
        if heading:
            section = heading.group(1).replace("\\|", "|")
            out.setdefault(section, set())
        row = re.match(r"\| `+ ?([^`|]+?) ?`+ \|", line)
        if row and section:
            out[section].add(row.group(1))
    return out


def test_every_schema_key_is_on_the_page():
    page = rendered_keys(config_reference.render())
    missing = {section: sorted(keys - page.get(section, set()))
               for section, keys in schema_keys().items() if keys - page.get(section, set())}
    assert not missing, f"keys missing from the configuration reference: {missing}"
    assert {"name", "preset", "sweep"} <= page["Top-level keys"]
    assert set(config._TOP_KEYS) - {"geometry", "model", "time", "solver", "output", "limits"} \
        <= page["Top-level keys"]


def test_the_page_lists_no_key_the_schema_does_not_have():
    schema = schema_keys()
    page = rendered_keys(config_reference.render())
    for section, keys in page.items():
        if section in schema:
            assert keys == schema[section], section


def test_region_tables_of_valet_fert_list_every_accepted_key():
    page = rendered_keys(config_reference.render())
    keys = page[config_reference.REGION_SECTION]
    assert set(config_reference.region_table_keys()) == keys
    assert {"material", "resistivity", "spin_diffusion_length", "area_resistance",
            "magnetization", "thickness"} <= keys


def test_every_row_has_a_description_and_units_where_declared():
    for e in config_reference.schema_entries():
        assert e.doc, f"{e.section} {e.key}: no description (param(doc=...))"
