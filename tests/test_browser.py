"""JupyterLab 4 with nbgrader's lab extensions in a real browser (Playwright driving Debian's chromium).

A student runs assignment 1 and validates it from the notebook toolbar; an instructor grades a written answer
in formgrader. Everything happens in a scratch copy of the course served by `jupyter lab` on a free port.
Screenshots of each step go to tests/artifacts/browser/; with DLCOURSE_UPDATE_SCREENSHOTS=1 the README's
screenshots in docs/screenshots/ are refreshed from them.
"""

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT, free_port

from dlcourse import grading, mutation
from dlcourse.pdf import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.notebook

A1 = "a1_gradient_descent"
ARTIFACTS = ROOT / "tests" / "artifacts" / "browser"
SCREENSHOTS = ROOT / "docs" / "screenshots"
VIEWPORT = {"width": 1280, "height": 800}
SERVER_START_TIMEOUT = 90  # s; JupyterLab imports every server extension first (nbgrader's take a second each)
KERNEL_TIMEOUT = 90_000  # ms: a kernel's start and the notebook's imports (torch) on a busy machine
RUN_TIMEOUT = 180_000  # ms: Run All of a1 takes about 11 s on an idle machine
VALIDATE_TIMEOUT = 180_000  # ms: validate executes the whole notebook again in a new kernel
GRADER = "alice"
WRITTEN_ANSWER = "answer_step_size"
# Run All marks every queued cell [*]; it is done when none is left and some cell has a number.
RUN_FINISHED = """prompts => prompts.some(p => /\\d/.test(p.textContent))
                          && !prompts.some(p => p.textContent.includes('*'))"""

# JupyterLab settings for a test browser: no news or update prompts over the page, and every cell kept in
# the page (by default cells far off screen are not rendered, so their prompts could not be read).
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                        "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A scratch course with a1 released and two students' copies of it: filled with the reference answers,
    and untouched."""
    folder = tmp_path_factory.mktemp("browser-course")
    shutil.copy(ROOT / grading.CONFIG_FILE, folder / grading.CONFIG_FILE)
    shutil.copytree(ROOT / "source" / A1, folder / "source" / A1)
    grading.build_release(grading.api(folder), [A1])
    for student, notebook in student_notebooks(folder).items():
        target = folder / "students" / student / A1 / f"{A1}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(notebook, target)
    return folder


def student_notebooks(folder: Path) -> dict:
    source_nb = nbformat.read(folder / "source" / A1 / f"{A1}.ipynb", as_version=4)
    release_nb = nbformat.read(folder / "release" / A1 / f"{A1}.ipynb", as_version=4)
    return {"reference": mutation.fill_submission(release_nb, mutation.reference_answers(source_nb)),
            "untouched": release_nb}


@pytest.fixture(scope="module")
def lab(course, tmp_path_factory):
    """`jupyter lab` serving the scratch course on a free localhost port; yields (base url, token)."""
    state = tmp_path_factory.mktemp("jupyter")
    for name, settings in LAB_SETTINGS.items():
        path = state / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings))
    port, token = free_port(), secrets.token_hex(16)
    # the user's own ~/.jupyter config and runtime files stay out of the test
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(state / "config"), JUPYTER_RUNTIME_DIR=str(state / "runtime"))
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}",
               f"--LabApp.user_settings_dir={state / 'settings'}", f"--LabApp.workspaces_dir={state / 'workspaces'}",
               "--LabApp.extension_manager=readonly", "--LabApp.news_url=None"]
    if os.geteuid() == 0:  # CI containers run as root, which jupyter refuses unless told
        command.append("--allow-root")
    log_path = state / "server.log"
    # nbgrader's validate and formgrader read nbgrader_config.py from the server's working directory
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(server, base_url, token, log_path)
        yield base_url, token
    finally:
        stop_server(server, base_url, token)


def api_request(base_url: str, token: str, path: str, method: str = "GET"):
    request = urllib.request.Request(f"{base_url}{path}", method=method, headers={"Authorization": f"token {token}"})
    return urllib.request.urlopen(request, timeout=10)


def wait_until_serving(server: subprocess.Popen, base_url: str, token: str, log_path: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
        try:
            with api_request(base_url, token, "/api/status"):
                return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.5)
    server.kill()
    raise RuntimeError(f"jupyter lab did not answer within {SERVER_START_TIMEOUT} s:\n{log_path.read_text()[-3000:]}")


def stop_server(server: subprocess.Popen, base_url: str, token: str) -> None:
    """Ask the server to shut down (it stops its kernels first); kill it if it does not."""
    try:
        api_request(base_url, token, "/api/shutdown", method="POST").close()
        server.wait(timeout=30)
    except (urllib.error.URLError, ConnectionError, subprocess.TimeoutExpired):
        server.kill()
        server.wait()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives each browser a fresh temporary profile (user data dir)
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def screenshot(page, name: str, publish_as: str | None = None) -> Path:
    """Save a screenshot to the artifacts; ``publish_as`` names its copy in docs/screenshots/ when updating."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=path)
    if publish_as and os.environ.get("DLCOURSE_UPDATE_SCREENSHOTS") == "1":
        from PIL import Image

        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        # a 256-colour palette keeps UI screenshots small in git without visible loss
        Image.open(path).convert("RGB").quantize(256).save(SCREENSHOTS / f"{publish_as}.png", optimize=True)
    return path


