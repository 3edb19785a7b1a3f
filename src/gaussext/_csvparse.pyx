"""Plain CSV lines of ASCII decimal numbers to float64, in C.

The fast path of the CSV reader (``gaussext/_csv.py``).  It accepts only
*plain* lines: cells separated by commas, one record per line (``\\n`` or
``\\r\\n``), each selected cell a number in the ASCII grammar

    [spaces] [+|-] (digits [. [digits]] | . digits) [(e|E) [+|-] digits] [spaces]

and unselected cells free of quote characters.  Anything else (a blank
line, a quoted field, an empty or non-numeric selected cell, ``nan``, a
wrong number of cells) makes it give up on the whole block, which the caller
then reads with the ``csv`` module and reports cell by cell: this module
never decides what an error message says.

Every number is correctly rounded (the same float64 as Python's ``float``):

- Clinger's exact case: a mantissa of at most 2**53 and a power of ten of
  at most 22 are both exact doubles, so one product or quotient is one
  correct rounding;
- with x87 extended precision (64-bit significand): a mantissa of up to 19
  digits and 10**k, k <= 27, are exact, the product or quotient is rounded
  once to 64 bits (error <= 1/2 unit of the 64-bit significand), and
  rounding that to 53 bits is correct unless its 11 dropped bits lie within
  one unit of the half-way pattern 0x400, which is then left to the
  exact parser below (about 3 numbers in 2048);
- everything else (more than 19 digits, large exponents, subnormal or
  overflowing results) goes to ``PyOS_string_to_double``, Python's own
  correctly rounded, locale-independent parser.
"""

from libc.math cimport frexpl
from libc.stdint cimport uint64_t
from libc.string cimport memcpy
from cpython.object cimport PyObject

cdef extern from "float.h":
    int LDBL_MANT_DIG
    double DBL_MIN
    double DBL_MAX

cdef extern from "Python.h":
    double PyOS_string_to_double(const char *s, char **endptr,
                                 PyObject *overflow_exception) except? -1.0

# 10**k, exact: as doubles up to k = 22 (5**22 < 2**53), as x87 long doubles
# up to k = 27 (5**27 < 2**64)
cdef double _POW10[23]
cdef long double _POW10_LONG[28]
cdef int _k
_POW10[0] = 1.0
_POW10_LONG[0] = 1.0
for _k in range(1, 23):
    _POW10[_k] = _POW10[_k - 1] * 10.0
for _k in range(1, 28):
    _POW10_LONG[_k] = _POW10_LONG[_k - 1] * 10.0

cdef uint64_t _EXACT_MANTISSA = (<uint64_t> 1) << 53
cdef int _MAX_DIGITS = 19          # 10**19 - 1 < 2**64
cdef int _MAX_NUMBER_TEXT = 63     # longer numbers are left to the csv path


cdef inline bint _is_space(unsigned char c) noexcept nogil:
    return c == c' ' or c == c'\t' or c == c'\r'


cdef inline bint _is_digit(unsigned char c) noexcept nogil:
    return c'0' <= c <= c'9'


cdef inline bint _extended_rounding_is_safe(long double value) noexcept nogil:
    """True when rounding the 64-bit significand of `value` to 53 bits cannot
    differ from rounding the exact number it approximates (within 1/2 unit)."""
    cdef int exponent
    cdef long double fraction = frexpl(value, &exponent)   # in [0.5, 1)
    cdef uint64_t significand = <uint64_t> (fraction * 18446744073709551616.0)
    cdef uint64_t dropped = significand & 0x7FF
    return dropped < 0x3FF or dropped > 0x401


cdef inline const unsigned char *_digits(
        const unsigned char *p, const unsigned char *end, uint64_t *mantissa, int *n_digits,
        int *exponent, bint *truncated, bint fraction) noexcept nogil:
    """Read the digits at p into the mantissa, up to _MAX_DIGITS significant
    ones (leading zeros are not); return the first byte after them.  A kept
    fraction digit lowers the decimal exponent; an integer digit beyond the
    kept ones raises it; any digit beyond them makes the mantissa truncated."""
    while p < end and _is_digit(p[0]):
        if n_digits[0] < _MAX_DIGITS:
            if mantissa[0] or p[0] != c'0':
                mantissa[0] = mantissa[0] * 10 + (p[0] - c'0')
                n_digits[0] += 1
            if fraction:
                exponent[0] -= 1
        else:
            truncated[0] = True
            if not fraction:
                exponent[0] += 1
        p += 1
    return p


cdef int _exact_parse(const unsigned char *start, Py_ssize_t length, double *value) except -1:
    """Python's correctly rounded parser on the number text start[:length]."""
    cdef char text[64]
    memcpy(text, start, length)
    text[length] = 0
    value[0] = PyOS_string_to_double(text, NULL, NULL)
    return 0


