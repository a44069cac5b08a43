"""ggml's block quantizations written in numpy from ggml-common.h's layouts, without tformer's
code: quantize a float32 matrix row by row into Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K or
Q6_K blocks (simple round-to-nearest choices of scale, valid but not llama.cpp's optimised
search), and rewrite a GGUF file with some of its F32 tensors so quantized (the metadata bytes
kept as they are). quantize() also returns the floats a correct dequantizer must give for the
blocks, computed from the quantizer's own integers (not by unpacking the bytes), so a packing
slip shows as a disagreement with the reader.
Used by tests/llamacpp_quant_judge.py and as a fuzz seed writer (scripts/fuzz.sh)."""
import struct

import numpy as np

TYPES = {"F32": 0, "Q4_0": 2, "Q4_1": 3, "Q5_0": 6, "Q5_1": 7, "Q8_0": 8, "Q4_K": 12, "Q5_K": 13, "Q6_K": 14}
BLOCK = {"Q4_0": 32, "Q4_1": 32, "Q5_0": 32, "Q5_1": 32, "Q8_0": 32, "Q4_K": 256, "Q5_K": 256, "Q6_K": 256}
f32 = np.float32


def half(x):
    """float32 -> (fp16 bits, the float32 the reader widens them to)."""
    h = np.asarray(x, dtype=np.float32).astype(np.float16)
    return h.view(np.uint16), h.astype(np.float32)


def inv(d):
    return np.where(d != 0, 1 / np.where(d != 0, d, 1), 0).astype(f32)


def signed_absmax(x):
    """Per row of x (..., n): the element of largest magnitude, with its sign."""
    i = np.abs(x).argmax(-1)
    return np.take_along_axis(x, i[..., None], -1)[..., 0]


def nibbles(lo, hi):
    return (lo.astype(np.uint8) & 15) | ((hi.astype(np.uint8) & 15) << 4)


def bits_le(b):
    """(..., 32) 0/1 -> (..., 4) bytes, bit j of the little-endian uint32 = b[..., j]."""
    return np.packbits(b.astype(np.uint8), axis=-1, bitorder="little")


def _legacy(x, kind):
    """x (nb, 32) -> (bytes (nb, size), values (nb, 32))."""
    if kind in ("Q4_0", "Q5_0", "Q8_0"):
        top = {"Q4_0": -8, "Q5_0": -16, "Q8_0": 127}[kind]
        d = signed_absmax(x) / f32(top) if kind != "Q8_0" else np.abs(x).max(-1) / f32(top)
        dh, dw = half(d)
        if kind == "Q8_0":
            q = np.round(x * inv(d)[:, None]).astype(np.int8)
            return np.concatenate([dh.view(np.uint8).reshape(-1, 2), q.view(np.uint8)], 1), dw[:, None] * q.astype(f32)
        off = -top
        q = np.clip(np.floor(x * inv(d)[:, None] + f32(off + 0.5)), 0, 2 * off - 1).astype(np.int32)
        parts = [dh.view(np.uint8).reshape(-1, 2)]
        if kind == "Q5_0":
            parts.append(bits_le(q >> 4))
        parts.append(nibbles(q[:, :16], q[:, 16:]))
        return np.concatenate(parts, 1), (q - off).astype(f32) * dw[:, None]
    levels = 15 if kind == "Q4_1" else 31
    mn, mx = x.min(-1), x.max(-1)
    d = (mx - mn) / f32(levels)
    dh, dw = half(d)
    mh, mw = half(mn)
    q = np.clip(np.round((x - mw[:, None]) * inv(dw)[:, None]), 0, levels).astype(np.int32)
    parts = [dh.view(np.uint8).reshape(-1, 2), mh.view(np.uint8).reshape(-1, 2)]
    if kind == "Q5_1":
        parts.append(bits_le(q >> 4))
    parts.append(nibbles(q[:, :16], q[:, 16:]))
    _legacy.mins = mw  # (nb,): the judge's model of llama.cpp's Q8_1 dot product needs them
    return np.concatenate(parts, 1), q.astype(f32) * dw[:, None] + mw[:, None]


def _pack_scales_k4(sc, m):
    """8 six-bit scales and mins (nb, 8) -> ggml's 12 bytes (inverse of get_scale_min_k4)."""
    out = np.zeros((sc.shape[0], 12), np.uint8)
    out[:, 0:4] = (sc[:, 0:4] & 63) | ((sc[:, 4:8] >> 4) << 6)
    out[:, 4:8] = (m[:, 0:4] & 63) | ((m[:, 4:8] >> 4) << 6)
    out[:, 8:12] = (sc[:, 4:8] & 15) | ((m[:, 4:8] & 15) << 4)
    return out


