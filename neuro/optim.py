"""Continual learning as optax transformations on any Network: orthogonal projection (HLOP,
GPM) of any projection's weights, HLOP's lateral Hebbian circuits, and EWC.

**Orthogonal projection** (HLOP, Xiao et al. ICLR 2024; GPM, Saha et al. ICLR 2021; hlop.md §2,
§5). A projection carries presynaptic activity ``x [..., n_pre]`` through weights ``W [n_pre,
n_post]`` (``I = x W``). Given a basis ``B [K, n_pre]`` of the frozen old input subspace (HLOP:
the merged lateral rows ``H_old``; GPM: ``M^T``), the weight update is restricted so that old
inputs see an unchanged projection, ``B dW = 0``. Forward and error propagation are untouched.

* Dense weights ``w [n_pre, n_post]`` (:class:`~neuro.projections.Dense`, a readout's ``w``)::

      G <- G - B^T (B G)            ( = (I - B^T B) G, HLOP's rule: exact when B B^T = I )

  computed as ``G - P G`` with ``P = B^T B [n_pre, n_pre]`` formed once per task when
  ``K >= n_pre / 2`` (cheaper, and the shape no longer depends on ``K``).
* Sparse per-edge weights ``weights [n_pre + 1, D]`` (:class:`~neuro.projections.Sparse`; edge
  ``e`` joins ``pre(e)`` to column ``col(e)``: target index, and per-synapse delay slot). The
  dense weights are ``W_ij = sum_{e: (pre, col) = (i, j)} w_e``, so the edge gradient is the
  dense gradient read at the existing synapses, ``g_e = G_{pre(e) col(e)}``. Scattering it,
  projecting densely and gathering back is *not* exact: ``(P G_mask)_ij`` mixes in rows ``m``
  that have no synapse onto ``j``, so ``B dW != 0``. The exact rule is the Euclidean projection
  of the edge vector onto ``{u : B dW(u) = 0}``, one constraint set per column ``j``
  (``A_j [K, E_j]`` with columns ``b_{pre(e)}``)::

      u = g - A_j^T (A_j A_j^T)^+ A_j g
      A_j g       = (B S(g))_{:, j}          S: scatter-add of edge values to [n_pre, columns]
      A_j A_j^T   = B diag(c_{:, j}) B^T     c: synapse count per (pre, column) (multapses too)
      A_j^T lam   = (B^T lam)_{pre(e)}        gathered back at the edges

  ``(A_j A_j^T)^+`` depends only on the basis and the structure, so it is formed once per task
  (``[columns, K, K]``). With every synapse present and ``B B^T = I`` this is the dense rule;
  with fewer presynaptic synapses than basis rows a column may be frozen entirely, which is
  what exact protection demands. ``tests/test_optim.py`` checks ``B dW = 0`` and the reduction.
* Recurrent projections need nothing more: ``x`` is the population's own spikes ``z_{t-1}``.
  Exact for any method whose weight gradient is ``sum_t x_t^T delta_t`` (BPTT, DSR, OTTT),
  since the projection is constant within a task.

Compose with ``optax.sgd`` (momentum allowed if the optimiser state is reset at each task
boundary: the buffer then holds only projected gradients). Adam's per-coordinate scaling and
weight decay break the guarantee: don't chain them after the projection.

**HLOP** (:func:`hlop`): the lateral circuits of :mod:`neuro.plasticity` live in the
transformation's state, one per projection; every update runs the Oja subspace rule on the
presynaptic activity the loss returns in its metrics (``metrics["presynaptic"][name]``, rows
``[R, n_pre]``; :func:`neuro.plasticity.presynaptic_activity` collects it from a run) and
projects the gradients off the merged old rows. :func:`hlop_add` / :func:`hlop_merge` are the
host-side task boundaries. :class:`neuro.train.Trainer` passes the metrics to the optimiser.

**GPM** (:func:`gpm_update_basis`, host-side): from representations ``R [n, N]`` of the last task,
keep the fewest left-singular directions whose captured energy reaches the threshold; project
with :func:`orthogonal_projection` (replace the state with :func:`projection_state` per task).

**EWC** (Kirkpatrick et al., PNAS 2017): ``L + (lam/2) sum_i F_i (theta_i - theta*_i)^2`` with the
diagonal Fisher ``F`` (mean squared per-example gradient, :func:`empirical_fisher` over any
Network's float leaves) accumulated over tasks; :func:`ewc_regularizer` adds ``lam F (theta -
theta*)`` to the gradient; :func:`ewc_proximal` takes the penalty implicitly (stable for any
``lam`` with plain SGD).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from neuro._pytree import partition, replace, value_and_grad
from neuro.plasticity import (
    SubspaceState,
    hebbian_update,
    old_rows,
    subspace_add,
    subspace_merge,
)

Array = jax.Array
ACTIVITY_KEY = "presynaptic"


# --- where a projection's weights are -------------------------------------------------------


def weight_site(net: Any, name: str) -> tuple[str, str]:
    """``(group, field)`` of the weights of projection or readout ``name`` in ``net``.

    Dense projections and readouts: ``w [n_pre, n_post]``; sparse projections: the per-edge
    ``weights [n_pre + 1, D]``. Errors name what exists.
    """
    in_proj = name in net.projections
    in_read = name in getattr(net, "readouts", {})
    if in_proj and in_read:
        raise ValueError(f"{name!r} is both a projection and a readout; rename one")
    if not (in_proj or in_read):
        raise KeyError(f"{name!r} is neither a projection ({sorted(net.projections)}) nor a "
                       f"readout ({sorted(getattr(net, 'readouts', {}))})")
    group = "projections" if in_proj else "readouts"
    part = getattr(net, group)[name]
    if hasattr(part, "targets") and hasattr(part, "weights"):
        if part.weights.shape != part.targets.shape:
            raise ValueError(f"projection {name!r} has one weight per source ({part.weights.shape})"
                             "; orthogonal projection needs per-edge weights")
        return group, "weights"
    w = getattr(part, "w", None)
    if w is None or np.ndim(w) != 2:
        raise TypeError(f"{group[:-1]} {name!r} ({type(part).__name__}) has no [n_pre, n_post] "
                        "weight matrix w or per-edge weights")
    return group, "w"


def presynaptic_size(net: Any, name: str) -> int:
    """Presynaptic dimension of projection or readout ``name``."""
    group, _ = weight_site(net, name)
    part = getattr(net, group)[name]
    return int(part.n_pre if group == "projections" else part.n_in)


def _get(tree: Any, group: str, name: str, field: str) -> Any:
    return getattr(getattr(tree, group)[name], field)


def _set(tree: Any, group: str, name: str, field: str, value: Any) -> Any:
    parts = dict(getattr(tree, group))
    parts[name] = replace(parts[name], **{field: value})
    return replace(tree, **{group: parts})


# --- orthogonal projection ------------------------------------------------------------------


class EdgeBasis(NamedTuple):
    """A basis in the edge form of a sparse projection (see the module docstring)."""

    rows: Array  # B [K, n_pre]
    cinv: Array  # (B diag(c_j) B^T)^+ per used column, [U, K, K]
    flat: Array  # position of every real edge in the flattened weight table, [E]
    pre: Array  # presynaptic index per edge, [E]
    col: Array  # used-column index per edge, [E]


class Basis(NamedTuple):
    """One projection's frozen subspace, in the form its update uses (one field set)."""

    rows: Array | None = None  # dense: B [K, n_pre]
    gram: Array | None = None  # dense: P = B^T B [n_pre, n_pre]
    edges: EdgeBasis | None = None  # sparse


