"""What every ``neuro`` command shares: output paths checked before the work, deferred plots,
JSON without NaN, size estimates, one-line errors and a clean Ctrl-C.

Rules (documented in ``neuro --help`` and the README):

* **Output paths are checked when the arguments are parsed**, before any work: ``--plot FILE``,
  result files (``--save FILE``) and ``--checkpoint FILE`` must name a file (not a folder) in an
  existing folder that this process may write to. A bad path is an argparse error (exit code 2).
* **Plot file names**: ``--plot NAME`` without an extension writes ``NAME.png`` (what matplotlib
  would do anyway); the printed ``plot`` entry is always the file actually written. An extension
  that matplotlib cannot write, or a folder (``--plot /tmp``), is refused.
* **Results first**: a command registers its figure with :func:`defer_plot`; the results are
  printed (and a ``--save`` file written) before the figure is drawn, so a failing plot never
  loses the results.
* **JSON is JSON**: NaN and infinity are written as ``null`` (:func:`neuro.io.json_safe`) and a
  note on stderr names the entries concerned.
* **Numbers**: a float argument that is NaN or infinite (``--duration inf``) is refused.
* **Errors**: the package's documented errors (:class:`neuro.validation.NeuroError`), bad values
  (``ValueError``), file errors (``OSError``: missing files, permissions, a full disk), missing
  optional packages and out-of-memory
  errors print one line ``neuro CMD: error: ...`` and exit with code 2; ``--debug`` prints the
  traceback as well. Anything else is a bug and keeps Python's traceback.
* **Ctrl-C** (SIGINT) exits with code 130 and a message saying whether and how the run can be
  resumed; the last checkpoint is intact (checkpoints are written atomically, a half-written
  temporary file is removed). It also works while XLA compiles (the interpreter is not torn down
  under XLA's threads, which used to end in a segmentation fault).
* **Sizes**: a command may declare an estimate of the memory its size arguments need
  (:func:`set_estimate`); a request larger than the available memory is refused with the
  estimate before anything is allocated (:class:`neuro.validation.SizeError`).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: formats matplotlib's Agg backend writes (by extension)
PLOT_FORMATS = ("png", "pdf", "svg", "svgz", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp",
                "gif", "avif", "pgf", "raw", "rgba")
EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
GRACE_SECONDS = 2.0  # how long Ctrl-C waits for Python code before leaving native code at once


# --- output paths -----------------------------------------------------------------------------


def writable_file(value: str, *, what: str = "file") -> Path:
    """``value`` as a path that can be written: not a folder, its folder exists and is writable,
    and an existing file is writable. Raises ``argparse.ArgumentTypeError`` otherwise."""
    if not value:
        raise argparse.ArgumentTypeError(f"the {what} name is empty")
    path = Path(value).expanduser()
    if path.is_dir() or value.endswith(os.sep):
        raise argparse.ArgumentTypeError(
            f"{value} is a folder; give a {what} name such as {path / 'out'}")
    folder = path.parent
    if not folder.exists():
        raise argparse.ArgumentTypeError(f"the folder {folder} does not exist (for {value})")
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"{folder} is not a folder (for {value})")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise argparse.ArgumentTypeError(f"no permission to write {path}")
    else:  # a real probe: permissions, read-only or special file systems (/proc), quotas
        try:
            fd, probe = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".probe")
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise argparse.ArgumentTypeError(
                f"cannot create files in {folder} ({exc.strerror or exc})") from None
    return path


def plot_file(value: str) -> str:
    """``--plot`` argument type: a writable image file (``.png`` added when there is no
    extension); see the module docstring."""
    path = Path(value).expanduser()
    if path.is_dir() or value.endswith(os.sep):
        raise argparse.ArgumentTypeError(
            f"{value} is a folder; give a figure file name such as {path / 'figure.png'}")
    if not path.suffix:
        path = path.with_name(path.name + ".png")
    elif path.suffix[1:].lower() not in PLOT_FORMATS:
        raise argparse.ArgumentTypeError(
            f"cannot write a figure as {path.suffix!r}; use one of "
            + ", ".join(f".{f}" for f in PLOT_FORMATS[:8]))
    return str(writable_file(str(path), what="figure file"))


def output_file(value: str) -> str:
    """Argument type of result files (``--save FILE``): a writable file."""
    return str(writable_file(value))


def checkpoint_file(value: str) -> str:
    """Argument type of ``--checkpoint FILE``: writable, and readable when it exists."""
    path = writable_file(value, what="checkpoint file")
    if path.exists() and not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"no permission to read {path}")
    return str(path)


def add_checkpoint_flags(parser: argparse.ArgumentParser, help: str = "checkpoint the run; "
                         "resume from it if it exists") -> None:
    """``--checkpoint FILE`` (checked before the work) and ``--force-restart``."""
    parser.add_argument("--checkpoint", metavar="FILE", default=None, type=checkpoint_file,
                        help=help)
    parser.add_argument("--force-restart", action="store_true",
                        help="ignore an existing --checkpoint file and start over (it is "
                        "overwritten at the next save)")


# --- deferred plots ---------------------------------------------------------------------------


def defer_plot(args: argparse.Namespace, draw: Callable[[str], Any]) -> str:
    """Register ``draw(path)`` to make the figure after the results are out; return the path
    that will be written (for the results' ``plot`` entry)."""
    pending = getattr(args, "_plots", None)
    if pending is None:
        pending = []
        args._plots = pending
    pending.append((args.plot, draw))
    return args.plot


def run_deferred_plots(args: argparse.Namespace) -> None:
    for path, draw in getattr(args, "_plots", ()) or ():
        draw(path)


# --- numbers and sizes ------------------------------------------------------------------------


def check_finite_arguments(args: argparse.Namespace) -> None:
    """Refuse NaN or infinite float arguments (``--duration inf``) with their flag name."""
    from neuro.validation import NonFiniteError

    for name, value in vars(args).items():
        values = value if isinstance(value, list | tuple) else [value]
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                flag = "--" + name.replace("_", "-")
                raise NonFiniteError(f"{flag} must be a finite number; got {v}")


def set_estimate(parser: argparse.ArgumentParser,
                 estimate: Callable[[argparse.Namespace], tuple[float, str, str]]) -> None:
    """Declare ``estimate(args) -> (bytes, what, hint)``: the memory the command's size
    arguments need, checked against the available memory before the work."""
    parser.set_defaults(_estimate=estimate)


def _simulate_bytes(args) -> tuple[float, str, str]:
    n = args.neurons
    steps = args.duration * 1000.0 / args.dt if args.dt > 0 else 0.0
    record = min(n, 1000) if getattr(args, "record", None) is None else args.record
    # 80 synapses per neuron (fixed in-degree), ~40 B each at the peak of building them (int64
    # host tables and their sorted copies, int32/float32 device tables); 1 B per recorded spike
    # slot and 8 B of counts per step, held twice (pieces and joined)
    nbytes = 40.0 * 80 * n + 200.0 * n + 2.0 * steps * (max(record, 0) + 8)
    return nbytes, (f"simulate --neurons {n} --duration {args.duration:g} ({80 * n:,} synapses, "
                    f"{steps:,.0f} steps)"), "use fewer --neurons, a shorter --duration or a " \
        "smaller --record"


def _dense_training_bytes(sizes: list[int], copies: float) -> float:
    """Float32 weights of consecutive dense layers ``sizes``, times ``copies`` (weights,
    gradients, optimiser moments, penalties' anchors)."""
    return 4.0 * copies * sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=False))