def _k4(x, kind):
    """Q4_K / Q5_K: x (nb, 256) -> (bytes, values). Sub-block s of 32: x ≈ d·sc_s·q - dmin·m_s."""
    levels = 15 if kind == "Q4_K" else 31
    xs = x.reshape(-1, 8, 32)
    lo = np.minimum(xs.min(-1), 0)
    scale, mins = (xs.max(-1) - lo) / f32(levels), -lo
    d, dmin = scale.max(-1) / f32(63), mins.max(-1) / f32(63)
    dh, dw = half(d)
    mh, mw = half(dmin)
    sc = np.clip(np.round(scale * inv(dw)[:, None]), 0, 63).astype(np.uint8)
    m = np.clip(np.round(mins * inv(mw)[:, None]), 0, 63).astype(np.uint8)
    eff_d = dw[:, None] * sc.astype(f32)  # (nb, 8), as the reader forms them
    eff_m = mw[:, None] * m.astype(f32)
    q = np.clip(np.round((xs + eff_m[..., None]) * inv(eff_d)[..., None]), 0, levels).astype(np.int32)
    values = eff_d[..., None] * q.astype(f32) - eff_m[..., None]
    qc = q.reshape(-1, 4, 2, 32)  # chunk of 64: sub-block 2c in the low nibbles, 2c + 1 in the high
    parts = [dh.view(np.uint8).reshape(-1, 2), mh.view(np.uint8).reshape(-1, 2), _pack_scales_k4(sc, m)]
    if kind == "Q5_K":  # bit s of qh[l] is the fifth bit of weight 32·s + l
        hb = (q >> 4).reshape(-1, 8, 32)
        parts.append(sum((hb[:, s, :] << s) for s in range(8)).astype(np.uint8))
    parts.append(nibbles(qc[:, :, 0, :], qc[:, :, 1, :]).reshape(-1, 128))
    return np.concatenate(parts, 1), values.reshape(x.shape)


def _q6_K(x):
    """x (nb, 256) -> (bytes, values). Sub-block s of 16: x ≈ d·sc_s·(q - 32), sc int8."""
    xs = x.reshape(-1, 16, 16)
    scale = signed_absmax(xs) / f32(-32)
    d = np.abs(scale).max(-1) / f32(127)
    dh, dw = half(d)
    sc = np.clip(np.round(scale * inv(dw)[:, None]), -128, 127).astype(np.int8)
    eff = dw[:, None] * sc.astype(f32)
    q = (np.clip(np.round(xs * inv(eff)[..., None]), -32, 31) + 32).astype(np.int32)  # 0..63
    values = eff[..., None] * (q - 32).astype(f32)
    qh4 = q.reshape(-1, 2, 4, 32)  # half g, quarter k, l: weight 128g + 32k + l
    ql = np.concatenate([nibbles(qh4[:, :, 0], qh4[:, :, 2]), nibbles(qh4[:, :, 1], qh4[:, :, 3])], -1)  # (nb, 2, 64)
    qh = sum(((qh4[:, :, k] >> 4) & 3) << (2 * k) for k in range(4)).astype(np.uint8)  # (nb, 2, 32)
    parts = [ql.reshape(-1, 128), qh.reshape(-1, 64), sc.view(np.uint8), dh.view(np.uint8).reshape(-1, 2)]
    return np.concatenate(parts, 1), values.reshape(x.shape)


def quantize(w, kind):
    """A float32 matrix (rows, cols), cols a multiple of the block -> (raw bytes, the values)."""
    w = np.ascontiguousarray(w, dtype=f32)
    rows, cols = w.shape
    x = w.reshape(-1, BLOCK[kind])
    if kind == "Q6_K":
        raw, values = _q6_K(x)
    elif kind in ("Q4_K", "Q5_K"):
        raw, values = _k4(x, kind)
    else:
        raw, values = _legacy(x, kind)
    quantize.mins = _legacy.mins.reshape(rows, -1) if kind in ("Q4_1", "Q5_1") else None
    return raw.astype(np.uint8).tobytes(), values.reshape(rows, cols).astype(f32)


# ---- GGUF: read the tensor table, rewrite with some tensors quantized

