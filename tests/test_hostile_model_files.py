"""Crafted model files: each is refused with one ValueError naming the file and
the reason, before its data is read, and refusing costs little memory
(measured in a child process)."""

import json
import math
import subprocess
import sys
import textwrap
import zipfile
import zlib

import numpy as np
import pytest

from gaussext import GaussianAnomalyDetector

RNG = np.random.default_rng(5)
X = RNG.normal(size=(300, 3))


def _legit(tmp_path, covariance="diagonal", X=X, name="model.npz"):
    path = tmp_path / name
    GaussianAnomalyDetector(covariance, resumable=True).fit(X).save(path)
    return path


def _members(path):
    """{member name: its bytes} of a zip archive."""
    with zipfile.ZipFile(path) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


def _npy(array):
    """The bytes np.save writes for `array`."""
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _npy_header(shape, descr="<f8"):
    """A version 1.0 .npy header claiming `shape`, with no data after it."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header


def _write_zip(path, members, compressed=()):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            kind = zipfile.ZIP_DEFLATED if name in compressed else zipfile.ZIP_STORED
            archive.writestr(name, data, compress_type=kind)
    return path


def _with_metadata(path, change):
    """The model at `path` rewritten with `change(metadata dict)` applied."""
    members = _members(path)
    metadata = json.loads(np.load(path)["metadata"].tobytes())
    change(metadata)
    members["metadata.npy"] = _npy(np.frombuffer(json.dumps(metadata).encode(), np.uint8))
    return _write_zip(path, members)


def _with_members(path, **replaced):
    members = _members(path)
    for name, data in replaced.items():
        members[f"{name}.npy"] = data
    return _write_zip(path, members)


def _bomb_bytes(n_bytes):
    """A .npy member of n_bytes of zeros (a uint8 array), to be deflated."""
    return _npy_header((n_bytes,), "|u1") + bytes(n_bytes)


def _set(key, value):
    return lambda metadata: metadata.__setitem__(key, value)


def _set_stream(key, value):
    return lambda metadata: metadata["stream"].__setitem__(key, value)


def _set_param(key, value):
    return lambda metadata: metadata["params"].__setitem__(key, value)


# (id, how to make the file from a legitimate one at `path`, fragment of the message)
CRAFTED = [
    ("extra zip member inflating to 64 MiB",
     lambda p: _write_zip(p, {**_members(p), "extra.npy": _bomb_bytes(1 << 26)}, {"extra.npy"}),
     "extra.npy"),
    ("compressed metadata member (a zip bomb in place)",
     lambda p: _write_zip(p, {**_members(p), "metadata.npy": _bomb_bytes(1 << 26)},
                          {"metadata.npy"}),
     "member metadata.npy is compressed"),
    ("header claiming 1e12 elements",
     lambda p: _with_members(p, mean=_npy_header((10**12,)) + bytes(24),
                             spread=_npy_header((10**12,)) + bytes(24)),
     "member mean.npy holds 152 bytes, but its header describes 8000000000128"),
    ("header of 1e6 x 1e6 covariance",
     lambda p: _with_members(p, spread=_npy_header((10**6, 10**6))),
     "spread has shape (1000000, 1000000), expected (3,) or (3, 3)"),
    ("metadata nested 60000 deep",
     lambda p: _with_members(p, metadata=_npy(np.frombuffer(b"[" * 60000, np.uint8))),
     "metadata is nested more than 2 levels deep"),
    ("parameter nested 5 deep",
     lambda p: _with_metadata(p, _set_param("n_jobs", [[[[1]]]])),
     "metadata is nested more than 2 levels deep"),
    ("metadata of 2 MiB",
     lambda p: _with_members(p, metadata=_npy(np.zeros(1 << 21, np.uint8))),
     "expected at most 68608 bytes for 3 features"),
    ("shrinkage 'abc'", lambda p: _with_metadata(p, _set("shrinkage", "abc")),
     "stores a shrinkage intensity ('abc') for a diagonal model"),
    ("n_features_in true", lambda p: _with_metadata(p, _set("n_features_in", True)),
     "n_features_in = True is not the integer 3"),
    ("n_jobs 2.5", lambda p: _with_metadata(p, _set_param("n_jobs", 2.5)),
     "n_jobs = 2.5 is neither null nor an integer"),
    ("n_jobs '4'", lambda p: _with_metadata(p, _set_param("n_jobs", "4")),
     "n_jobs = '4' is neither null nor an integer"),
    ("contamination 7", lambda p: _with_metadata(p, _set_param("contamination", 7)),
     "contamination must be <= 0.5, got 7"),
    ("ddof true", lambda p: _with_metadata(p, _set_param("ddof", True)),
     "ddof must be an integer, got True"),
    ("unknown field", lambda p: _with_metadata(p, _set("run", "rm -rf /")),
     "unknown field(s) ['run']"),
    ("missing field", lambda p: _with_metadata(p, lambda m: m.pop("model")),
     "lacks field(s) ['model']"),
    ("feature names not strings", lambda p: _with_metadata(p, _set("feature_names", [1, 2, 3])),
     "feature names are not 3 strings"),
    ("NaN in the JSON",
     lambda p: _with_members(p, metadata=_npy(np.frombuffer(b'{"format": NaN}', np.uint8))),
     "holds NaN, which is not JSON"),
    ("a repeated JSON field",
     lambda p: _with_members(p, metadata=_npy(np.frombuffer(
         b'{"format": "gaussext-model", "format": "gaussext-model"}', np.uint8))),
     "repeats a field"),
    ("metadata not UTF-8",
     lambda p: _with_members(p, metadata=_npy(np.frombuffer(b"\xff\xfe{}", np.uint8))),
     "metadata is not JSON"),
    ("NaN epsilon", lambda p: _with_members(p, epsilon=_npy(np.float64(np.nan))),
     "epsilon = nan is not a density"),
    ("negative epsilon", lambda p: _with_members(p, epsilon=_npy(np.float64(-1.0))),
     "epsilon = -1.0 is not a density"),
    ("epsilon inconsistent with log_epsilon",
     lambda p: _with_members(p, epsilon=_npy(np.float64(0.5)), log_epsilon=_npy(np.float64(-3))),
     "epsilon = 0.5 is not exp(log_epsilon) = 0.049787068367863944"),
    ("NaN log_epsilon", lambda p: _with_members(p, log_epsilon=_npy(np.float64(np.nan))),
     "log_epsilon is NaN"),
    ("big-endian mean of the wrong length",
     lambda p: _with_members(p, mean=_npy(np.ones(4, ">f8"))),
     "spread has shape (3,), expected (4,) or (4, 4)"),
    ("float32 mean", lambda p: _with_members(p, mean=_npy(np.ones(3, np.float32))),
     "mean has dtype float32 and shape (3,), expected float64 (3,)"),
    ("structured log_epsilon",
     lambda p: _with_members(p, log_epsilon=_npy(np.zeros((), [("a", "<f8")]))),
     "log_epsilon has dtype"),
    ("object (pickled) metadata",
     lambda p: _with_members(p, metadata=_npy_header((1,), "|O") + b"\x80\x04N."),
     "metadata has dtype object"),
    ("npy version 3", lambda p: _with_members(p, mean=b"\x93NUMPY\x03\x00" + bytes(60)),
     "not 1.0 or 2.0"),
    ("member not .npy", lambda p: _with_members(p, mean=b"PK\x03\x04 not an array"),
     "member mean.npy has no valid .npy header"),
    ("CRC mismatch", lambda p: _corrupt_last_data_byte(p, "mean.npy"),
     "Bad CRC-32"),
    # the streaming state of format version 2 (the legit file: 300 rows, all in the sample)
    ("a streaming member missing",
     lambda p: _write_zip(p, {name: data for name, data in _members(p).items()
                              if name != "sample_index.npy"}),
     "expected ['epsilon.npy'"),
    ("streaming members without their metadata",
     lambda p: _with_metadata(p, lambda m: m.pop("stream")),
     "streaming state is incomplete"),
    ("a streaming key missing",
     lambda p: _with_metadata(p, lambda m: m["stream"].pop("first_row")),
     "streaming state holds ['n_samples', 'sample_capacity'"),
    ("n_samples true", lambda p: _with_metadata(p, _set_stream("n_samples", True)),
     "n_samples = True is not a positive integer"),
    ("n_samples below the sample's rows",
     lambda p: _with_metadata(p, _set_stream("n_samples", 10)),
     "row sample holds 300 rows, but 10 rows seen with a capacity of"),
    ("negative first_row", lambda p: _with_metadata(p, _set_stream("first_row", -5)),
     "first_row = -5 is not an integer"),
    ("first_row beyond 2^62", lambda p: _with_metadata(p, _set_stream("first_row", 1 << 62)),
     "first_row = 4611686018427387904 is not an integer"),
    ("a huge sample capacity",
     lambda p: _with_metadata(p, _set_stream("sample_capacity", 10**12)),
     "sample capacity 1000000000000 is not an integer in [1, 131072]"),
    ("a capacity below the rows kept",
     lambda p: _with_metadata(p, _set_stream("sample_capacity", 100)),
     "row sample holds 300 rows, but 300 rows seen with a capacity of 100 keep 100"),
    ("a discarded priority with nothing discarded",
     lambda p: _with_metadata(p, _set_stream("sample_threshold", 0.5)),
     "discarded priority 0.5 should be null"),
    ("weights without half_life",
     lambda p: _with_metadata(p, _set_stream("weight", 3.0)),
     "has weights but the model no half_life"),
    ("half_life -1", lambda p: _with_metadata(p, _set_param("half_life", -1)),
     "half_life = -1 is not null or a positive number"),
    ("sample row numbers out of order",
     lambda p: _with_members(p, sample_index=_npy(np.arange(300, dtype=np.int64)[::-1])),
     "row numbers are not increasing from its first row, 0, and below 2^62"),
    ("sample row numbers before the first row",
     lambda p: _with_members(p, sample_index=_npy(np.arange(-1, 299, dtype=np.int64))),
     "row numbers are not increasing from its first row"),
    ("sample row numbers beyond 2^62",
     lambda p: _with_members(p, sample_index=_npy(np.arange(2**62, 2**62 + 300,
                                                            dtype=np.int64))),
     "row numbers are not increasing from its first row"),
    ("float row numbers",
     lambda p: _with_members(p, sample_index=_npy(np.arange(300.0))),
     "sample_index has dtype float64 and shape (300,), expected int64 (300,)"),
    ("integer sample rows",
     lambda p: _with_members(p, sample_rows=_npy(np.zeros((300, 3), np.int64))),
     "sample_rows has dtype int64 and shape (300, 3), expected float64"),
    ("sample rows of other features",
     lambda p: _with_members(p, sample_rows=_npy(np.zeros((300, 4)))),
     "sample_rows has shape (300, 4), expected (n_rows, 3)"),
    ("sample rows header claiming 1e12 rows",
     lambda p: _with_members(p, sample_rows=_npy_header((10**12, 3)) + bytes(24)),
     "member sample_rows.npy holds"),
    ("NaN in the sample",
     lambda p: _with_members(p, sample_rows=_npy(np.full((300, 3), np.nan))),
     "streaming statistics or row sample hold NaN or infinity"),
    ("a negative streaming sum of squares",
     lambda p: _with_members(p, stream_scatter=_npy(-np.ones(3))),
     "not a (symmetric) matrix of non-negative sums of squares"),
    ("a streaming mean that is not the model's",
     lambda p: _with_members(p, stream_mean=_npy(np.ones(3))),
     "(stream_shift + stream_mean) is not the model's mean"),
    ("streaming state in a version 1 file",
     lambda p: _with_metadata(p, lambda m: (m.update(format_version=1),
                                            m["params"].pop("half_life"))),
     "unknown field(s) ['stream']"),
    ("a CSV data file", lambda p: _replaced(p, b"a,b\n1,2\n"), "is not a readable zip"),
    ("a .npy array", lambda p: _replaced(p, _npy(X)), "is not a readable zip"),
    ("an empty file", lambda p: _replaced(p, b""), "is not a readable zip"),
]


def _replaced(path, data):
    path.write_bytes(data)
    return path


def _corrupt_last_data_byte(path, member):
    """Flip a data byte of a stored member in place (its CRC no longer matches)."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    # the local header: 30 bytes, the name, then the extra field
    name_length = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little")
    extra_length = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_length + extra_length
    data[start + info.compress_size - 1] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("make, fragment", [case[1:] for case in CRAFTED],
                         ids=[case[0] for case in CRAFTED])
