"""Load SciPy's BLAS and LAPACK function tables without importing scipy.linalg.

The kernels cimport ``scipy.linalg.cython_blas`` and ``cython_lapack``: at
module initialisation Cython imports those two extension modules by name, and
importing ``scipy.linalg.cython_blas`` normally runs ``scipy/linalg/__init__``
first, which loads the whole of ``scipy.linalg`` (and through it much of
SciPy's array-API layer): most of ``import gaussext``'s time, for function
pointers that need none of it.  Cython looks a cimported module up in
``sys.modules`` before importing it, so loading the two extension files
directly under their full names, before the kernels, hands Cython the same
modules at a fraction of the cost.  ``scipy.linalg`` itself then loads, as
usual, on its first real use, and finds the two modules already loaded.

When SciPy's files are not laid out as expected the normal import runs: slower,
never wrong.
"""

import importlib.machinery
import importlib.util
import os
import sys

__all__ = ["preload_blas_tables"]

_TABLES = ("scipy.linalg.cython_blas", "scipy.linalg.cython_lapack")


def _extension_path(package_dir, name):
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(package_dir, name + suffix)
        if os.path.isfile(path):
            return path
    return None


def preload_blas_tables():
    """Put SciPy's cython_blas and cython_lapack in sys.modules, loaded
    straight from their files; a no-op when already there or not found."""
    if all(name in sys.modules for name in _TABLES) or "scipy.linalg" in sys.modules:
        return
    scipy_spec = importlib.util.find_spec("scipy")
    if scipy_spec is None or not scipy_spec.submodule_search_locations:
        return
    linalg_dir = os.path.join(scipy_spec.submodule_search_locations[0], "linalg")
    paths = {name: _extension_path(linalg_dir, name.rsplit(".", 1)[1]) for name in _TABLES}
    if any(path is None for path in paths.values()):
        return
    for name, path in paths.items():
        if name in sys.modules:
            continue
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[name]  # the normal import will try, and report
            return
