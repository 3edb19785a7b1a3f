"""Every Python block of the README and the user guide runs as written.

Each page's ```python blocks are joined, in order, into one script (a page
reads as one session) and run by a fresh interpreter in an empty folder, so a
block that leans on a name it never defines, an import it forgot or a file that
is not there fails here.  The gallery's examples are run by the docs build.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _pages_with_code():
    return [page for page in PAGES
            if "_build" not in page.parts and BLOCK.search(page.read_text(encoding="utf-8"))]


def test_the_readme_and_the_guide_have_python_blocks():
    # guards against the pattern silently matching nothing
    names = {page.name for page in _pages_with_code()}
    assert {"README.md", "method.md", "thresholds.md", "scale.md"} <= names


@pytest.mark.parametrize("page", _pages_with_code(), ids=lambda p: str(p.relative_to(ROOT)))
def test_page_runs_as_written(page, tmp_path):
    script = tmp_path / "page.py"
    script.write_text("\n\n".join(BLOCK.findall(page.read_text(encoding="utf-8"))),
                      encoding="utf-8")
    completed = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                               capture_output=True, text=True, timeout=600,
                               env={**os.environ, "MPLBACKEND": "Agg"})
    assert completed.returncode == 0, completed.stderr[-4000:]

