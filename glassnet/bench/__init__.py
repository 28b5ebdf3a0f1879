"""``glassnet bench``: glassnet against the equivalent PyTorch model, timed fairly on the CPU.

* :mod:`~glassnet.bench.torch_models` — the PyTorch twin of a glassnet model (same layers,
  weights copied), so both sides do the same FLOPs.
* :mod:`~glassnet.bench.workloads` — the timed work of each side: a training step, an inference
  pass, a ``fit`` epoch on mnist-5k, a GEMM for the peak.
* :mod:`~glassnet.bench.worker` — one fresh process timing a group of workloads on one side.
* :mod:`~glassnet.bench.runner` — rounds of interleaved workers, medians and ratios.
* :mod:`~glassnet.bench.report` — the JSON contract, the rich table, a Markdown table.

Methodology: ``docs/performance.md``.
"""
