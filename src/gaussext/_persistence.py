"""Saving and loading a fitted detector; model files are read as untrusted.

One ``.npz`` file (an uncompressed zip archive of ``.npy`` members, as
:func:`numpy.savez` writes): float64 arrays for the parameters and the
threshold, and a JSON document (stored as uint8 bytes) for everything else.
The Cholesky factor is recomputed from the stored covariance, which gives the
same bits, so a round trip reproduces the scores exactly.

Loading never executes code from the file and never lets the file decide how
much is read: before any data is read the archive must hold exactly the five
expected members, stored (not compressed: no member can inflate), each lying
inside the file, and each member's ``.npy`` header must give the expected
dtype and a shape consistent with the others, with a byte count equal to what
the zip directory says.  The metadata is bounded in size and nesting depth
and checked field by field against a schema.  Any failure is one ValueError
naming the file and the reason.  So a crafted file costs at most about its
own size in memory, and refusing it takes milliseconds.

Conformal calibration (:meth:`GaussianAnomalyDetector.calibrate`) adds two
fields, both or neither, so that uncalibrated files are unchanged (see
CALIBRATION_FIELDS): the member ``calibration_scores`` (the sorted calibration
log-densities, float64 of shape (n_calibration,)) and the metadata key
``false_alarm_rate`` (alpha, in (0, 1)).

Format version 2 adds the streaming state, so that ``load(path).partial_fit``
continues the fit (all of these or none; robust fits and models built by
``from_parameters`` have none): the members ``stream_shift`` and
``stream_mean`` (the statistics' shift, their first row, and the mean relative
to it, float64 (d,)), ``stream_scatter`` (the centred co-moment, float64 of
the spread's shape, symmetric), ``sample_rows`` (float64 or float32 (m, d))
and ``sample_index`` (their global row numbers, int64 (m,), increasing), and
the metadata key ``stream`` (see STREAM_KEYS): the row count, the first row's
number, the sums of the weights and of their squares (null without
half_life), the sample's capacity and the highest priority it discarded
(null while it keeps every row).  Every value is checked against the others
(m = min(n_samples, capacity), the row numbers within the rows seen and
above the discarded priority, the model's mean equal to shift + mean, ...).
Version 1 files (no ``half_life`` parameter, no streaming state) still load
and score; partial_fit on them raises ValueError.
"""

import json
import math
import os
import re
import struct
import zipfile

import numpy as np

from gaussext._files import atomic_output
from gaussext._sample import RowSample, default_capacity, row_priorities
from gaussext._statistics import GaussianStatistics
from gaussext._validation import check_is_fitted

__all__ = ["CALIBRATION_FIELDS", "FORMAT", "FORMAT_VERSION", "STREAM_KEYS", "STREAM_MEMBERS",
           "load", "save"]

FORMAT = "gaussext-model"
# What calibrate() adds, (member name, metadata key): both or neither.
CALIBRATION_FIELDS = ("calibration_scores", "false_alarm_rate")
FORMAT_VERSION = 2
_READABLE_VERSIONS = (1, 2)
# The streaming state of version 2: these members and the metadata key "stream"
# (a dict of STREAM_KEYS), all or none.
STREAM_MEMBERS = ("stream_shift", "stream_mean", "stream_scatter", "sample_rows",
                  "sample_index")
STREAM_KEYS = ("n_samples", "first_row", "weight", "weight_squared", "sample_capacity",
               "sample_threshold")
# Row numbers up to 2^62: row_priorities' int64 arithmetic never overflows.
_MAX_ROW = 1 << 62

_ARRAYS = ("mean", "spread", "log_epsilon", "epsilon")
_MEMBERS = ("metadata", *_ARRAYS)
_MODEL_KINDS = ("diagonal", "full")
# JSON metadata: a fixed part (parameters, versions) plus feature names, which
# grow with the number of features d (read from the mean's header first).
_METADATA_BASE_BYTES = 1 << 16
_METADATA_BYTES_PER_FEATURE = 1 << 10
# {"params": {...}, "feature_names": [...]}: brackets two levels deep.
_METADATA_MAX_DEPTH = 2
_METADATA_FIELDS = {"format", "format_version", "gaussext_version", "model", "params",
                    "n_features_in", "feature_names", "shrinkage"}
