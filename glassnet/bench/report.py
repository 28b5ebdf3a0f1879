"""Present a benchmark result: the ``--json`` object, a rich table, or a Markdown table.

No measuring here; every number comes from :func:`glassnet.bench.runner.run_bench`.
"""

from __future__ import annotations

from typing import Any

CONTRACT_KEYS = ("model", "workload", "batch", "glassnet_ms", "torch_ms", "ratio",
                 "glassnet_peak_rss_mb", "torch_peak_rss_mb")
NOTE = ("Each cell: glassnet above, torch below (in Markdown: glassnet / torch). "
        "ratio = glassnet/torch, median of the per-round ratios (< 1: glassnet faster). "
        "FLOPs = 2 per MAC of conv and dense layers; a training step counts 3 forward passes "
        "(forward, dL/dx, dL/dw), an inference 1; fit_epoch times one epoch of 4,000 images "
        "(mnist-5k at 28×28×1, seeded random images at other shapes; batch 128, Adam). "
        "% peak: of the measured float32 GEMM peak.")


def _model(row: dict[str, Any]) -> str:
    """The model's name with its input shape, e.g. ``resnet18 32×32×3``."""
    shape = row.get("input_shape")
    return row["model"] if not shape else f"{row['model']} {'×'.join(map(str, shape))}"


def _num(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


def _pair(row: dict[str, Any], key: str, digits: int = 1) -> str:
    """``glassnet / torch`` values of one key (just glassnet's when torch was not timed)."""
    g, t = row.get(f"glassnet_{key}"), row.get(f"torch_{key}")
    return _num(g, digits) if t is None else f"{_num(g, digits)} / {_num(t, digits)}"


def _stack(row: dict[str, Any], key: str, digits: int = 1) -> str:
    """Stack the glassnet value above the torch one (dimmed), for the rich table."""
    g, t = row.get(f"glassnet_{key}"), row.get(f"torch_{key}")
    if key == "ms":
        return _ms(row, "glassnet") + ("" if t is None else f"\n[dim]{_ms(row, 'torch')}[/]")
    return _num(g, digits) + ("" if t is None else f"\n[dim]{_num(t, digits)}[/]")


def _ms(row: dict[str, Any], side: str) -> str:
    ms = row.get(f"{side}_ms")
    if ms is None:
        return "—"
    return f"{ms:,.0f}" if ms >= 1e3 else f"{ms:,.2f}"


def machine_line(result: dict[str, Any]) -> str:
    """One line: CPU, threads, BLAS, library versions, GEMM peak, load average."""
    m = result.get("machine", {})
    blas = m.get("blas", {})
    versions = m.get("versions", {})
    libs = ", ".join(f"{k} {v}" for k, v in versions.items())
    load = m.get("load_average_start") or [0.0]
    load_end = m.get("load_average_end") or [0.0]
    return (f"{m.get('cpu', '?')} · {m.get('logical_cpus', '?')} logical CPUs · "
            f"{m.get('threads', '?')} threads · {blas.get('internal_api')} "
            f"{blas.get('version')} ({blas.get('architecture')}) · {libs} · "
            f"GEMM peak {result['gemm_peak_gflops']:.0f} GFLOP/s · "
            f"load avg {load[0]:.2f} → {load_end[0]:.2f}")


def contract(result: dict[str, Any]) -> dict[str, Any]:
    """The ``--json`` object: the contract keys first in each row, every extra key after."""
    rows = [{**{k: row.get(k) for k in CONTRACT_KEYS}, **row} for row in result["results"]]
    return {"gemm_peak_gflops": result["gemm_peak_gflops"], "results": rows,
            **{k: v for k, v in result.items() if k not in ("gemm_peak_gflops", "results")}}


def table(result: dict[str, Any], command: str) -> Any:
    """A ``rich.table.Table`` of the result, titled with the machine and the command."""
    from rich.table import Table

    out = Table(title=f"$ {command}\n{machine_line(result)}", caption=NOTE, title_justify="left",
                caption_justify="left")
    for name in ("model", "workload"):
        out.add_column(name, no_wrap=True)
    for name in ("batch", "ms", "ratio", "GFLOP/s", "% peak", "images/s", "RSS MB"):
        out.add_column(name, justify="right", no_wrap=True)
    for row in result["results"]:
        ratio = row.get("ratio")
        shown = "—" if ratio is None else f"{ratio:.2f}"
        style = "green" if ratio is not None and ratio <= 1 else "red" if ratio else ""
        out.add_row(
            _model(row), row["workload"], str(row["batch"]), _stack(row, "ms"),
            f"[{style}]{shown}[/]" if style else shown, _stack(row, "gflops"),
            _stack(row, "pct_peak"), _stack(row, "images_per_s", 0),
            _stack(row, "peak_rss_mb", 0), end_section=True,
        )
    return out


def markdown(result: dict[str, Any], command: str) -> str:
    """The same table in Markdown (for ``docs/performance.md``), with the machine line."""
    head = ("| model | workload | batch | glassnet ms | torch ms | ratio | GFLOP/s | % peak | "
            "images/s | peak RSS MB |")
    lines = [f"`{command}` — {result.get('date', '')}", "", machine_line(result), "", head,
             "|" + "---|" * 3 + "---:|" * 7]
    for row in result["results"]:
        ratio = row.get("ratio")
        lines.append(
            f"| {_model(row)} | {row['workload']} | {row['batch']} | {_ms(row, 'glassnet')} | "
            f"{_ms(row, 'torch')} | {'—' if ratio is None else f'{ratio:.2f}'} | "
            f"{_pair(row, 'gflops')} | {_pair(row, 'pct_peak')} | "
            f"{_pair(row, 'images_per_s', 0)} | {_pair(row, 'peak_rss_mb', 0)} |"
        )
    return "\n".join(lines)