class ProjectionState(NamedTuple):
    """The frozen bases by projection (or readout) name."""

    bases: dict


def _edge_basis(proj: Any, b: np.ndarray, rcond: float) -> EdgeBasis:
    targets = np.asarray(proj.targets)
    sink = proj.n_channels * proj.n_post
    rows, slots = np.nonzero(targets != sink)
    rows_ok = rows < proj.n_pre
    rows, slots = rows[rows_ok], slots[rows_ok]
    flat = rows * targets.shape[1] + slots
    col = targets[rows, slots].astype(np.int64)
    if proj.delays is not None:  # a delay slot is a separate column: x_{t-d} meets W_d
        col = col + np.asarray(proj.delays)[rows, slots].astype(np.int64) * (sink + 1)
    used, col_pos = np.unique(col, return_inverse=True)
    count = np.zeros((proj.n_pre, len(used)))
    np.add.at(count, (rows, col_pos), 1.0)
    b64 = b.astype(np.float64)
    gram = np.einsum("ki,iu,li->ukl", b64, count, b64)  # [U, K, K]
    cinv = np.linalg.pinv(gram, rcond=rcond, hermitian=True)
    return EdgeBasis(jnp.asarray(b, jnp.float32), jnp.asarray(cinv, jnp.float32),
                     jnp.asarray(flat, jnp.int32), jnp.asarray(rows, jnp.int32),
                     jnp.asarray(col_pos, jnp.int32))


