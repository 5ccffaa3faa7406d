#!/usr/bin/env python3
"""Independent check of awqc's AutoAWQ GEMM (INT4) and INT3 exports.

Reads DIR/w4/model.safetensors (AutoAWQ GEMM: qweight int32 [in, out/8],
qzeros int32 [in/g, out/8], scales f16 [in/g, out]; nibble i of each int32 holds
output column 8c + [0,2,4,6,1,3,5,7][i], AWQ-SPEC.md section 6) and
DIR/w3/model.safetensors (awqc INT3: qcodes u8 [out, in*3/8], 8 codes per 3
bytes, code k in bits 3k..3k+2; qzeros u8 and scales f16 [out, in/g]), unpacks
them with numpy alone, and compares with the dequantized weights awqc held in
memory (DIR/dequant-w4.safetensors, DIR/dequant-w3.safetensors): they must be
equal bit for bit.  Usage: check_gemm_export.py DIR   (exit 0 when all match)
"""
import json
import struct
import sys

import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16, "I32": np.int32, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(blob[base + a:base + b], dtype=DTYPES[info["dtype"]])
        out[name] = arr.reshape(info["shape"])
    return out


def unpack_gemm(qweight, qzeros, scales):
    # Nibble holding output column j of each 8: the inverse of [0,2,4,6,1,3,5,7].
    shifts = np.array([0, 4, 1, 5, 2, 6, 3, 7], dtype=np.uint32) * 4
    def nibbles(packed):
        u = packed.view(np.uint32)[:, :, None] >> shifts
        return (u & 15).reshape(packed.shape[0], -1).astype(np.float32)
    q = nibbles(qweight)                       # [in, out]
    group = q.shape[0] // scales.shape[0]
    z = np.repeat(nibbles(qzeros), group, axis=0)
    s = np.repeat(scales.astype(np.float32), group, axis=0)
    return ((q - z) * s).T                      # [out, in]


def unpack_u3(qcodes, qzeros, scales):
    rows = qcodes.shape[0]
    b = qcodes.reshape(rows, -1, 3).astype(np.uint32)
    word = b[:, :, 0] | (b[:, :, 1] << 8) | (b[:, :, 2] << 16)
    q = ((word[:, :, None] >> (3 * np.arange(8, dtype=np.uint32))) & 7).reshape(rows, -1).astype(np.float32)
    group = q.shape[1] // scales.shape[1]
    z = np.repeat(qzeros.astype(np.float32), group, axis=1)
    s = np.repeat(scales.astype(np.float32), group, axis=1)
    return (q - z) * s


def check(folder, reference, first, unpack):
    got = read_safetensors(folder + "/model.safetensors")
    want = read_safetensors(reference)
    linears = [k[: -len(first) - 1] for k in got if k.endswith("." + first)]
    bad = 0
    for base in sorted(linears):
        w = unpack(got[base + "." + first], got[base + ".qzeros"], got[base + ".scales"])
        ref = want[base + ".weight"]
        if w.shape != ref.shape or not np.array_equal(w.view(np.uint32), ref.view(np.uint32)):
            bad += 1
            print(f"MISMATCH {base}: max diff {np.abs(w - ref).max() if w.shape == ref.shape else 'shape'}")
    print(f"{folder}: {len(linears)} quantized linears unpacked with numpy, {len(linears) - bad} identical")
    return bad == 0 and len(linears) > 0


def main():
    d = sys.argv[1]
    ok = check(d + "/w4", d + "/dequant-w4.safetensors", "qweight", unpack_gemm)
    ok &= check(d + "/w3", d + "/dequant-w3.safetensors", "qcodes", unpack_u3)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
