"""Event-driven products of :mod:`neuro.fast_rnn`: XLA:CPU FFI handlers compiled by LLVM.

Two products that visit only the non-zero entries of ``x`` (spikes, sparse inputs)::

    matmul(x, w, acc)   out[r, :] = acc[r, :] + sum_{k: x[r, k] != 0} x[r, k] w[k, :]
    matmul_t(x, d)      out[k, :] =             sum_{r: x[r, k] != 0} x[r, k] d[r, :]

``x`` ``[R, K]`` is boolean (events without values: no product) or has the float dtype of
``w``/``d``; ``w`` ``[K, N]``, ``d`` ``[R, N]`` and ``acc`` ``[R, N]`` are float32 or float64. The
work is ``R K`` tests plus ``N`` multiply-adds per event, against ``R K N`` for the dense
product. Zeros are skipped by value (``x != 0``): NaN is an event, as in the dense product;
``-0.0`` is not (its products are zeros). The sums run in a fixed order (``k``, then ``r``
ascending): results are deterministic.

Each product is one XLA custom call (the typed FFI: ``XLA_FFI_Error* handler(XLA_FFI_CallFrame*)``)
that reads its buffers from XLA's call frame and runs in the calling XLA thread, with no Python
in between. The handlers are a few loops written in LLVM IR below: a row of ``x`` is tested 16
entries at a time (one vector compare gives a mask of the events, whose set bits are then
visited), and each event adds a row with a vectorised loop (AVX2/AVX-512 where present). They
are compiled once per machine by llvmlite (the LLVM binding that Numba is built on, ``pip
install neuro[fast]``) at ``-O3`` for the host CPU into position-independent object code that
calls nothing, kept in ``$NEURO_CACHE_DIR`` (default ``~/.cache/neuro``); a process that finds
it maps it executable and never loads LLVM. Why not Numba: measured on the training benchmark
(``benchmarks/train.py``), importing Numba and initialising its compiler costs about 115 MB of
resident memory before a kernel runs, llvmlite's library alone about 50 MB (more than the
training step's buffers), and the earlier bridge through ``brainevent.numba_kernel`` called
back into Python and NumPy at every call, which cost more than the products themselves at the
sizes of a training step.

The call frame and buffer structs are read by byte offset (layout of ``xla/ffi/api/c_api.h``,
FFI API 0.x on a 64-bit platform: pointers, ``size_t`` and ``int64_t`` fields, enums padded to 8
bytes): the frame's ``args.args`` at byte 72 and ``rets.rets`` at 112; a buffer's ``data`` at 24
and ``dims`` at 40. XLA's metadata query at registration is answered with the FFI API version of
the installed jaxlib (from its bundled ``c_api.h``).

Every handler (both products, boolean or valued ``x``, float32 and float64) is registered at
the first use and kept for the life of the process (XLA holds their addresses). ``vmap`` of
``matmul`` over ``x`` (and ``acc``) with a shared ``w`` is one call on the batch's rows; other
``vmap``s run once per batch element (``vmap_method="sequential"``). They have no differentiation rules:
:mod:`neuro.fast_rnn` calls them inside its own forward and backward passes. Import this module
only where :func:`neuro.fast_rnn.events_available` is true.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import mmap
import os
import platform
import re
import struct
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

Array = jax.Array
_FLOATS = {"float32": "float", "float64": "double"}


def _ffi_api_version() -> tuple[int, int]:
    """``(major, minor)`` of the XLA FFI API of the installed jaxlib (its ``c_api.h``); XLA
    accepts a handler that reports a version between its minimum and its own. ``(0, 1)``, which
    every jaxlib with the typed FFI accepts, when the header is not shipped."""
    import jaxlib

    header = os.path.join(os.path.dirname(jaxlib.__file__), "include", "xla", "ffi", "api",
                          "c_api.h")
    try:
        with open(header) as fh:
            text = fh.read()
    except OSError:
        return 0, 1
    found = [re.search(rf"#\s*define\s+XLA_FFI_API_{part}\s+(\d+)", text)
             for part in ("MAJOR", "MINOR")]
    if not all(found):
        return 0, 1
    return int(found[0].group(1)), int(found[1].group(1))


# The handler: answer the metadata query, else load three buffers (two arguments, one result)
# and call the product. %frame words: 1 extension_start, 9 args.args, 14 rets.rets. An
# extension node: type (i32) at byte 8, next at 16; the metadata extension's XLA_FFI_Metadata*
# at 24, whose api_version major/minor are i32 at bytes 24/28 and traits at 32. _METADATA (the
# query's blocks) also starts the handlers of neuro.projections._native.register_cfunc.
_METADATA = """
  %ext_p = getelementptr i8, ptr %frame, i64 8
  %ext = load ptr, ptr %ext_p
  br label %walk
