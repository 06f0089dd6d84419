#!/usr/bin/env python3
"""Writes the seed corpus of every fuzz target into fuzz/corpus/<target>/.

Run from anywhere: python3 fuzz/make_seeds.py. Standard library only. Each seed is the
target's option byte(s) (see the doc comment of each target) followed by a file.
The seeds are deterministic; rerunning rewrites the same files.
"""

import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---------------------------------------------------------------- csv
# byte 0: flags (bit0 f64, bit1 features reader, bits2-3 label column, bit4 trickle,
# bit5 n_features None), byte 1: k (low 3 bits) and reader step.
CSV = {
    "valid-basic": (0x00, 0x00, b"a,b,label\n1,2,x\n3,4,y\n-1.5,1e-3,x\n"),
    "valid-f64-bom-crlf": (0x01, 0x00, b"\xef\xbb\xbfsepal,petal,species\r\n5.1,3.5,setosa\r\n4.9,3.0,virginica\r\n"),
    "valid-quoted": (0x00, 0x00, b'"x, 1","say ""hi""",label\n"1",2,"a, b"\n 3 , 4 ,c\n\n5,6,"a, b"\n'),
    "valid-numeric-labels": (0x01, 0x00, b"f0,f1,y\n0.5,1,1.0\n0.25,2,+1\n1,3,-1\n2,4,0.50\n"),
    "valid-label-index0": (0x04, 0x00, b"cls,a,b\n0,1,2\n1,3,4\n"),
    "valid-label-name": (0x08, 0x00, b"a,label,b\n1,x,2\n3,y,4\n"),
    "valid-features-nf2": (0x02, 0x02, b"a,b,label\n1,2,x\n3,4,y\n"),
    "valid-features-none": (0x23, 0x00, b"a,b,c\n1,2,3\n4,5,6\n"),
    "valid-features-named-y": (0x2e, 0x00, b"y,a,b\n1,2,3\n0,5,6\n"),
    "valid-trickle": (0x11, 0x18, b"a,b,label\n1,2,x\n3,4,y\n"),
    "bad-ragged": (0x00, 0x00, b"a,b,label\n1,2,x\n3,y\n"),
    "bad-nan-inf": (0x00, 0x00, b"a,b,label\nNaN,2,x\n3,inf,y\n"),
    "bad-overflow-f32": (0x00, 0x00, b"a,b,label\n1e39,2,x\n"),
    "bad-empty": (0x00, 0x00, b""),
    "bad-header-only": (0x00, 0x00, b"a,b,label\n"),
    "bad-unterminated-quote": (0x00, 0x00, b'a,b,label\n"1,2,x\n'),
    "bad-not-utf8": (0x00, 0x00, b"a,b,label\n1,\xff\xfe,x\n"),
    "bad-empty-label": (0x00, 0x00, b"a,b,label\n1,2,\n"),
    "bad-text-after-quote": (0x00, 0x00, b'a,b,label\n"1"x,2,y\n'),
}

# ---------------------------------------------------------------- libsvm
# byte 0: bit0 f64, bit1 trickle, bit2 n_features = Some(bits 3-7).
LIBSVM = {
    "valid-basic": (0x00, b"1 1:0.5 3:2\n-1 2:1 # a comment\n+1 qid:3 1:-1e-3\n"),
    "valid-string-labels": (0x01, b"cat 1:1 2:2\ndog 2:3\n# only a comment\n\ncat 3:1\n"),
    "valid-nfeatures": (0x04 | (5 << 3), b"0 1:1 5:2\n1 2:1\n"),
    "valid-trickle": (0x03 | (2 << 3), b"2 4:1.5 1:0.25\n3 2:1\n"),
    "bad-index-zero": (0x00, b"1 0:1\n"),
    "bad-duplicate": (0x00, b"1 2:1 2:3\n"),
    "bad-huge-index": (0x00, b"1 99999999999999999999999:1\n"),
    "bad-beyond-nfeatures": (0x04 | (2 << 3), b"1 3:1\n"),
    "bad-token": (0x00, b"1 2=3\n"),
    "bad-value": (0x00, b"1 2:nan 3:1e39\n"),
    "bad-no-features": (0x00, b"1\n-1\n"),
}