def projection_state(net: Any, bases: Mapping[str, Any], *, form: str = "auto",
                     rcond: float = 1e-6) -> ProjectionState:
    """The state of :func:`orthogonal_projection` for ``bases = {name: B [K, n_pre] or None}``.

    Host-side (NumPy), once per task. Zero rows are allowed (preallocated HLOP rows): keeping
    ``K`` fixed across tasks keeps every shape, so a jitted training step is not recompiled.
    ``form`` (dense weights): ``"rows"`` (``G - B^T (B G)``), ``"gram"`` (``G - P G``) or
    ``"auto"`` (gram when ``K >= n_pre / 2``). ``rcond``: relative cut-off of the sparse
    pseudo-inverse.
    """
    if form not in ("auto", "rows", "gram"):
        raise ValueError(f"form must be one of ('auto', 'rows', 'gram'); got {form!r}")
    out = {}
    for name, b in bases.items():
        if b is None:
            continue
        group, field = weight_site(net, name)
        n_pre = presynaptic_size(net, name)
        b = np.asarray(b, np.float32)
        if b.ndim != 2 or b.shape[1] != n_pre:
            raise ValueError(f"basis of {name!r} must be [K, {n_pre}] (rows span the old "
                             f"presynaptic subspace); got shape {b.shape}")
        if field == "weights":
            out[name] = Basis(edges=_edge_basis(net.projections[name], b, rcond))
        elif form == "gram" or (form == "auto" and 2 * b.shape[0] >= n_pre):
            out[name] = Basis(gram=jnp.asarray(b.T @ b))
        else:
            out[name] = Basis(rows=jnp.asarray(b))
    return ProjectionState(out)


def _project_dense(g: Array, basis: Basis) -> Array:
    if basis.gram is not None:
        return g - basis.gram @ g
    return g - basis.rows.T @ (basis.rows @ g)


def _project_edges(g: Array, e: EdgeBasis) -> Array:
    flat = g.reshape(-1)
    ge = flat[e.flat]
    scattered = jnp.zeros((e.rows.shape[1], e.cinv.shape[0]), g.dtype).at[e.pre, e.col].add(ge)
    lam = jnp.einsum("ukl,lu->ku", e.cinv, e.rows @ scattered)
    correction = (e.rows.T @ lam)[e.pre, e.col]
    return flat.at[e.flat].add(-correction).reshape(g.shape)


def project_updates(net_sites: Mapping[str, tuple[str, str]], updates: Any,
                    state: ProjectionState) -> Any:
    """Apply the projections of ``state`` to the gradient tree ``updates`` (a Network)."""
    for name, basis in state.bases.items():
        group, field = net_sites[name]
        g = _get(updates, group, name, field)
        if g is None:
            continue
        g = _project_edges(g, basis.edges) if basis.edges is not None else \
            _project_dense(g, basis)
        updates = _set(updates, group, name, field, g)
    return updates


def orthogonal_projection(net: Any, bases: Mapping[str, Any], **kwargs: Any
                          ) -> optax.GradientTransformation:
    """Project the weight gradients of the named projections/readouts of ``net`` off their
    bases (module docstring). ``bases = {name: B [K, n_pre]}``; ``kwargs`` go to
    :func:`projection_state`. The bases live in the optimiser state: for a new task replace it
    (``projection_state(net, new_bases)``) instead of rebuilding the transformation.
    """
    initial = projection_state(net, bases, **kwargs)
    sites = {name: weight_site(net, name) for name in bases}

    def init_fn(params):
        del params
        return initial

    def update_fn(updates, state, params=None):
        del params
        return project_updates(sites, updates, state), state

    return optax.GradientTransformation(init_fn, update_fn)


# --- HLOP: lateral circuits + projection in one transformation -------------------------------


class HLOPState(NamedTuple):
    """Lateral circuits by projection name and the projection off their merged rows."""

    circuits: dict
    projection: ProjectionState


