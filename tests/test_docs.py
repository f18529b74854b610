"""The documentation site builds in strict mode: no broken link, no docstring the API page cannot read."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_docs_build_strict(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    api = (tmp_path / "site" / "api" / "index.html").read_text()
    for name in ("InterventionalCRL", "Rep4Ex", "CausalDiffAE", "assert_identified", "ahuja2023"):
        assert name in api


def test_every_docs_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    assert {page for page in pages if page not in nav} == set()
