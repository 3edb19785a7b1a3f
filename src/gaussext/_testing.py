"""Helpers shared by the tests and the benchmarks (as scikit-learn ships
``sklearn.utils._testing``); not part of the public API.  Nothing here is
imported at module level that a supported platform lacks (``resource`` does
not exist on Windows)."""

__all__ = ["peak_rss_bytes", "reset_peak_rss", "resident_bytes", "sklearn_checks"]


def _status_kib(field):
    """A ``/proc/self/status`` field in KiB, or None off Linux."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_bytes():
    """This process's peak resident set size, in bytes.

    Linux's VmHWM, which starts afresh at exec; elsewhere ``ru_maxrss``
    (KiB on Linux, bytes on macOS: only a fallback).
    """
    kib = _status_kib("VmHWM")
    if kib is None:
        import resource  # POSIX only; Linux never gets here

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return kib * 1024


def resident_bytes():
    """This process's current resident set size (VmRSS), in bytes (Linux only)."""
    kib = _status_kib("VmRSS")
    if kib is None:
        raise OSError("the current resident set size is read from /proc/self/status (Linux)")
    return kib * 1024


def sklearn_checks(estimator, id_prefix=""):
    """scikit-learn's estimator checks for `estimator`, as (estimator, check)
    pairs with readable ids for ``pytest.mark.parametrize``.

    The array-API check is left out (NumPy input only), and scikit-learn's
    warning that the estimator does not inherit from BaseEstimator is silenced
    while the checks are listed: the protocol is followed without inheriting,
    which is the point, since scikit-learn is not a run-time dependency.
    """
    import warnings

    import pytest
    from sklearn.utils.estimator_checks import estimator_checks_generator

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not inherit from")
        for instance, check in estimator_checks_generator(estimator):
            name = getattr(check, "func", check).__name__
            if name != "check_array_api_input":
                yield pytest.param(instance, check, id=f"{id_prefix}{name}")


def reset_peak_rss():
    """Reset this process's peak resident set size to its current size, so
    that :func:`peak_rss_bytes` then measures what follows; returns False
    where that cannot be done (off Linux, or an old kernel)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")  # 5: reset the peak RSS (Linux >= 4.0)
    except OSError:
        return False
    return True