def test_crafted_model_file_is_refused_with_one_message(tmp_path, make, fragment):
    path = make(_legit(tmp_path))
    with pytest.raises(ValueError) as caught:
        GaussianAnomalyDetector.load(path)
    message = str(caught.value)
    assert message.startswith(f"{path} is not a valid gaussext model file: "), message
    assert fragment in message
    assert "\n" not in message and "allow_pickle" not in message


@pytest.mark.parametrize("n_jobs", [None, 0, 4, -1])
def test_a_stored_integer_or_null_n_jobs_is_accepted_and_not_used(tmp_path, n_jobs):
    # files of version 0.1 carry the saving machine's n_jobs; the thread count
    # belongs to the machine that loads the model
    path = _with_metadata(_legit(tmp_path), _set_param("n_jobs", n_jobs))
    assert GaussianAnomalyDetector.load(path).n_jobs is None


def test_legit_full_model_with_fortran_ordered_covariance_loads(tmp_path):
    # np.save writes an F-contiguous array in Fortran order: still a valid model
    path = _legit(tmp_path, "full")
    detector = GaussianAnomalyDetector.load(path)
    _with_members(path, spread=_npy(np.asfortranarray(detector.covariance_)))
    assert np.array_equal(GaussianAnomalyDetector.load(path).score_samples(X),
                          detector.score_samples(X))


