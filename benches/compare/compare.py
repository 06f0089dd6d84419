#!/usr/bin/env python3
"""Side-by-side timing of one full-batch gradient-descent epoch of softmax
regression in several engines (numpy, PyTorch, JAX, scikit-learn, multilogit)
on identical data.

One epoch (W: D x T and b: T start at zero, lr = 0.5):

    z  = X @ W + b
    p  = softmax(z)                      (row-wise, max subtracted)
    J  = mean(logsumexp(z) - z[y])
    d  = (p - onehot(y)) / N
    W -= lr * X.T @ d
    b -= lr * d.sum(axis=0)

With --batch-size B the gradient-descent engines run mini-batch SGD epochs
instead: the same step on the rows of places lo..lo+B of the epoch's order
(delta divided by the step's rows m), for lo = 0, B, 2B, ... (the last step
may be shorter). The orders are multilogit's (`epoch_orders`, its documented
permutation reimplemented here), so every engine sees the same rows in the
same steps and must agree with numpy as closely as in full batch.
scikit-learn (L-BFGS) is skipped in that mode.

Every engine runs in its own subprocess (this script re-executes itself with
a hidden --worker flag) so that thread-count environment variables are set
before numpy / torch / jax are imported, and so that memory is returned
between engines. The multilogit engine is the compiled binary's
`bench` subcommand, fed the same data as X.npy / y.npy.

See README.md next to this file for usage.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(os.path.dirname(HERE))

LR = 0.5
SEED = 20240601
REL_TOL = 1e-5
# multilogit's model seed (`bench` leaves it at its default, 0): the mini-batch
# epoch orders of every engine are drawn from it (see `epoch_orders`).
ORDER_SEED = 0

# name -> (N, D, T)
SHAPES = {
    "mnist": (60000, 784, 10),
    "tall": (500000, 64, 8),
    "wide": (20000, 2000, 100),
}
QUICK_SHAPES = {
    "mnist": (2000, 784, 10),
    "tall": (20000, 64, 8),
    "wide": (1000, 2000, 100),
}
ALL_ENGINES = ["numpy", "torch", "jax", "sklearn", "multilogit"]
PY_ENGINES = {"numpy", "torch", "jax", "sklearn"}
GD_ENGINES = {"numpy", "torch", "jax", "multilogit"}  # must agree with numpy

# Variables that some machines set and that can make numpy's OpenBLAS pick a
# slow kernel; removed in the Python worker processes.
OPENBLAS_OVERRIDES = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

MULTILOGIT_KEYS = ("kernel", "threads", "epochs", "ms_median", "ms_min", "ms_max",
                   "final_loss", "gflops", "gbps", "floor_ms", "floor_multiple")


# --------------------------------------------------------------------------
# Data (parent process)
# --------------------------------------------------------------------------

def make_data(n, d, t, seed=SEED):
    """Gaussian class centres N(0, (sep^2)/D) plus unit noise, float32.

    The expected distance between two centres is about sep * sqrt(2)
    whatever D is, so the classes overlap and the loss after 50 epochs
    stays well above zero. Labels are balanced (each class n // t or
    n // t + 1 times) and shuffled.
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    sep = 1.5
    centres = (rng.standard_normal((t, d), dtype=np.float32)
               * np.float32(sep / math.sqrt(d)))
    y = rng.permutation(np.arange(n, dtype=np.int64) % t)
    x = rng.standard_normal((n, d), dtype=np.float32)
    x += centres[y]
    return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(y, dtype=np.int64)


# --------------------------------------------------------------------------
# Helpers shared by the workers
# --------------------------------------------------------------------------

# multilogit's mini-batch epoch orders, reimplemented (src/rng.rs,
# src/train/order.rs, src/train/fit.rs): all engines step through the same
# rows in the same order, so their losses agree.

_M64 = (1 << 64) - 1
_M32 = (1 << 32) - 1


def _rotl64(v, r):
    return ((v << r) | (v >> (64 - r))) & _M64


class Xoshiro256pp:
    """multilogit's `Rng`: xoshiro256++ seeded by SplitMix64 (Python ints)."""

    def __init__(self, seed):
        st = seed & _M64
        s = []
        for _ in range(4):
            st = (st + 0x9E3779B97F4A7C15) & _M64
            z = st
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
            s.append(z ^ (z >> 31))
        self.s = s

    def next_u64(self):
        s0, s1, s2, s3 = self.s
        result = (_rotl64((s0 + s3) & _M64, 23) + s0) & _M64
        t = (s1 << 17) & _M64
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl64(s3, 45)
        self.s = [s0, s1, s2, s3]
        return result


def order_of(np, n, w):
    """The rows of places 0..n of one epoch, keyed by the word `w` (multilogit's
    `Order` after `reseed`): a Feistel network over k-bit integers (2^k the
    smallest power of two >= n) restricted to 0..n by cycle walking. Returns
    an int64 permutation of 0..n (checked)."""
    k = (n - 1).bit_length()
    a, bb = k // 2, k - k // 2
    rounds = max(4, 2 * -(-16 // max(a, 1)))
    keys_stream = Xoshiro256pp(w)
    keys = []
    for _ in range(rounds // 2):
        w2 = keys_stream.next_u64()
        keys += [w2 & _M32, w2 >> 32]
    u = np.uint64
    m32, m1, m2, s16 = u(_M32), u(0x9E3779B1), u(0x85EBCA6B), u(16)

    def network(x):
        h, l = a, bb
        for key in keys:
            r = x & u((1 << l) - 1)
            v = ((r ^ u(key)) * m1) & m32
            v ^= v >> s16
            v = (v * m2) & m32
            v ^= v >> s16
            x = (r << u(h)) | ((x >> u(l)) ^ (v & u((1 << h) - 1)))
            h, l = l, h
        return x

    x = network(np.arange(n, dtype=np.uint64))
    walk = np.flatnonzero(x >= u(n))  # places still outside 0..n: walk on
    while walk.size:
        x[walk] = network(x[walk])
        walk = walk[x[walk] >= u(n)]
    order = x.astype(np.int64)
    if not np.array_equal(np.bincount(order, minlength=n), np.ones(n, dtype=np.int64)):
        raise AssertionError(f"epoch order of {n} places is not a permutation")
    return order


def epoch_orders(np, n, seed=ORDER_SEED):
    """multilogit's orders of epochs 1, 2, ... in turn (an endless generator):
    its fit draws one word of `Rng(seed)` before each epoch and keys that
    epoch's order with it. Each is computed when asked for, outside any timer."""
    rng = Xoshiro256pp(seed)
    while True:
        yield order_of(np, n, rng.next_u64())


def minibatch_steps(n, batch):
    """The (lo, hi) places of each step of a mini-batch epoch."""
    return [(lo, min(lo + batch, n)) for lo in range(0, n, batch)]


def loss_f64(np, x, y, w, b, chunk=16384):
    """J = mean(logsumexp(z) - z[y]) at (w, b), accumulated in float64."""
    w = np.asarray(w, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    n = x.shape[0]
    total = 0.0
    for s in range(0, n, chunk):
        xs = np.asarray(x[s:s + chunk], dtype=np.float64)
        ys = y[s:s + chunk]
        z = xs @ w + b
        m = z.max(axis=1, keepdims=True)
        lse = np.log(np.exp(z - m).sum(axis=1)) + m[:, 0]
        total += float((lse - z[np.arange(z.shape[0]), ys]).sum())
    return total / n


def summarize(times_s, timing_epochs):
    import statistics
    window = times_s[-timing_epochs:] if timing_epochs > 0 else times_s
    ms = [t * 1e3 for t in window]
    return {
        "ms_median": statistics.median(ms),
        "ms_min": min(ms),
        "ms_max": max(ms),
        "timed_epochs": len(ms),
        "ms_all": [t * 1e3 for t in times_s],
    }


# --------------------------------------------------------------------------
# Engines (each runs inside a worker subprocess)
# --------------------------------------------------------------------------

def run_numpy(x, y, t, epochs, timing_epochs, threads):
    import numpy as np

    n, d = x.shape
    X = x
    onehot = np.eye(t, dtype=np.float32)[y]
    rows = np.arange(n)

    def epoch(W, b):
        # The seed's numpy code, unchanged in spirit.
        z = X @ W + b
        m = z.max(axis=1, keepdims=True)
        e = np.exp(z - m)
        s = e.sum(axis=1, keepdims=True)
        p = e / s
        J = np.mean(np.log(s[:, 0]) + m[:, 0] - z[rows, y])
        delta = (p - onehot) / np.float32(n)
        gW = X.T @ delta
        gb = delta.sum(axis=0)
        W -= np.float32(LR) * gW
        b -= np.float32(LR) * gb
        return J

    # Warm-up (excluded): one epoch on throw-away parameters.
    epoch(np.zeros((d, t), np.float32), np.zeros(t, np.float32))

    W = np.zeros((d, t), np.float32)
    b = np.zeros(t, np.float32)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        epoch(W, b)
        times.append(time.perf_counter() - t0)
    info = {"versions": {"numpy": np.__version__}, "blas": blas_info()}
    return W, b, times, info


def run_torch(x, y, t, epochs, timing_epochs, threads):
    torch, X, Y = _torch_init(x, y, threads)
    n, d = x.shape
    onehot = torch.nn.functional.one_hot(Y, t).to(torch.float32)
    lr = LR

    def epoch(W, b):
        # Plain tensor ops, no autograd.
        z = X @ W + b
        m = z.max(dim=1, keepdim=True).values
        e = torch.exp(z - m)
        s = e.sum(dim=1, keepdim=True)
        p = e / s
        J = (torch.log(s[:, 0]) + m[:, 0] - z.gather(1, Y[:, None])[:, 0]).mean()
        delta = (p - onehot) / n
        gW = X.T @ delta
        gb = delta.sum(dim=0)
        W.sub_(lr * gW)
        b.sub_(lr * gb)
        return J

    with torch.inference_mode():
        epoch(torch.zeros(d, t), torch.zeros(t))  # warm-up, excluded
        W = torch.zeros(d, t, dtype=torch.float32)
        b = torch.zeros(t, dtype=torch.float32)
        times = []
        for _ in range(epochs):
            t0 = time.perf_counter()
            epoch(W, b)
            times.append(time.perf_counter() - t0)
    info = _torch_info(torch)
    return W.numpy().copy(), b.numpy().copy(), times, info


def _torch_init(x, y, threads):
    """torch on `threads` threads (one inter-op thread), and X, y as tensors."""
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    return torch, torch.from_numpy(x), torch.from_numpy(y)


def _torch_info(torch):
    return {
        "versions": {"torch": torch.__version__},
        "torch_threads": torch.get_num_threads(),
        "torch_blas": _torch_blas(torch),
    }


def _jax_softmax_losses(jnp, z, y):
    """softmax(z) row-wise (the row max subtracted first) and each row's loss
    logsumexp(z) - z[y], for jax's full-batch and mini-batch steps."""
    m = z.max(axis=1, keepdims=True)
    e = jnp.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    zy = jnp.take_along_axis(z, y[:, None], axis=1)[:, 0]
    return e / s, jnp.log(s[:, 0]) + m[:, 0] - zy


def _jax_info(jax):
    import jaxlib
    return {
        "versions": {"jax": jax.__version__, "jaxlib": getattr(jaxlib, "__version__", "?")},
        "jax_devices": [str(dv) for dv in jax.devices()],
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
    }


def _torch_blas(torch):
    try:
        cfg = torch.__config__.show()
    except Exception:
        return None
    for line in cfg.splitlines():
        line = line.strip()
        if line.startswith("- BLAS_INFO") or "BLAS_INFO=" in line:
            for part in line.replace(",", " ").split():
                if part.startswith("BLAS_INFO="):
                    return part.split("=", 1)[1]
    if "Intel(R) Math Kernel Library" in cfg or "MKL" in cfg:
        return "mkl"
    return None


def run_jax(x, y, t, epochs, timing_epochs, threads):
    import numpy as np
    import jax
    import jax.numpy as jnp

    n, d = x.shape
    X = jax.device_put(x)
    Y = jax.device_put(y.astype(np.int32))
    onehot = jax.nn.one_hot(Y, t, dtype=jnp.float32)
    lr = jnp.float32(LR)
    inv_n = jnp.float32(1.0 / n)

    @jax.jit
    def step(W, b, X, Y, onehot):
        p, losses = _jax_softmax_losses(jnp, X @ W + b, Y)
        J = jnp.mean(losses)
        delta = (p - onehot) * inv_n
        gW = X.T @ delta
        gb = delta.sum(axis=0)
        return W - lr * gW, b - lr * gb, J

    W = jnp.zeros((d, t), jnp.float32)
    b = jnp.zeros((t,), jnp.float32)
    jax.block_until_ready(step(W, b, X, Y, onehot))  # compile + warm-up, excluded
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        W, b, J = step(W, b, X, Y, onehot)
        jax.block_until_ready((W, b, J))
        times.append(time.perf_counter() - t0)
    info = _jax_info(jax)
    return np.asarray(W), np.asarray(b), times, info


# Mini-batch SGD (--batch-size): the same step on each batch of rows of the
# epoch's order. Each engine computes every epoch's order with `epoch_orders`
# (and puts it in the form it indexes with) before that epoch's timer starts;
# the warm-up (excluded) runs epoch 1's order on throw-away parameters, then
# epochs 1..E run from zero with orders 1..E.

def _orders_with_first(np, n):
    """(epoch 1's order, an iterator over the orders of epochs 1, 2, ...)."""
    import itertools
    gen = epoch_orders(np, n)
    first = next(gen)
    return first, itertools.chain([first], gen)


def run_numpy_minibatch(x, y, t, epochs, timing_epochs, threads, batch):
    import numpy as np

    n, d = x.shape
    X = x
    onehot = np.eye(t, dtype=np.float32)[y]
    steps = minibatch_steps(n, batch)

    def epoch(W, b, order):
        # The seed's code on each batch: fancy-indexed rows of X and onehot.
        J = 0.0
        for lo, hi in steps:
            rows = order[lo:hi]
            Xb = X[rows]
            z = Xb @ W + b
            m = z.max(axis=1, keepdims=True)
            e = np.exp(z - m)
            s = e.sum(axis=1, keepdims=True)
            p = e / s
            J += np.sum(np.log(s[:, 0]) + m[:, 0] - z[np.arange(hi - lo), y[rows]])
            delta = (p - onehot[rows]) / np.float32(hi - lo)
            gW = Xb.T @ delta
            gb = delta.sum(axis=0)
            W -= np.float32(LR) * gW
            b -= np.float32(LR) * gb
        return J / n

    first, orders = _orders_with_first(np, n)
    epoch(np.zeros((d, t), np.float32), np.zeros(t, np.float32), first)  # warm-up, excluded

    W = np.zeros((d, t), np.float32)
    b = np.zeros(t, np.float32)
    times = []
    for _ in range(epochs):
        order = next(orders)  # untimed
        t0 = time.perf_counter()
        epoch(W, b, order)
        times.append(time.perf_counter() - t0)
    info = {"versions": {"numpy": np.__version__}, "blas": blas_info()}
    return W, b, times, info


def run_torch_minibatch(x, y, t, epochs, timing_epochs, threads, batch):
    import numpy as np

    torch, X, Y = _torch_init(x, y, threads)
    n, d = x.shape
    minus_one = torch.full((batch, 1), -1.0, dtype=torch.float32)
    lr = LR

    def epoch(W, b, steps):
        # Fused ops, no autograd: log_softmax (max subtracted), the onehot
        # subtracted in place, and 1/m folded into the update products.
        J = torch.zeros((), dtype=torch.float32)
        for rows in steps:
            m = rows.shape[0]
            Xb = torch.index_select(X, 0, rows)
            yb = torch.index_select(Y, 0, rows)[:, None]
            lp = torch.log_softmax(torch.addmm(b, Xb, W), dim=1)
            J -= lp.gather(1, yb).sum()
            p = lp.exp_()
            p.scatter_add_(1, yb, minus_one if m == batch else minus_one[:m])  # p - onehot
            W.addmm_(Xb.T, p, alpha=-lr / m)
            b.sub_(p.sum(dim=0), alpha=lr / m)
        return J / n

    def split(order):
        # The epoch's order as one int64 tensor view per step, before its timer.
        return torch.split(torch.from_numpy(order), batch)

    first, orders = _orders_with_first(np, n)
    with torch.inference_mode():
        epoch(torch.zeros(d, t), torch.zeros(t), split(first))  # warm-up, excluded
        W = torch.zeros(d, t, dtype=torch.float32)
        b = torch.zeros(t, dtype=torch.float32)
        times = []
        for _ in range(epochs):
            steps = split(next(orders))  # untimed
            t0 = time.perf_counter()
            epoch(W, b, steps)
            times.append(time.perf_counter() - t0)
    info = _torch_info(torch)
    return W.numpy().copy(), b.numpy().copy(), times, info


def run_jax_minibatch(x, y, t, epochs, timing_epochs, threads, batch):
    import numpy as np
    import jax
    import jax.numpy as jnp

    n, d = x.shape
    X = jax.device_put(x)
    Y = jax.device_put(y.astype(np.int32))
    lr = jnp.float32(LR)
    full = n // batch           # steps of `batch` rows
    tail = n - full * batch     # rows of a shorter last step (0: none)

    def step(W, b, X, Y, rows):
        # One step on X[rows]; m = len(rows) is static under jit.
        Xb = X[rows]
        yb = Y[rows]
        p, losses = _jax_softmax_losses(jnp, Xb @ W + b, yb)
        J = jnp.sum(losses)
        onehot = (yb[:, None] == jnp.arange(t, dtype=jnp.int32)).astype(jnp.float32)
        delta = (p - onehot) * jnp.float32(1.0 / rows.shape[0])
        gW = Xb.T @ delta
        gb = delta.sum(axis=0)
        return W - lr * gW, b - lr * gb, J

    @jax.jit
    def epoch_full(W, b, X, Y, rows):
        # All steps of `batch` rows in one scan; rows: int32 (full, batch). X and
        # Y are arguments, not constants baked into the compiled code.
        def body(carry, r):
            W, b, J = step(*carry, X, Y, r)
            return (W, b), J

        (W, b), Js = jax.lax.scan(body, (W, b), rows)
        return W, b, Js.sum()

    last_step = jax.jit(step)  # the shorter last step, if any

    def prepare(order):
        # The epoch's rows as device arrays, before its timer starts.
        o = order.astype(np.int32)
        return (jax.device_put(o[:full * batch].reshape(full, batch)),
                jax.device_put(o[full * batch:]) if tail else None)

    def epoch(W, b, rows):
        W, b, J = epoch_full(W, b, X, Y, rows[0])
        if rows[1] is not None:
            W, b, J2 = last_step(W, b, X, Y, rows[1])
            J = J + J2
        jax.block_until_ready((W, b, J))
        return W, b, J

    first, orders = _orders_with_first(np, n)
    z = (jnp.zeros((d, t), jnp.float32), jnp.zeros((t,), jnp.float32))
    epoch(*z, prepare(first))  # compile both + warm-up, excluded
    W, b = z
    times = []
    for _ in range(epochs):
        rows = prepare(next(orders))  # untimed
        jax.block_until_ready(rows)
        t0 = time.perf_counter()
        W, b, J = epoch(W, b, rows)
        times.append(time.perf_counter() - t0)
    info = _jax_info(jax)
    return np.asarray(W), np.asarray(b), times, info


def run_sklearn(x, y, t, epochs, timing_epochs, threads):
    """L-BFGS, a different algorithm: `epochs` iterations, one timed fit."""
    import inspect
    import warnings
    import numpy as np
    import sklearn
    from sklearn.linear_model import LogisticRegression

    params = inspect.signature(LogisticRegression).parameters
    kw = dict(solver="lbfgs", max_iter=epochs, tol=1e-12, fit_intercept=True)
    pen = params.get("penalty")
    if pen is not None and pen.default == "deprecated":
        kw["C"] = np.inf  # scikit-learn >= 1.8: no penalty is C=inf
    else:
        kw["penalty"] = None
    if "multi_class" in params:
        kw["multi_class"] = "multinomial"  # the default from 1.5 on; removed in 1.7+

    # Warm-up (excluded): a tiny fit so imports and first-call costs are paid.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LogisticRegression(**dict(kw, max_iter=2)).fit(x[:min(len(x), 4 * t * 8)],
                                                       np.arange(min(len(x), 4 * t * 8)) % t)
        clf = LogisticRegression(**kw)
        t0 = time.perf_counter()
        clf.fit(x, y)
        fit_s = time.perf_counter() - t0
    n_iter = int(np.max(clf.n_iter_))
    W = clf.coef_.T.astype(np.float64)
    b = clf.intercept_.astype(np.float64)
    info = {
        "versions": {"scikit-learn": sklearn.__version__},
        "sklearn_params": {k: (str(v) if isinstance(v, float) and not math.isfinite(v) else v)
                           for k, v in kw.items()},
        "fit_ms": fit_s * 1e3,
        "n_iter": n_iter,
        "blas": blas_info(),
    }
    try:
        import scipy
        info["versions"]["scipy"] = scipy.__version__
    except ImportError:
        pass
    # One "time" per L-BFGS iteration, for the per-iteration column.
    times = [fit_s / max(n_iter, 1)] * max(n_iter, 1)
    return W, b, times, info


def blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        try:  # numpy >= 1.25 describes its build
            import numpy as np
            cfg = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
            return f"{cfg.get('name')} {cfg.get('version', '')} (numpy build config; " \
                   "install threadpoolctl for the loaded library)"
        except Exception:
            return "unknown (threadpoolctl not installed)"
    out = []
    for p in threadpool_info():
        out.append({k: p.get(k) for k in ("user_api", "internal_api", "prefix", "version",
                                           "num_threads", "threading_layer", "architecture",
                                           "filepath")})
    return out


ENGINE_FUNCS = {
    "numpy": run_numpy,
    "torch": run_torch,
    "jax": run_jax,
    "sklearn": run_sklearn,
}
# --batch-size: the gradient-descent engines' mini-batch epochs (no sklearn).
MINIBATCH_FUNCS = {
    "numpy": run_numpy_minibatch,
    "torch": run_torch_minibatch,
    "jax": run_jax_minibatch,
}
SKLEARN_MINIBATCH_SKIP = ("skipped with --batch-size: L-BFGS (scikit-learn) is not a "
                          "mini-batch algorithm")


def worker_main(args):
    """Runs in a subprocess: one engine on one data set, JSON to --out."""
    import numpy as np

    result = {"engine": args.worker, "ok": False}
    try:
        x = np.load(os.path.join(args.data_dir, "X.npy"))
        y = np.load(os.path.join(args.data_dir, "y.npy"))
        t = int(args.classes)
        if args.batch_size:
            W, b, times, info = MINIBATCH_FUNCS[args.worker](
                x, y, t, args.epochs, args.timing_epochs, args.threads, args.batch_size)
            info["batch_size"] = args.batch_size
        else:
            W, b, times, info = ENGINE_FUNCS[args.worker](
                x, y, t, args.epochs, args.timing_epochs, args.threads)
        result.update(summarize(times, args.timing_epochs))
        result.update(info)
        result["final_loss"] = loss_f64(np, x, y, W, b)
        np.save(os.path.join(args.data_dir, f"W_{args.worker}.npy"), np.asarray(W, np.float64))
        np.save(os.path.join(args.data_dir, f"b_{args.worker}.npy"), np.asarray(b, np.float64))
        result["ok"] = True
    except Exception as exc:  # report, never crash the parent
        import traceback
        result["error"] = f"{type(exc).__name__}: {exc}"
        result["traceback"] = traceback.format_exc()
    with open(args.out, "w") as f:
        json.dump(result, f)


# --------------------------------------------------------------------------
# Parent: environment, subprocesses, table
# --------------------------------------------------------------------------

def worker_env(engine, threads, keep_openblas_env):
    env = dict(os.environ)
    n = str(threads)
    for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
              "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS",
              "RAYON_NUM_THREADS"):
        env[k] = n
    removed = []
    if not keep_openblas_env:
        for k in OPENBLAS_OVERRIDES:
            if k in env:
                removed.append(f"{k}={env.pop(k)}")
    if engine == "jax":
        flags = env.get("XLA_FLAGS", "")
        extra = f"--xla_cpu_multi_thread_eigen={'false' if threads == 1 else 'true'}"
        extra += f" intra_op_parallelism_threads={threads}"
        env["XLA_FLAGS"] = (flags + " " + extra).strip()
        env["JAX_PLATFORMS"] = "cpu"
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env, removed


def pin_fn(threads, pin):
    """preexec_fn: restrict the child to the first `threads` CPUs we may use."""
    if not pin or not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if threads >= len(cpus):
        return None
    chosen = set(cpus[:threads])
    return lambda: os.sched_setaffinity(0, chosen)


def run_python_engine(engine, data_dir, classes, args, batch=None):
    out = os.path.join(data_dir, f"result_{engine}.json")
    if os.path.exists(out):
        os.remove(out)
    env, removed = worker_env(engine, args.threads, args.keep_openblas_env)
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", engine,
           "--data-dir", data_dir, "--classes", str(classes), "--out", out,
           "--epochs", str(args.epochs), "--timing-epochs", str(args.timing_epochs),
           "--threads", str(args.threads)]
    if batch:
        cmd += ["--batch-size", str(batch)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=args.timeout, preexec_fn=pin_fn(args.threads, args.pin))
    except subprocess.TimeoutExpired:
        return {"engine": engine, "ok": False, "error": f"timed out after {args.timeout} s"}
    wall = time.perf_counter() - t0
    if not os.path.exists(out):
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-8:]
        return {"engine": engine, "ok": False,
                "error": f"worker exited {proc.returncode} without a result: " + " | ".join(tail)}
    with open(out) as f:
        res = json.load(f)
    res["wall_s"] = wall
    res["env_removed"] = removed
    if proc.returncode != 0 and res.get("ok"):
        res["note"] = f"worker exit code {proc.returncode}"
    return res


def resolve_binary(path):
    cands = [path]
    if not os.path.isabs(path):
        cands.append(os.path.join(REPO_ROOT, path))
    for c in cands:
        if os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    return None


def parse_json_stdout(text):
    text = text.strip()
    try:
        obj = json.loads(text)
        if isinstance(obj, dict):
            return obj
    except json.JSONDecodeError:
        pass
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                if isinstance(obj, dict):
                    return obj
            except json.JSONDecodeError:
                continue
    # A pretty-printed object followed/preceded by other text.
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            obj = json.loads(text[start:end + 1])
            if isinstance(obj, dict):
                return obj
        except json.JSONDecodeError:
            pass
    return None


def run_multilogit(data_dir, args, batch=None):
    res = {"engine": "multilogit", "ok": False}
    binary = resolve_binary(args.binary)
    if binary is None:
        res["error"] = (f"binary not found at {args.binary!r} "
                        f"(build it with `cargo build --release`, or pass --binary)")
        return res
    res["binary"] = binary
    cmd = [binary, "bench", "--data", os.path.join(data_dir, "X.npy"),
           "--labels", os.path.join(data_dir, "y.npy"), "--epochs", str(args.epochs),
           "--threads", str(args.threads), "--lr", str(LR), "--json"]
    if batch:
        cmd += ["--batch-size", str(batch)]
    res["command"] = " ".join(cmd)
    env, _ = worker_env("multilogit", args.threads, True)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=args.timeout, preexec_fn=pin_fn(args.threads, args.pin))
    except subprocess.TimeoutExpired:
        res["error"] = f"timed out after {args.timeout} s"
        return res
    except OSError as exc:
        res["error"] = f"could not run {binary}: {exc}"
        return res
    res["wall_s"] = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "").strip().splitlines()[-8:]
        res["error"] = f"exit code {proc.returncode}: " + " | ".join(tail)
        return res
    obj = parse_json_stdout(proc.stdout)
    if obj is None:
        if proc.stdout.strip():
            res["error"] = "stdout was not a JSON object: " + proc.stdout.strip()[:300]
        else:
            tail = (proc.stderr or "").strip().splitlines()[-4:]
            res["error"] = ("exited 0 but printed nothing on stdout (is `bench` implemented?)"
                            + (" stderr: " + " | ".join(tail) if tail else ""))
        return res
    res["bench"] = obj
    missing = [k for k in MULTILOGIT_KEYS if k not in obj]
    if missing:
        res["missing_keys"] = missing
    for k in ("ms_median", "ms_min", "ms_max", "final_loss"):
        if k in obj:
            try:
                res[k] = float(obj[k])
            except (TypeError, ValueError):
                pass
    if "ms_median" not in res or "final_loss" not in res:
        res["error"] = f"JSON lacks {missing}"
        return res
    res["ok"] = True
    try:
        v = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30)
        if v.returncode == 0:
            res["versions"] = {"multilogit": v.stdout.strip()}
    except Exception:
        pass
    return res


