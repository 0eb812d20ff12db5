"""Install pracmln 1.2.4 (the reference engine) into the running interpreter's environment.

Run ``python -m again_mln.engines.install_pracmln``. pracmln 1.2.4 does not build as published:
its ``setup.py`` uses ``distutils.command.install`` without importing it. A ``sitecustomize``
module that imports it, put on ``PYTHONPATH`` for the build only, makes the build pass; the
build runs without isolation so it sees this environment's setuptools (which provides
``distutils`` on Python >= 3.12). The run-time imports are fixed by
:mod:`again_mln.engines.pracmln_compat`, not by patching the installed files.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

PRACMLN = "pracmln==1.2.4"
#: pracmln's run-time imports (it declares none that pip can resolve today) and its build needs.
DEPENDENCIES = ("setuptools", "wheel", "dnutils", "pyparsing", "tabulate", "psutil", "mpmath", "appdirs", "numpy", "scipy")
_SITECUSTOMIZE = "import distutils.command.install  # noqa: F401  (pracmln's setup.py uses it unimported)\n"


def install(quiet: bool = False) -> None:
    """pip-install pracmln's dependencies, then pracmln itself with the build fix."""
    pip = [sys.executable, "-m", "pip", "install", *(["--quiet"] if quiet else [])]
    subprocess.run([*pip, *DEPENDENCIES], check=True)
    with tempfile.TemporaryDirectory() as shim:
        Path(shim, "sitecustomize.py").write_text(_SITECUSTOMIZE)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [shim, os.environ.get("PYTHONPATH")])))
        subprocess.run([*pip, "--no-build-isolation", "--no-deps", PRACMLN], check=True, env=env)


def main() -> int:
    try:
        install(quiet="--quiet" in sys.argv[1:])
    except subprocess.CalledProcessError as err:
        print(f"installing pracmln failed: {' '.join(map(str, err.cmd))} exited with {err.returncode}", file=sys.stderr)
        return 1
    from again_mln.engines.pracmln_compat import import_pracmln

    import_pracmln()
    print("pracmln 1.2.4 is installed and imports")
    return 0


if __name__ == "__main__":
    sys.exit(main())