def test_save_replaces_a_file_atomically_and_leaves_nothing_behind(tmp_path):
    path = tmp_path / "model.npz"
    path.write_text("previous content")
    GaussianAnomalyDetector().fit(X).save(path)
    assert GaussianAnomalyDetector.load(path).n_features_in_ == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.npz"]


def test_save_through_a_symbolic_link_replaces_the_target(tmp_path):
    target = tmp_path / "real.npz"
    target.write_text("previous content")
    link = tmp_path / "link.npz"
    link.symlink_to(target)
    GaussianAnomalyDetector().fit(X).save(link)
    assert link.is_symlink()
    assert GaussianAnomalyDetector.load(target).n_features_in_ == 3


# -- what refusing costs: peak memory in a fresh process ----------------------

_MEASURE = textwrap.dedent("""
    import json, sys
    from gaussext import GaussianAnomalyDetector
    from gaussext._testing import peak_rss_bytes, reset_peak_rss
    legit, crafted = sys.argv[1], sys.argv[2:]
    GaussianAnomalyDetector.load(legit)  # imports and caches warmed up
    reset_peak_rss()
    before = peak_rss_bytes()
    GaussianAnomalyDetector.load(legit)
    costs = {"legit": peak_rss_bytes() - before}
    for path in crafted:
        reset_peak_rss()
        before = peak_rss_bytes()
        try:
            GaussianAnomalyDetector.load(path)
        except ValueError:
            pass
        else:
            raise SystemExit(f"{path} was loaded")
        costs[path] = peak_rss_bytes() - before
    print(json.dumps(costs))
""")


