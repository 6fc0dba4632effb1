"""Measured curves from CSV files, checked line by line before anything is simulated.

A dataset file is comma-separated text: lines starting with ``#`` and blank lines are
skipped, the first other line is the header (column names), every later line one point::

    # DNP buildup, 40 mM, 10 K
    t_ms,signal,sigma
    0.1,8.3,1.0
    ...

The columns are the independent variable (time, in the dataset's ``time_unit``), the measured
value and, optionally, its standard deviation; chosen by name (``columns = { time = "t_ms",
value = "signal", sigma = "sigma" }``) or by position (first, second, third if present).
Every problem is a :class:`DataError`: one line naming the file and the line.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np

from fem_spin.config import ConfigError

__all__ = ["DataError", "Dataset", "read_dataset"]


class DataError(ConfigError):
    """A dataset file is unusable: ``"<file>: line <n>: <problem>"``."""

    def __init__(self, file: str | Path, line: int | None, message: str):
        super().__init__(f"line {line}" if line is not None else "", message, file=str(file))


@dataclasses.dataclass(frozen=True)
class Dataset:
    """One measured curve: x in s (the time unit converted), y, sigma (None: not given)."""

    name: str
    file: Path
    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray | None
    #: the file's line number of every point (1-based)
    lines: tuple[int, ...]
    columns: tuple[str, str, str | None]

    def __len__(self) -> int:
        return len(self.x)

    @property
    def weights(self) -> np.ndarray:
        """1/sigma^2 (ones without sigma)."""
        return np.ones(len(self.y)) if self.sigma is None else 1.0 / self.sigma**2


def _column(header: list[str], name: str | None, position: int, file, line, what: str) -> int | None:
    if name is None:
        return position if position < len(header) else None
    if name not in header:
        raise DataError(file, line, f"no column {name!r} for the {what} (the header has "
                        f"{', '.join(header)})")
    return header.index(name)


def read_dataset(spec, t_end: float | None = None, min_points: int = 1,
                 run_source: str = "the run file") -> Dataset:
    """Read and check ``spec.file`` (a :class:`~fem_spin.fitting.config.DatasetSpec`).

    Refused, each with its line: no header or no data, a row with the wrong number of cells,
    a cell that is not a number, a value that is not finite, sigma <= 0, a negative time, a
    time after the run's ``t_end`` (``t_end`` in s, the observation's dead time included),
    and fewer points than ``min_points`` (the free parameters acting on the dataset)."""
    path = Path(spec.file)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise DataError(path, None, "dataset file not found") from None
    except IsADirectoryError:
        raise DataError(path, None, "is a directory, not a dataset file") from None
    except UnicodeDecodeError as exc:
        raise DataError(path, None, f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise DataError(path, None, f"cannot read the dataset ({exc.strerror})") from None
    header, header_line, rows = None, None, []
    for number, cells in enumerate(csv.reader(text.splitlines()), start=1):
        if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        cells = [c.strip() for c in cells]
        if header is None:
            header, header_line = cells, number
            continue
        rows.append((number, cells))
    if header is None:
        raise DataError(path, None, "no header line (column names) and no data")
    if len(header) < 2:
        raise DataError(path, header_line, f"the header names {len(header)} column; at least two "
                        f"are needed (time, value[, sigma])")
    it = _column(header, spec.time_column, 0, path, header_line, "time")
    iv = _column(header, spec.value_column, 1, path, header_line, "value")
    isg = _column(header, spec.sigma_column, 2, path, header_line, "sigma") \
        if spec.sigma_column is not None or (spec.sigma is None and len(header) > 2) else None
    if it == iv or (isg is not None and isg in (it, iv)):
        raise DataError(path, header_line, "the time, value and sigma columns must differ")
    observation = spec.observation
    per_point = observation is not None and observation.run_key() is not None
    factor = observation.x_factor(spec) if observation is not None else spec.time_factor
    x_name = observation.x_name if observation is not None else "time"
    x_unit = observation.x_unit(spec) if observation is not None else spec.time_unit
    x, y, s, lines = [], [], [], []
    for number, cells in rows:
        if len(cells) != len(header):
            raise DataError(path, number, f"{len(cells)} cells, the header has {len(header)}")
        values = []
        for index, what in ((it, x_name), (iv, "value"), (isg, "sigma")):
            if index is None:
                continue
            try:
                v = float(cells[index])
            except ValueError:
                raise DataError(path, number, f"column {header[index]!r} ({what}): not a number "
                                f"({cells[index]!r})") from None
            if not math.isfinite(v):
                raise DataError(path, number, f"column {header[index]!r} ({what}): not finite ({cells[index]})")
            values.append(v)
        t = values[0] * factor
        if t < 0 and not (observation is not None and observation.x_signed):
            raise DataError(path, number, f"{x_name} {values[0]:g} {x_unit} is negative")
        model_t = float(spec.observation.model_times(np.array([t]))[0]) if spec.observation and not per_point else t
        if t_end is not None and not per_point and model_t > t_end * (1 + 1e-12):
            dead = model_t - t
            extra = f" (+ dead time {dead:g} s)" if dead > 0 else ""
            raise DataError(path, number, f"time {values[0]:g} {spec.time_unit}{extra} is after the "
                            f"run's time.t_end = {t_end:g} s ({run_source})")
        if isg is not None and not values[2] > 0:
            raise DataError(path, number, f"column {header[isg]!r} (sigma): must be > 0 (got {values[2]:g})")
        x.append(t)
        y.append(values[1])
        s.append(values[2] if isg is not None else spec.sigma)
        lines.append(number)
    if not rows:
        raise DataError(path, header_line, "a header but no data lines")
    if len(rows) < min_points:
        raise DataError(path, rows[-1][0], f"{len(rows)} data point{'s' if len(rows) != 1 else ''}, "
                        f"fewer than the {min_points} free parameters acting on the dataset "
                        f"(fitted parameters and nuisance scales)")
    sigma = np.array(s, float) if (isg is not None or spec.sigma is not None) else None
    return Dataset(name=spec.name, file=path, x=np.array(x), y=np.array(y), sigma=sigma,
                   lines=tuple(lines), columns=(header[it], header[iv],
                                                header[isg] if isg is not None else None))
