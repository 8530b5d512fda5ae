#!/usr/bin/env python3
"""Copy an ONNX model without its weights or nodes: only what trtserve's
repository reads (IR version, producer, opsets, metadata, the graph's
inputs and outputs). The simulated backends need nothing else, so a
28 MB export becomes a few KB for the device bundle. Standard library
only: protobuf's wire format is walked by hand.

usage: onnx-header.py IN.onnx OUT.onnx
"""
import sys


def varint(b, i):
    n = shift = 0
    while True:
        c = b[i]
        i += 1
        n |= (c & 0x7F) << shift
        if c < 0x80:
            return n, i
        shift += 7


def put_varint(n):
    out = bytearray()
    while True:
        c = n & 0x7F
        n >>= 7
        if n:
            out.append(c | 0x80)
        else:
            out.append(c)
            return bytes(out)


def fields(b):
    """Yields (field number, wire type, raw bytes of the whole field, payload)."""
    i = 0
    while i < len(b):
        start = i
        key, i = varint(b, i)
        num, typ = key >> 3, key & 7
        if typ == 0:
            _, i = varint(b, i)
            payload = None
        elif typ == 1:
            i += 8
            payload = None
        elif typ == 2:
            n, i = varint(b, i)
            payload = b[i:i + n]
            i += n
        elif typ == 5:
            i += 4
            payload = None
        else:
            raise ValueError("unsupported wire type %d at %d" % (typ, start))
        yield num, typ, b[start:i], payload


def name_of(msg, field):
    for num, typ, _, payload in fields(msg):
        if num == field and typ == 2:
            return payload.decode()
    return None


# onnx.proto: ModelProto.graph = 7; GraphProto.node = 1, initializer = 5,
# input = 11, output = 12, value_info = 13, sparse_initializer = 15;
# TensorProto.name = 8; ValueInfoProto.name = 1.
def strip_graph(g):
    weights = set()
    for num, typ, _, payload in fields(g):
        if num == 5 and typ == 2:
            weights.add(name_of(payload, 8))
    out = bytearray()
    for num, typ, raw, payload in fields(g):
        if num in (1, 5, 13, 15):
            continue
        if num == 11 and typ == 2 and name_of(payload, 1) in weights:
            continue  # old exports list weights as inputs too
        out += raw
    return bytes(out)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    data = open(sys.argv[1], "rb").read()
    out = bytearray()
    graphs = 0
    for num, typ, raw, payload in fields(data):
        if num == 7 and typ == 2:
            g = strip_graph(payload)
            out += put_varint(7 << 3 | 2) + put_varint(len(g)) + g
            graphs += 1
        else:
            out += raw
    if graphs != 1:
        sys.exit("%s: %d graphs, want 1: not an ONNX model?" % (sys.argv[1], graphs))
    open(sys.argv[2], "wb").write(out)


if __name__ == "__main__":
    main()