# epsilon is stored beside log_epsilon; exp(log_epsilon) rounded differs from
# it by at most |log_epsilon| ulps (<= 745 for a positive float64) when both
# were written together.
_EPSILON_RELATIVE_TOLERANCE = 1e-9


def save(detector, path):
    """Write a fitted detector to `path` (a ``.npz`` file), atomically: the
    file appears complete or not at all."""
    from gaussext import __version__

    check_is_fitted(detector)
    covariance = detector.covariance_ if hasattr(detector, "cholesky_factor_") else None
    # a thread count belongs to the machine that runs the model, not to the model
    params = {name: value for name, value in detector.get_params().items() if name != "n_jobs"}
    names = getattr(detector, "feature_names_in_", None)
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "gaussext_version": __version__,
        "model": "full" if covariance is not None else "diagonal",
        "params": params,
        "n_features_in": int(detector.n_features_in_),
        "feature_names": None if names is None else [str(name) for name in names],
        "shrinkage": getattr(detector, "shrinkage_", None),
    }
    calibrated = hasattr(detector, "calibration_scores_")
    if calibrated:
        metadata["false_alarm_rate"] = detector.false_alarm_rate_
    arrays = {
        "metadata": np.frombuffer(json.dumps(metadata).encode("utf-8"), dtype=np.uint8),
        "mean": detector.mean_,
        "spread": covariance if covariance is not None else detector.var_,
        "log_epsilon": np.float64(detector.log_epsilon_),
        "epsilon": np.float64(detector.epsilon_),
    }
    if calibrated:
        arrays["calibration_scores"] = detector.calibration_scores_
    statistics = _resumable_statistics(detector)
    if statistics is not None:
        metadata["stream"], stream_arrays = _stream_state(statistics)
        arrays.update(stream_arrays)
        arrays["metadata"] = np.frombuffer(json.dumps(metadata).encode("utf-8"), dtype=np.uint8)
    with atomic_output(path) as handle:
        np.savez(handle, **arrays)


def _resumable_statistics(detector):
    """The statistics partial_fit would continue from, or None (robust fits,
    models without statistics or without a row sample)."""
    statistics = getattr(detector, "statistics_", None)
    if (statistics is None or detector.robust or statistics.sample is None
            or statistics.n_samples == 0 or statistics.kind != detector.covariance
            or statistics.half_life != (None if detector.half_life is None
                                        else float(detector.half_life))):
        return None
    return statistics


def _stream_state(statistics):
    """(metadata "stream" dict, {member: array}) of resumable statistics."""
    rows, index, threshold = statistics.sample.view()
    sums = statistics.running_sums()
    weighted = statistics.half_life is not None
    state = {
        "n_samples": int(statistics.n_samples),
        "first_row": int(statistics.first_row),
        "weight": float(sums["weight"]) if weighted else None,
        "weight_squared": float(sums["weight_squared"]) if weighted else None,
        "sample_capacity": int(statistics.sample.capacity),
        "sample_threshold": None if threshold == -np.inf else float(threshold),
    }
    arrays = {
        "stream_shift": sums["shift"],
        "stream_mean": sums["relative_mean"],
        "stream_scatter": statistics.scatter,  # symmetric: the kernel keeps the upper half
        "sample_rows": rows,
        "sample_index": index,
    }
    return state, arrays


class _Refused(Exception):
    """A reason to refuse the file being read (turned into one ValueError)."""


def _model_error(path, problem):
    return ValueError(f"{os.fspath(path)} is not a valid gaussext model file: {problem}")


# -- the archive and its members' headers ---------------------------------------

