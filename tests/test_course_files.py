"""The course's own files: nbgrader configuration, the two environment descriptions, the CI script."""

import re
import tomllib

import yaml
from conftest import ROOT
from nbconvert.preprocessors import Preprocessor
from packaging.requirements import Requirement

from dlcourse import grading, preprocessors

CONDA_NAMES = {"pytorch": "torch"}  # conda-forge name -> PyPI name


def test_nbgrader_config_sets_what_grading_relies_on():
    config = grading.load_config(ROOT)
    assert config.CourseDirectory.course_id
    assert config.OverwriteCells.add_missing_cells is True
    assert config.Execute.timeout >= 60
    assert "mutants.py" in config.CourseDirectory.ignore
    assert config.IgnorePattern.enabled is True
    assert "ClearHiddenTests" in " ".join(config.GenerateFeedback.preprocessors)


def test_ignore_pattern_drops_library_warnings_but_not_real_stderr():
    pattern = re.compile(grading.load_config(ROOT).IgnorePattern.pattern)
    warning = "/venv/lib/python3.11/site-packages/torch/nn/modules/module.py:1736: UserWarning: something\n  x()\n"
    assert pattern.search(warning)
    assert pattern.search("/x.py:3: DeprecationWarning: old\n")
    assert not pattern.search("my own debug line\n")
    assert not pattern.search("Traceback (most recent call last):\n  File \"x\", line 1\nValueError: bad\n")


def _pyproject_requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = project["dependencies"] + project["optional-dependencies"]["dev"]
    return {Requirement(r).name.lower(): Requirement(r) for r in names}


def _conda_requirements() -> dict[str, Requirement]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(e["pip"] for e in env["dependencies"] if isinstance(e, dict))
    result = {}
    for entry in env["dependencies"] + pip_section:
        if not isinstance(entry, str) or entry.startswith(("python", "pip", "-e")):
            continue
        name, spec = re.match(r"([A-Za-z0-9_.-]+)(.*)", entry).groups()
        name = CONDA_NAMES.get(name.lower(), name.lower())
        result[name] = Requirement(name + spec)
    return result


def test_environment_yml_and_pyproject_name_the_same_packages_and_versions():
    pip, conda = _pyproject_requirements(), _conda_requirements()
    assert set(pip) == set(conda), f"only in pyproject: {set(pip) - set(conda)}; only in environment.yml: " \
                                   f"{set(conda) - set(pip)}"
    for name, requirement in pip.items():
        assert requirement.specifier == conda[name].specifier, \
            f"{name}: pyproject says {requirement.specifier}, environment.yml says {conda[name].specifier}"


def test_torch_pins_are_the_installable_ones():
    pip = _pyproject_requirements()
    assert str(pip["torch"].specifier) == "==2.14.1"
    assert str(pip["torchvision"].specifier) == "==0.29.1"


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "make test" in ci and "make test" in readme and "make demo" in readme


def test_shorten_test_tracebacks_keeps_the_message_only():
    import nbformat

    cell = nbformat.v4.new_code_cell("assert False, 'x_hist is off'", metadata={
        "nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 1}})
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="x_hist is off",
                                           traceback=["\x1b[31mline with hidden code\x1b[0m", "AssertionError: x"])]
    shortened, _ = preprocessors.ShortenTestTracebacks().preprocess_cell(cell, {}, 0)
    assert shortened.outputs[0].traceback == ["AssertionError: x_hist is off"]
    shorten = preprocessors.ShortenTestTracebacks()
    assert isinstance(shorten, Preprocessor) and shorten.enabled
