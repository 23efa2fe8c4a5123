"""nbgrader configuration of the course (read by nbgrader and by ``dlcourse``)."""

c = get_config()  # noqa: F821 -- provided by traitlets when nbgrader loads this file

c.CourseDirectory.course_id = "dl-foundations"
# Instructor-only files beside a source notebook that must never reach students (the variants that prove the
# tests, the hidden checks), and photos that
# assignment 6 puts in my_images/ when it runs (students' own photos are not collected either).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "mutants.py", "grader.py",
                            "my_images"]

# Per cell, sized to the longest cell of any assignment in grading mode (training loops shrink there).
c.Execute.timeout = 300

# Grading kernels talk to nbgrader over encrypted sockets (CurveZMQ keys provisioned per kernel).
c.KernelManager.transport_encryption = "auto"

# Library warnings on stderr would otherwise zero a test cell (nbgrader counts any stderr as failure).
c.IgnorePattern.enabled = True
c.IgnorePattern.pattern = r"(?m)^.*:\d+: \w*Warning: "

# A student who deletes a test cell gets it back, and loses nothing but the cell's own points.
c.OverwriteCells.add_missing_cells = True

# Feedback shows each test's result and the first line of its message, not the hidden test code (nbgrader
# puts it there) nor anything live from the student's outputs. Hidden regions are cleared in test cells only,
# so a stray "### BEGIN HIDDEN TESTS" in an answer cannot stop a student's feedback.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "dlcourse.preprocessors.ClearHiddenTestsOfTestCells",
    "dlcourse.preprocessors.ShortenTestTracebacks",
    "dlcourse.preprocessors.SanitizeOutputs",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]

# Late submissions. A submission is late when its timestamp (set by `nbgrader submit`, kept by `nbgrader collect`)
# is past the assignment's due date in the gradebook plus the student's extension, if any. Without a due date
# nothing is late; set one with `nbgrader db assignment add ASSIGNMENT --duedate="2026-12-01 23:59 UTC"`.
# While autograding, a late notebook loses per_day of its score for every started day late (0.1: a minute late
# costs 10 %, 10 days or more cost everything). The penalty is computed from the score at autograding time:
# manual grades given later do not change it (`nbgrader autograde --force` keeps them and recomputes it).
c.AssignLatePenalties.plugin_class = "dlcourse.plugins.LatePenalty"
c.LatePenalty.per_day = 0.1

# Autograding that survives hostile or broken submissions (dlcourse/preprocessors.py): nbgrader's Execute is
# replaced by GuardedExecute (time budget per notebook, clear errors when a kernel dies or a loop never
# ends, output cap, replaced test helpers detected) running each kernel in the sandbox (dlcourse/sandbox.py,
# the grader's side; dlcourse/sandbox_launcher.py, the kernel's): an empty room with only the Python
# environment, the student's own files and a private /tmp; no network, no privileges, bounded memory,
# processes and disk. Stderr from a passing test cell no longer zeroes it; the student's outputs are
# sanitized after grading, so the autograded notebook is safe to open in formgrader.
# A test cell whose hidden part is "# judged by grader.py: <check>" (every test cell of this course) never runs in
# the student's kernel: the grader runs that check of source/<assignment>/grader.py (dlcourse/judge.py), which
# calls the student's code and the reference solution's (a second kernel that ran the source notebook) on inputs
# drawn from grader_secret.key, the student and the check, compares the plain data they return
# (dlcourse/probe.py) and writes the cell's output.
c.Autograde.autograde_preprocessors = [
    "dlcourse.preprocessors.GuardedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "dlcourse.preprocessors.TestStderrKeepsPoints",
    "dlcourse.preprocessors.TestResultsAreNotGrades",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "dlcourse.preprocessors.SanitizeOutputs",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
# A test cell the student copied crashes nbgrader 0.9.6's OverwriteCells (KeyError 'grade_id') unless the
# copy's emptied metadata is dropped after DeduplicateIds.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "dlcourse.preprocessors.DropEmptyGradeMetadata",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]
c.GuardedExecute.notebook_timeout = 900  # seconds per notebook, on top of Execute.timeout per cell
# Limits from the reference: `dlcourse release` grades the reference solution and keeps its seconds per cell in
# source/<assignment>/reference_times.json (released too, so that `dlcourse check` applies the same limits; the
# grader reads the source's copy); while grading, a cell may then take 10x the reference's time (at least
# 5 s, at most Execute.timeout) and the notebook's cells 5x the reference's total (at least 60 s, at most
# notebook_timeout): room for a loaded grader and for slower correct answers. A loop that never ends costs a few times the reference; a slower correct answer (loops where
# the reference vectorises) keeps its points.
c.GuardedExecute.cell_timeout_factor = 10.0
c.GuardedExecute.cell_timeout_floor = 5.0
c.GuardedExecute.notebook_timeout_factor = 5.0
c.GuardedExecute.notebook_timeout_floor = 60.0
c.SandboxedKernelManager.memory_mb = 6144  # all of a kernel's memory, shared memory included (memory cgroup)
c.SandboxedKernelManager.max_processes = 256  # processes and threads of a kernel (pids cgroup, RLIMIT_NPROC)
c.SandboxedKernelManager.disk_mb = 1024  # the kernel's /tmp (its working folder and home) and /dev/shm
c.SandboxedKernelManager.max_submission_mb = 100  # the student's files copied into the kernel's folder
c.SandboxedKernelManager.max_message_mb = 64  # the largest message the grader takes from a kernel
# A collected submission is hostile data: links, fifos, devices and hard links in submitted/ are removed before
# nbgrader copies it (its copy follows links). `dlcourse grade` reads submissions the same way.
c.Autograde.pre_convert_hook = "dlcourse.plugins.drop_unsafe_submission_files"