def _members(archive, file_size):
    """{member: ZipInfo} after checking the member list and where each lies."""
    infos = archive.infolist()
    names = sorted(info.filename for info in infos)
    expected = sorted(f"{name}.npy" for name in _MEMBERS)
    optional = [f"{CALIBRATION_FIELDS[0]}.npy"], [f"{name}.npy" for name in STREAM_MEMBERS]
    allowed = [sorted(expected + extra) for extra in
               ([], optional[0], optional[1], optional[0] + optional[1])]
    if names not in allowed:
        shown = names if len(names) <= 10 else [*names[:10], f"... ({len(names)} members)"]
        raise _Refused(f"it holds {shown}, expected {expected}")
    members = {}
    for info in infos:
        if info.flag_bits & 0x1:
            raise _Refused(f"member {info.filename} is encrypted")
        if info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            # a model is written uncompressed: a compressed member could inflate
            # far beyond the file's own size before its content is checked
            raise _Refused(f"member {info.filename} is compressed; model files store their "
                           "members uncompressed")
        if info.header_offset + info.compress_size > file_size:
            raise _Refused(f"member {info.filename} claims {info.file_size} bytes, more than "
                           f"the file's {file_size}")
        members[info.filename[:-len(".npy")]] = info
    return members


def _member_header(archive, info):
    """(shape, fortran_order, dtype, header bytes) of a ``.npy`` member, its
    data unread."""
    with archive.open(info) as member:
        try:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
            elif version == (2, 0):
                shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise _Refused(f"member {info.filename} is a .npy file of version {version}, "
                               "not 1.0 or 2.0")
        except (ValueError, EOFError) as exc:
            raise _Refused(f"member {info.filename} has no valid .npy header ({exc})") from exc
        return shape, fortran_order, dtype, member.tell()


def _expected_layout(headers):
    """{member: (dtype kind, itemsize, shape)} the mean's header implies."""
    mean_shape = headers["mean"][0]
    if len(mean_shape) != 1 or mean_shape[0] < 1:
        raise _Refused(f"mean has shape {mean_shape}, expected (n_features,)")
    d = mean_shape[0]
    spread_shape = headers["spread"][0]
    if spread_shape not in ((d,), (d, d)):
        raise _Refused(f"spread has shape {spread_shape}, expected ({d},) or ({d}, {d}) for "
                       f"a mean of {d} features")
    metadata_shape = headers["metadata"][0]
    limit = _METADATA_BASE_BYTES + _METADATA_BYTES_PER_FEATURE * d
    if len(metadata_shape) != 1 or not 0 <= metadata_shape[0] <= limit:
        raise _Refused(f"its metadata has shape {metadata_shape}, expected at most {limit} "
                       f"bytes for {d} features")
    layout = {"metadata": ("u", 1, metadata_shape), "mean": ("f", 8, (d,)),
              "spread": ("f", 8, spread_shape), "log_epsilon": ("f", 8, ()),
              "epsilon": ("f", 8, ())}
    if CALIBRATION_FIELDS[0] in headers:
        # any length: its bytes are bounded by the member's own size in the file
        calibration_shape = headers[CALIBRATION_FIELDS[0]][0]
        if len(calibration_shape) != 1 or calibration_shape[0] < 1:
            raise _Refused(f"calibration_scores has shape {calibration_shape}, expected "
                           "(n_calibration,)")
        layout[CALIBRATION_FIELDS[0]] = ("f", 8, calibration_shape)
    return layout


def _stream_layout(headers):
    """{member: (dtype kind, itemsize, shape)} of the streaming state, once
    the mean's and the spread's headers are checked."""
    d, spread_shape = headers["mean"][0][0], headers["spread"][0]
    layout = {"stream_shift": ("f", 8, (d,)), "stream_mean": ("f", 8, (d,)),
              "stream_scatter": ("f", 8, spread_shape)}
    rows_shape, rows_dtype = headers["sample_rows"][0], headers["sample_rows"][2]
    if len(rows_shape) != 2 or rows_shape[0] < 1 or rows_shape[1] != d:
        raise _Refused(f"sample_rows has shape {rows_shape}, expected (n_rows, {d}) with "
                       "at least one row")
    # float32 rows stay float32 (the sample of float32 data is scored as it is)
    itemsize = 4 if rows_dtype.kind == "f" and rows_dtype.itemsize == 4 else 8
    layout["sample_rows"] = ("f", itemsize, rows_shape)
    layout["sample_index"] = ("i", 8, (rows_shape[0],))
    return layout


