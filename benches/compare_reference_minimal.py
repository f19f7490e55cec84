"""Minimal numpy/scipy equivalent of `unlearn-audit compare` for the benchmark in
benches/compare.rs (docs/performance.md § compare). Written the way a numpy user would:
load everything, widen to float64, vectorise. Prints JSON with the same field names.

Usage: python3 benches/compare_reference_minimal.py ORIGINAL UNLEARNED RETRAINED [LABELS]
"""
import json
import sys

import numpy as np
from safetensors.numpy import load_file
from scipy.special import log_softmax


def flat_weights(path):
    tensors = load_file(path)
    return np.concatenate([tensors[k].astype(np.float64).ravel() for k in sorted(tensors)])


def kl(p, logp, logq):
    # sum_k p (log p - log q), with 0 log 0 = 0
    return np.where(p > 0, p * (logp - logq), 0.0).sum(axis=1)


def js(p, q):
    m = 0.5 * (p + q)
    with np.errstate(divide="ignore"):
        logm = np.log(m)
        logp = np.log(p)
        logq = np.log(q)
    return 0.5 * kl(p, logp, logm) + 0.5 * kl(q, logq, logm)


def pair(ref_p, ref_lp, p, lp):
    d = p - ref_p
    l2 = np.sqrt((d * d).sum(axis=1))
    return {
        "kl_ref_other": float(kl(ref_p, ref_lp, lp).mean()),
        "kl_other_ref": float(kl(p, lp, ref_lp).mean()),
        "js": float(js(p, ref_p).mean()),
        "activation_distance": float(l2.mean()),
        "activation_distance_l1": float(np.abs(d).sum(axis=1).mean()),
        "activation_distance_rms": float(np.sqrt((l2 * l2).mean())),
    }


def main(original, unlearned, retrained, labels_path=None):
    wo, wu, wr = (flat_weights(d + "/weights.safetensors") for d in (original, unlearned, retrained))
    result = {"weights": {
        "verification_error": float(np.linalg.norm(wu - wr)),
        "original_to_retrained": float(np.linalg.norm(wo - wr)),
        "original_to_unlearned": float(np.linalg.norm(wo - wu)),
        "retrained_norm": float(np.linalg.norm(wr)),
    }}
    del wo, wu, wr
    npz = [np.load(d + "/outputs.npz") for d in (original, unlearned, retrained)]
    labels = np.load(labels_path) if labels_path else None
    result["outputs"] = {}
    for split in sorted(npz[2].files):
        arrays = [z[split].astype(np.float64) for z in npz]
        k = arrays[2].shape[-1]
        arrays = [a.reshape(-1, k) for a in arrays]
        lps = [log_softmax(a, axis=1) for a in arrays]
        ps = [np.exp(lp) for lp in lps]
        u = pair(ps[2], lps[2], ps[1], lps[1])
        o = pair(ps[2], lps[2], ps[0], lps[0])
        entry = {
            "n": int(npz[2][split].shape[0]),
            "kl_retrained_unlearned": u["kl_ref_other"],
            "kl_unlearned_retrained": u["kl_other_ref"],
            "js": u["js"],
            "activation_distance": u["activation_distance"],
            "activation_distance_l1": u["activation_distance_l1"],
            "activation_distance_rms": u["activation_distance_rms"],
            "original_vs_retrained": {
                "kl_retrained_original": o["kl_ref_other"],
                "kl_original_retrained": o["kl_other_ref"],
                "js": o["js"],
                "activation_distance": o["activation_distance"],
            },
        }
        if labels is not None:
            y = labels[split].ravel()
            entry["accuracy"] = {
                name: float((a.argmax(axis=1) == y).mean())
                for name, a in zip(("original", "unlearned", "retrained"), arrays)
            }
        result["outputs"][split] = entry
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main(*sys.argv[1:])