def _demo_bytes(args) -> tuple[float, str, str]:
    h = args.hidden
    nbytes = 4.0 * 4 * (h * h + 8 * h + 10 * h)  # recurrent + input + readout: w, grad, 2 Adam
    return nbytes, f"demo --hidden {h} ({h * h:,} recurrent weights)", "use a smaller --hidden"


def _memory_bytes(args) -> tuple[float, str, str]:
    h = args.hidden or 64
    nbytes = 4.0 * 4 * (h * h + 40 * h)
    return nbytes, f"memory --hidden {h} ({h * h:,} recurrent weights)", "use a smaller --hidden"


def _continual_bytes(args) -> tuple[float, str, str]:
    n_in = 64 if args.data == "digits" else 784
    hidden = list(args.hidden or ((100, 100) if n_in == 64 else (800, 800)))
    sizes = [n_in, *hidden, 10]
    # weights, gradients, momentum, EWC anchor and Fisher; GPM/HLOP keep [n, n] per layer input
    nbytes = _dense_training_bytes(sizes, 5) + 4.0 * sum(n * n for n in sizes[:-1])
    return nbytes, f"continual --hidden {' '.join(map(str, hidden))}", "use smaller --hidden sizes"


def _prune_bytes(args) -> tuple[float, str, str]:
    n = args.neurons
    # dense recurrent weights, mask, pruned copy, Jacobian products of the Lyapunov spectrum
    nbytes = 4.0 * 8 * n * n
    return nbytes, f"prune --neurons {n} ({n * n:,} dense synapses)", "use fewer --neurons"


