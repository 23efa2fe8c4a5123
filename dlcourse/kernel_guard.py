"""Runs inside a grading kernel, sent by :class:`dlcourse.preprocessors.GuardedExecute` before the first cell.

- :func:`enter_submission` moves the kernel into the student's working folder once the kernel has started
  (it starts in an empty home so that no submitted file is read as configuration) and puts that folder at
  the end of ``sys.path``: a submitted ``dlcourse/`` or ``numpy.py`` cannot shadow the installed packages.
- :func:`install` records the genuine numpy / torch / builtins / ``dlcourse.checks`` objects and pushes a
  checker under a random name; the grader calls it after every cell (see ``GuardedExecute._replaced``).
- :func:`release_memory` lets go of a failed allocation's traceback, which would keep its memory alive.

This is a tripwire for accidents and the obvious tricks, not a wall: the student's code shares the process.
"""

import builtins
import gc
import importlib
import os
import sys


def enter_submission() -> None:
    """The sandbox names the folder in DLCOURSE_SUBMISSION; without it the kernel stays where it started."""
    folder = os.environ.get("DLCOURSE_SUBMISSION") or os.getcwd()
    os.chdir(folder)
    sys.path[:] = [p for p in sys.path if p not in ("", ".", folder)] + [folder]


def install(name: str, dotted_names: list[str], builtin_names: list[str], modules: list[str]) -> None:
    """Record the genuine objects and push ``name(used) -> str``, naming what was replaced since."""
    for module in modules:
        importlib.import_module(module)
    ip = get_ipython()  # noqa: F821 -- runs only inside IPython
    getattr_, sorted_ = getattr, sorted
    genuine = {}
    for dotted in dotted_names:
        for full in _expand(dotted):
            owner, attr = _resolve(full)
            genuine[full] = (owner, attr, getattr_(owner, attr))
    genuine_modules = {m: mod for m, mod in list(sys.modules.items())
                       if any(m == x or m.startswith(x + ".") for x in modules)}
    originals = {n: builtins.__dict__[n] for n in builtin_names}
    labels = {id(obj): full for full, (_, _, obj) in genuine.items()}
    labels.update({id(mod): m for m, mod in genuine_modules.items()})
    hooks = {n: getattr_(type(ip), n) for n in ("run_cell", "run_cell_async", "run_ast_nodes", "run_code",
                                                "transform_cell")}
    transformers = _transformers(ip)
    seen = {}

    def check(used):
        bad = [full for full, (owner, attr, obj) in genuine.items() if getattr_(owner, attr, None) is not obj]
        bad += [f"sys.modules[{m!r}]" for m, mod in genuine_modules.items() if sys.modules.get(m) is not mod]
        bad += [f"builtins.{n}" for n, obj in originals.items() if builtins.__dict__.get(n) is not obj]
        bad += [f"IPython's {n}" for n, f in hooks.items() if getattr_(type(ip), n) is not f or n in vars(ip)]
        if _transformers(ip) != transformers:
            bad.append("IPython's input transformers")
        ns = ip.user_ns
        for n in used:
            if n in originals and n in ns:
                bad.append(f"{n} (the submission's own {n} hides the builtin)")
            elif n in seen and ns.get(n) is not seen[n]:
                bad.append(f"{n} (it no longer refers to {labels[id(seen[n])]})")
        for n, value in list(ns.items()):
            if n not in seen and id(value) in labels:
                seen[n] = value
        return ", ".join(sorted_(set(bad)))

    ip.push({name: check}, interactive=False)


def release_memory() -> None:
    sys.last_type = sys.last_value = sys.last_traceback = None
    ip = get_ipython()  # noqa: F821 -- runs only inside IPython
    ip.last_execution_result = ip.InteractiveTB.tb = None
    gc.collect()


def _expand(dotted: str) -> list[str]:
    """'module.*' -> the module's public callables (if imported); 'a.b.c' -> itself if its module is imported."""
    if dotted.endswith(".*"):
        module = sys.modules.get(dotted[:-2])
        if module is None:
            return []
        return [f"{dotted[:-2]}.{n}" for n in dir(module) if not n.startswith("_") and callable(getattr(module, n))]
    return [dotted] if dotted.split(".")[0] in sys.modules else []


def _resolve(dotted: str):
    """(owner, attribute) for a dotted name whose longest imported prefix is a module."""
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        if ".".join(parts[:cut]) in sys.modules:
            owner = sys.modules[".".join(parts[:cut])]
            for part in parts[cut:-1]:
                owner = getattr(owner, part)
            return owner, parts[-1]
    raise LookupError(dotted)


def _transformers(ip) -> list[list]:
    return [list(ip.input_transformers_cleanup), list(ip.input_transformers_post), list(ip.ast_transformers)]
