"""nbgrader configuration of the course (read by nbgrader and by ``dlcourse``)."""

c = get_config()  # noqa: F821 -- provided by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "dl-foundations"
# Instructor-only files beside a source notebook that must never reach students, and photos that
# assignment 6 puts in my_images/ when it runs (students' own photos are not collected either).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "mutants.py", "my_images"]

# Per cell, sized to the longest cell of any assignment in grading mode (training loops shrink there).
c.Execute.timeout = 300

# Grading kernels talk to nbgrader over encrypted sockets (CurveZMQ keys provisioned per kernel).
c.KernelManager.transport_encryption = "auto"

# Library warnings on stderr would otherwise zero a test cell (nbgrader counts any stderr as failure).
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?m)^.*:\d+: \w*Warning: "

# A student who deletes a test cell gets it back, and loses nothing but the cell's own points.
c.OverwriteCells.add_missing_cells = True

# Feedback shows each test's result and message, not the hidden test code (nbgrader puts it there).
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "nbgrader.preprocessors.ClearHiddenTests",
    "dlcourse.grading.ShortenTestTracebacks",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