# ---------------------------------------------------------------- npy
def npy(descr, shape, data, fortran=False, version=(1, 0), header_override=None, pad=True):
    if len(shape) == 1:
        shape_s = "(%d,)" % shape[0]
    else:
        shape_s = "(" + ", ".join(str(v) for v in shape) + ")"
    h = header_override or (
        "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, "True" if fortran else "False", shape_s)
    )
    h = h.encode()
    major = version[0]
    pre = 10 if major == 1 else 12
    if pad:
        total = pre + len(h) + 1
        h += b" " * ((64 - total % 64) % 64) + b"\n"
    out = b"\x93NUMPY" + bytes(version)
    out += struct.pack("<H", len(h)) if major == 1 else struct.pack("<I", len(h))
    return out + h + data


f8 = struct.pack("<6d", 1.0, -2.5, 3.25, 0.0, 1e-300, 7.0)
f4 = struct.pack("<6f", 1.0, -2.5, 3.25, 0.0, 1e-30, 7.0)
# byte 0: bits 0-1: 0 matrix f32, 1 matrix f64, 2 labels; bit 2: streaming; bits 3-7: step-1.
NPY = {
    "valid-f8-2x3": (0x01, npy("<f8", (2, 3), f8)),
    "valid-f4-3x2-as-f32": (0x00, npy("<f4", (3, 2), f4)),
    "valid-f8-stream": (0x05 | (6 << 3), npy("<f8", (3, 2), f8)),
    "valid-v2": (0x01, npy("<f8", (6, 1), f8, version=(2, 0))),
    "valid-labels-i8": (0x02, npy("<i8", (3,), struct.pack("<3q", 0, 2, -1))),
    "valid-labels-u1": (0x02, npy("|u1", (4,), bytes([0, 1, 1, 255]))),
    "valid-labels-i2-col": (0x06, npy("<i2", (2, 1), struct.pack("<2h", -3, 7))),
    "bad-shape-too-big": (0x01, npy("<f8", (1000000, 1000000), f8)),
    "bad-shape-overflow": (0x01, npy("<f8", (2**40, 2**40), f8)),
    "bad-truncated": (0x01, npy("<f8", (2, 3), f8[:20])),
    "bad-trailing": (0x01, npy("<f8", (1, 3), f8)),
    "bad-fortran": (0x01, npy("<f8", (2, 3), f8, fortran=True)),
    "bad-big-endian": (0x01, npy(">f8", (2, 3), f8)),
    "bad-dtype": (0x01, npy("<i4", (2, 3), f8[:24])),
    "bad-1d-matrix": (0x01, npy("<f8", (6,), f8)),
    "bad-nan": (0x01, npy("<f8", (1, 2), struct.pack("<2d", float("nan"), float("inf")))),
    "bad-f8-overflows-f32": (0x00, npy("<f8", (1, 1), struct.pack("<d", 1e39))),
    "bad-magic": (0x01, b"\x93NUMPZ\x01\x00" + b"\x00" * 8),
    "bad-version": (0x01, npy("<f8", (1, 1), f8[:8], version=(9, 0))),
    "bad-header-syntax": (0x01, npy("", (), b"", header_override="{'descr': '<f8', 'shape': (1, [2, {3: 4}]")),
    "bad-labels-float": (0x02, npy("<f8", (2,), f8[:16])),
    "bad-labels-u8-huge": (0x02, npy("<u8", (1,), struct.pack("<Q", 2**64 - 1))),
}