def open_lab(page, lab, workspace: str, path: str = "") -> None:
    """Open JupyterLab in its own workspace (a fresh layout) and fold the file browser away."""
    base_url, token = lab
    page.goto(f"{base_url}/lab/workspaces/{workspace}{'/tree/' + path if path else ''}?token={token}")
    page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current").click()


def choose_menu(page, menu: str, item: str) -> None:
    page.get_by_role("menuitem", name=menu, exact=True).click()
    page.get_by_role("menuitem", name=item, exact=True).click()


def graded_cells(notebook) -> list[str]:
    return [c.metadata.nbgrader["grade_id"] for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]


@pytest.mark.parametrize("student", ["reference", "untouched"])
def test_student_runs_all_cells_and_validates(lab, course, page, student):
    open_lab(page, lab, f"student-{student}", f"students/{student}/{A1}/{A1}.ipynb")
    notebook = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
    # the status bar names the kernel once it is up ("No Kernel | Initializing" before)
    kernel_idle = page.locator(".jp-StatusBar-Widget").get_by_text(re.compile(r"^(?!No Kernel).+ \| Idle$"))
    kernel_idle.wait_for(timeout=KERNEL_TIMEOUT)

    choose_menu(page, "Run", "Run All Cells")
    prompts = notebook.locator(".jp-CodeCell .jp-InputPrompt")
    page.wait_for_function(RUN_FINISHED, arg=prompts.element_handles(), timeout=RUN_TIMEOUT)
    kernel_idle.wait_for(timeout=KERNEL_TIMEOUT)
    errors = notebook.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    if student == "reference":
        texts = prompts.all_inner_texts()
        assert all(any(ch.isdigit() for ch in t) for t in texts), f"Run All left cells unexecuted: {texts}"
        assert errors.count() == 0, f"the reference run shows errors or stderr: {errors.all_inner_texts()}"
        notebook.locator(".jp-RenderedImage img").first.scroll_into_view_if_needed()
    else:
        assert "NotImplementedError" in " ".join(errors.all_inner_texts()), "an unanswered task should raise"
    screenshot(page, f"student-{student}-1-run-all")

    notebook.get_by_role("button", name="Validate", exact=True).click()
    dialog = page.locator(".jp-Dialog")
    dialog.get_by_text("Validation Results").wait_for(timeout=VALIDATE_TIMEOUT)
    screenshot(page, f"student-{student}-2-validated", publish_as="validate" if student == "reference" else None)
    body = dialog.locator(".jp-Dialog-body")
    text = body.inner_text()
    if student == "reference":
        assert "validation-success" in body.get_attribute("class"), f"validate did not succeed:\n{text[:3000]}"
        assert "Success! Your notebook passes all the tests." in text
    else:
        assert "validation-failed" in body.get_attribute("class"), f"validate should report failures:\n{text[:3000]}"
        release_nb = nbformat.read(course / "release" / A1 / f"{A1}.ipynb", as_version=4)
        failed = text.count("The following cell failed:")
        assert failed == len(graded_cells(release_nb)), \
            f"every graded cell of the untouched release should fail validation, {failed} did:\n{text[:3000]}"
    dialog.get_by_role("button", name="Ok").click()