def _checked_headers(archive, members):
    """Each member's header, checked against the layout and its byte count."""
    headers = {name: _member_header(archive, info) for name, info in members.items()}
    _check_layout(_expected_layout(headers), headers, members)
    if STREAM_MEMBERS[0] in headers:
        _check_layout(_stream_layout(headers), headers, members)
    return headers


def _check_layout(layout, headers, members):
    """Each member's header against its layout, and its byte count."""
    for name, (kind, itemsize, shape) in layout.items():
        found_shape, _, dtype, header_bytes = headers[name]
        if dtype.kind != kind or dtype.itemsize != itemsize or found_shape != shape:
            expected = {"f": f"float{8 * itemsize}", "u": "uint8", "i": "int64"}[kind]
            raise _Refused(f"{name} has dtype {dtype} and shape {found_shape}, expected "
                           f"{expected} {shape}")
        data_bytes = math.prod(shape) * itemsize
        if members[name].file_size != header_bytes + data_bytes:
            raise _Refused(f"member {name}.npy holds {members[name].file_size} bytes, but its "
                           f"header describes {header_bytes + data_bytes}")


def _read_member(archive, info, header):
    """The member's array, native-endian and writable, read after its header."""
    shape, fortran_order, dtype, header_bytes = header
    with archive.open(info) as member:
        member.seek(header_bytes)
        n_bytes = math.prod(shape) * dtype.itemsize
        data = member.read(n_bytes)
        member.read(1)  # reaching the end checks the member's CRC-32
    if len(data) != n_bytes:
        raise _Refused(f"member {info.filename} ends after {len(data)} of its {n_bytes} bytes")
    values = np.frombuffer(data, dtype=dtype)
    if fortran_order:
        values = values.reshape(shape[::-1]).T
    return values.reshape(shape).astype(dtype.newbyteorder("="), order="C")


def _read_archive(path):
    """(metadata bytes, {array name: ndarray}) of a model file, or _Refused."""
    file_size = os.path.getsize(path)
    try:
        with zipfile.ZipFile(path) as archive:
            members = _members(archive, file_size)
            headers = _checked_headers(archive, members)
            arrays = {name: _read_member(archive, members[name], headers[name])
                      for name in members}
    except (zipfile.BadZipFile, EOFError, ValueError, NotImplementedError, struct.error) as exc:
        raise _Refused(f"it is not a readable zip archive ({exc}); a model file is the .npz "
                       "written by 'gaussext fit' or GaussianAnomalyDetector.save (was a "
                       "data file given where the model was expected?)") from exc
    return arrays.pop("metadata").tobytes(), arrays


# -- the metadata ---------------------------------------------------------------

_JSON_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _check_depth(text):
    """Refuse JSON nested deeper than the schema allows, before parsing it
    (the parser recurses once per level)."""
    depth = 0
    for token in _JSON_TOKENS.finditer(text):
        bracket = token.group()
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > _METADATA_MAX_DEPTH:
                raise _Refused(f"its metadata is nested more than {_METADATA_MAX_DEPTH} "
                               "levels deep")
        elif bracket in (b"]", b"}"):
            depth -= 1