walk:
  %e = phi ptr [ %ext, %entry ], [ %next, %step ]
  %is_null = icmp eq ptr %e, null
  br i1 %is_null, label %call, label %check
check:
  %type_p = getelementptr i8, ptr %e, i64 8
  %type = load i32, ptr %type_p
  %is_meta = icmp eq i32 %type, 1
  br i1 %is_meta, label %meta, label %step
step:
  %next_p = getelementptr i8, ptr %e, i64 16
  %next = load ptr, ptr %next_p
  br label %walk
meta:
  %md_p = getelementptr i8, ptr %e, i64 24
  %md = load ptr, ptr %md_p
  %major_p = getelementptr i8, ptr %md, i64 24
  store i32 {major}, ptr %major_p
  %minor_p = getelementptr i8, ptr %md, i64 28
  store i32 {minor}, ptr %minor_p
  %traits_p = getelementptr i8, ptr %md, i64 32
  store i32 0, ptr %traits_p
  ret ptr null
"""

_HANDLER = ("""
define ptr @{name}(ptr %frame) {{
entry:
""" + _METADATA + """call:
  %args_p = getelementptr i8, ptr %frame, i64 72
  %args = load ptr, ptr %args_p
  %rets_p = getelementptr i8, ptr %frame, i64 112
  %rets = load ptr, ptr %rets_p
  %b0 = load ptr, ptr %args
  %b1_p = getelementptr ptr, ptr %args, i64 1
  %b1 = load ptr, ptr %b1_p
  %bo = load ptr, ptr %rets
  %x_p = getelementptr i8, ptr %b0, i64 24
  %x = load ptr, ptr %x_p
  %xd_p = getelementptr i8, ptr %b0, i64 40
  %xd = load ptr, ptr %xd_p
  %nr = load i64, ptr %xd
  %nk_p = getelementptr i64, ptr %xd, i64 1
  %nk = load i64, ptr %nk_p
  %y_p = getelementptr i8, ptr %b1, i64 24
  %y = load ptr, ptr %y_p
  %yd_p = getelementptr i8, ptr %b1, i64 40
  %yd = load ptr, ptr %yd_p
  %n_p = getelementptr i64, ptr %yd, i64 1
  %n = load i64, ptr %n_p
  %o_p = getelementptr i8, ptr %bo, i64 24
  %o = load ptr, ptr %o_p
  call void @{core}(ptr %x, ptr %y, ptr %o, i64 %nr, i64 %nk, i64 %n)
  ret ptr null
}}
""")

# The loops, with counters in allocas of the entry block (promoted to registers by -O3). The
# element type of x is i8 for bool, else the float type of the other operands. x is tested 16
# entries at a time (one vector compare, a 16-bit mask of the events, then one step per set
# bit: the cost of the silent entries is a load and a compare per 16 of them), the rest of a
# row one by one; each event adds a row (row_add, whose loop LLVM vectorises).
_ROW_ADD = """
define internal void @row_add(ptr noalias %dst, ptr noalias readonly %src, {f} %a, i64 %n)
    alwaysinline {{
entry:
  %j = alloca i64
  store i64 0, ptr %j
  br label %head
head:
  %jv = load i64, ptr %j
  %go = icmp slt i64 %jv, %n
  br i1 %go, label %body, label %end
body:
  %pd = getelementptr {f}, ptr %dst, i64 %jv
  %ps = getelementptr {f}, ptr %src, i64 %jv
  %vd = load {f}, ptr %pd
  %vs = load {f}, ptr %ps
  {term}
  store {f} %t, ptr %pd
  %jn = add i64 %jv, 1
  store i64 %jn, ptr %j
  br label %head
end:
  ret void
}}
"""

_CORE = """
define internal void @core(ptr noalias readonly %x, ptr noalias readonly %y, ptr noalias %o,
                           i64 %nr, i64 %nk, i64 %n) alwaysinline {{
entry:
  %r = alloca i64
  %kb = alloca i64
  %m = alloca i16
  %k = alloca i64
  store i64 0, ptr %r
  br label %r.head
r.head:
  %rv = load i64, ptr %r
  %r.go = icmp slt i64 %rv, %nr
  br i1 %r.go, label %r.body, label %r.end
r.body:
  %xrow = mul i64 %rv, %nk
  store i64 0, ptr %kb
  br label %kb.head
kb.head:
  %kbv = load i64, ptr %kb
  %kb.stop = add i64 %kbv, 16
  %kb.go = icmp sle i64 %kb.stop, %nk
  br i1 %kb.go, label %kb.body, label %k.start
kb.body:
  %xi = add i64 %xrow, %kbv
  %vp = getelementptr {x}, ptr %x, i64 %xi
  %vv = load <16 x {x}>, ptr %vp, align 1
  {vtest}
  %mask = bitcast <16 x i1> %vt to i16
  store i16 %mask, ptr %m
  br label %m.head
m.head:
  %mv = load i16, ptr %m
  %m.any = icmp ne i16 %mv, 0
  br i1 %m.any, label %m.body, label %kb.next
m.body:
  %tz = call i16 @llvm.cttz.i16(i16 %mv, i1 true)
  %tz64 = zext i16 %tz to i64
  %mk = add i64 %kbv, %tz64
  %mv1 = sub i16 %mv, 1
  %mrest = and i16 %mv, %mv1
  store i16 %mrest, ptr %m
  %mxi = add i64 %xrow, %mk
  %mxp = getelementptr {x}, ptr %x, i64 %mxi
  %mval = load {x}, ptr %mxp
  {event_m}
  br label %m.head
kb.next:
  store i64 %kb.stop, ptr %kb
  br label %kb.head
k.start:
  store i64 %kbv, ptr %k
  br label %k.head
k.head:
  %kv = load i64, ptr %k
  %k.go = icmp slt i64 %kv, %nk
  br i1 %k.go, label %k.body, label %r.next
k.body:
  %kxi = add i64 %xrow, %kv
  %kxp = getelementptr {x}, ptr %x, i64 %kxi
  %kval = load {x}, ptr %kxp
  {stest}
  br i1 %st, label %k.event, label %k.next
k.event:
  {event_k}
  br label %k.next
k.next:
  %kn = add i64 %kv, 1
  store i64 %kn, ptr %k
  br label %k.head
r.next:
  %rn = add i64 %rv, 1
  store i64 %rn, ptr %r
  br label %r.head
r.end:
  ret void
}}
"""


def _core(kind: str, x_type: str, f: str) -> str:
    """For r, k with x[r, k] != 0: ``matmul``: out[r, :] += x[r, k] w[k, :]; ``matmul_t``:
    out[k, :] += x[r, k] d[r, :] (out holds the accumulator, zeros for ``matmul_t``)."""
    binary = x_type == "i8"
    vtest = ("%vt = icmp ne <16 x i8> %vv, zeroinitializer" if binary else
             f"%vt = fcmp une <16 x {f}> %vv, zeroinitializer")
    stest = "%st = icmp ne i8 %kval, 0" if binary else f"%st = fcmp une {f} %kval, 0.0"

    def event(tag: str, k: str, value: str) -> str:
        # the receiving row (dst) and the added row (src): out[r] += w[k] or out[k] += d[r]
        dst, src = (("%rv", k) if kind == "matmul" else (k, "%rv"))
        a = "1.0" if binary else value
        return (f"%{tag}.do = mul i64 {dst}, %n\n  %{tag}.so = mul i64 {src}, %n\n"
                f"  %{tag}.dp = getelementptr {f}, ptr %o, i64 %{tag}.do\n"
                f"  %{tag}.sp = getelementptr {f}, ptr %y, i64 %{tag}.so\n"
                f"  call void @row_add(ptr %{tag}.dp, ptr %{tag}.sp, {f} {a}, i64 %n)")

    term = ("%t = fadd contract {f} %vd, %vs" if binary else
            "%p = fmul contract {f} %a, %vs\n  %t = fadd contract {f} %vd, %p").format(f=f)
    return (_ROW_ADD.format(f=f, term=term) +
            _CORE.format(x=x_type, vtest=vtest, stest=stest,
                         event_m=event("em", "%mk", "%mval"), event_k=event("ek", "%kv", "%kval")))


_DECLARE = "declare i16 @llvm.cttz.i16(i16, i1)\n"


_KINDS = ("matmul", "matmul_t")


def _name(kind: str, x_dtype: str, w_dtype: str) -> str:
    return f"neuro_event_{kind}_{x_dtype}_{w_dtype}"


def _source() -> str:
    """The LLVM IR of every handler (both products, boolean or valued ``x``, both floats)."""
    major, minor = _ffi_api_version()
    parts = [_DECLARE]
    for kind in _KINDS:
        for w_dtype, f in _FLOATS.items():
            for x_dtype in ("bool", w_dtype):
                name = _name(kind, x_dtype, w_dtype)
                core = _core(kind, "i8" if x_dtype == "bool" else f, f)
                parts.append(core.replace("@core(", f"@core_{name}(")
                             .replace("@row_add(", f"@row_add_{name}("))
                parts.append(_HANDLER.format(name=name, core=f"core_{name}", major=major,
                                             minor=minor))
    return "".join(parts)


def _cache_dir() -> str:
    """Where compiled handlers are kept between processes: ``$NEURO_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/neuro`` (``~/.cache/neuro``)."""
    root = os.environ.get("NEURO_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
        "neuro")
    return os.path.join(root, "event_kernels")


def _handlers() -> list[str]:
    return [_name(kind, x_dtype, w_dtype) for kind in _KINDS for w_dtype in _FLOATS
            for x_dtype in ("bool", w_dtype)]


def _compile(source: str) -> bytes:
    """The object code (position independent) of ``source`` for the host CPU at -O3."""
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    machine = llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3,
        reloc="pic", codemodel="small")
    module = llvm.parse_assembly(source)
    module.triple = machine.triple
    module.data_layout = str(machine.target_data)
    module.verify()
    builder = llvm.create_pass_builder(machine, llvm.create_pipeline_tuning_options(3))
    builder.getModulePassManager().run(module, builder)
    return machine.emit_object(module)


def _self_contained_text(obj: bytes) -> tuple[int, int, dict[str, int]] | None:
    """``(offset, size, {symbol: offset in the file})`` of the code of a little-endian ELF64
    object whose one code section needs no relocation and no other loaded section (the
    handlers call nothing and read no constant pool: see the IR); ``None`` for anything else,
    which LLVM's JIT then links instead."""
    if obj[:4] != b"\x7fELF" or obj[4] != 2 or obj[5] != 1:
        return None
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", obj, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize) for i in range(shnum)]

    def name_at(table_offset: int, at: int) -> str:
        return obj[table_offset + at: obj.index(b"\0", table_offset + at)].decode()

    code = [i for i, sec in enumerate(sections) if sec[2] & 4 and sec[5]]  # SHF_EXECINSTR
    if len(code) != 1:
        return None
    text_index = code[0]
    symbols = {}
    for i, sec in enumerate(sections):
        kind, flags = sec[1], sec[2]
        if kind in (4, 9) and sec[5]:  # SHT_RELA / SHT_REL: something needs linking
            return None
        if flags & 2 and i != text_index and sec[5]:
            return None  # other loaded data (constant pools, unwind tables): needs linking
        if kind == 2:  # SHT_SYMTAB
            strtab = sections[sec[6]][4]
            for at in range(sec[4], sec[4] + sec[5], 24):
                st_name, _, _, st_shndx, st_value, _ = struct.unpack_from("<IBBHQQ", obj, at)
                if st_shndx == text_index and st_name:
                    symbols[name_at(strtab, st_name)] = sections[text_index][4] + st_value
    return sections[text_index][4], sections[text_index][5], symbols


