#!/usr/bin/env python3
# make_quant_fixtures.py: an independent torch implementation of the RTN
# quantizer (AWQ-SPEC.md section 1) and of the AutoAWQ GEMM packing (section 6),
# applied to a small seeded matrix; writes tests/fixtures/quant/rtn_small.json,
# which test_quant_fixture.c compares with awqc bit for bit. Not run in CI.
#
# Usage: python3 tests/reference/make_quant_fixtures.py [--out PATH]
#            [--autoawq /path/to/autoawq-src]   (optional extra cross-check)
#
# Numerics (the same choices as quantizer/quant.h): everything in float32;
# round half to even (torch.round); the scale is rounded to fp16 (.half())
# before the zero point and the codes are computed from it.
#
# The fixture stores floats as their IEEE bit patterns (uint32 for f32, uint16
# for f16) so nothing depends on decimal parsing, and packed words as int32.

import argparse
import json
import os
import sys

import numpy as np
import torch

ROWS, COLS = 16, 256
SEED = 20240611
CASES = [(4, 64), (4, 128), (3, 64)]  # (bits, group); packing for 4 bits only
ORDER = [0, 2, 4, 6, 1, 3, 5, 7]
DEQUANT_ROWS = 4  # dequantized values are stored for the first rows only (size)


def make_matrix():
    """Mostly Gaussian rows of varied magnitude, plus rows aimed at edge cases."""
    g = torch.Generator().manual_seed(SEED)
    w = torch.randn(ROWS, COLS, generator=g, dtype=torch.float32)
    mags = torch.logspace(-2, 0.3, 12)  # 0.01 .. 2
    w[:12] *= mags[:, None]
    # Row 12: tiny weights, so the scales are fp16 subnormals.
    w[12] *= 1e-4
    # Row 13: an all-zero group, constant +0.5 and -0.5 groups (range floor),
    # and an all-positive group (zero point clamped to 0).
    w[13, 0:64] = 0.0
    w[13, 64:128] = 0.5
    w[13, 128:192] = -0.5
    w[13, 192:256] = torch.rand(64, generator=g) * 0.9 + 0.1
    # Row 14: multiples of 1/8 in [-10/8, 20/8] with both ends in every group of
    # 32, so at 4 bits the scale is exactly 0.25 and odd multiples are ties.
    k = torch.randint(-10, 21, (COLS,), generator=g)
    k[0::32] = -10
    k[1::32] = 20
    w[14] = k.to(torch.float32) / 8
    # Row 15: small weights with a few large outliers.
    w[15] *= 0.05
    w[15, [3, 77, 150, 200]] = torch.tensor([5.0, -4.0, 3.5, -6.0])
    return w.contiguous()


def quantize(w, bits, group):
    """Spec section 1, per row and group of `group` columns. Returns q, zeros,
    scales (as f16 tensors) and the dequantized weights, all [rows, ...]."""
    rows, cols = w.shape
    qmax = 2**bits - 1
    wg = w.reshape(rows, cols // group, group)
    hi = wg.amax(dim=2, keepdim=True)
    lo = wg.amin(dim=2, keepdim=True)
    scale_f32 = (hi - lo).clamp(min=1e-5) / qmax
    scale_h = scale_f32.half()
    scale = scale_h.float()
    zero = (-torch.round(lo / scale)).clamp(0, qmax)
    q = (torch.round(wg / scale) + zero).clamp(0, qmax)
    deq = (q - zero) * scale
    assert q.dtype == torch.float32 and deq.dtype == torch.float32
    return (q.reshape(rows, cols).to(torch.int64), zero[..., 0].to(torch.int64),
            scale_h[..., 0], deq.reshape(rows, cols))


def pack_gemm(values_out_major):
    """values [out, n] (4-bit ints) -> int32 [n, out/8]: nibble i of packed
    column c holds output column 8c + ORDER[i]."""
    t = values_out_major.t().contiguous()  # [n, out]
    n, out = t.shape
    packed = torch.zeros(n, out // 8, dtype=torch.int64)
    for i in range(8):
        packed |= (t[:, ORDER[i]::8] & 0xF) << (4 * i)
    return packed.numpy().astype(np.uint32).view(np.int32)


def f32_bits(t):
    return t.contiguous().numpy().astype(np.float32).view(np.uint32).reshape(-1).tolist()


def f16_bits(t):
    return t.contiguous().numpy().astype(np.float16).view(np.uint16).reshape(-1).tolist()


def make_case(w, bits, group):
    q, zero, scale_h, deq = quantize(w, bits, group)
    case = {
        "bits": bits,
        "group": group,
        "q": q.reshape(-1).tolist(),
        "zeros": zero.reshape(-1).tolist(),
        "scales_f16": f16_bits(scale_h),
        "dequant_rows": DEQUANT_ROWS,
        "dequant_f32": f32_bits(deq[:DEQUANT_ROWS]),
    }
    if bits == 4:
        case["qweight"] = pack_gemm(q).reshape(-1).tolist()   # [in, out/8]
        case["qzeros"] = pack_gemm(zero).reshape(-1).tolist()  # [in/g, out/8]
        # scales [in/g, out] are scales_f16 transposed; the test derives them.
    return case, (q, zero, scale_h, deq)


def cross_check_autoawq(src, w, bits, group, result, case):
    """Feeds the same dequantized weights, scales and zeros to AutoAWQ's own
    WQLinear_GEMM.from_linear and compares its packed tensors with ours."""
    import types
    sys.path.insert(0, src)
    sys.modules.setdefault("datasets", types.ModuleType("datasets")).load_dataset = None
    from awq.modules.linear.gemm import WQLinear_GEMM
    # AutoAWQ sizes its packed tensors as out // 32 * 4 columns, so it needs
    # out a multiple of 32: feed it the matrix twice over and compare with our
    # packing of the doubled codes.
    q, zero, scale_h, deq = (torch.cat([t, t]) for t in result)
    lin = torch.nn.Linear(w.shape[1], 2 * w.shape[0], bias=False)
    lin.weight.data = deq.clone()
    m = WQLinear_GEMM.from_linear(lin, bits, group, scales=scale_h.t().contiguous(),
                                  zeros=zero.t().contiguous().to(torch.float32))
    ok = (np.array_equal(m.qweight.numpy(), pack_gemm(q))
          and np.array_equal(m.qzeros.numpy(), pack_gemm(zero))
          and f16_bits(m.scales) == f16_bits(scale_h.t()))
    print(f"autoawq from_linear W{bits} g{group}: {'identical' if ok else 'DIFFERENT'}")
    return ok


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(here, "..", "fixtures", "quant", "rtn_small.json"))
    ap.add_argument("--autoawq", help="path of an unpacked AutoAWQ source tree (optional)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    w = make_matrix()
    fixture = {"rows": ROWS, "cols": COLS, "seed": SEED, "torch": torch.__version__,
               "w_f32": f32_bits(w), "cases": []}
    all_ok = True
    for bits, group in CASES:
        case, result = make_case(w, bits, group)
        fixture["cases"].append(case)
        if args.autoawq and bits == 4:
            all_ok &= cross_check_autoawq(args.autoawq, w, bits, group, result, case)
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