# ---------------------------------------------------------------- model_file
class Fnv:
    def __init__(self):
        self.h = 0xCBF29CE484222325

    def bytes(self, b):
        for x in b:
            self.h ^= x
            self.h = (self.h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF

    def u64(self, v):
        self.bytes(struct.pack("<Q", v))

    def str(self, s):
        b = s.encode()
        self.u64(len(b))
        self.bytes(b)

    def f64(self, v):
        self.bytes(struct.pack("<d", v))


def model_json(precision, classes, weights, bias, scaler=None, version=1, checksum=None, training=None):
    h = Fnv()
    h.str("multilogit")
    h.u64(version)
    h.str(precision)
    h.u64(len(weights))
    h.u64(len(classes))
    for c in classes:
        h.str(c)
    for row in weights:
        h.u64(len(row))
        for v in row:
            h.f64(v)
    h.u64(len(bias))
    for v in bias:
        h.f64(v)
    if scaler is None:
        h.bytes(b"\x00")
    else:
        h.bytes(b"\x01")
        for part in (scaler["mean"], scaler["scale"]):
            h.u64(len(part))
            for v in part:
                h.f64(v)
    h.bytes(b"\x00")  # training record: only null is checksummed correctly here
    cs = checksum or "fnv1a64:%016x" % h.h

    def num(v):
        return repr(float(v)) if v != int(v) or abs(v) >= 1e16 else "%.1f" % v

    def arr(a):
        return "[" + ", ".join(num(v) for v in a) + "]"

    parts = [
        '"format": "multilogit"',
        '"version": %d' % version,
        '"precision": "%s"' % precision,
        '"n_features": %d' % len(weights),
        '"classes": [' + ", ".join('"%s"' % c for c in classes) + "]",
        '"weights": [' + ", ".join(arr(r) for r in weights) + "]",
        '"bias": ' + arr(bias),
        '"scaler": ' + ("null" if scaler is None else '{"mean": %s, "scale": %s}' % (arr(scaler["mean"]), arr(scaler["scale"]))),
        '"training": ' + (training or "null"),
        '"checksum": "%s"' % cs,
    ]
    return ("{\n  " + ",\n  ".join(parts) + "\n}\n").encode()


W = [[0.5, -0.25, 0.125], [1.0, 0.0, -1.0]]
B = [0.5, 0.25, -0.375]
TRAINING = (
    '{"learning_rate": 0.1, "epochs": 100, "batch_size": null, "seed": 0, "tol": null, '
    '"final_loss": 0.35, "epochs_run": 100, "stopped_by_tol": false, "kernel": "scalar", '
    '"n_train": 150, "train_accuracy": 0.9, "test_fraction": null, "n_test": null, '
    '"test_accuracy": null, "label_column": "species", "feature_names": ["a", "b"]}'
)
DUMMY = "fnv1a64:0000000000000000"
# byte 0: bit 0 = repair the checksum before loading.
MODEL = {
    "valid-f64": (0x00, model_json("f64", ["setosa", "versicolor", "virginica"], W, B)),
    "valid-f32-scaler": (0x00, model_json("f32", ["0", "1", "2"], W, B, scaler={"mean": [5.5, 3.0], "scale": [0.75, 0.5]})),
    "valid-one-class": (0x00, model_json("f64", ["only"], [[2.0]], [0.0])),
    "repair-training": (0x01, model_json("f64", ["a", "b", "c"], W, B, checksum=DUMMY, training=TRAINING)),
    "valid-huge-weights": (0x00, model_json("f32", ["a", "b"], [[2.0**127, -2.0**127]], [0.0, 0.0])),
    "repair-tiny-scale": (0x01, model_json("f64", ["a", "b"], [[1.0, -1.0]], [0.0, 0.0], scaler={"mean": [0.0], "scale": [1e-300]}, checksum=DUMMY)),
    "bad-checksum": (0x00, model_json("f64", ["a", "b", "c"], W, B, checksum=DUMMY)),
    "bad-future-version": (0x00, model_json("f64", ["a", "b", "c"], W, B, version=2)),
    "bad-shape": (0x01, model_json("f64", ["a", "b"], W, B, checksum=DUMMY)),
    "bad-duplicate-class": (0x01, model_json("f64", ["a", "a", "b"], W, B, checksum=DUMMY)),
    "bad-truncated": (0x00, model_json("f64", ["a", "b", "c"], W, B)[:150]),
    "bad-not-json": (0x00, b"multilogit model\n"),
    "bad-other-format": (0x00, b'{"format": "sklearn", "version": 1, "precision": "f64"}'),
}

# ---------------------------------------------------------------- fit_predict
# Decoded by arbitrary::Unstructured: any bytes are a valid input.
FIT = {}
rng = random.Random(5)
for size in (0, 16, 64, 256, 1024, 4096):
    FIT["random-%d" % size] = rng.randbytes(size)
FIT["zeros-512"] = bytes(512)
FIT["ones-512"] = b"\xff" * 512
FIT["ramp-2048"] = bytes(i % 251 for i in range(2048))


def main():
    for name, (flags, num, body) in CSV.items():
        put("csv", name, bytes([flags, num]) + body)
    for name, (opts, body) in LIBSVM.items():
        put("libsvm", name, bytes([opts]) + body)
    for name, (opts, body) in NPY.items():
        put("npy", name, bytes([opts]) + body)
    for name, (opts, body) in MODEL.items():
        put("model_file", name, bytes([opts]) + body)
    for name, body in FIT.items():
        put("fit_predict", name, body)


if __name__ == "__main__":
    main()