def _map_executable(path: str) -> int:
    """Map the file at ``path`` read-only and executable; return its address (kept mapped for
    the life of the process: XLA holds addresses into it)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long)
    size = os.path.getsize(path)
    fd = os.open(path, os.O_RDONLY)
    try:
        address = libc.mmap(None, size, mmap.PROT_READ | mmap.PROT_EXEC, mmap.MAP_PRIVATE, fd, 0)
    finally:
        os.close(fd)
    if address in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), f"mmap of {path} failed")
    return address


@functools.cache
def _addresses() -> dict[str, int]:
    """The handlers' addresses, registered with XLA.

    The object code is compiled once for the host CPU (keyed by the IR, the CPU and its
    features) and kept in :func:`_cache_dir`. Code that needs no linking (the usual case: the
    handlers call nothing) is mapped executable straight from that file, so a process that
    finds it never loads LLVM (llvmlite's library costs about 50 MB of resident memory, more
    than the training step's own buffers); otherwise LLVM's JIT links it in memory."""
    source = _source()
    key = hashlib.sha256("\n".join([source, _cpu_identity()]).encode()).hexdigest()[:24]
    path = os.path.join(_cache_dir(), f"{key}.o")
    if not os.path.exists(path):
        obj = _compile(source)
        try:  # atomic: a concurrent process reads a whole file or none
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=os.path.dirname(path), delete=False) as fh:
                fh.write(obj)
            os.replace(fh.name, path)
        except OSError:
            path = None  # a read-only cache: link in memory, compile again next time
    else:
        with open(path, "rb") as fh:
            obj = fh.read()
    text = _self_contained_text(obj)
    addresses = None
    if path is not None and text is not None and all(n in text[2] for n in _handlers()):
        try:
            base = _map_executable(path)
            addresses = {n: base + text[2][n] for n in _handlers()}
        except OSError:  # e.g. a cache on a noexec file system
            pass
    if addresses is None:
        addresses = _link(obj)
    for name, address in addresses.items():
        jax.ffi.register_ffi_target(name, jax.ffi.pycapsule(address), platform="cpu",
                                    api_version=1)
    return addresses


def _cpu_identity() -> str:
    """What the compiled code depends on, without loading LLVM: the machine and (Linux) the
    processor model and feature flags of ``/proc/cpuinfo``."""
    ident = [platform.machine(), platform.processor()]
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.split(":")[0].strip() in ("model name", "flags", "Features"):
                    ident.append(line.strip())
                if not line.strip() and len(ident) > 2:
                    break  # the first processor is enough
    except OSError:
        pass
    return "\n".join(ident)


def _link(obj: bytes, names: list[str] | None = None) -> dict[str, int]:
    """Addresses of the functions ``names`` (default: the handlers) in ``obj``, linked in
    memory by LLVM's JIT (kept alive)."""
    import llvmlite.binding as llvm

    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    machine = llvm.Target.from_default_triple().create_target_machine(jit=True)
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(""), machine)
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    _KEEP.append(engine)
    return {n: engine.get_function_address(n) for n in (names or _handlers())}


