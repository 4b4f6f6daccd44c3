"""Shared settings of the fuzz suite: small example counts (the whole suite runs in well under a
minute on a loaded 2-core machine), no per-example deadline (JIT compilation times vary), and a
hard per-example time limit that turns a hang into a failure."""

import contextlib
import signal

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "neuro-fuzz", max_examples=30, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large])
settings.load_profile("neuro-fuzz")

HANG_SECONDS = 20


@contextlib.contextmanager
def no_hang(seconds: int = HANG_SECONDS):
    """Fail (instead of hanging) when the body runs longer than ``seconds``."""
    def alarm(signum, frame):
        raise TimeoutError(f"hung for more than {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@pytest.fixture
def guard():
    return no_hang
