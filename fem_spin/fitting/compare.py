"""Model comparison: the same fit under several values of one run key, ranked by AIC and BIC.

Issue 21 asks of a fit "AIC/BIC to compare models (e.g. speed-up none vs global vs local on
the same data: can the data tell them apart?)". :func:`compare` runs the fit file once per
value of a run key that is not a free parameter (``model.speedup = none | global | local``),
every dataset with that override, and ranks the fits by the information criteria their
statistics carry (fitting/statistics.py: ``-2 ln L + 2k`` and ``-2 ln L + k ln n``, on the
same data and noise model, so differences are meaningful).

How a difference is read (Burnham & Anderson, *Model Selection and Multimodel Inference*,
2nd ed., Springer 2002, section 2.6): Delta AIC below 2 means substantial support for both
models, so the data cannot tell them apart; 4-7 considerably less support; above 10
essentially none. The Akaike weight exp(-Delta/2) / sum is the weight of evidence for each.
BIC differences are read on Kass & Raftery's scale (J. Am. Stat. Assoc. 90, 773 (1995):
2-6 positive, 6-10 strong, above 10 very strong evidence).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from pathlib import Path
from typing import Any, Callable

from fem_spin.config import ConfigError
from fem_spin.fitting.config import FitConfig, load_fit_config

__all__ = ["ComparedFit", "Comparison", "compare", "parse_compare_option"]

#: Delta AIC below which two models count as indistinguishable (Burnham & Anderson 2002)
INDISTINGUISHABLE_DELTA_AIC = 2.0
#: Delta AIC above which a model has essentially no support
NO_SUPPORT_DELTA_AIC = 10.0


@dataclasses.dataclass(frozen=True)
class ComparedFit:
    value: Any                      # the run key's value in this fit
    result: Any                     # its FitResult (None when the fit failed)
    failure: str | None = None
    delta_aic: float = math.nan
    delta_bic: float = math.nan
    akaike_weight: float = math.nan

    @property
    def aic(self) -> float:
        return self.result.statistics.aic if self.result is not None else math.nan

    @property
    def bic(self) -> float:
        return self.result.statistics.bic if self.result is not None else math.nan


@dataclasses.dataclass(frozen=True)
class Comparison:
    key: str
    fits: tuple[ComparedFit, ...]   # in the order asked for
    directory: Path | None = None

    @property
    def ranked(self) -> list[ComparedFit]:
        return sorted((f for f in self.fits if f.result is not None), key=lambda f: f.aic)

    def verdict(self) -> str:
        """One sentence: which value the data prefer, and whether they can tell."""
        ranked = self.ranked
        if not ranked:
            return "no fit converged: nothing to compare"
        best = ranked[0]
        if len(ranked) == 1:
            return f"only {self.key} = {best.value!s} was fitted"
        close = [f for f in ranked[1:] if f.delta_aic < INDISTINGUISHABLE_DELTA_AIC]
        if close:
            others = ", ".join(str(f.value) for f in close)
            return (f"the data cannot tell {self.key} = {best.value!s} from {others} "
                    f"(Delta AIC < {INDISTINGUISHABLE_DELTA_AIC:g})")
        runner = ranked[1]
        strength = "decisively" if runner.delta_aic > NO_SUPPORT_DELTA_AIC else "moderately"
        return (f"the data {strength} prefer {self.key} = {best.value!s} (next: {runner.value!s}, "
                f"Delta AIC = {runner.delta_aic:.3g}, Delta BIC = {runner.delta_bic:.3g})")

    def as_dict(self) -> dict:
        return {"key": self.key, "verdict": self.verdict(),
                "fits": [{"value": f.value, "converged": f.result is not None and f.result.converged,
                          "failure": f.failure, "aic": f.aic, "bic": f.bic, "delta_aic": f.delta_aic,
                          "delta_bic": f.delta_bic, "akaike_weight": f.akaike_weight,
                          "reduced_chi2": f.result.statistics.reduced_chi2 if f.result else math.nan,
                          "parameters": ({k: e.as_dict() for k, e in f.result.parameters.items()}
                                         if f.result else {})}
                         for f in self.fits]}

    def markdown(self) -> str:
        lines = [f"# Model comparison: {self.key}", "", f"**{self.verdict()}.**", "",
                 "| " + self.key + " | AIC | Delta AIC | Akaike weight | BIC | Delta BIC | reduced chi^2 | parameters |",
                 "|---|---|---|---|---|---|---|---|"]
        for f in self.fits:
            if f.result is None:
                lines.append(f"| {f.value!s} | failed: {f.failure} | | | | | | |")
                continue
            params = "; ".join(f"{k} = {e.value:.4g} ± {e.standard_error:.2g}"
                               for k, e in f.result.parameters.items())
            lines.append(f"| {f.value!s} | {f.aic:.4g} | {f.delta_aic:.3g} | {f.akaike_weight:.3f} | "
                         f"{f.bic:.4g} | {f.delta_bic:.3g} | {f.result.statistics.reduced_chi2:.3g} | {params} |")
        lines += ["", "Delta AIC < 2: the data cannot tell the models apart; 4-7: considerably less "
                  "support; > 10: essentially none (Burnham & Anderson 2002). Each fit's own report "
                  "is in its subdirectory."]
        return "\n".join(lines)


def _slug(value: Any) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(value)).strip("_") or "value"


def _variant(config: FitConfig, key: str, value: Any) -> FitConfig:
    datasets = tuple(dataclasses.replace(d, overrides=tuple((k, v) for k, v in d.overrides if k != key)
                                         + ((key, value),)) for d in config.datasets)
    return dataclasses.replace(config, name=f"{config.name}-{_slug(value)}", datasets=datasets)


def parse_compare_option(text: str, source: str = "--compare") -> tuple[str, list[Any]]:
    """``KEY=V1,V2,...`` (the command line's --compare) into the key and its values, each a
    TOML scalar where it parses as one (numbers, booleans, quoted strings), else a string."""
    import tomllib

    key, sep, values = text.partition("=")
    key = key.strip()
    items = [v.strip() for v in values.split(",") if v.strip()]
    if not sep or not key or len(items) < 2:
        raise ConfigError(source, f"expected KEY=VALUE1,VALUE2[,...] with at least two values, "
                                  f"got {text!r}")
    parsed = []
    for item in items:
        try:
            parsed.append(tomllib.loads(f"v = {item}")["v"])
        except tomllib.TOMLDecodeError:
            parsed.append(item)
    return key, parsed


def compare(fit_config_or_path: FitConfig | str | Path, key: str, values, *,
            directory: str | Path | None = None, overwrite: bool = False, quiet: bool = True,
            simulate: Callable | None = None, command: str = "") -> Comparison:
    """Fit ``fit_config_or_path`` once per value of the run key ``key`` (every dataset gets
    that override) and rank the fits by AIC/BIC. With ``directory`` the results go to
    ``directory/<name>-compare-<key>/``: comparison.md, comparison.json and one fit directory
    per value. A fit that fails is reported as such, not raised."""
    from fem_spin.fitting.driver import FitNotConverged, fit
    from fem_spin.fitting.setup import prepare

    config = fit_config_or_path if isinstance(fit_config_or_path, FitConfig) \
        else load_fit_config(fit_config_or_path)
    values = list(values)
    if len(values) < 2:
        raise ConfigError("--compare", f"a comparison needs at least two values of {key}",
                          file=config.source)
    if len({str(v) for v in values}) != len(values):
        raise ConfigError("--compare", f"the values of {key} to compare repeat: {values}",
                          file=config.source)
    if any(p.key == key or key in p.also for p in config.parameters):
        raise ConfigError("--compare", f"{key} is a free parameter of the fit; compare a run key "
                          f"the fit does not vary", file=config.source)
    variants = [_variant(config, key, v) for v in values]
    for variant in variants:
        prepare(variant)   # every override checked against every run file before any run
    rundir = None
    if directory is not None:
        from fem_spin.io import RunDirectory

        rundir = RunDirectory(directory, f"{config.name}-compare-{_slug(key)}", overwrite=overwrite)
        rundir.check()
    say = (lambda msg: None) if quiet else (lambda msg: print(f"fem-spin: {msg}", flush=True))
    done = []
    for value, variant in zip(values, variants):
        say(f"fit with {key} = {value!s}")
        try:
            done.append((value, fit(variant, quiet=quiet, simulate=simulate), None))
        except FitNotConverged as exc:
            done.append((value, None, str(exc)))
    fits = _ranked(done)
    comparison = Comparison(key=key, fits=fits)
    say(comparison.verdict())
    if rundir is not None:
        comparison = dataclasses.replace(comparison, directory=_write(comparison, rundir, command))
    return comparison


def _ranked(done) -> tuple[ComparedFit, ...]:
    ok = [r for _, r, _ in done if r is not None]
    best_aic = min((r.statistics.aic for r in ok), default=math.nan)
    best_bic = min((r.statistics.bic for r in ok), default=math.nan)
    total = sum(math.exp(-(r.statistics.aic - best_aic) / 2) for r in ok)
    out = []
    for value, result, failure in done:
        if result is None:
            out.append(ComparedFit(value, None, failure))
            continue
        delta = result.statistics.aic - best_aic
        out.append(ComparedFit(value, result, None, delta, result.statistics.bic - best_bic,
                               math.exp(-delta / 2) / total))
    return tuple(out)


def _write(comparison: Comparison, rundir, command: str) -> Path:
    from fem_spin.fitting.report import publish, write_fit_directory
    from fem_spin.io import RunDirectory

    files = {"comparison.md": comparison.markdown() + "\n",
             "comparison.json": json.dumps(comparison.as_dict(), indent=2, default=float) + "\n"}

    def fits(staging: Path) -> None:
        for f in comparison.fits:
            if f.result is not None:
                write_fit_directory(f.result, RunDirectory(staging, f.result.config.name, comm=rundir.comm),
                                    command=command)

    return publish(rundir, files, fits, kind="fit-comparison", command=command)
