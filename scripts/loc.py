"""Print code lines per module (no docstrings, comments or blank lines), largest first."""

from __future__ import annotations

import ast
import sys
from pathlib import Path


def code_lines(path: Path) -> int:
    """Count non-blank, non-comment lines outside docstrings."""
    text = path.read_text()
    doc_lines: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            value = body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                doc_lines.update(range(value.lineno, (value.end_lineno or value.lineno) + 1))
    return sum(
        1
        for i, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.strip().startswith("#") and i not in doc_lines
    )


def main() -> int:
    root = Path(__file__).resolve().parent.parent / "glassnet"
    rows = sorted(((code_lines(p), p.relative_to(root.parent)) for p in root.rglob("*.py")),
                  reverse=True)
    for n, p in rows[:15]:
        print(f"{n:6d}  {p}")
    print(f"{sum(n for n, _ in rows):6d}  total code lines in {len(rows)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