def machine_info():
    info = {"platform": platform.platform(), "python": platform.python_version()}
    model = None
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except Exception:
        pass
    if model is None:
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        model = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
    info["cpu"] = model or platform.processor() or "?"
    info["logical_cpus"] = os.cpu_count()
    if hasattr(os, "sched_getaffinity"):
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        info["mem_gib"] = round(kb / 2**20, 1)
    except Exception:
        pass
    return info


def fmt_ms(v):
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def build_table(results, engines_order):
    lines = ["| shape | engine | ms/epoch median | min | ratio vs multilogit | final loss | agrees |",
             "|---|---|---:|---:|---:|---:|---|"]
    notes = []
    for sname, sres in results.items():
        n, d, t = sres["shape"]
        label = f"{sname} {n}×{d}×{t}"
        if sres.get("batch_size"):
            label += f", batch {sres['batch_size']}"
        ml = sres["engines"].get("multilogit", {})
        ml_ms = ml.get("ms_median") if ml.get("ok") else None
        for eng in engines_order:
            r = sres["engines"].get(eng)
            if r is None:
                continue
            if r.get("minibatch_skip"):
                lines.append(f"| {label} | sklearn (L-BFGS) | — | — | — | — | "
                             "skipped: not a mini-batch algorithm |")
                continue
            if not r.get("ok"):
                lines.append(f"| {label} | {eng} | — | — | — | — | not run: {r.get('error', '?')[:120]} |")
                continue
            med, mn = r.get("ms_median"), r.get("ms_min")
            ratio = f"{med / ml_ms:.2f}" if ml_ms else "—"
            fl = r["final_loss"]
            loss = f"{fl:.6f}" if abs(fl) >= 1e-3 else f"{fl:.3g}"
            name = eng
            if eng == "multilogit" and r.get("bench", {}).get("kernel"):
                name = f"multilogit ({r['bench']['kernel']})"
            if eng == "sklearn":
                name = "sklearn (L-BFGS)†"
                agrees = f"n/a† ({r.get('n_iter')} it, fit {fmt_ms(r.get('fit_ms'))} ms)"
                mn = None
            else:
                agrees = r.get("agrees", "—")
            lines.append(f"| {label} | {name} | {fmt_ms(med)} | {fmt_ms(mn)} | {ratio} | {loss} | {agrees} |")
    if any("sklearn" in s["engines"] and not s["engines"]["sklearn"].get("minibatch_skip")
           for s in results.values()):
        notes.append("† scikit-learn runs L-BFGS, a different algorithm: its ms column is "
                     "total fit time / iterations (one fit, data conversion included), its loss "
                     "is after those iterations and is not expected to match gradient descent.")
    return "\n".join(lines), notes


