"""The Sphinx docs build with warnings as errors (part of the default test command)."""

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_sphinx_build_has_no_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html", str(ROOT / "docs"),
           str(tmp_path / "html")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert (tmp_path / "html" / "index.html").exists()
    # Math renders offline: the pages load the MathJax copied into the build, not a CDN.
    page = (tmp_path / "html" / "dynamics.html").read_text()
    assert 'src="_static/mathjax/tex-chtml.js' in page and "cdn.jsdelivr" not in page
    assert (tmp_path / "html" / "_static" / "mathjax" / "tex-chtml.js").exists()