#: size estimates of the commands (bytes, what, hint), checked before the work
ESTIMATES: dict[str, Callable[[argparse.Namespace], tuple[float, str, str]]] = {
    "simulate": _simulate_bytes, "demo": _demo_bytes, "memory": _memory_bytes,
    "continual": _continual_bytes, "prune": _prune_bytes,
}


def check_size(args: argparse.Namespace) -> None:
    from neuro.validation import check_memory

    estimate = getattr(args, "_estimate", None) or ESTIMATES.get(getattr(args, "command", ""))
    if estimate is None:
        return
    try:
        nbytes, what, hint = estimate(args)
    except (AttributeError, TypeError, ValueError, OverflowError):
        return  # the command's own checks will name the bad argument
    check_memory(what, nbytes, hint=hint)


# --- printing ---------------------------------------------------------------------------------


def non_finite_entries(obj: Any, prefix: str = "") -> list[str]:
    """Dotted keys of the NaN or infinite numbers in ``obj`` (dicts, lists, arrays)."""
    import numpy as np

    out: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += non_finite_entries(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list | tuple):
        for i, v in enumerate(obj):
            out += non_finite_entries(v, f"{prefix}[{i}]")
    elif isinstance(obj, float | np.floating | np.ndarray) or hasattr(obj, "__array__"):
        try:
            arr = np.asarray(obj, dtype=float)
        except (TypeError, ValueError):
            return out
        if not np.all(np.isfinite(arr)):
            out.append(prefix or "(value)")
    return out


def print_results(results: dict[str, Any], as_json: bool, command: str = "") -> None:
    """Print ``results`` as JSON (``--json``; NaN/inf as ``null`` with a note on stderr) or as
    ``key: value`` lines."""
    from neuro.io import json_safe

    if as_json:
        bad = non_finite_entries(results)
        print(json.dumps(json_safe(results), indent=2, allow_nan=False), flush=True)
        if bad:
            print(f"neuro {command}: note: {', '.join(bad[:10])}{' ...' if len(bad) > 10 else ''}"
                  " held NaN or infinity, written as null (JSON has no NaN)", file=sys.stderr)
        return
    for key, value in results.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        print(f"{key}: {value}")
    sys.stdout.flush()


# --- errors -----------------------------------------------------------------------------------


def known_error(exc: BaseException) -> str | None:
    """The one-line message for an error the user can act on, or ``None`` for a bug."""
    from neuro.validation import NeuroError

    if isinstance(exc, NeuroError | ValueError | OSError | ImportError):  # OSError: files, disk
        return _one_line(exc)
    if isinstance(exc, MemoryError) or "RESOURCE_EXHAUSTED" in str(exc) or \
            "Out of memory" in str(exc):
        return "out of memory: " + (_one_line(exc) or "allocation failed") + \
            "; use smaller sizes (the estimate of --neurons/--hidden is a lower bound)"
    return None


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, KeyError) and text.startswith(("'", '"')):
        text = text[1:-1]
    return " ".join(text.split()) or type(exc).__name__