@pytest.fixture(scope="module")
def autograded_submission(course):
    """The reference answers submitted by one student and autograded; the written answers await a person."""
    mutation.write_submission(course, A1, GRADER, student_notebooks(course)["reference"])
    problems = grading.autograde(grading.api(course), A1, [GRADER], progress=False)
    assert problems == {GRADER: ""}, f"autograde failed: {problems[GRADER]}"
    return course


def written_grade(course: Path):
    """(manual score, needs manual grade, manual comment) of the written answer, read from nbgrader's gradebook."""
    with grading.api(course).gradebook as gradebook:
        grade = gradebook.find_grade(WRITTEN_ANSWER, A1, A1, GRADER)
        comment = gradebook.find_comment(WRITTEN_ANSWER, A1, A1, GRADER)
        return grade.manual_score, grade.needs_manual_grade, comment.manual_comment


def test_instructor_grades_a_written_answer_in_formgrader(lab, autograded_submission, page):
    course = autograded_submission
    assert written_grade(course) == (None, True, None), "the written answer should await manual grading"
    open_lab(page, lab, "instructor")
    page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
    items = page.locator(".lm-Menu-item[data-command^='nbgrader:']").all_inner_texts()
    for item in ("Assignment List", "Formgrader", "Create assignment"):
        assert any(item in text for text in items), f"nbgrader's lab extension should offer {item!r}; menu: {items}"
    page.get_by_role("menuitem", name="Formgrader", exact=True).click()

    formgrader = page.frame_locator("iframe[src*='formgrader']")
    formgrader.get_by_role("link", name="Manual Grading", exact=True).first.click()
    formgrader.get_by_role("link", name=A1, exact=True).click()  # the assignment
    formgrader.get_by_role("link", name=A1, exact=True).click()  # its notebook
    submission = formgrader.get_by_role("link", name="Submission #1")
    submission.wait_for()
    screenshot(page, "instructor-1-submissions", publish_as="formgrader-submissions")
    submission.click()

    score = formgrader.locator(f"#{WRITTEN_ANSWER}")
    score.scroll_into_view_if_needed()
    comment_text = "Right about the small step; say why a step of 0.4 bounces between the valleys."
    save_in_formgrader(page, score, "2", "/formgrader/api/grade/")
    save_in_formgrader(page, formgrader.locator(f"#{WRITTEN_ANSWER}-comment"), comment_text, "/formgrader/api/comment/")
    screenshot(page, "instructor-2-manual-grade", publish_as="manual-grading")

    assert written_grade(course) == (2.0, False, comment_text), \
        "the score and comment typed in formgrader should be stored in the gradebook, the grade resolved"


def save_in_formgrader(page, field, value: str, api_path: str) -> None:
    """Type into a formgrader field and leave it, which saves it; wait for the server to confirm."""
    with page.expect_response(lambda r: api_path in r.url and r.request.method == "PUT") as saved:
        field.fill(value)
        field.blur()
    assert saved.value.ok, f"formgrader could not save {value!r}: HTTP {saved.value.status}"
