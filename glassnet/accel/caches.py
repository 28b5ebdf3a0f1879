"""The size of this machine's per-core L2 cache, as the kernels' working-set rules use it.

Two paths for one convolution can cost alike in multiply-adds and still differ by half when one
of them keeps its operands in the core's own L2 and the other streams them through the L3, which
every core — and on a shared machine every tenant — competes for (docs/performance.md, rules
table: the inference choice between Winograd and the pairs).

Linux reports the caches in ``/sys/devices/system/cpu/cpu0/cache/index*/`` (``level``, ``type``,
``size`` such as ``1024K``). Elsewhere, or when nothing can be read, :data:`DEFAULT_L2_BYTES`.
"""

from __future__ import annotations

import functools
from pathlib import Path

# A common L2 size per core (AMD Zen 4, Intel Ice Lake server: 1–1.25 MiB): the rules' fallback.
DEFAULT_L2_BYTES = 1 << 20
_SYSFS = Path("/sys/devices/system/cpu/cpu0/cache")
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int | None:
    """Bytes of a sysfs cache size (``"1024K"``, ``"2M"``, ``"512"``); None if unreadable."""
    text = text.strip().upper()
    scale = _UNITS.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in _UNITS else text
    return int(digits) * scale if digits.isdigit() and int(digits) > 0 else None


@functools.lru_cache(maxsize=1)
def l2_bytes(root: Path = _SYSFS) -> int:
    """Bytes of the L2 (data or unified) cache of one core: sysfs, else the default."""
    try:
        for index in sorted(root.glob("index*")):
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            if level == "2" and kind in ("Data", "Unified"):
                size = parse_size((index / "size").read_text())
                if size is not None:
                    return size
    except OSError:
        pass
    return DEFAULT_L2_BYTES
