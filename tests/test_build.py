"""The build itself: OpenMP present where the compiler has it, the row loops
dispatched per instruction set where the platform allows, stubs in step with
the compiled modules."""

import ast
import os
import platform
from pathlib import Path

import pytest

import gaussext
from gaussext import _blas, _kernels


def test_openmp_is_present_unless_the_build_turned_it_off():
    # setup.py falls back to a serial build when the compiler lacks OpenMP;
    # on the supported toolchains (gcc, clang with libomp, MSVC) that would be
    # a packaging bug.  CI also builds with GAUSSEXT_DISABLE_OPENMP=1 and runs
    # this with the variable set, checking the switch really took effect.
    disabled = os.environ.get("GAUSSEXT_DISABLE_OPENMP", "0") not in ("", "0")
    assert _kernels.openmp_enabled() is not disabled
    assert _kernels.max_threads() >= 1
    if disabled:
        assert _kernels.max_threads() == 1


def test_row_loops_are_dispatched_per_instruction_set_unless_turned_off():
    # On x86-64 glibc (every manylinux wheel) the scoring row loops carry an
    # AVX2 clone picked at load time; the float32 full model's speed depends
    # on it.  CI also builds with GAUSSEXT_DISABLE_DISPATCH=1 and runs the
    # kernel tests on the baseline clone alone.
    disabled = os.environ.get("GAUSSEXT_DISABLE_DISPATCH", "0") not in ("", "0")
    expected = (not disabled and platform.machine() == "x86_64"
                and platform.libc_ver()[0] == "glibc")
    assert _kernels.simd_dispatch_enabled() is expected


@pytest.mark.parametrize("module", [_kernels, _blas], ids=lambda m: m.__name__)
def test_stub_lists_every_public_function(module):
    stub = Path(gaussext.__file__).with_name(module.__name__.rsplit(".", 1)[1] + ".pyi")
    assert stub.is_file(), f"{stub.name} is not installed beside the compiled module"
    declared = {node.name for node in ast.parse(stub.read_text()).body
                if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
    compiled = {name for name, value in vars(module).items()
                if callable(value) and not name.startswith("_")
                and getattr(value, "__module__", None) == module.__name__}
    assert declared == compiled


def _elf_section_names(path):
    """Section names of a 64-bit little-endian ELF file (the compiled modules
    on x86-64 and aarch64 Linux), read from its section header table."""
    import struct

    data = Path(path).read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, "not a 64-bit LE ELF file"
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(index):  # (name offset, file offset, size)
        base = shoff + index * shentsize
        name, = struct.unpack_from("<I", data, base)
        offset, size = struct.unpack_from("<QQ", data, base + 0x18)
        return name, offset, size

    _, strings_at, _ = section(shstrndx)
    names = []
    for index in range(shnum):
        name = section(index)[0]
        names.append(data[strings_at + name:data.index(b"\0", strings_at + name)].decode())
    return names


@pytest.mark.skipif(not (platform.system() == "Linux" and platform.machine() in ("x86_64",
                                                                                 "aarch64")),
                    reason="reads 64-bit little-endian ELF files, as Linux builds them")
@pytest.mark.parametrize("module", [_kernels, _blas], ids=lambda m: m.__name__)
def test_compiled_modules_carry_no_debug_information_unless_a_debug_build(module):
    # setup.py strips release builds (about five times smaller in a wheel);
    # CI's GAUSSEXT_DEBUG=1 build keeps the debug sections.
    debug = os.environ.get("GAUSSEXT_DEBUG", "0") not in ("", "0")
    names = _elf_section_names(module.__file__)
    assert ".dynsym" in names and ".text" in names
    assert any(name.startswith(".debug_") for name in names) is debug
    assert (".symtab" in names) is debug