def test_refusing_crafted_files_costs_less_than_twice_a_legit_model(tmp_path):
    """A full model on 200 features (a 320 KB covariance) is loaded, then each
    crafted file refused, in a child process; the peak resident memory each
    adds is measured from a reset of the peak (Linux's /proc clear_refs)."""
    pytest.importorskip("resource")
    from gaussext._testing import reset_peak_rss

    if not reset_peak_rss():
        pytest.skip("this kernel does not let a process reset its peak RSS")
    wide = np.random.default_rng(0).normal(size=(2000, 200))
    legit = _legit(tmp_path, "full", X=wide, name="legit.npz")
    crafted = []
    for index, (_, make, _) in enumerate(CRAFTED):
        copy = tmp_path / f"crafted{index}.npz"
        copy.write_bytes(legit.read_bytes())
        crafted.append(str(make(copy)))
    # run outside the checkout: `python -c` puts the working folder on sys.path,
    # and the source folder has no compiled modules
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(legit), *crafted],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    costs = json.loads(done.stdout)
    legit_size = legit.stat().st_size
    # page granularity and allocator slack: a fixed 4 MiB on top of the bound
    bound = 2 * legit_size + (4 << 20)
    worst = max(costs[path] for path in crafted)
    assert worst <= bound, {path: cost for path, cost in costs.items() if cost > bound}
    assert math.isfinite(costs["legit"])


@pytest.mark.parametrize("change, fragment", [
    (_set_stream("weight", None), "weights (None, "),
    (_set_stream("weight", 1e9), "are not sums of row weights in (0, 1]"),
    (_set_stream("weight_squared", 0.5), "are not sums of row weights"),
    (_set_stream("weight_squared", "1"), "are not sums of row weights"),
    (_set_param("half_life", None), "has weights but the model no half_life"),
    (_set_param("half_life", True), "half_life = True is not null or a positive number"),
])
def test_crafted_forgetting_state_is_refused(tmp_path, change, fragment):
    path = tmp_path / "model.npz"
    GaussianAnomalyDetector("full", half_life=50.0, resumable=True).fit(X).save(path)
    GaussianAnomalyDetector.load(path)  # the legit file loads
    _with_metadata(path, change)
    with pytest.raises(ValueError, match="is not a valid gaussext model file") as caught:
        GaussianAnomalyDetector.load(path)
    assert fragment in str(caught.value)


def test_an_asymmetric_streaming_scatter_is_refused(tmp_path):
    path = _legit(tmp_path, "full")
    scatter = np.load(path)["stream_scatter"]
    scatter[0, 1] += 1.0
    _with_members(path, stream_scatter=_npy(scatter))
    with pytest.raises(ValueError, match=r"streaming scatter is not a \(symmetric\) matrix"):
        GaussianAnomalyDetector.load(path)
