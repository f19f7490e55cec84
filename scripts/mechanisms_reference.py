"""Python comparison for benches/sampling.rs (spectral_norm_digits, mlp_hvp_digits): numpy's
exact ‖X‖₂ (SVD) and the same tanh-MLP R-operator HVP in numpy, timed on digits; also checks
that the Rust-equivalent numbers agree (spectral norm printed to 15 digits).
Usage: python3 scripts/mechanisms_reference.py"""
import time

import numpy as np

data = np.loadtxt("fixtures/mechanisms/digits.csv", delimiter=",", skiprows=1)
with open("fixtures/mechanisms/digits.csv") as f:
    header = f.readline().strip().split(",")
label_col = header.index("label")
y = data[:, label_col].astype(int)
X = np.delete(data, label_col, axis=1)
X = X / np.sqrt((X * X).sum(axis=1)).max()


def best(fn, repeats=10):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


print("spectral norm (numpy SVD): %.15f" % np.linalg.norm(X, 2))
print("numpy np.linalg.norm(X, 2): %.3f ms" % (1e3 * best(lambda: np.linalg.norm(X, 2))))
print("numpy eigvalsh(XᵀX): %.3f ms" % (1e3 * best(lambda: np.linalg.eigvalsh(X.T @ X))))

d, h, k = 64, 16, 10
p = (d + 1) * h + (h + 1) * k
theta = 0.1 * np.sin(np.arange(p) * 1.3)
v = np.cos(np.arange(p) * 0.7)
Y = np.eye(k)[y]


def split(t):
    w1 = t[: d * h].reshape(d, h)
    b1 = t[d * h : d * h + h]
    w2 = t[d * h + h : d * h + h + h * k].reshape(h, k)
    b2 = t[d * h + h + h * k :]
    return w1, b1, w2, b2


def hvp(t, vv):
    w1, b1, w2, b2 = split(t)
    v1, c1, v2, c2 = split(vv)
    a = np.tanh(X @ w1 + b1)
    z = a @ w2 + b2
    z -= z.max(axis=1, keepdims=True)
    pr = np.exp(z)
    pr /= pr.sum(axis=1, keepdims=True)
    slope = 1 - a * a
    ra = slope * (X @ v1 + c1)
    rz = ra @ w2 + a @ v2 + c2
    re = pr * (rz - (pr * rz).sum(axis=1, keepdims=True))
    e = pr - Y
    hw2 = ra.T @ e + a.T @ re
    hb2 = re.sum(axis=0)
    pre = e @ w2.T
    rd = (re @ w2.T + e @ v2.T) * slope - 2 * pre * a * ra
    return np.concatenate([(X.T @ rd).ravel(), rd.sum(axis=0), hw2.ravel(), hb2])


print("numpy MLP HVP (R-operator): %.3f ms" % (1e3 * best(lambda: hvp(theta, v))))