def _no_duplicate_keys(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise _Refused("its metadata repeats a field")
    return dict(pairs)


def _no_constant(name):
    raise _Refused(f"its metadata holds {name}, which is not JSON")


def _parse_metadata(text):
    _check_depth(text)
    try:
        metadata = json.loads(text.decode("utf-8"), object_pairs_hook=_no_duplicate_keys,
                              parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Refused(f"its metadata is not JSON ({exc})") from exc
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise _Refused("its metadata does not name the gaussext model format")
    version = metadata.get("format_version")
    if not (_is_int(version) and version in _READABLE_VERSIONS):
        raise _Refused(f"format version {metadata.get('format_version')!r} (written by "
                       f"gaussext {metadata.get('gaussext_version')!r}); this gaussext "
                       f"reads versions {', '.join(map(str, _READABLE_VERSIONS))}")
    missing = sorted(_METADATA_FIELDS - set(metadata))
    optional = {CALIBRATION_FIELDS[1]} | ({"stream"} if version >= 2 else set())
    unknown = sorted(set(metadata) - _METADATA_FIELDS - optional)
    if missing or unknown:
        raise _Refused(f"its metadata lacks field(s) {missing} and has unknown field(s) "
                       f"{unknown}")
    return metadata


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_params(params, names):
    """The stored constructor parameters: exactly `names` (and n_jobs, which
    files of version 0.1 carry), each a JSON scalar; their ranges are the
    estimator's own validation's."""
    if not isinstance(params, dict) or set(params) - {"n_jobs"} != set(names):
        shown = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise _Refused(f"its parameters are {shown}, expected {sorted(names)}")
    for name, value in params.items():
        if not (value is None or isinstance(value, (bool, int, float, str))):
            raise _Refused(f"parameter {name} is a {type(value).__name__}, not a number, "
                           "string or null")
    if not (params.get("n_jobs") is None or _is_int(params.get("n_jobs"))):
        raise _Refused(f"parameter n_jobs = {params['n_jobs']!r} is neither null nor an "
                       "integer")


def _check_fields(metadata, n_features, spread_ndim):
    """Type and range of every field but the parameters."""
    if not isinstance(metadata["gaussext_version"], str):
        raise _Refused("its gaussext_version is not a string")
    model = metadata["model"]
    if model not in _MODEL_KINDS:
        raise _Refused(f"its model kind {model!r} is not one of {_MODEL_KINDS}")
    if model != metadata["params"]["covariance"] or spread_ndim != (2 if model == "full" else 1):
        raise _Refused(f"its model kind {model!r}, parameter covariance="
                       f"{metadata['params']['covariance']!r} and a {spread_ndim}-D spread "
                       "disagree")
    stored = metadata["n_features_in"]
    if not _is_int(stored) or stored != n_features:
        raise _Refused(f"its n_features_in = {stored!r} is not the integer {n_features} "
                       "its arrays hold")
    names = metadata["feature_names"]
    if names is not None and (not isinstance(names, list) or len(names) != n_features
                              or not all(isinstance(name, str) for name in names)):
        raise _Refused(f"its feature names are not {n_features} strings")
    shrinkage = metadata["shrinkage"]
    if model == "diagonal" and shrinkage is not None:
        raise _Refused(f"it stores a shrinkage intensity ({shrinkage!r}) for a diagonal model")
    if model == "full" and not (_is_real(shrinkage) and 0.0 <= shrinkage <= 1.0):
        raise _Refused(f"its shrinkage intensity {shrinkage!r} is not a number in [0, 1]")


def _check_threshold(log_epsilon, epsilon):
    """log_epsilon in [-inf, +inf] (not NaN); epsilon = exp(log_epsilon)."""
    if math.isnan(log_epsilon):
        raise _Refused("its threshold log_epsilon is NaN")
    if math.isnan(epsilon) or epsilon < 0.0:
        raise _Refused(f"its threshold epsilon = {epsilon!r} is not a density (>= 0)")
    with np.errstate(over="ignore", under="ignore"):
        implied = float(np.exp(log_epsilon))
    if not math.isclose(epsilon, implied, rel_tol=_EPSILON_RELATIVE_TOLERANCE,
                        abs_tol=np.finfo(np.float64).tiny):
        raise _Refused(f"its threshold epsilon = {epsilon!r} is not exp(log_epsilon) = "
                       f"{implied!r}")


def _check_calibration(metadata, arrays):
    """Both calibration fields or neither (their values are checked by the
    estimator's own validation of a calibration)."""
    if (CALIBRATION_FIELDS[0] in arrays) != (CALIBRATION_FIELDS[1] in metadata):
        raise _Refused("calibration_scores and false_alarm_rate go together: got only one")


def _check_stream(metadata, arrays, half_life):
    """The streaming state: present in full or absent, each value in range and
    consistent with the others and with the model."""
    has_members = [name in arrays for name in STREAM_MEMBERS]
    if any(has_members) != ("stream" in metadata) or any(has_members) != all(has_members):
        raise _Refused(f"its streaming state is incomplete: the members {list(STREAM_MEMBERS)} "
                       "and the metadata key 'stream' go together")
    if "stream" not in metadata:
        return
    state = metadata["stream"]
    if not isinstance(state, dict) or set(state) != set(STREAM_KEYS):
        shown = sorted(state) if isinstance(state, dict) else type(state).__name__
        raise _Refused(f"its streaming state holds {shown}, expected {sorted(STREAM_KEYS)}")
    n_samples, first_row = state["n_samples"], state["first_row"]
    if not (_is_int(n_samples) and 1 <= n_samples <= _MAX_ROW):
        raise _Refused(f"its streaming state's n_samples = {n_samples!r} is not a positive "
                       "integer")
    if not (_is_int(first_row) and 0 <= first_row <= _MAX_ROW - n_samples):
        raise _Refused(f"its streaming state's first_row = {first_row!r} is not an integer "
                       f"in [0, 2^62 - n_samples]")
    weight, weight_squared = state["weight"], state["weight_squared"]
    if half_life is None:
        if weight is not None or weight_squared is not None:
            raise _Refused("its streaming state has weights but the model no half_life")
    elif not (_is_real(weight) and _is_real(weight_squared)
              and 1.0 <= weight_squared <= weight <= n_samples
              and weight * weight >= weight_squared):
        raise _Refused(f"its streaming state's weights ({weight!r}, {weight_squared!r}) are "
                       "not sums of row weights in (0, 1] with the last 1 (1 <= weight_squared "
                       "<= weight <= n_samples)")
    d = arrays["mean"].shape[0]
    capacity = state["sample_capacity"]
    if not (_is_int(capacity) and 1 <= capacity <= default_capacity(d)):
        raise _Refused(f"its sample capacity {capacity!r} is not an integer in [1, "
                       f"{default_capacity(d)}] for {d} features")
    rows, index = arrays["sample_rows"], arrays["sample_index"]
    if rows.shape[0] != min(n_samples, capacity):
        raise _Refused(f"its row sample holds {rows.shape[0]} rows, but {n_samples} rows seen "
                       f"with a capacity of {capacity} keep {min(n_samples, capacity)}")
    threshold = state["sample_threshold"]
    if (threshold is None) != (n_samples <= capacity) or not (
            threshold is None or (_is_real(threshold) and math.isfinite(threshold))):
        raise _Refused(f"its sample's discarded priority {threshold!r} should be "
                       + ("null: no row was discarded" if n_samples <= capacity
                          else "a finite number: rows were discarded"))
    # parts merged without forgetting need not be consecutive: row numbers
    # may run beyond first_row + n_samples, never below first_row
    if not (np.all(np.diff(index) > 0) and index[0] >= first_row and index[-1] < _MAX_ROW):
        raise _Refused(f"its sample's row numbers are not increasing from its first row, "
                       f"{first_row}, and below 2^62")
    if threshold is not None and not row_priorities(index, half_life).min() > threshold:
        raise _Refused("its row sample holds a row of lower priority than one it discarded")
    shift, relative, scatter = (arrays[name] for name in STREAM_MEMBERS[:3])
    if not all(np.all(np.isfinite(a)) for a in (shift, relative, scatter, rows)):
        raise _Refused("its streaming statistics or row sample hold NaN or infinity")
    diagonal = scatter if scatter.ndim == 1 else np.diagonal(scatter)
    if np.any(diagonal < 0) or (scatter.ndim == 2 and not np.array_equal(scatter, scatter.T)):
        raise _Refused("its streaming scatter is not a (symmetric) matrix of non-negative "
                       "sums of squares")
    with np.errstate(over="ignore", invalid="ignore"):
        implied_mean = shift + relative
    if not np.array_equal(implied_mean, arrays["mean"]):
        raise _Refused("its streaming statistics' mean (stream_shift + stream_mean) is not "
                       "the model's mean")


def _statistics_from(metadata, arrays, kind, half_life):
    """The GaussianStatistics a checked streaming state describes."""
    state = metadata["stream"]
    threshold = state["sample_threshold"]
    sample = RowSample.from_arrays(
        arrays["sample_rows"], arrays["sample_index"],
        -np.inf if threshold is None else threshold, half_life, state["sample_capacity"])
    weighted = half_life is not None
    running_sums = {
        "shift": arrays["stream_shift"], "relative_mean": arrays["stream_mean"],
        "scatter": arrays["stream_scatter"],
        "weight": state["weight"] if weighted else 0.0,
        "weight_squared": state["weight_squared"] if weighted else 0.0,
    }
    return GaussianStatistics.from_running_sums(
        kind, n_samples=state["n_samples"], first_row=state["first_row"],
        running_sums=running_sums, half_life=half_life, sample=sample)


def _check_arrays(arrays):
    mean, spread = arrays["mean"], arrays["spread"]
    if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(spread))):
        raise _Refused("its mean or (co)variance holds NaN or infinity")
    if spread.ndim == 2 and not np.array_equal(spread, spread.T):
        raise _Refused("its covariance matrix is not symmetric")
    _check_threshold(float(arrays["log_epsilon"]), float(arrays["epsilon"]))


