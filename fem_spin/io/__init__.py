"""Run directories, CSV time series (rank 0), parallel field output, progress lines."""

from fem_spin.io.fields import FieldWriter
from fem_spin.io.probes import LineProbe
from fem_spin.io.progress import Progress, rank0_print
from fem_spin.io.rundir import RunDirectory, RunDirectoryExists
from fem_spin.io.timeseries import TimeSeriesWriter, read_timeseries

__all__ = ["FieldWriter", "LineProbe", "Progress", "rank0_print", "RunDirectory", "RunDirectoryExists",
           "TimeSeriesWriter", "read_timeseries"]