def check_agreement(sres, data_dir):
    import numpy as np
    ref = sres["engines"].get("numpy")
    ref_ok = ref is not None and ref.get("ok")
    if ref_ok:
        Wr = np.load(os.path.join(data_dir, "W_numpy.npy"))
        br = np.load(os.path.join(data_dir, "b_numpy.npy"))
    for eng, r in sres["engines"].items():
        if eng == "sklearn" or not r.get("ok"):
            continue
        if not ref_ok:
            r["agrees"] = "— (no numpy reference)"
            continue
        rel = abs(r["final_loss"] - ref["final_loss"]) / max(abs(ref["final_loss"]), 1e-300)
        r["loss_rel_diff_vs_numpy"] = rel
        r["agrees"] = f"{'PASS' if rel <= REL_TOL else 'FAIL'} ({rel:.1e})"
        wp = os.path.join(data_dir, f"W_{eng}.npy")
        if os.path.exists(wp):
            W = np.load(wp)
            b = np.load(os.path.join(data_dir, f"b_{eng}.npy"))
            scale = max(float(np.abs(Wr).max()), float(np.abs(br).max()), 1e-300)
            r["param_max_abs_diff_rel"] = max(float(np.abs(W - Wr).max()),
                                              float(np.abs(b - br).max())) / scale


