"""Does an event-driven convolution pay on XLA:CPU? Dense ``Conv`` against the event kernel.

The event-driven forward of a convolution scatters, for every active presynaptic pixel
``(h, w, c)``, its ``KH KW C_out`` kernel entries into the output map; its cost grows with the
number of spikes. The package's event kernel (:mod:`neuro.projections._events`, used by
``Sparse(backend="event")``) is exactly that computation once the convolution is unrolled into an
out-degree table (one row per presynaptic pixel, ``KH KW C_out`` targets; weight sharing only
changes where the gathered weights come from, not the gather/scatter work). This script times,
in one invocation, the forward delivery of a batch of Bernoulli spike maps through

* ``conv``: :class:`neuro.projections.Conv` (``lax.conv_general_dilated``, dense), and
* ``event``: ``Sparse(backend="event", binary spikes)`` holding the unrolled convolution,

at several spike densities and layer sizes, and prints the ratio event / conv (> 1: the dense
convolution is faster). The dense convolution's work does not depend on the density, so the
ratio is also given against the layer's fastest conv time (``event_over_best_conv``), which
discounts the timing noise of a shared machine. Correctness of the unrolled table is checked
against ``Conv``.

    python benchmarks/conv_events.py [--batch 32] [--densities 0.002 0.01 0.05 0.2] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from neuro.projections import conv, from_edges, sparse

LAYERS = ((14, 14, 8, 16), (28, 28, 8, 16), (48, 48, 16, 32))


def unrolled(proj) -> tuple[np.ndarray, ...]:
    """Edge list (pre, post, weight) of a stride-1 ``"same"`` Conv (HWC flat indices)."""
    h, w, c = proj.in_shape
    kh, kw, _, o = proj.w.shape
    (pt, _), (pl, _) = proj.padding
    kernel = np.asarray(proj.w)
    ih, iw, ic, a, b, oc = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), np.arange(kh),
                                       np.arange(kw), np.arange(o), indexing="ij")
    oh, ow = ih + pt - a, iw + pl - b  # output position that tap (a, b) of input (ih, iw) feeds
    ok = (oh >= 0) & (oh < h) & (ow >= 0) & (ow < w)
    pre = ((ih * w + iw) * c + ic)[ok]
    post = ((oh * w + ow) * o + oc)[ok]
    return pre, post, kernel[a[ok], b[ok], ic[ok], oc[ok]]


def timed(fn, *args, repeats: int = 10) -> float:
    jax.block_until_ready(fn(*args))
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - t0) / repeats)
    return best


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--densities", type=float, nargs="+", default=[0.002, 0.01, 0.05, 0.2])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    rows = []
    for h, w, c, o in LAYERS:
        proj = conv("a", "b", (h, w, c), key=jax.random.PRNGKey(0), out_channels=o)
        pre, post, weight = unrolled(proj)
        table = sparse("a", "b", from_edges(pre, post, proj.n_pre, proj.n_post, weights=weight))
        dense_fn = jax.jit(lambda z, p=proj: p.apply(z))
        state = table.init_state(())
        event_fn = jax.jit(lambda z, s=table, st=state: s.deliver(st, z, binary=True)[1][..., 0, :])
        probe = jnp.asarray(rng.random((2, proj.n_pre)) < 0.1, jnp.float32)
        np.testing.assert_allclose(np.asarray(event_fn(probe)), np.asarray(dense_fn(probe)),
                                   rtol=1e-4, atol=1e-4)
        for density in args.densities:
            z = jnp.asarray(rng.random((args.batch, proj.n_pre)) < density, jnp.float32)
            t_conv, t_event = timed(dense_fn, z), timed(event_fn, z)
            rows.append({"layer": f"{h}x{w}x{c}->{o}", "density": density,
                         "conv_ms": 1e3 * t_conv, "event_ms": 1e3 * t_event,
                         "event_over_conv": t_event / t_conv})
            if not args.json:
                r = rows[-1]
                print(f"{r['layer']:15s} density {density:6.3f}  conv {r['conv_ms']:8.2f} ms  "
                      f"event {r['event_ms']:8.2f} ms  event/conv {r['event_over_conv']:6.2f}",
                      flush=True)
    for r in rows:
        best = min(q["conv_ms"] for q in rows if q["layer"] == r["layer"])
        r["event_over_best_conv"] = r["event_ms"] / best
    if not args.json:
        print("event / fastest conv of the layer:",
              {f"{r['layer']}@{r['density']}": round(r["event_over_best_conv"], 2) for r in rows})
    out = {"batch": args.batch, "cores": os.cpu_count(), "rows": rows}
    if args.json:
        print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
