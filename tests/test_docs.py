"""The documentation site builds in strict mode (no broken link or anchor, no docstring the API
page cannot read), shows every estimator on its index, and writes its formulas as mathematics."""

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from causalrep.estimators import ESTIMATORS

ROOT = Path(__file__).parents[1]
DOCS = ROOT / "docs"

# Pages whose formulas are LaTeX; each must hold some.
MATH_PAGES = (
    "index.md",
    "concepts.md",
    "verification.md",
    "benchmarks.md",
    "gallery.md",
    "estimators/interventional.md",
    "estimators/causaldiffae.md",
    "estimators/multienv.md",
    "estimators/baselines.md",
    "estimators/rep4ex.md",
)
# Pages not yet converted; remove a page from here once its formulas are LaTeX.
PENDING = set()

FENCE = re.compile(r"^ *```.*?^ *```", re.DOTALL | re.MULTILINE)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
# Greek, sub- and superscripts, letter-like symbols, arrows, mathematical operators, letters
# with a hat or a tilde, a caret or a LaTeX command: a formula, not code.
FORMULA = re.compile(
    r"[\u0370-\u03ff\u1f00-\u1fff\u2070-\u209f\u2100-\u214f\u2190-\u22ff\u00b2\u00b3\u00b9\u1d2c-\u1dbf"
    r"\u0302-\u0304\u0177\u1e00-\u1eff\u2016^]|\\[a-z]+"
)
MATH = re.compile(r'<(span|div) class="arithmatex">(.*?)</\1>', re.DOTALL)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    folder = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(folder)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def _page(site, page):
    """The built HTML of a docs page, e.g. ``"estimators/multienv.md"``."""
    name = page.removesuffix(".md")
    return (site / ("index.html" if name == "index" else f"{name}/index.html")).read_text()


def test_docs_build_strict(site):
    api = _page(site, "api.md")
    for name in ("InterventionalCRL", "Rep4Ex", "CausalDiffAE", "assert_identified", "ahuja2023"):
        assert name in api


def test_every_docs_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")}
    assert {page for page in pages if page not in nav} == set()


def test_every_estimator_is_on_the_index_with_its_page_and_figure(site):
    index = _page(site, "index.md")
    cards = index[index.index('class="grid cards"') :]
    for entry in ESTIMATORS.values():
        assert entry.class_name in cards, entry.class_name
    for page in (DOCS / "estimators").glob("*.md"):
        assert f'href="estimators/{page.stem}/"' in cards, page.name
    figures = re.findall(r'<img alt="[^"]+" src="(img/[^"]+)"', cards)
    assert len(figures) >= 4
    assert all((DOCS / figure).is_file() for figure in figures)


def test_every_estimator_is_in_the_table_of_guarantees(site):
    concepts = _page(site, "concepts.md")
    table = concepts[concepts.index('id="which-estimator-promises-what"') :].split("</table>")[0]
    for entry in ESTIMATORS.values():
        assert f"<code>{entry.class_name}</code>" in table, entry.class_name


def test_the_gallery_shows_every_example_and_is_one_click_from_the_index(site):
    gallery = (DOCS / "gallery.md").read_text()
    built = html.unescape(_page(site, "gallery.md"))
    for example in (ROOT / "examples").glob("*.py"):
        assert f'--8<-- "examples/{example.name}"' in gallery, example.name
        summary = example.read_text().split('"""')[1].splitlines()[0]
        assert summary in built, example.name  # the source is on the page
    for figure in re.findall(r"\]\((img/[^)]+)\)", gallery):
        assert (DOCS / figure).is_file(), figure
    index = _page(site, "index.md")
    for section in ("identifiability-report", "rep4ex-extrapolation-curve", "causaldiffae-counterfactual-grid"):
        assert f'href="gallery/#{section}"' in index
        assert f'id="{section}"' in built


def test_the_math_extension_is_configured_and_shipped():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    extensions = {}
    for item in config["markdown_extensions"]:
        extensions.update(item if isinstance(item, dict) else {item: None})
    assert extensions["pymdownx.arithmatex"] == {"generic": True}
    scripts = config["extra_javascript"]
    assert scripts[-1] == "assets/math.js"
    assert "renderMathInElement" in (DOCS / scripts[-1]).read_text()
    for path in scripts + config["extra_css"]:
        assert (DOCS / path).is_file(), path
    assert any("katex" in path for path in scripts)
    assert any("katex" in path for path in config["extra_css"])


def test_pages_with_formulas_use_the_math_extension(site):
    for page in MATH_PAGES:
        assert 'class="arithmatex"' in _page(site, page), page
    for path in DOCS.rglob("*.md"):
        page = path.relative_to(DOCS).as_posix()
        if page in PENDING:
            continue
        text = FENCE.sub("", path.read_text())
        as_code = [span for span in CODE_SPAN.findall(text) if FORMULA.search(span)]
        assert as_code == [], f"{page}: formulas written as code, write them as $...$: {as_code}"


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run KaTeX")
def test_every_formula_renders(site):
    """Each formula of the built site goes through the shipped KaTeX without an error."""
    formulas = [
        {"page": page.relative_to(site).as_posix(), "tex": html.unescape(body).strip()[2:-2], "display": tag == "div"}
        for page in site.rglob("*.html")
        for tag, body in MATH.findall(page.read_text())
    ]
    assert len(formulas) > 100
    script = (
        "const katex = require(process.argv[1]);"
        "const formulas = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
        "const bad = [];"
        "for (const f of formulas) {"
        "  try { katex.renderToString(f.tex, {displayMode: f.display, throwOnError: true}); }"
        "  catch (e) { bad.push([f.page, f.tex, e.message]); }"
        "}"
        "console.log(JSON.stringify(bad));"
    )
    katex = DOCS / "assets" / "katex" / "katex.min.js"
    result = subprocess.run(
        ["node", "-e", script, str(katex)], input=json.dumps(formulas), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout) == []
