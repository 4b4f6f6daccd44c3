"""Cross-check neuro's COBA network against Brian2 on the same network: rates and ISI statistics.

Both variants (standard self-sustained with g_E,0 ~ N(4, 1.5), g_I,0 ~ N(20, 12); BrainPy-driven
with I = 20 mV) are built once by neuro (seeded), then simulated by neuro in float64 and by Brian2
(exponential Euler, same schedule) from the same connectivity and initial state. Prints the
number of spikes, E and I rates and the mean CV of inter-spike intervals for both, and the first
time step at which the spike trains differ (float64 codes agree exactly until rounding
differences in exp() let the chaotic network diverge).

Needs Brian2 (numpy < 2.4) and jax in the same interpreter, e.g. the peers environment of
``benchmarks/coba.py``:  PYTHONPATH=. .venv-peers/bin/python benchmarks/coba_check.py
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

try:  # installed package, or the repository on PYTHONPATH (models/ is the neuro.models package)
    import neuro.models  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import models

    sys.modules["neuro.models"] = models


def run_neuro(n: int, variant: str, seed: int, steps: int):
    import jax

    jax.config.update("jax_enable_x64", True)
    from neuro import run
    from neuro.models import coba

    net, state = coba.coba_network(n, variant=variant, seed=seed)
    result = run.simulate(net, state, n_steps=steps, monitors=coba.monitor(net, record=n))
    return net, state, np.asarray(result.records["raster"])


def run_brian2(net, state, steps: int, target: str) -> np.ndarray:
    import brian2 as b2

    from neuro.models import coba

    pop = net.populations[coba.POPULATION]
    neuron, synapse = pop.neuron, pop.synapse
    b2.prefs.logging.console_log_level = "ERROR"
    b2.prefs.codegen.target = target
    b2.defaultclock.dt = neuron.dt * b2.ms
    n, n_exc = pop.size, coba.num_excitatory(pop.size)
    ms, mV = b2.ms, b2.mV
    f = lambda x: float(np.asarray(x))
    tau_e, tau_i = (float(t) for t in np.asarray(synapse.tau))
    ns = dict(taum=f(neuron.tau_m) * ms, El=f(neuron.v_rest) * mV, Vr=f(neuron.v_reset) * mV,
              Vt=f(neuron.v_th) * mV, Ee=f(neuron.reversal[0]) * mV,
              Ei=f(neuron.reversal[1]) * mV, taue=tau_e * ms, taui=tau_i * ms,
              I=f(neuron.bias) * mV)
    eqs = """
    dv/dt = (El - v + ge * (Ee - v) + gi * (Ei - v) + I) / taum : volt (unless refractory)
    dge/dt = -ge / taue : 1
    dgi/dt = -gi / taui : 1
    """
    group = b2.NeuronGroup(n, eqs, threshold="v > Vt", reset="v = Vr",
                           refractory=neuron.n_ref * neuron.dt * ms, method="exponential_euler",
                           namespace=ns)
    g = np.asarray(state.synapses[coba.POPULATION], dtype=np.float64)
    group.v = np.asarray(state.neurons[coba.POPULATION].v, dtype=np.float64) * mV
    group.ge = g[:n]
    group.gi = g[n:2 * n]
    pre, post, ch, w = coba.connectivity(net).to_edges()
    syn = []
    for c, var, offset in ((0, "ge", 0), (1, "gi", n_exc)):
        sel = ch == c
        src = group[:n_exc] if c == 0 else group[n_exc:]
        s = b2.Synapses(src, group, "w : 1", on_pre=f"{var} += w", namespace={})
        s.connect(i=pre[sel] - offset, j=post[sel])
        s.w = w[sel]
        syn.append(s)
    monitor = b2.SpikeMonitor(group)
    b2.Network(group, *syn, monitor).run(steps * neuron.dt * ms)
    raster = np.zeros((steps, n), dtype=bool)
    t = np.round(np.asarray(monitor.t / ms) / neuron.dt).astype(int)
    raster[t, np.asarray(monitor.i)] = True
    return raster


def stats(raster: np.ndarray, n_exc: int, dt: float) -> dict:
    from neuro.models import coba

    seconds = raster.shape[0] * dt / 1000.0
    return dict(spikes=int(raster.sum()),
                rate_exc_hz=float(raster[:, :n_exc].sum() / n_exc / seconds),
                rate_inh_hz=float(raster[:, n_exc:].sum() / (raster.shape[1] - n_exc) / seconds),
                cv_isi=coba.cv_isi(raster))


def coba_n_exc(n: int) -> int:
    from neuro.models import coba

    return coba.num_excitatory(n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--neurons", type=int, default=4000)
    parser.add_argument("--duration", type=float, default=1.0, help="biological seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", default="cython", choices=("numpy", "cython"))
    args = parser.parse_args()
    steps = int(round(args.duration * 1e4))
    for variant in ("standard", "brainpy"):
        net, state, ours = run_neuro(args.neurons, variant, args.seed, steps)
        theirs = run_brian2(net, state, steps, args.target)
        differ = np.nonzero(np.any(ours != theirs, axis=1))[0]
        dt, n_exc = 0.1, coba_n_exc(args.neurons)
        first = f"step {differ[0]} ({differ[0] * dt:.1f} ms)" if differ.size else "never"
        a, b = stats(ours, n_exc, dt), stats(theirs, n_exc, dt)
        print(f"{variant:9s} N={args.neurons} {args.duration:g} s: spike trains first differ at "
              f"{first}")
        for name, s in (("neuro f64", a), (f"brian2 {args.target}", b)):
            print(f"  {name:15s} spikes {s['spikes']:8d}  E {s['rate_exc_hz']:6.2f} Hz  "
                  f"I {s['rate_inh_hz']:6.2f} Hz  CV(ISI) {s['cv_isi']:.3f}")


if __name__ == "__main__":
    main()
