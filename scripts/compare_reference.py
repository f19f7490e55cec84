#!/usr/bin/env python3
"""Reference implementation of `unlearn-audit compare --json` in numpy/scipy.

Reads three model bundles (directories with any of `weights.safetensors`, `outputs.npz`,
`activations.npz`) and an optional labels file (`labels.npz`, one integer array per split),
and prints the metrics under the same JSON field names as the Rust `metrics` module
(docs/metrics.md): `weights.{verification_error, original_to_retrained, original_to_unlearned,
*_relative, retrained_norm, parameter_count, per_tensor}`, `outputs.<split>.{n, positions,
kl_retrained_unlearned, kl_unlearned_retrained, js, activation_distance,
activation_distance_l1, activation_distance_rms, accuracy.{original, unlearned, retrained},
original_vs_retrained.{...}}` and `activations.<split>.{...}`.

It is the oracle for the golden tests (`fixtures/metrics/make_goldens.py`) and the python
comparator for the benchmarks, so it is vectorised and streams rows in chunks:

* log-probabilities by `scipy.special.log_softmax` (logits) or validated, renormalised
  probabilities (`--probabilities`); KL by `scipy.special.rel_entr` summed over classes;
  JS = ½ rel_entr(p, m) + ½ rel_entr(q, m) (checked against
  `scipy.spatial.distance.jensenshannon` on the first chunk of each split);
* divergences in nats, means over positions (rows of the outputs flattened to [-1, K]);
* an infinite KL (possible only with probability inputs) is `null` with a reason and the
  number of such rows.

Usage: compare_reference.py ORIGINAL UNLEARNED RETRAINED [--labels labels.npz]
                            [--probabilities] [--chunk-rows 65536]
"""

import argparse
import json
import math
import os
import sys

import numpy as np
from safetensors import safe_open
from scipy import special
from scipy.spatial import distance

PROBABILITY_ROW_SUM = 1e-6  # src/tolerance.rs
MODELS = ("original", "unlearned", "retrained")


def weights_section(dirs):
    handles = [safe_open(os.path.join(d, "weights.safetensors"), framework="numpy") for d in dirs]
    names = [sorted(h.keys()) for h in handles]
    if not (names[0] == names[1] == names[2]):
        sys.exit("the three weights files hold different tensor names")
    per_tensor = []
    totals = np.zeros(4)
    count = 0
    # name order = byte order of the UTF-8 names, as the Rust side sorts them
    for name in sorted(names[0], key=lambda n: n.encode()):
        o, u, r = (h.get_tensor(name) for h in handles)
        if not (o.shape == u.shape == r.shape):
            sys.exit(f"tensor {name}: shapes differ {o.shape} {u.shape} {r.shape}")
        shape = list(r.shape)
        o, u, r = (np.asarray(a, dtype=np.float64).ravel() for a in (o, u, r))
        ur, orr, ou = u - r, o - r, o - u
        sums = np.array([ur @ ur, orr @ orr, ou @ ou, r @ r])
        totals += sums
        count += r.size
        norm = math.sqrt(sums[3])
        entry = {
            "name": name,
            "shape": shape,
            "parameter_count": int(r.size),
            "verification_error": math.sqrt(sums[0]),
            "original_to_retrained": math.sqrt(sums[1]),
            "original_to_unlearned": math.sqrt(sums[2]),
            "retrained_norm": norm,
            "verification_error_relative": math.sqrt(sums[0]) / norm if norm > 0 else None,
        }
        per_tensor.append(entry)
    norm = math.sqrt(totals[3])
    ve, o_r, o_u = (math.sqrt(x) for x in totals[:3])
    rel = (lambda x: x / norm) if norm > 0 else (lambda x: None)
    return {
        "verification_error": ve,
        "original_to_retrained": o_r,
        "original_to_unlearned": o_u,
        "verification_error_relative": rel(ve),
        "original_to_retrained_relative": rel(o_r),
        "original_to_unlearned_relative": rel(o_u),
        "retrained_norm": norm,
        "parameter_count": count,
        "per_tensor": per_tensor,
    }


def prepare(chunk, probabilities, model, first_row):
    """Rows of one model as (probabilities, log-probabilities) in float64."""
    x = np.asarray(chunk, dtype=np.float64)
    if not np.isfinite(x).all():
        row = first_row + int(np.argwhere(~np.isfinite(x))[0][0])
        sys.exit(f"{model}: row {row} has a non-finite value")
    if not probabilities:
        logp = special.log_softmax(x, axis=1)
        return np.exp(logp), logp
    if (x < 0).any():
        sys.exit(f"{model}: negative probability")
    sums = x.sum(axis=1, keepdims=True)
    if (np.abs(sums - 1.0) > PROBABILITY_ROW_SUM).any():
        sys.exit(f"{model}: probability rows do not sum to 1")
    p = x / sums
    with np.errstate(divide="ignore"):
        return p, np.log(p)


