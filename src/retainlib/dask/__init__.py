"""retainlib's kernels on a dask cluster (the optional extra ``retainlib[dask]``).

The public kernels take a ``dask.dataframe.DataFrame`` of a canonical table
as they take a polars frame: ``rl.retention_rate(ddf)``,
``rl.cohort_retention(ddf)``, ``rl.survival(ddf, window=...)``...  Each
kernel's per-customer step runs on the workers, partition by partition (the
table is hash-shuffled by ``customer_id`` unless it is known to be
partitioned by customer), and only small additive frames (counts and sums)
come back to the client, where the same code as the local engine combines
and finishes them: the results equal the local engine's exactly.

Aggregates come back as polars DataFrames; :func:`rfm` (one row per
customer) stays a dask DataFrame.  The client is dask's current one: create a
``distributed.Client`` (a ``LocalCluster``, or the address of an existing
scheduler) before calling a kernel.
"""

from __future__ import annotations

from retainlib.dask._engine import by_customer, is_by_customer, to_polars
from retainlib.dask._read import read_parquet
from retainlib.dask._rfm import rfm, rfm_statistics

__all__ = ["by_customer", "is_by_customer", "read_parquet", "rfm", "rfm_statistics", "to_polars"]
