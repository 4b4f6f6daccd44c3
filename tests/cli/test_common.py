"""The machinery every command shares (neuro.cli._common): paths checked before the work,
results before plots, JSON without NaN, one-line errors, size estimates, Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from neuro import cli
from neuro.cli import _common, demo
from neuro.validation import ConfigError


def fake_demo(monkeypatch, result, draw=None, raises=None):
    """Replace the body of ``neuro demo`` (the parser and the shared machinery stay real)."""
    calls = []

    def run(args):
        calls.append(args)
        if raises is not None:
            raise raises
        out = dict(result)
        if args.plot:
            out["plot"] = cli.defer_plot(args, draw)
        return out

    monkeypatch.setattr(demo, "run", run)
    return calls


@pytest.mark.parametrize("plot, message", [
    ("{tmp}", "is a folder"),
    ("{tmp}/missing/f.png", "does not exist"),
    ("{tmp}/f.xyz", "cannot write a figure as '.xyz'"),
    ("/proc/f.png", "cannot create files in /proc"),
])
def test_bad_output_paths_fail_before_the_work(monkeypatch, tmp_path, capsys, plot, message):
    calls = fake_demo(monkeypatch, {"a": 1})
    with pytest.raises(SystemExit) as exit_:
        cli.main(["demo", "--plot", plot.format(tmp=tmp_path)])
    assert exit_.value.code == 2 and not calls
    assert message in capsys.readouterr().err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_folder_without_permission_is_refused(monkeypatch, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    fake_demo(monkeypatch, {"a": 1})
    with pytest.raises(SystemExit):
        cli.main(["demo", "--plot", str(locked / "f.png")])
    assert "cannot create files" in capsys.readouterr().err


def test_plot_name_without_extension_gets_png_and_prints_the_real_path(monkeypatch, tmp_path,
                                                                        capsys):
    written = []
    fake_demo(monkeypatch, {"a": 1}, draw=lambda path: (written.append(path),
                                                          open(path, "wb").close()))
    assert cli.main(["demo", "--json", "--plot", str(tmp_path / "fig")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["plot"] == str(tmp_path / "fig.png") == written[0]
    assert (tmp_path / "fig.png").exists() and not (tmp_path / "fig").exists()


def test_results_are_printed_before_a_failing_plot(monkeypatch, tmp_path, capsys):
    def draw(path):
        raise OSError(28, "No space left on device")

    fake_demo(monkeypatch, {"accuracy": 0.9}, draw=draw)
    assert cli.main(["demo", "--json", "--plot", str(tmp_path / "f.png")]) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["accuracy"] == 0.9
    assert captured.err.strip().endswith("No space left on device")


def test_continual_writes_save_file_before_the_plot(monkeypatch, tmp_path):
    """The real continual body: --save is written even when the figure fails."""
    from neuro.cli import continual
    from neuro.tasks import continual as cl
    from neuro.tasks import metrics

    monkeypatch.setattr(cl, "run_continual", lambda *a, **k: {"acc": 50.0, "bwt": 0.0,
                                                              "accuracy_matrix": [[50.0]]})
    monkeypatch.setattr(cl, "make_stream", lambda *a, **k: type("S", (), {"input_dim": 64})())

    def broken(*a, **k):
        raise ValueError("figure failed")

    monkeypatch.setattr(metrics, "plot_accuracy_matrix", broken)
    save = tmp_path / "r.json"
    assert cli.main(["continual", "--save", str(save), "--plot", str(tmp_path / "m.png")]) == 2
    assert json.loads(save.read_text())["acc"] == 50.0
    assert continual  # the module under test


def test_json_output_has_null_for_nan_and_says_so(monkeypatch, capsys):
    fake_demo(monkeypatch, {"cv_isi": float("nan"), "rates": np.array([1.0, np.inf]), "n": 3})
    assert cli.main(["demo", "--json"]) == 0
    captured = capsys.readouterr()
    assert "NaN" not in captured.out and "Infinity" not in captured.out
    assert json.loads(captured.out) == {"cv_isi": None, "rates": [1.0, None], "n": 3}
    assert "cv_isi, rates" in captured.err and "null" in captured.err


def test_known_errors_are_one_line_with_exit_code_2_and_debug_shows_the_traceback(monkeypatch,
                                                                                  capsys):
    fake_demo(monkeypatch, {}, raises=ConfigError("tau must be positive; got min -1"))
    assert cli.main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err == "neuro demo: error: tau must be positive; got min -1\n"
    assert cli.main(["demo", "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("got min -1")
    assert cli.main(["--debug", "demo"]) == 2 and "Traceback" in capsys.readouterr().err
    fake_demo(monkeypatch, {}, raises=ZeroDivisionError("a bug"))
    with pytest.raises(ZeroDivisionError):  # not a known error: a bug keeps its traceback
        cli.main(["demo"])


@pytest.mark.parametrize("argv, message", [
    (["simulate", "coba", "--duration", "inf"], "--duration must be a finite number"),
    (["simulate", "coba", "--dt", "nan"], "--dt must be a finite number"),
    (["memory", "--delay", "1", "inf"], "--delay must be a finite number"),
    (["demo", "--hidden", "60000"], "demo --hidden 60000 (3,600,000,000 recurrent weights) "
                                    "needs about"),
    (["continual", "--hidden", "60000", "60000"], "use smaller --hidden sizes"),
    (["simulate", "coba", "--neurons", "2000000", "--duration", "100000"], "use fewer --neurons"),
    (["prune", "--neurons", "60000"], "needs about"),
])
def test_non_finite_numbers_and_huge_sizes_are_refused_before_the_work(monkeypatch, capsys,
                                                                       argv, message):
    monkeypatch.setenv("NEURO_MEMORY_LIMIT", str(8 * 2**30))  # the same answer on any machine
    module = __import__(f"neuro.cli.{argv[0]}", fromlist=["x"])
    name = "run_memory" if argv[0] == "memory" else "run"
    monkeypatch.setattr(module, name, lambda args: pytest.fail("the work started"))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_size_estimates_pass_for_ordinary_sizes(monkeypatch):
    monkeypatch.setenv("NEURO_MEMORY_LIMIT", str(8 * 2**30))
    parser = cli.build_parser()
    for argv in (["simulate", "coba"], ["demo"], ["continual"], ["memory"], ["prune"],
                 ["simulate", "coba", "--neurons", "100000", "--duration", "10"]):
        _common.check_size(parser.parse_args(argv))


CHILD = textwrap.dedent("""
    import signal, sys, time
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal
    import jax, jax.numpy as jnp
    from neuro import cli, io
    from neuro.cli import demo

    def run(args):
        io.save_json(args.checkpoint, {"done": 1})       # the last checkpoint
        print("working", file=sys.stderr, flush=True)
        if args.seed == 1:                               # Python code: sleeping
            time.sleep(60)
        def f(x):                                        # native code: a long XLA compilation
            for i in range(4000):
                x = jnp.sin(x) * (1.0 + i * 1e-6) + jnp.cos(x[::-1])
            return x
        jax.jit(f).lower(jnp.ones(64)).compile()
        return {"finished": True}

    demo.run = run
    sys.argv = ["neuro", "demo", "--checkpoint", sys.argv[1], "--seed", sys.argv[2]]
    sys.exit(cli.main())
""")


@pytest.mark.parametrize("where", ["python", "xla_compile"])
def test_ctrl_c_exits_cleanly_keeping_the_checkpoint(tmp_path, where):
    ckpt = tmp_path / "run.json"
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    # the demo parser has no --checkpoint: the child adds it through the shared helper
    script.write_text(CHILD.replace("demo.run = run", "demo.run = run\n"
                                    "_reg = demo.register\n"
                                    "def register(sub):\n"
                                    "    _reg(sub)\n"
                                    "    cli.add_checkpoint_flags(sub.choices['demo'])\n"
                                    "demo.register = register"))
    proc = subprocess.Popen([sys.executable, str(script), str(ckpt), "1" if where == "python"
                             else "0"], stderr=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    line = proc.stderr.readline()
    assert "working" in line, line + proc.stderr.read()
    time.sleep(1.0)  # inside the sleep, or inside XLA's compiler
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err  # not 139 (segmentation fault)
    assert time.monotonic() - start < 15
    assert "interrupted" in err and "rerun the same command to resume" in err
    assert json.loads(ckpt.read_text()) == {"done": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["child.py", "run.json"]
