import numpy as np
import numpy.typing as npt

def parse_plain_lines(
    text: bytes | bytearray | memoryview,
    n_cells: int,
    column_of_cell: npt.NDArray[np.intp],
    out: npt.NDArray[np.float64],
) -> int: ...
