"""Helpers for the deep-learning foundations course: data, checks, plots, reproducibility, grading.

Students import ``dlcourse.data``, ``dlcourse.checks``, ``dlcourse.plotting`` and ``dlcourse.runtime``;
instructors use the ``dlcourse`` command (``dlcourse.cli``). Nothing here holds a reference solution.
"""

__version__ = "0.1.0"