def hlop(
    net: Any,
    circuits: Mapping[str, SubspaceState],
    *,
    lr: float | Mapping[str, float],
    block: Mapping[str, int],
    iters: int = 5,
    momentum: float = 0.9,
    clamp: float = 10.0,
    spiking: tuple[float, float] | None = None,
    hebbian: bool = True,
    key: str = ACTIVITY_KEY,
) -> optax.GradientTransformationExtraArgs:
    """HLOP as one optax transformation (hlop.md §1-§3).

    ``circuits = {projection: SubspaceState}`` (:func:`neuro.plasticity.subspace_init` with
    ``n_in`` the projection's presynaptic size). Each ``update(grads, state, params,
    aux=metrics)``:

    1. runs ``iters`` Oja subspace steps (:func:`neuro.plasticity.hebbian_update`, ``lr``,
       ``momentum``, ``clamp``, ``spiking``) on ``metrics[key][name]`` (rows ``[R, n_pre]``) for
       the rows still learning; ``block[name]`` bounds how many rows learn in one task (one
       compilation serves every task);
    2. projects the gradients of projection ``name`` off its merged (fixed) rows.

    Task boundaries (host-side): :func:`hlop_add` before a task, :func:`hlop_merge` after it.
    ``hebbian=False`` keeps the circuits as they are (projection only).
    """
    names = tuple(circuits)
    sites = {name: weight_site(net, name) for name in names}
    for name, s in circuits.items():
        n = presynaptic_size(net, name)
        if s.weight.shape[1] != n:
            raise ValueError(f"circuit of {name!r} reads {s.weight.shape[1]} inputs; the "
                             f"projection has {n} presynaptic neurons")
        if name not in block:
            raise ValueError(f"block needs the number of learning rows of {name!r}")
        if s.weight.shape[0] < int(block[name]):
            raise ValueError(f"block[{name!r}] = {block[name]} exceeds max_rows "
                             f"{s.weight.shape[0]}")
    rates = {n: float(lr[n] if isinstance(lr, Mapping) else lr) for n in names}
    initial = HLOPState(dict(circuits), _hlop_projection(net, circuits))

    def init_fn(params):
        del params
        return initial

    def update_fn(updates, state, params=None, *, aux=None, **extra):
        del params, extra
        new = dict(state.circuits)
        if hebbian:
            if aux is None or key not in aux:
                raise ValueError(f"hlop needs the loss's metrics with {key!r}: "
                                 "{projection: presynaptic rows}")
            for name in names:
                x = aux[key][name]
                x = x.reshape(-1, x.shape[-1])
                new[name] = hebbian_update(new[name], x, lr=rates[name], iters=iters,
                                           momentum=momentum, clamp=clamp, spiking=spiking,
                                           block=int(block[name]))
        updates = project_updates(sites, updates, state.projection)
        return updates, HLOPState(new, state.projection)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def _hlop_projection(net: Any, circuits: Mapping[str, SubspaceState]) -> ProjectionState:
    # padded to max_rows with zero rows: the state's shapes are the same for every task
    return projection_state(net, {n: np.asarray(old_rows(s)) for n, s in circuits.items()},
                            form="gram")


def map_state(opt_state: Any, cls: type, fn: Callable[[Any], Any]) -> Any:
    """Replace every ``cls`` node (e.g. :class:`ProjectionState`, :class:`EWCState`,
    :class:`HLOPState`) of a (chained, masked) optimiser state by ``fn(node)`` (host-side, at a
    task boundary: the shapes stay, so the compiled step is reused)."""
    found = []

    def visit(s):
        if isinstance(s, cls):
            found.append(True)
            return fn(s)
        return s

    out = jax.tree_util.tree_map(visit, opt_state, is_leaf=lambda s: isinstance(s, cls))
    if not found:
        raise ValueError(f"the optimiser state holds no {cls.__name__}")
    return out


def find_state(opt_state: Any, cls: type) -> Any:
    """The first ``cls`` node of an optimiser state (see :func:`map_state`)."""
    found = []
    map_state(opt_state, cls, lambda s: found.append(s) or s)
    return found[0]


def _map_hlop(opt_state: Any, fn: Callable[[HLOPState], HLOPState]) -> Any:
    return map_state(opt_state, HLOPState, fn)


def hlop_circuits(opt_state: Any) -> dict:
    """The lateral circuits inside an optimiser state that contains an :func:`hlop` state."""
    return find_state(opt_state, HLOPState).circuits


