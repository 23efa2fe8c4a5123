"""Notebooks and feedback pages as PDF, fully offline.

The route: nbconvert's lab HTML (figures embedded) -> MathJax 2 from the ``jupyter_server_mathjax``
package, typeset to the end -> printed to PDF by Playwright driving Debian's chromium. The page is served
from memory under a made-up origin, so nothing reaches the network: requests for anything that is not
the page, MathJax or a file beside the page are refused and reported.

    notebook_to_pdf("a1_gradient_descent.ipynb")      # -> a1_gradient_descent.pdf
    html_files_to_pdf([Path("feedback/.../a1.html")])  # -> a PDF next to each HTML file

JupyterLab offers the same export as *File > Save and Export Notebook As > Course_pdf* (the
``course_pdf`` nbconvert exporter registered in pyproject.toml).
"""

import logging
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import jupyter_server_mathjax
from nbconvert.exporters import WebPDFExporter
from traitlets import default

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
MATHJAX_DIR = Path(jupyter_server_mathjax.__file__).parent / "static"
ORIGIN = "http://dlcourse-pdf.invalid"  # never resolved: every request to it is answered by the route handler
MATHJAX_URL = f"{ORIGIN}/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
ROUTE = f"nbconvert lab HTML -> MathJax 2 from jupyter_server_mathjax -> {CHROMIUM} (Playwright)"
TYPESET_TIMEOUT_MS = 60_000

# Printed pages cannot scroll: long code lines and outputs wrap instead of running off the page.
PRINT_CSS = """
pre, code, .jp-OutputArea-output pre, .jp-InputArea-editor pre {
  white-space: pre-wrap !important; overflow-wrap: anywhere !important;
}
.jp-OutputArea-output, .jp-InputArea-editor, .jp-Cell-inputWrapper, .jp-Cell-outputWrapper {
  overflow: visible !important;
}
img { max-width: 100%; height: auto; }
"""

# jupyter_server_mathjax ships the STIX-Web fonts only (MathJax's default is TeX): set before MathJax loads.
MATHJAX_FONTS = """window.MathJax = {"HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web",
                                     imageFont: null}};"""

# Resolves once MathJax has finished the typesetting the page queued on load (or at once without MathJax).
WAIT_FOR_MATHJAX = """() => {
  window.__typeset = null;
  if (!window.MathJax || !window.MathJax.Hub) { window.__typeset = {mathjax: false, formulas: 0}; return; }
  // the hook must return nothing: MathJax's startup would wait for a returned callback, a deadlock here
  MathJax.Hub.Register.StartupHook("End", () => {
    MathJax.Hub.Queue(() => {
      window.__typeset = {mathjax: true, formulas: MathJax.Hub.getAllJax().length,
                          errors: document.querySelectorAll(".MathJax_Error, merror").length};
    });
  });
}"""

log = logging.getLogger(__name__)


class PDFError(RuntimeError):
    """The PDF could not be made; the message says what to do."""


@dataclass(frozen=True)
class Printed:
    pdf: bytes
    formulas: int  # typeset by MathJax
    refused: tuple[str, ...]  # URLs the page asked for that were not served (offline)


class CoursePDFExporter(WebPDFExporter):
    """nbconvert's webpdf exporter, made offline: local MathJax, Debian's chromium, wrapped code lines."""

    export_from_notebook = "PDF (offline, course)"

    @default("mathjax_url")
    def _local_mathjax(self):
        return MATHJAX_URL

    @default("require_js_url")
    def _no_require_js(self):
        return ""  # only widgets need require.js, and it would come from a CDN

    @default("embed_images")
    def _embed_images(self):
        return True  # markdown images by relative path: the page is not served from the notebook's folder

    def run_playwright(self, html):
        printed = print_pages([(html, None)], progress=False)[0]
        self.log.info("PDF via %s; %d formulas typeset", ROUTE, printed.formulas)
        return printed.pdf


def notebook_to_pdf(notebook: Path, pdf: Path | None = None) -> Path:
    """Export ``notebook`` (as saved, outputs included) to ``pdf`` (default: beside it, same name)."""
    notebook = Path(notebook)
    if not notebook.is_file():
        raise PDFError(f"no notebook {notebook}")
    pdf = Path(pdf) if pdf else notebook.with_suffix(".pdf")
    data, _ = CoursePDFExporter().from_filename(str(notebook))
    pdf.write_bytes(data)
    return pdf


