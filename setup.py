"""Build the compiled modules of gaussext.

Environment variables read here:

GAUSSEXT_DISABLE_OPENMP=1
    Build without OpenMP even when the compiler supports it (kernels then run on
    one thread).
GAUSSEXT_DISABLE_DISPATCH=1
    Build the scoring kernels' row loops for baseline x86-64 only, without the
    AVX2 clone the CPU would otherwise pick at load time (see src/gaussext/_simd.h).
GAUSSEXT_DEBUG=1
    Build with Cython's bounds and wraparound checks on and C assertions
    enabled: slower, for running the kernel tests against.  Only this build
    keeps debug information; every other build strips it from the compiled
    modules, which would otherwise be five times larger in a wheel.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

DEBUG = os.environ.get("GAUSSEXT_DEBUG", "0") not in ("", "0")
DISABLE_OPENMP = os.environ.get("GAUSSEXT_DISABLE_OPENMP", "0") not in ("", "0")
DISABLE_DISPATCH = os.environ.get("GAUSSEXT_DISABLE_DISPATCH", "0") not in ("", "0")

OPENMP_PROBE = textwrap.dedent(
    """
    #include <omp.h>
    int main(void) {
        int n = 0;
        #pragma omp parallel reduction(+:n)
        n += 1;
        return n > 0 ? 0 : 1;
    }
    """
)


def _openmp_flags(compiler):
    """Return (compile_args, link_args) enabling OpenMP, or None if unsupported."""
    if DISABLE_OPENMP:
        return None
    if compiler.compiler_type == "msvc":
        candidates = [(["/openmp"], [])]
    elif sys.platform == "darwin":
        candidates = [(["-Xpreprocessor", "-fopenmp"], ["-lomp"]), (["-fopenmp"], ["-fopenmp"])]
    else:
        candidates = [(["-fopenmp"], ["-fopenmp"])]
    tmpdir = tempfile.mkdtemp(prefix="gaussext-openmp-")
    try:
        source = os.path.join(tmpdir, "probe.c")
        with open(source, "w") as f:
            f.write(OPENMP_PROBE)
        for compile_args, link_args in candidates:
            try:
                objects = compiler.compile([source], output_dir=tmpdir, extra_postargs=compile_args)
                exe = os.path.join(tmpdir, "probe")
                compiler.link_executable(objects, exe, extra_postargs=link_args)
                subprocess.run([exe], check=True, capture_output=True)
            except Exception:  # any failure means: this flag set does not work here
                continue
            return compile_args, link_args
        return None
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _strip_flags(compiler):
    """(compile_args, link_args) leaving debug information out of a release build.

    Python's own CFLAGS often carry -g; a later -g0 overrides it, and the linker
    drops the remaining symbol table (the module's exported entry point lives in
    the dynamic symbol table, which stripping keeps).  MSVC writes debug
    information to a separate .pdb only when asked, so it needs nothing.
    """
    if compiler.compiler_type == "msvc":
        return [], []
    if sys.platform == "darwin":
        return ["-g0"], ["-Wl,-S", "-Wl,-x"]
    return ["-g0"], ["-s"]


class BuildExtWithOpenMP(build_ext):
    """build_ext that adds OpenMP flags when the compiler supports them."""

    def build_extensions(self):
        # Always compile: objects or a library left in build/ by a build with
        # other switches would otherwise be reused, silently ignoring them.
        self.force = True
        flags = _openmp_flags(self.compiler)
        if flags is None:
            print("gaussext: building WITHOUT OpenMP; kernels will run on one thread")
        for ext in self.extensions:
            if self.compiler.compiler_type != "msvc":
                # let the compiler fuse a * b + c where FMA is enabled (only
                # the whitening product's AVX2+FMA code enables it): GCC does
                # not under -std=c99/c11, which a user's CFLAGS may carry
                ext.extra_compile_args += ["-ffp-contract=fast"]
            if flags is not None:
                ext.extra_compile_args += flags[0]
                ext.extra_link_args += flags[1]
            if DEBUG:
                ext.undef_macros.append("NDEBUG")
                ext.extra_compile_args += ["-O0", "-g"] if self.compiler.compiler_type != "msvc" else []
            else:
                compile_args, link_args = _strip_flags(self.compiler)
                ext.extra_compile_args += compile_args
                ext.extra_link_args += link_args
        super().build_extensions()


COMPILER_DIRECTIVES = {
    "language_level": 3,
    "boundscheck": DEBUG,
    "wraparound": DEBUG,
    "initializedcheck": DEBUG,
    "nonecheck": DEBUG,
    "cdivision": True,
    "embedsignature": True,
}

extensions = [
    Extension(
        f"gaussext.{name}",
        [f"src/gaussext/{name}.pyx"],
        include_dirs=[np.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_9_API_VERSION")]
        + ([("GAUSSEXT_DISABLE_DISPATCH", "1")] if DISABLE_DISPATCH else []),
    )
    for name in ("_blas", "_kernels", "_csvparse")
]

setup(
    # The generated C depends on the switches (DEBUG's checks): regenerate it.
    ext_modules=cythonize(
        extensions,
        compiler_directives=COMPILER_DIRECTIVES,
        # cimports of gaussext's .pxd files resolve from the src/ layout's root
        include_path=["src"],
        force=True,
    ),
    cmdclass={"build_ext": BuildExtWithOpenMP},
)