# --- Ctrl-C -----------------------------------------------------------------------------------


class Interrupts:
    """SIGINT handling for a command (see the module docstring).

    Python's own handler stays in place (Ctrl-C raises ``KeyboardInterrupt`` in the main thread,
    which :func:`neuro.cli.main` turns into the message and ``os._exit``). A watcher thread is
    woken at once through ``signal.set_wakeup_fd`` (the C-level handler writes the signal number
    to a pipe, from whichever thread the signal reached); if the main thread does not handle the
    interruption within :data:`GRACE_SECONDS` (it is inside native code: an XLA compilation, a
    long NumPy call) or Ctrl-C comes again, the watcher prints the message and leaves with
    ``os._exit``, never tearing the interpreter down under XLA's threads.
    """

    def __init__(self, message: Callable[[], str], enabled: bool = True):
        self.message = message
        self.enabled = enabled
        self.handled = threading.Event()
        self._stop = threading.Event()
        self.active = False

    def __enter__(self) -> Interrupts:
        if (self.enabled and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._read, write = os.pipe()
            os.set_blocking(write, False)
            self._write = write
            self._old_fd = signal.set_wakeup_fd(write, warn_on_full_buffer=False)
            self._thread = threading.Thread(target=self._watch, name="neuro-sigint", daemon=True)
            self._thread.start()
            self.active = True
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.active:
            signal.set_wakeup_fd(self._old_fd)
            self._stop.set()
            self._thread.join()
            os.close(self._read)
            os.close(self._write)
            self.active = False

    def _next_sigint(self, timeout: float | None) -> bool:
        """Wait for a SIGINT byte on the wake-up pipe (``timeout`` None: until stopped)."""
        import select

        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stop.is_set():
            left = 0.2 if deadline is None else min(0.2, deadline - time.monotonic())
            if left <= 0:
                return False
            ready, _, _ = select.select([self._read], [], [], left)
            if ready and signal.SIGINT in os.read(self._read, 64):
                return True
        return False

    def _watch(self) -> None:
        if not self._next_sigint(None):
            return
        again = self._next_sigint(GRACE_SECONDS)
        if not again and (self.handled.is_set() or self._stop.is_set()):
            return
        self.leave()

    def leave(self) -> None:
        """Print the interruption message, remove half-written files, exit 130 at once."""
        self.handled.set()
        try:
            from neuro import io

            io.remove_partial_writes()
            sys.stdout.flush()
            print(self.message(), file=sys.stderr, flush=True)
        finally:
            os._exit(EXIT_INTERRUPTED)


def interrupt_message(args: argparse.Namespace) -> str:
    """What Ctrl-C prints: whether the run can be resumed and how."""
    command = getattr(args, "command", "")
    checkpoint = getattr(args, "checkpoint", None)
    if checkpoint and os.path.exists(checkpoint):
        return (f"neuro {command}: interrupted; the checkpoint {checkpoint} holds the last saved "
                "state and is intact: rerun the same command to resume (add --force-restart to "
                "start over)")
    if checkpoint:
        return (f"neuro {command}: interrupted before the first checkpoint was written; rerun "
                "the same command to start again")
    if hasattr(args, "checkpoint"):
        return (f"neuro {command}: interrupted; nothing was saved (pass --checkpoint FILE to "
                "make the run resumable)")
    return f"neuro {command}: interrupted; nothing was saved"


def report(exc: BaseException, command: str, debug: bool) -> int | None:
    """Print a known error in one line (with the traceback under ``--debug``); return the exit
    code, or ``None`` when ``exc`` is not a known error (a bug: the caller re-raises)."""
    line = known_error(exc)
    if line is None:
        return None
    if debug:
        traceback.print_exception(exc)
    print(f"neuro {command}: error: {line}", file=sys.stderr)
    return EXIT_ERROR