def html_files_to_pdf(html_files: Iterable[Path], progress: bool = True) -> list[Path]:
    """A PDF next to each HTML file (e.g. nbgrader feedback), its CDN MathJax swapped for the local one."""
    html_files = [Path(p) for p in html_files]
    pages = [(_local_mathjax(p.read_text(encoding="utf-8")), p.parent) for p in html_files]
    written = []
    for path, printed in zip(html_files, print_pages(pages, progress), strict=True):
        written.append(path.with_suffix(".pdf"))
        written[-1].write_bytes(printed.pdf)
    return written


_MATHJAX_SCRIPT = re.compile(r'(<script[^>]*\ssrc=")[^"]*mathjax[^"]*(")', re.IGNORECASE)


def _local_mathjax(html: str) -> str:
    return _MATHJAX_SCRIPT.sub(lambda m: m.group(1) + MATHJAX_URL + m.group(2), html)


def print_pages(pages: list[tuple[str, Path | None]], progress: bool = True) -> list[Printed]:
    """Print each (html, folder its relative links point into, or None) with one browser.

    Playwright's sync API refuses to run where an asyncio loop is running (a Jupyter kernel, the Jupyter
    server), so the browser lives in a worker thread of its own.
    """
    if not CHROMIUM.is_file():
        raise PDFError(f"PDF export needs Debian's chromium and {CHROMIUM} is missing: run `make setup` "
                       "in the course folder (it installs it) or `sudo apt-get install chromium`")
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_print_in_browser, pages, progress).result()


def _print_in_browser(pages, progress) -> list[Printed]:
    from playwright.sync_api import sync_playwright
    from tqdm.auto import tqdm

    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary profile
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            return [_print_page(browser, html, folder)
                    for html, folder in tqdm(pages, desc="PDF", unit="page", disable=not progress or len(pages) < 2)]
        finally:
            browser.close()


def _print_page(browser, html: str, folder: Path | None) -> Printed:
    page = browser.new_page()
    page.add_init_script(MATHJAX_FONTS)
    refused: list[str] = []
    page.route("**/*", lambda route: _serve(route, html, folder, refused))
    try:
        page.goto(f"{ORIGIN}/", wait_until="load")
        page.evaluate(WAIT_FOR_MATHJAX)
        try:
            page.wait_for_function("window.__typeset !== null", timeout=TYPESET_TIMEOUT_MS)
        except Exception as error:
            raise PDFError(f"MathJax did not finish typesetting within {TYPESET_TIMEOUT_MS // 1000} s") from error
        typeset = page.evaluate("window.__typeset")
        if MATHJAX_URL in html and not typeset["mathjax"]:
            raise PDFError(f"MathJax did not load from {MATHJAX_DIR}; refused requests: {refused}")
        if typeset.get("errors"):
            log.warning("%d formula(s) have TeX errors and show as red source text", typeset["errors"])
        if refused:
            log.warning("left out (offline, not served): %s", ", ".join(refused))
        page.add_style_tag(content=PRINT_CSS)
        pdf = page.pdf(format="A4", print_background=True,
                       margin={"top": "12mm", "bottom": "12mm", "left": "10mm", "right": "10mm"})
        return Printed(pdf, typeset["formulas"], tuple(refused))
    finally:
        page.close()


def _serve(route, html: str, folder: Path | None, refused: list[str]) -> None:
    """The page itself, MathJax's files, and files beside the page; nothing from the network."""
    url = urlsplit(route.request.url)
    path = unquote(url.path)
    if f"{url.scheme}://{url.netloc}" != ORIGIN:
        refused.append(route.request.url)
        route.abort()
        return
    if path == "/":
        route.fulfill(body=html, content_type="text/html; charset=utf-8")
        return
    base, relative = (MATHJAX_DIR, path[len("/mathjax/"):]) if path.startswith("/mathjax/") \
        else (folder, path.lstrip("/"))
    file = (base / relative).resolve() if base else None
    if file and file.is_relative_to(base.resolve()) and file.is_file():
        route.fulfill(path=file)
    else:
        refused.append(route.request.url)
        route.fulfill(status=404)
