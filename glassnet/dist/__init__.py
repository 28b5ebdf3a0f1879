"""Data-parallel training over MPI (mpi4py): sharded batches, one gradient allreduce per step.

``mpiexec -n 4 glassnet train lenet5 --data mnist`` or ``model.fit(..., distributed=True)``
(automatic when the launcher started more than one rank). mpi4py is imported only when used.
The contract (same weights as one process with the same global batch) is in
``docs/distributed.md``.
"""

from glassnet.dist.bench import bench_mpi, format_mpi
from glassnet.dist.flat import FlatBuffer
from glassnet.dist.parallel import DataParallel, data_parallel, model_buffers, shard_bounds
from glassnet.dist.world import abort_on_error, is_root, launcher_size, rank, size

__all__ = [
    "DataParallel",
    "FlatBuffer",
    "abort_on_error",
    "bench_mpi",
    "data_parallel",
    "format_mpi",
    "is_root",
    "launcher_size",
    "model_buffers",
    "rank",
    "size",
    "shard_bounds",
]