def load(cls, path):
    """A fitted `cls` from a file written by :func:`save`, read as untrusted.

    Raises
    ------
    FileNotFoundError, IsADirectoryError, PermissionError
        When `path` cannot be opened.
    ValueError
        For anything else: one message naming the file and the reason.
    """
    try:
        text, arrays = _read_archive(path)
        metadata = _parse_metadata(text)
        names = set(cls().get_params()) - {"n_jobs"}
        version = metadata["format_version"]
        # version 1 predates half_life and resumable
        _check_params(metadata["params"],
                      names - {"half_life", "resumable"} if version == 1 else names)
        _check_fields(metadata, arrays["mean"].shape[0], arrays["spread"].ndim)
        _check_arrays(arrays)
        _check_calibration(metadata, arrays)
        half_life = metadata["params"].get("half_life")
        if not (half_life is None or (_is_real(half_life) and math.isfinite(half_life)
                                      and half_life > 0)):
            raise _Refused(f"parameter half_life = {half_life!r} is not null or a positive "
                           "number of rows")
        half_life = None if half_life is None else float(half_life)
        _check_stream(metadata, arrays, half_life)
    except _Refused as exc:
        raise _model_error(path, str(exc)) from None
    # files from version 0.1 carry the saving machine's n_jobs: not ours to use
    params = {name: value for name, value in metadata["params"].items() if name != "n_jobs"}
    try:
        detector = cls.from_parameters(
            arrays["mean"], arrays["spread"], log_epsilon=float(arrays["log_epsilon"]),
            epsilon=float(arrays["epsilon"]), feature_names=metadata["feature_names"],
            shrinkage_intensity=metadata["shrinkage"],
            calibration_scores=arrays.get(CALIBRATION_FIELDS[0]),
            false_alarm_rate=metadata.get(CALIBRATION_FIELDS[1]), **params)
    except (TypeError, ValueError) as exc:
        raise _model_error(path, str(exc)) from None
    if "stream" in metadata:
        detector.statistics_ = _statistics_from(metadata, arrays, detector.covariance,
                                                half_life)
    return detector