_KEEP: list = []


def _target(kind: str, x_dtype: str, w_dtype: str) -> str:
    """The registered XLA custom-call target of one handler."""
    name = _name(kind, x_dtype, w_dtype)
    if not _addresses().get(name):
        raise RuntimeError(f"the event kernel {name} was not compiled")
    return name


def _check(x: Array, w: Array, what: str) -> Array:
    w_dtype = np.dtype(w.dtype).name
    if w_dtype not in _FLOATS:
        raise TypeError(f"{what} must be float32 or float64; got {w_dtype}")
    if x.ndim != 2 or w.ndim != 2:
        raise ValueError(f"event products take 2-D operands; got x {x.shape}, {what} {w.shape}")
    return x if x.dtype == jnp.bool_ else x.astype(w.dtype)


def _rows(fn):
    """``fn(x, w, acc)`` (2-D operands, rows of ``x`` independent) with a batching rule: a
    batch of ``x``/``acc`` under a shared ``w`` becomes more rows of one call (vmap would
    otherwise make one call per batch element); a batched ``w`` maps sequentially."""
    fn = jax.custom_batching.custom_vmap(fn)

    @fn.def_vmap
    def rule(axis_size, in_batched, x, w, acc):
        x_b, w_b, acc_b = in_batched
        x = x if x_b else jnp.broadcast_to(x, (axis_size, *x.shape))
        acc = acc if acc_b else jnp.broadcast_to(acc, (axis_size, *acc.shape))
        if w_b:
            return jax.lax.map(lambda a: fn(*a), (x, w, acc)), True
        out = fn(x.reshape(-1, x.shape[-1]), w, acc.reshape(-1, acc.shape[-1]))
        return out.reshape(axis_size, -1, out.shape[-1]), True

    return fn