class PairSums:
    def __init__(self):
        self.kl_ab = 0.0
        self.kl_ab_inf = 0
        self.kl_ba = 0.0
        self.kl_ba_inf = 0
        self.js = 0.0
        self.l2 = 0.0
        self.l1 = 0.0
        self.l2_squared = 0.0

    def add(self, a, b, check_js):
        """a = retrained probabilities, b = the other model's."""
        kl_ab = np.maximum(special.rel_entr(a, b).sum(axis=1), 0.0)
        kl_ba = np.maximum(special.rel_entr(b, a).sum(axis=1), 0.0)
        finite_ab, finite_ba = np.isfinite(kl_ab), np.isfinite(kl_ba)
        self.kl_ab += kl_ab[finite_ab].sum()
        self.kl_ab_inf += int((~finite_ab).sum())
        self.kl_ba += kl_ba[finite_ba].sum()
        self.kl_ba_inf += int((~finite_ba).sum())
        m = 0.5 * (a + b)
        js = np.clip(0.5 * (special.rel_entr(a, m) + special.rel_entr(b, m)).sum(axis=1), 0.0, math.log(2))
        if check_js:
            oracle = distance.jensenshannon(a, b, axis=1) ** 2
            np.testing.assert_allclose(js, oracle, rtol=1e-9, atol=1e-15)
        self.js += js.sum()
        d = a - b
        squared = np.einsum("ij,ij->i", d, d)
        self.l2 += np.sqrt(squared).sum()
        self.l1 += np.abs(d).sum()
        self.l2_squared += squared.sum()

    def finish(self, rows, first, other):
        """JSON fields, keys named KL(first‖other) and KL(other‖first)."""
        def kl(total, infinite, name):
            if infinite:
                return {name: None, name + "_reason": f"infinite in {infinite} of {rows} rows",
                        name + "_infinite_rows": infinite}
            return {name: total / rows, name + "_infinite_rows": 0}
        out = {}
        out.update(kl(self.kl_ab, self.kl_ab_inf, f"kl_{first}_{other}"))
        out.update(kl(self.kl_ba, self.kl_ba_inf, f"kl_{other}_{first}"))
        out["js"] = self.js / rows
        out["activation_distance"] = self.l2 / rows
        out["activation_distance_l1"] = self.l1 / rows
        out["activation_distance_rms"] = math.sqrt(self.l2_squared / rows)
        return out


def argmax_hits(x, labels):
    return int((np.argmax(x, axis=1) == labels).sum())


def outputs_section(dirs, labels_file, probabilities, chunk_rows):
    files = [np.load(os.path.join(d, "outputs.npz")) for d in dirs]
    labels = np.load(labels_file) if labels_file else None
    result = {}
    for split in sorted(files[2].files):
        arrays = [f[split] for f in files]
        shape = arrays[2].shape
        if any(a.shape != shape for a in arrays):
            sys.exit(f"outputs {split}: shapes differ")
        k = shape[-1]
        flat = [a.reshape(-1, k) for a in arrays]
        rows = flat[0].shape[0]
        split_labels = None
        if labels is not None and split in labels.files:
            split_labels = labels[split].reshape(-1).astype(np.int64)
        unlearned, original = PairSums(), PairSums()
        hits = np.zeros(3, dtype=np.int64)
        for start in range(0, rows, chunk_rows):
            end = min(start + chunk_rows, rows)
            o, u, r = (prepare(a[start:end], probabilities, m, start) for a, m in zip(flat, MODELS))
            unlearned.add(r[0], u[0], start == 0)
            original.add(r[0], o[0], start == 0)
            if split_labels is not None:
                y = split_labels[start:end]
                hits += [argmax_hits(np.asarray(a[start:end], dtype=np.float64), y) for a in flat]
        entry = {"n": int(shape[0]), "positions": rows}
        entry.update(unlearned.finish(rows, "retrained", "unlearned"))
        if split_labels is not None:
            entry["accuracy"] = {m: int(h) / rows for m, h in zip(MODELS, hits)}
        else:
            entry["accuracy"] = {m: None for m in MODELS}
        entry["original_vs_retrained"] = original.finish(rows, "retrained", "original")
        result[split] = entry
    return result


def activations_section(dirs, chunk_rows):
    files = [np.load(os.path.join(d, "activations.npz")) for d in dirs]
    result = {}
    for split in sorted(files[2].files):
        o, u, r = (f[split] for f in files)
        if not (o.shape == u.shape == r.shape):
            sys.exit(f"activations {split}: shapes differ")
        rows = r.shape[0]
        sums = np.zeros(4)
        for start in range(0, rows, chunk_rows):
            oc, uc, rc = (np.asarray(a[start:start + chunk_rows], dtype=np.float64) for a in (o, u, r))
            oc, uc, rc = (a.reshape(a.shape[0], -1) for a in (oc, uc, rc))
            ur = np.einsum("ij,ij->i", uc - rc, uc - rc)
            orr = np.einsum("ij,ij->i", oc - rc, oc - rc)
            sums += [np.sqrt(ur).sum(), ur.sum(), np.sqrt(orr).sum(), orr.sum()]
        result[split] = {
            "n": rows,
            "activation_distance": sums[0] / rows,
            "activation_distance_rms": math.sqrt(sums[1] / rows),
            "original_vs_retrained": {
                "activation_distance": sums[2] / rows,
                "activation_distance_rms": math.sqrt(sums[3] / rows),
            },
        }
    return result


def compare(original, unlearned, retrained, labels=None, probabilities=False, chunk_rows=65536):
    dirs = (original, unlearned, retrained)
    report = {}
    if all(os.path.exists(os.path.join(d, "weights.safetensors")) for d in dirs):
        report["weights"] = weights_section(dirs)
    if all(os.path.exists(os.path.join(d, "outputs.npz")) for d in dirs):
        report["outputs"] = outputs_section(dirs, labels, probabilities, chunk_rows)
    if all(os.path.exists(os.path.join(d, "activations.npz")) for d in dirs):
        report["activations"] = activations_section(dirs, chunk_rows)
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("original")
    parser.add_argument("unlearned")
    parser.add_argument("retrained")
    parser.add_argument("--labels")
    parser.add_argument("--probabilities", action="store_true")
    parser.add_argument("--chunk-rows", type=int, default=65536)
    args = parser.parse_args()
    report = compare(args.original, args.unlearned, args.retrained, args.labels,
                     args.probabilities, args.chunk_rows)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
