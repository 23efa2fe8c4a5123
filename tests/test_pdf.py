"""PDF export, offline: notebooks for handing in and feedback pages, read back from the PDF itself."""

import nbformat
import numpy as np
import pypdfium2
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from pypdf import PdfReader

from dlcourse import cli, pdf

pytestmark = pytest.mark.notebook

ANSWER = "My answer: a smaller learning rate takes smaller, safer steps."
LINE_END = "END_OF_A_VERY_LONG_LINE"


@pytest.fixture(scope="module")
def executed_notebook(tmp_path_factory):
    """A worked notebook: a formula, a written answer, a figure and a code line far wider than a page."""
    folder = tmp_path_factory.mktemp("student")
    long_line = "total = " + " + ".join(str(i) for i in range(90)) + f"  # {LINE_END}"
    notebook = new_notebook(cells=[
        new_markdown_cell("# Gradient descent\nThe update is $$w_{t+1} = w_t - \\eta \\nabla f(w_t)$$"),
        new_markdown_cell(ANSWER),
        new_code_cell("%matplotlib inline\nimport matplotlib.pyplot as plt\n"
                      "plt.plot([0, 1, 2], [0, 1, 4])\nplt.show()"),
        new_code_cell(long_line + "\nprint(total)"),
    ])
    NotebookClient(notebook, kernel_name="python3", timeout=120).execute()
    path = folder / "worked.ipynb"
    nbformat.write(notebook, path)
    return path


@pytest.fixture(scope="module")
def exported(executed_notebook):
    output = executed_notebook.with_name("handed-in.pdf")
    assert cli.main(["pdf", str(executed_notebook), "-o", str(output)]) == 0
    return PdfReader(output), output


def _text(reader: PdfReader) -> str:
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_pdf_holds_the_answers_and_the_code(exported):
    text = _text(exported[0])
    assert ANSWER in text.replace("\n", " ")
    assert "plt.plot([0, 1, 2], [0, 1, 4])" in text


def test_formulas_are_typeset_not_left_as_tex(exported):
    text = _text(exported[0])
    assert "\\nabla" not in text and "$$" not in text, "MathJax did not run: the TeX source is in the PDF"
    assert "∇" in text and "𝜂" in text, "the typeset formula's symbols are missing"


def test_long_code_lines_wrap_instead_of_being_cut(exported):
    text = _text(exported[0])
    assert LINE_END in text, "the end of the long code line is missing: it ran off the page"
    assert "4005" in text, "the cell's output is missing"


def test_figures_are_embedded_and_the_page_renders(exported):
    reader, path = exported
    assert sum(len(page.images) for page in reader.pages) >= 1, "the matplotlib figure is not in the PDF"
    page = pypdfium2.PdfDocument(path)[0].render(scale=1).to_pil()
    png = path.with_suffix(".png")
    page.save(png)
    pixels = np.asarray(page.convert("L"), dtype=float)
    assert png.stat().st_size > 0 and pixels.std() > 10, "page 1 renders blank"


def test_a_page_with_cdn_mathjax_prints_offline_with_the_local_one(tmp_path):
    page = tmp_path / "feedback.html"
    page.write_text('<html><head><script src="https://cdn.jsdelivr.net/npm/mathjax@2/MathJax.js'
                    '?config=TeX-AMS_HTML"></script></head><body><p>AssertionError: step_size=0.1: f is off</p>'
                    "<p>$$\\sum_i x_i$$</p></body></html>")
    [written] = pdf.html_files_to_pdf([page], progress=False)
    text = _text(PdfReader(written))
    assert "AssertionError: step_size=0.1: f is off" in text
    assert "∑" in text and "\\sum" not in text, "the formula was not typeset by the local MathJax"
