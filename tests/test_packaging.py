"""What a user installs: the licence and metadata in the distribution, every
module importable on every supported platform, and a typical script that
type-checks under ``mypy --strict`` against the installed package."""

import os
import runpy
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from mypy import api as mypy_api

import gaussext

USER_SCRIPT = Path(__file__).with_name("typecheck") / "user_script.py"

# Every module a user may import; the private ones are imported by these.
PUBLIC_MODULES = ["gaussext", "gaussext.compat", "gaussext.datasets", "gaussext.diagnostics",
                  "gaussext.oracle", "gaussext.scorers", "gaussext._cli", "gaussext._testing"]

# Standard-library modules that exist on Linux and macOS but not on Windows.
POSIX_ONLY = ["resource", "fcntl", "termios", "pwd", "grp", "syslog"]


def test_distribution_carries_the_bsd_licence():
    distribution = metadata.distribution("gaussext")
    assert distribution.metadata["License-Expression"] == "BSD-3-Clause"
    licence_files = [f for f in distribution.files if f.name == "LICENSE"]
    assert len(licence_files) == 1
    text = licence_files[0].read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "Neither the name of the copyright holder" in text


def test_version_attribute_matches_the_metadata():
    assert gaussext.__version__ == metadata.version("gaussext")


def test_no_module_needs_a_posix_only_module_at_import():
    # A module set to None in sys.modules raises ImportError on import, as a
    # missing one does on Windows; a fresh interpreter imports everything.
    code = ("import sys\n"
            + "".join(f"sys.modules[{name!r}] = None\n" for name in POSIX_ONLY)
            + "".join(f"import {module}\n" for module in PUBLIC_MODULES))
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def test_the_typical_user_script_runs(capsys):
    runpy.run_path(str(USER_SCRIPT), run_name="__main__")
    assert "flagged" in capsys.readouterr().out


def test_the_typical_user_script_type_checks_strictly():
    stdout, stderr, status = mypy_api.run([
        # errors inside gaussext itself are not the user's (mypy reports none
        # for an installed package; silent keeps it so for an editable one)
        "--strict", "--follow-imports=silent", "--no-incremental", "--cache-dir", os.devnull,
        "--python-executable", sys.executable, str(USER_SCRIPT),
    ])
    assert status == 0, stdout + stderr