def hlop_add(opt_state: Any, net: Any, rows: Mapping[str, int],
             seed: int | Sequence[int] = 0) -> Any:
    """Before a task: add ``rows[name]`` orthonormal lateral rows per circuit and project off
    the merged rows (host-side)."""

    def fn(s: HLOPState) -> HLOPState:
        circuits = dict(s.circuits)
        for i, name in enumerate(circuits):
            seq = list(seed) if isinstance(seed, Sequence) else [int(seed)]
            circuits[name] = subspace_add(circuits[name], int(rows.get(name, 0)), [*seq, i])
        return HLOPState(circuits, _hlop_projection(net, circuits))

    return _map_hlop(opt_state, fn)


def hlop_merge(opt_state: Any) -> Any:
    """After a task: the learnt rows become old (fixed) rows. The projection changes at the
    next :func:`hlop_add`."""
    return _map_hlop(opt_state, lambda s: s._replace(
        circuits={n: subspace_merge(c) for n, c in s.circuits.items()}))


def gpm_update_basis(
    basis: np.ndarray | None, representations: np.ndarray, threshold: float
) -> np.ndarray:
    """GPM's memory update for one layer (Saha et al. 2021, ``main_pmnist.py``; hlop.md §5).

    ``basis [N, k]`` (orthonormal columns; None on the first task), ``representations [n, N]``
    (e.g. 300 samples of the layer's input). First task: SVD of ``R^T``; keep ``k`` with
    ``cumsum(s^2)/sum(s^2) < threshold`` (at least one). Later tasks: SVD of the residual
    ``R^T - M M^T R^T``; starting from the captured energy, add residual directions until the
    total reaches ``threshold``. Returns the new basis ``[N, k']`` (k' <= N).
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must lie in (0, 1]; got {threshold}")
    r = np.asarray(representations, np.float64).T  # [N, n]
    if basis is None or basis.shape[1] == 0:
        u, s, _ = np.linalg.svd(r, full_matrices=False)
        ratio = np.cumsum(s**2) / np.sum(s**2)
        k = max(int(np.sum(ratio < threshold)), 1)
        return u[:, :k].astype(np.float32)
    m = np.asarray(basis, np.float64)
    total = np.sum(r**2)
    resid = r - m @ (m.T @ r)
    u, s, _ = np.linalg.svd(resid, full_matrices=False)
    captured = (total - np.sum(resid**2)) / total
    acc = captured
    k = 0
    for value in s**2 / total:
        if acc >= threshold:
            break
        acc += value
        k += 1
    k = min(k, r.shape[0] - m.shape[1])
    if k == 0:
        return m.astype(np.float32)
    new = np.concatenate([m, u[:, :k]], axis=1)
    return new.astype(np.float32)


# --- EWC ------------------------------------------------------------------------------------


class EWCState(NamedTuple):
    anchor: Any
    fisher: Any


def ewc_penalty(params: Any, anchor: Any, fisher: Any, lam: float) -> Array:
    """``(lam/2) sum F (theta - theta*)^2`` over all leaves."""
    terms = jax.tree_util.tree_map(lambda p, a, f: jnp.sum(f * (p - a) ** 2),
                                   params, anchor, fisher)
    return 0.5 * lam * sum(jax.tree_util.tree_leaves(terms))


def _ewc_init(anchor: Any, fisher: Any):
    """``init`` of the EWC transforms: the anchor defaults to the params, the Fisher to zeros."""

    def init_fn(params):
        a = params if anchor is None else anchor
        f = jax.tree_util.tree_map(jnp.zeros_like, params) if fisher is None else fisher
        return EWCState(a, f)

    return init_fn


def ewc_regularizer(lam: float, anchor: Any = None, fisher: Any = None
                    ) -> optax.GradientTransformation:
    """Add the EWC penalty's gradient ``lam F (theta - theta*)`` to the updates (needs params).

    The anchor ``theta*`` and Fisher ``F`` live in the state (:class:`EWCState`; defaults: the
    params given to ``init`` and zeros), so one transformation serves every task: replace the
    state at a task boundary (:func:`ewc_state`) instead of rebuilding the optimiser.
    """

    init_fn = _ewc_init(anchor, fisher)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("ewc_regularizer needs params in update()")
        updates = jax.tree_util.tree_map(
            lambda g, p, a, f: g + lam * f * (p - a), updates, params, state.anchor, state.fisher
        )
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


def ewc_proximal(lam: float, lr: float, anchor: Any = None, fisher: Any = None
                 ) -> optax.GradientTransformation:
    """EWC as an implicit (proximal) step; chain it *after* ``optax.sgd(lr)``.

    With ``u = -lr g`` the SGD update of the task loss, the new parameters minimise
    ``|theta' - theta - u|^2 / (2 lr) + (lam/2) sum F (theta' - theta*)^2``::

        theta' - theta = (u - lr lam F (theta - theta*)) / (1 + lr lam F)

    First order in ``lr lam F`` it is :func:`ewc_regularizer`; unlike the explicit step it stays
    stable when ``lr lam F > 2`` (strong EWC with plain SGD), so ``lam`` need not be tuned to ``lr``.
    """

    init_fn = _ewc_init(anchor, fisher)

    def update_fn(updates, state, params=None):
        if params is None:
            raise ValueError("ewc_proximal needs params in update()")
        updates = jax.tree_util.tree_map(
            lambda u, p, a, f: (u - lr * lam * f * (p - a)) / (1.0 + lr * lam * f),
            updates, params, state.anchor, state.fisher)
        return updates, state

    return optax.GradientTransformation(init_fn, update_fn)


def fisher_diagonal(per_example_grads: Any) -> Any:
    """Diagonal empirical Fisher: the mean over the leading (example) axis of squared gradients."""
    return jax.tree_util.tree_map(lambda g: jnp.mean(g**2, axis=0), per_example_grads)


def empirical_fisher(loss_fn: Callable, net: Any, x: Any, y: Any, *, chunk: int = 25,
                     key: Array | None = None, mesh: jax.sharding.Mesh | None = None,
                     batch_axis: str = "batch") -> Any:
    """Diagonal empirical Fisher of ``loss_fn(net, (x, y), key)`` over the float leaves of any
    pytree ``net`` (a Network): the mean over the examples (leading axis of ``x``, ``y``) of
    squared per-example gradients, vmapped in chunks of ``chunk``. The result has the structure
    of the Trainer's trainable tree (``None`` at integer/bool leaves), as :class:`EWCState`
    expects.

    ``mesh`` (a mesh with a ``batch_axis``, as :class:`neuro.train.Trainer`'s): every chunk's
    examples are split over that axis and their squared gradients are summed across it (an
    all-reduce, as the Trainer reduces gradients); the result equals the single-device one up
    to summation order. Chunks are padded to one size (on a mesh, a multiple of the axis size)
    with copies of their first example at weight 0: one compiled program serves every chunk and
    the padding adds exactly nothing to the sum.
    """
    n = int(np.shape(y)[0])
    if n < 1:
        raise ValueError("empirical_fisher needs at least one example")
    key = jax.random.PRNGKey(0) if key is None else key
    chunk = max(1, min(int(chunk), n))
    put = jnp.asarray
    if mesh is not None:
        if batch_axis not in mesh.axis_names:
            raise ValueError(f"batch_axis {batch_axis!r} is not an axis of the mesh "
                             f"{mesh.axis_names}")
        size = int(mesh.shape[batch_axis])
        chunk = -(-chunk // size) * size
        examples = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(batch_axis))
        put = lambda a: jax.device_put(a, examples)
    total = None
    for start in range(0, n, chunk):
        xs, ys = np.asarray(x[start:start + chunk]), np.asarray(y[start:start + chunk])
        weight = np.zeros(chunk, np.float32)
        weight[:len(ys)] = 1.0
        if len(ys) < chunk:
            fill = lambda a: np.concatenate([a, np.repeat(a[:1], chunk - len(a), axis=0)])
            xs, ys = fill(xs), fill(ys)
        part = _sq_grads(loss_fn, net, put(xs), put(ys), put(weight), key)
        total = part if total is None else jax.tree_util.tree_map(jnp.add, total, part)
    return jax.tree_util.tree_map(lambda t: t / n, total)


@jax.jit(static_argnames="loss_fn")
def _sq_grads(loss_fn, net, xs, ys, weight, key):
    vg = value_and_grad(loss_fn, has_aux=True)

    def one(xi, yi):
        return vg(net, (xi[None], yi[None]), key)[1]

    grads = jax.vmap(one)(xs, ys)
    return jax.tree_util.tree_map(
        lambda g: jnp.tensordot(weight.astype(g.dtype), g**2, axes=1), grads)


def ewc_state(net: Any, fisher: Any) -> EWCState:
    """The EWC state anchored at ``net``'s float leaves with Fisher ``fisher``."""
    return EWCState(partition(net)[0], fisher)
