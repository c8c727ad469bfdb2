"""Encoding many images in one run: ``lnic encode DIR -o OUTDIR`` (or several inputs).

The package sits between the Python API and the command line:

* :mod:`lnic.batch.jobs`: one job (an input, its output, the settings and their key) and the
  encode that a worker runs for it;
* :mod:`lnic.batch.plan`: which files a run encodes, where each output goes, which outputs
  already exist with the same settings (the records beside the outputs);
* :mod:`lnic.batch.local`: local worker processes, one job at a time each, a killed worker
  reported as that job's failure;
* :mod:`lnic.batch.ray_runner`: the same jobs as Ray tasks on a cluster (``ray`` is imported
  only there);
* :mod:`lnic.batch.summary`: the rows of ``OUTDIR/summary.csv``;
* :mod:`lnic.batch.run`: the run itself: skip what is done, encode the rest, write each output
  atomically on the driver, keep the summary current.

Nothing here imports torch or ray at import time: the driver of a run needs neither (the
workers load the encoder).
"""

from lnic.batch.jobs import Settings
from lnic.batch.run import BatchOptions, run_batch

__all__ = ["BatchOptions", "Settings", "run_batch"]