def parent_main(args):
    shapes = QUICK_SHAPES if args.quick else SHAPES
    shape_names = [s.strip() for s in args.shapes.split(",") if s.strip()]
    for s in shape_names:
        if s not in shapes:
            sys.exit(f"unknown shape {s!r}; known: {', '.join(shapes)}")
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in engines:
        if e not in ALL_ENGINES:
            sys.exit(f"unknown engine {e!r}; known: {', '.join(ALL_ENGINES)}")
    if args.timing_epochs > args.epochs:
        sys.exit("--timing-epochs must not exceed --epochs")
    order = [e for e in ALL_ENGINES if e in engines]

    machine = machine_info()
    load0 = os.getloadavg() if hasattr(os, "getloadavg") else None
    started = _dt.datetime.now().astimezone()
    title = "# multilogit comparison"
    if args.batch_size:
        title += f", mini-batch SGD (batch {args.batch_size})"
    print(f"{title} — {started.strftime('%Y-%m-%d %H:%M %Z')}", flush=True)
    print(f"machine: {machine['cpu']}, {machine.get('usable_cpus', machine['logical_cpus'])} "
          f"usable CPUs, {machine.get('mem_gib', '?')} GiB; python {machine['python']}", flush=True)
    mb = ""
    if args.batch_size:
        mb = (f"; batch size {args.batch_size} (mini-batch SGD in multilogit's epoch orders, "
              f"model seed {ORDER_SEED})")
    print(f"threads: {args.threads}; epochs: {args.epochs} (median/min over the last "
          f"{args.timing_epochs}); lr {LR}; seed {SEED}{'; QUICK shapes' if args.quick else ''}{mb}",
          flush=True)

    results = {}
    versions = {}
    blas = {}
    tmp_root = tempfile.mkdtemp(prefix="multilogit-compare-")
    try:
        for sname in shape_names:
            n, d, t = shapes[sname]
            sdir = os.path.join(tmp_root, sname)
            os.makedirs(sdir)
            import numpy as np
            t0 = time.perf_counter()
            x, y = make_data(n, d, t)
            np.save(os.path.join(sdir, "X.npy"), x)
            np.save(os.path.join(sdir, "y.npy"), y)
            del x, y
            # A batch of N rows or more is the full batch.
            batch = args.batch_size if args.batch_size and args.batch_size < n else None
            mode = ""
            if batch:
                mode = f", batch {batch} ({-(-n // batch)} steps an epoch)"
            elif args.batch_size:
                mode = f", batch {args.batch_size} >= N: full batch"
            print(f"\n## {sname}: N={n} D={d} T={t}{mode}  (data written in "
                  f"{time.perf_counter() - t0:.1f} s)", flush=True)
            sres = {"shape": [n, d, t], "engines": {}}
            if batch:
                sres["batch_size"] = batch
            for eng in order:
                if eng == "sklearn" and batch:
                    r = {"engine": eng, "ok": False, "minibatch_skip": True,
                         "error": SKLEARN_MINIBATCH_SKIP}
                elif eng == "multilogit":
                    r = run_multilogit(sdir, args, batch)
                else:
                    r = run_python_engine(eng, sdir, t, args, batch)
                sres["engines"][eng] = r
                if r.get("ok"):
                    extra = ""
                    if eng == "sklearn":
                        extra = f" (L-BFGS: {r.get('n_iter')} it, fit {fmt_ms(r.get('fit_ms'))} ms)"
                    print(f"  {eng:<11} median {fmt_ms(r['ms_median'])} ms  min "
                          f"{fmt_ms(r.get('ms_min'))} ms  final loss {r['final_loss']:.6f}{extra}",
                          flush=True)
                    if r.get("env_removed"):
                        print(f"  {'':<11} (unset in this worker: {', '.join(r['env_removed'])})")
                    if eng == "multilogit":
                        bo = r.get("bench", {})
                        print(f"  {'':<11} kernel {bo.get('kernel')}, {bo.get('gflops')} GFLOP/s, "
                              f"{bo.get('gbps')} GB/s, floor {bo.get('floor_ms')} ms "
                              f"(x{bo.get('floor_multiple')})", flush=True)
                        if batch and "shuffled_read_ms" in bo:
                            print(f"  {'':<11} shuffled-order read of X {bo.get('shuffled_read_ms')} ms "
                                  f"(x{bo.get('minibatch_floor_multiple')} of the mini-batch floor)",
                                  flush=True)
                    if r.get("missing_keys"):
                        print(f"  {'':<11} (JSON lacks keys: {', '.join(r['missing_keys'])})")
                    versions.update(r.get("versions", {}))
                    if eng in ("numpy", "sklearn") and r.get("blas"):
                        blas[eng] = r["blas"]
                    if eng == "torch" and r.get("torch_blas"):
                        blas["torch (built with)"] = r["torch_blas"]
                else:
                    print(f"  {eng:<11} SKIPPED: {r.get('error')}", flush=True)
                    if args.verbose and r.get("traceback"):
                        print(r["traceback"])
            check_agreement(sres, sdir)
            for eng, r in sres["engines"].items():
                if "agrees" in r and eng != "numpy":
                    print(f"  {eng:<11} vs numpy: {r['agrees']}", flush=True)
            results[sname] = sres
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)

    table, notes = build_table(results, order)
    print(f"\n## Results{f' (mini-batch SGD, batch {args.batch_size})' if args.batch_size else ''}\n")
    print(f"Machine: {machine['cpu']}, {machine.get('usable_cpus', machine['logical_cpus'])} "
          f"cores used of {machine['logical_cpus']}, {machine.get('mem_gib', '?')} GiB RAM; "
          f"{machine['platform']}")
    load = ""
    if hasattr(os, "getloadavg"):
        load = (f"; load average {load0[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end "
                "(other work on the machine makes timings noisy)")
    print(f"Date: {started.isoformat(timespec='seconds')}{load}")
    mb = ""
    if args.batch_size:
        mb = (f", batch size={args.batch_size} (mini-batch SGD in multilogit's epoch orders, "
              f"model seed {ORDER_SEED}; the Python engines' orders are computed outside their "
              "timers; a shape with N <= batch size runs full batch)")
    print(f"Settings: threads={args.threads}, epochs={args.epochs}, median/min over the last "
          f"{args.timing_epochs} epochs (warm-up/compile excluded), lr={LR}, seed={SEED}"
          f"{', QUICK shapes' if args.quick else ''}{mb}")
    vers = {"python": machine["python"]}
    vers.update(versions)
    print("Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()))
    for eng, info in blas.items():
        print(f"BLAS ({eng}): {_blas_summary(info)}")
    print()
    print(table)
    print()
    for note in notes:
        print(note)
    print("ratio = engine ms / multilogit ms (>1: multilogit is faster). agrees: final loss "
          f"(float64, after all epochs) within relative {REL_TOL:g} of numpy's.")

    if args.json:
        settings = {"threads": args.threads, "epochs": args.epochs,
                    "timing_epochs": args.timing_epochs, "lr": LR, "seed": SEED,
                    "quick": args.quick, "pin": args.pin}
        if args.batch_size:
            settings.update(batch_size=args.batch_size, order_seed=ORDER_SEED)
        dump = {
            "date": started.isoformat(timespec="seconds"),
            "machine": machine,
            "loadavg_start": load0,
            "loadavg_end": os.getloadavg() if hasattr(os, "getloadavg") else None,
            "settings": settings,
            "versions": vers,
            "blas": blas,
            "results": results,
        }
        with open(args.json, "w") as f:
            json.dump(dump, f, indent=2)
        print(f"JSON written to {args.json}")

    gd_fail = any(r.get("agrees", "").startswith("FAIL")
                  for s in results.values() for r in s["engines"].values())
    return 1 if gd_fail else 0


def _blas_summary(info):
    if isinstance(info, str):
        return info
    parts = []
    for p in info:
        if p.get("user_api") == "blas":
            s = f"{p.get('internal_api')} {p.get('version') or ''}".strip()
            if p.get("architecture"):
                s += f" ({p['architecture']})"
            s += f", {p.get('num_threads')} threads"
            parts.append(s)
    return "; ".join(parts) if parts else "none found by threadpoolctl"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", default="mnist,tall,wide",
                    help="comma list of: " + ", ".join(SHAPES))
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--timing-epochs", type=int, default=45,
                    help="median/min over the last this-many epochs")
    ap.add_argument("--engines", default=",".join(ALL_ENGINES))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--binary", default="target/release/multilogit",
                    help="multilogit binary (relative paths also tried from the repo root)")
    ap.add_argument("--json", default=None, help="also write all results here")
    ap.add_argument("--quick", action="store_true", help="tiny shapes, for a smoke test")
    ap.add_argument("--batch-size", type=int, default=None,
                    help="mini-batch SGD epochs of this many rows a step, in multilogit's "
                         "epoch orders (default: the full batch; sklearn is skipped)")
    ap.add_argument("--timeout", type=float, default=3600,
                    help="seconds per engine run before giving up on it")
    ap.add_argument("--no-pin", dest="pin", action="store_false",
                    help="do not restrict each engine to the first --threads CPUs")
    ap.add_argument("--keep-openblas-env", action="store_true",
                    help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the Python workers")
    ap.add_argument("--verbose", action="store_true", help="print worker tracebacks")
    # internal, used when the script re-executes itself
    ap.add_argument("--worker", choices=sorted(ENGINE_FUNCS), help=argparse.SUPPRESS)
    ap.add_argument("--data-dir", help=argparse.SUPPRESS)
    ap.add_argument("--classes", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads < 1 or args.epochs < 1 or args.timing_epochs < 1:
        ap.error("--threads, --epochs and --timing-epochs must be >= 1")
    if args.batch_size is not None and args.batch_size < 1:
        ap.error("--batch-size must be >= 1")
    if args.worker:
        worker_main(args)
        return 0
    return parent_main(args)


if __name__ == "__main__":
    sys.exit(main())