_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _skip_value(buf, pos, t):
    if t in _FIXED:
        return pos + _FIXED[t]
    if t == 8:
        (n,) = struct.unpack_from("<Q", buf, pos)
        return pos + 8 + n
    et, n = struct.unpack_from("<IQ", buf, pos)
    pos += 12
    for _ in range(n):
        pos = _skip_value(buf, pos, et)
    return pos


def read_gguf(path):
    """(metadata bytes, alignment, [{name, dims, type, data (bytes)}]) of a GGUF v3 file."""
    buf = open(path, "rb").read()
    magic, version, n_t, n_kv = struct.unpack_from("<4sIQQ", buf, 0)
    assert magic == b"GGUF" and version == 3
    pos, align = 24, 32
    for _ in range(n_kv):
        (klen,) = struct.unpack_from("<Q", buf, pos)
        key = buf[pos + 8:pos + 8 + klen].decode()
        (t,) = struct.unpack_from("<I", buf, pos + 8 + klen)
        start = pos + 12 + klen
        if key == "general.alignment":
            (align,) = struct.unpack_from("<I", buf, start)
        pos = _skip_value(buf, start, t)
    meta_end = pos
    infos = []
    for _ in range(n_t):
        (nlen,) = struct.unpack_from("<Q", buf, pos)
        name = buf[pos + 8:pos + 8 + nlen].decode()
        pos += 8 + nlen
        (nd,) = struct.unpack_from("<I", buf, pos)
        dims = list(struct.unpack_from(f"<{nd}Q", buf, pos + 4))
        t, off = struct.unpack_from("<IQ", buf, pos + 4 + 8 * nd)
        pos += 4 + 8 * nd + 12
        infos.append(dict(name=name, dims=dims, type=t, offset=off))
    data0 = (pos + align - 1) // align * align
    for i in infos:
        assert i["type"] == 0, f"{i['name']}: only F32 sources"
        n = int(np.prod(i["dims"]))
        i["data"] = buf[data0 + i["offset"]:data0 + i["offset"] + 4 * n]
    return buf[24:meta_end], n_kv, align, infos


def requantize_gguf(src, dst, plan):
    """Copies src (an all-F32 GGUF) to dst with each tensor named in plan quantized to plan[name].
    Returns {name: dequantized float32 values (rows, cols)} for the quantized ones."""
    meta, n_kv, align, infos = read_gguf(src)
    head = bytearray(struct.pack("<4sIQQ", b"GGUF", 3, len(infos), n_kv) + meta)
    blobs, values, off = [], {}, 0
    for i in infos:
        kind = plan.get(i["name"], "F32")
        raw = i["data"]
        if kind != "F32":
            cols, rows = i["dims"]
            raw, values[i["name"]] = quantize(np.frombuffer(raw, "<f4").reshape(rows, cols), kind)
            if quantize.mins is not None:
                values[i["name"] + ":mins"] = quantize.mins
        name = i["name"].encode()
        head += struct.pack("<Q", len(name)) + name + struct.pack("<I", len(i["dims"]))
        head += struct.pack(f"<{len(i['dims'])}Q", *i["dims"]) + struct.pack("<IQ", TYPES[kind], off)
        blobs.append(raw + b"\0" * (-len(raw) % align))
        off += len(blobs[-1])
    head += b"\0" * (-len(head) % align)
    with open(dst, "wb") as f:
        f.write(bytes(head) + b"".join(blobs))
    return values


def write_gguf(path, tensors, metadata=b"", n_kv=0, align=32):
    """A GGUF v3 file of [(name, kind, float32 matrix)], each quantized to kind (or F32)."""
    head = bytearray(struct.pack("<4sIQQ", b"GGUF", 3, len(tensors), n_kv) + metadata)
    blobs, off = [], 0
    for name, kind, w in tensors:
        raw = quantize(w, kind)[0] if kind != "F32" else np.ascontiguousarray(w, "<f4").tobytes()
        rows, cols = w.shape
        nb = name.encode()
        head += struct.pack("<Q", len(nb)) + nb + struct.pack("<I2QIQ", 2, cols, rows, TYPES[kind], off)
        blobs.append(raw + b"\0" * (-len(raw) % align))
        off += len(blobs[-1])
    head += b"\0" * (-len(head) % align)
    with open(path, "wb") as f:
        f.write(bytes(head) + b"".join(blobs))


if __name__ == "__main__":
    # A fuzz seed (scripts/fuzz.sh): one small tensor of every block type tformer reads.
    import sys

    rng = np.random.default_rng(1)
    write_gguf(sys.argv[1], [(k.lower(), k, rng.standard_normal((1, BLOCK[k])).astype(f32)) for k in BLOCK])