cdef int _parse_number(const unsigned char **cursor, const unsigned char *end,
                       double *value) except -2:
    """Parse one cell at cursor[0] (up to ',', '\\n' or `end`); 0 and the
    cursor at the delimiter on success, 1 when the cell is not a plain number."""
    cdef const unsigned char *p = cursor[0]
    cdef const unsigned char *number_start
    cdef const unsigned char *number_end
    cdef const unsigned char *digits_start
    cdef uint64_t mantissa = 0
    cdef int n_digits = 0, exponent = 0, explicit_exponent = 0
    cdef bint negative = False, any_digit = False, truncated = False
    cdef bint exponent_negative = False
    cdef long double extended
    cdef double result

    while p < end and _is_space(p[0]):
        p += 1
    number_start = p
    if p < end and (p[0] == c'+' or p[0] == c'-'):
        negative = p[0] == c'-'
        p += 1
    digits_start = p
    p = _digits(p, end, &mantissa, &n_digits, &exponent, &truncated, False)
    if p < end and p[0] == c'.':
        p += 1
        any_digit = p > digits_start + 1
        digits_start = p
        p = _digits(p, end, &mantissa, &n_digits, &exponent, &truncated, True)
    any_digit = any_digit or p > digits_start
    if not any_digit:
        return 1
    if p < end and (p[0] == c'e' or p[0] == c'E'):
        p += 1
        if p < end and (p[0] == c'+' or p[0] == c'-'):
            exponent_negative = p[0] == c'-'
            p += 1
        if not (p < end and _is_digit(p[0])):
            return 1
        while p < end and _is_digit(p[0]):
            if explicit_exponent < 100000:   # beyond any float64: the exact parser decides
                explicit_exponent = explicit_exponent * 10 + (p[0] - c'0')
            p += 1
        exponent += -explicit_exponent if exponent_negative else explicit_exponent
    number_end = p
    while p < end and _is_space(p[0]):
        p += 1
    if p < end and p[0] != c',' and p[0] != c'\n':
        return 1
    cursor[0] = p

    if mantissa == 0 and not truncated:
        result = 0.0
    elif not truncated and mantissa <= _EXACT_MANTISSA and -22 <= exponent <= 22:
        result = <double> mantissa
        result = result * _POW10[exponent] if exponent >= 0 else result / _POW10[-exponent]
    elif (LDBL_MANT_DIG == 64 and not truncated and -27 <= exponent <= 27):
        extended = <long double> mantissa
        if exponent >= 0:
            extended = extended * _POW10_LONG[exponent]
        else:
            extended = extended / _POW10_LONG[-exponent]
        if (extended >= DBL_MIN and extended <= DBL_MAX
                and _extended_rounding_is_safe(extended)):
            result = <double> extended
        else:
            if number_end - number_start > _MAX_NUMBER_TEXT:
                return 1
            _exact_parse(number_start, number_end - number_start, value)
            return 0
    else:
        if number_end - number_start > _MAX_NUMBER_TEXT:
            return 1
        _exact_parse(number_start, number_end - number_start, value)
        return 0
    value[0] = -result if negative else result
    return 0


def parse_plain_lines(const unsigned char[::1] text, Py_ssize_t n_cells,
                      const Py_ssize_t[::1] column_of_cell, double[:, ::1] out):
    """Parse every line of `text` into rows of `out`; -1 when a line is not plain.

    Parameters
    ----------
    text : bytes-like, ASCII
        Whole lines (the last may lack its newline).
    n_cells : int
        Cells a line must have.
    column_of_cell : int array of shape (n_cells,)
        The column of `out` that cell j goes to, or -1 to skip the cell.
    out : float64 array of shape (>= number of lines, n_columns)

    Returns
    -------
    int
        The number of rows written, or -1 as soon as one line is not plain
        (then `out` holds nothing the caller may use).
    """
    cdef const unsigned char *p
    cdef const unsigned char *end
    cdef Py_ssize_t row = 0, cell, column
    cdef double value
    if column_of_cell.shape[0] != n_cells:
        raise ValueError("column_of_cell must have n_cells entries")
    for cell in range(n_cells):
        if column_of_cell[cell] >= out.shape[1]:
            raise ValueError("column_of_cell names a column beyond out")
    if text.shape[0] == 0:
        return 0
    p = &text[0]
    end = p + text.shape[0]
    while p < end:
        if row >= out.shape[0]:
            raise ValueError("out has fewer rows than text has lines")
        for cell in range(n_cells):
            column = column_of_cell[cell]
            if column >= 0:
                if _parse_number(&p, end, &value):
                    return -1
                out[row, column] = value
            else:
                while p < end and p[0] != c',' and p[0] != c'\n':
                    if p[0] == c'"':
                        return -1
                    p += 1
            if cell < n_cells - 1:
                if not (p < end and p[0] == c','):
                    return -1
                p += 1
            elif p < end:
                if p[0] != c'\n':
                    return -1
                p += 1
        row += 1
    return row
