#!/usr/bin/env python3
"""Reference implementation of `retrain` and `guo` runs on digits in numpy/scipy, for the
speed comparison in docs/performance.md ## sampling (benches/sampling.rs is the Rust side).

Same objective as the Rust mechanisms: features divided by the largest row norm, no intercept,
sum-form loss + (lambda*n/2)||w||^2 + b.w with b ~ N(0, sigma^2 I), minimised by scipy L-BFGS
(gtol 1e-10*n as in the Rust code, cold start from zeros as the usual python code does, and warm
start from the unperturbed minimiser as the Rust code does). `retrain` = softmax regression on
the retain set; `guo` = one-vs-rest logistic, train on full data then Newton removals of rows
3 and 17 with an explicit Hessian solve (as facebookresearch/certified-removal does).
Usage: python3 scripts/sample_reference.py [runs]
"""
import sys
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit, logsumexp

LAMBDA, SIGMA, FORGET = 0.01, 1.0, [3, 17]


def load():
    data = np.loadtxt("fixtures/mechanisms/digits.csv", delimiter=",", skiprows=1)
    x, y = data[:, :-1], data[:, -1].astype(int)
    return x / np.sqrt((x * x).sum(1)).max(), y


def softmax_objective(w, x, onehot, l2, b):
    W = w.reshape(x.shape[1], -1)
    z = x @ W
    lse = logsumexp(z, axis=1)
    p = np.exp(z - lse[:, None])
    value = (lse - (z * onehot).sum(1)).sum() + 0.5 * l2 * w @ w + b @ w
    grad = (x.T @ (p - onehot)).ravel() + l2 * w + b
    return value, grad


def ovr_objective(w, x, signs, l2, b):
    W = w.reshape(x.shape[1], -1)
    m = signs * (x @ W)
    value = -log_expit(m).sum() + 0.5 * l2 * w @ w + b @ w
    grad = (x.T @ (-signs * expit(-m))).ravel() + l2 * w + b
    return value, grad


def train(objective, x, targets, b, start):
    l2 = LAMBDA * len(x)
    res = minimize(objective, start, args=(x, targets, l2, b), jac=True, method="L-BFGS-B",
                   options={"gtol": 1e-10 * len(x), "maxiter": 1000, "maxcor": 10})
    return res.x


def guo_run(x, y, signs, rng, start):
    d, k = x.shape[1], signs.shape[1]
    b = SIGMA * rng.standard_normal(d * k)
    w = train(ovr_objective, x, signs, b, start)
    keep = np.ones(len(x), bool)
    for j in FORGET:
        keep[j] = False
        W = w.reshape(d, k)
        xr = x[keep]
        steps = []
        for c in range(k):
            m = signs[j, c] * (x[j] @ W[:, c])
            delta = LAMBDA * W[:, c] - signs[j, c] * expit(-m) * x[j]
            s = expit(xr @ W[:, c])
            h = (xr * (s * (1 - s))[:, None]).T @ xr + LAMBDA * keep.sum() * np.eye(d)
            steps.append(np.linalg.solve(h, delta))
        w = w + np.stack(steps, axis=1).ravel()
    return w


def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    x, y = load()
    k = y.max() + 1
    onehot = np.eye(k)[y]
    signs = 2 * onehot - 1
    keep = np.ones(len(x), bool)
    keep[FORGET] = False
    rng = np.random.default_rng(0)
    zeros = np.zeros(x.shape[1] * k)
    warm_retain = train(softmax_objective, x[keep], onehot[keep], zeros, zeros)
    warm_full = train(ovr_objective, x, signs, zeros, zeros)
    for label, start_retain, start_full in [("cold", zeros, zeros), ("warm", warm_retain, warm_full)]:
        t = time.perf_counter()
        for _ in range(runs):
            train(softmax_objective, x[keep], onehot[keep], SIGMA * rng.standard_normal(len(zeros)), start_retain)
        retrain_rate = runs / (time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(runs):
            guo_run(x, y, signs, rng, start_full)
        guo_rate = runs / (time.perf_counter() - t)
        print(f"{label} start: retrain {retrain_rate:.2f} runs/s, guo unlearn {guo_rate:.2f} runs/s (one process)")


if __name__ == "__main__":
    main()