@functools.cache
def _matmul_call(name: str):
    def call(x, w, acc):
        return jax.ffi.ffi_call(name, jax.ShapeDtypeStruct(acc.shape, acc.dtype),
                                input_output_aliases={2: 0}, vmap_method="sequential")(x, w, acc)

    return _rows(call)


def matmul(x: Array, w: Array, acc: Array | None = None) -> Array:
    """``acc + x @ w`` (``acc`` defaults to zeros) visiting only the non-zero ``x``. Under
    ``vmap`` with a shared ``w`` the batch is one call (its rows)."""
    x = _check(x, w, "w")
    if x.shape[1] != w.shape[0]:
        raise ValueError(f"x {x.shape} and w {w.shape} do not chain")
    shape = (x.shape[0], w.shape[1])
    acc = jnp.zeros(shape, w.dtype) if acc is None else acc.astype(w.dtype)
    name = _target("matmul", np.dtype(x.dtype).name, np.dtype(w.dtype).name)
    return _matmul_call(name)(x, w, jnp.broadcast_to(acc, shape))


def matmul_t(x: Array, d: Array) -> Array:
    """``x.T @ d`` visiting only the non-zero ``x``."""
    x = _check(x, d, "d")
    if x.shape[0] != d.shape[0]:
        raise ValueError(f"x {x.shape} and d {d.shape} need the same number of rows")
    out = jax.ShapeDtypeStruct((x.shape[1], d.shape[1]), d.dtype)
    name = _target("matmul_t", np.dtype(x.dtype).name, np.dtype(d.dtype).name)
    call = jax.ffi.ffi_call(name, out, input_output_aliases={2: 0}, vmap_method="sequential")
    return call(x, d, jnp.zeros(out.shape, out.dtype))
