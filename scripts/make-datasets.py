#!/usr/bin/env python3
"""Build the lab's small image subsets in public/datasets/ from Debian's dataset packages.

    apt-get install -y dataset-fashion-mnist python3-sklearn   # once, as root
    python3 scripts/make-datasets.py

Writes, for each subset, one binary file and one entry of public/datasets/index.json:
  - digits-8x8.bin: all 1,797 images of scikit-learn's 8x8 digits (UCI optdigits test set),
    pixel values 0..16 in one byte each; the first 1,297 form the train pool, the last 500
    the test pool.
  - fashion-14x14.bin: a class-balanced Fashion-MNIST subset, 120 images per class from the
    training file (train pool) and 40 per class from t10k (test pool), each 28x28 image
    average-pooled 2x2 to 14x14 and quantized to 4 bits (0..15, two pixels per byte,
    high nibble first).

File layout (little endian, no header): `count` label bytes, then the pixels of every image
row-major (`count * H * W` values at `bits` bits each). index.json describes each file; the lab
reads them with src/data/images.ts. Only numpy and the standard library are used, so no
scikit-learn import is needed (the digits CSV is read directly). Deterministic: rerunning it
reproduces the same bytes.
"""
import gzip
import json
import os
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
OUT = os.path.join(ROOT, 'public', 'datasets')
DIGITS = '/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz'
FASHION = '/usr/share/datasets/fashion-mnist'
FASHION_CLASSES = ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot']


def need(path, package):
    if not os.path.exists(path):
        sys.exit(f'missing {path}: apt-get install -y {package}')


def digits():
    need(DIGITS, 'python3-sklearn')
    rows = np.loadtxt(DIGITS, delimiter=',', dtype=np.int64)
    images = rows[:, :64].astype(np.uint8)
    labels = rows[:, 64].astype(np.uint8)
    assert images.max() <= 16 and labels.max() == 9
    data = labels.tobytes() + images.tobytes()
    name = 'digits-8x8.bin'
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(data)
    return {
        'title': '8x8 handwritten digits (scikit-learn / UCI optdigits)',
        'file': name,
        'shape': [1, 8, 8],
        'classes': 10,
        'classNames': [str(i) for i in range(10)],
        'count': int(len(labels)),
        'train': int(len(labels)) - 500,
        'test': 500,
        'bits': 8,
        'max': 16,
        'license': 'BSD-3-Clause (scikit-learn); data: UCI ML repository, optdigits (Alpaydin & Kaynak 1998)',
    }


def idx(path):
    with gzip.open(path, 'rb') as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], 'big')
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], 'big') for i in range(magic & 0xFF)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * len(dims)).reshape(dims)


def balanced(labels, per_class):
    picks = [np.flatnonzero(labels == k)[:per_class] for k in range(10)]
    order = np.stack(picks, axis=1).reshape(-1)  # interleave classes: 0,1,...,9,0,1,...
    return order


def fashion():
    for f in ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz']:
        need(os.path.join(FASHION, f), 'dataset-fashion-mnist')
    parts = []
    for split, per_class in [('train', 120), ('t10k', 40)]:
        images = idx(os.path.join(FASHION, f'{split}-images-idx3-ubyte.gz'))
        labels = idx(os.path.join(FASHION, f'{split}-labels-idx1-ubyte.gz'))
        order = balanced(labels, per_class)
        x = images[order].astype(np.float64).reshape(-1, 14, 2, 14, 2).mean(axis=(2, 4))
        q = np.clip(np.rint(x / 255.0 * 15.0), 0, 15).astype(np.uint8).reshape(len(order), -1)
        parts.append((q, labels[order].astype(np.uint8)))
    q = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts])
    flat = q.reshape(-1)
    packed = ((flat[0::2] << 4) | flat[1::2]).astype(np.uint8)
    name = 'fashion-14x14.bin'
    with open(os.path.join(OUT, name), 'wb') as f:
        f.write(labels.tobytes() + packed.tobytes())
    return {
        'title': 'Fashion-MNIST, 14x14 subset (Zalando Research)',
        'file': name,
        'shape': [1, 14, 14],
        'classes': 10,
        'classNames': FASHION_CLASSES,
        'count': int(len(labels)),
        'train': int(len(parts[0][1])),
        'test': int(len(parts[1][1])),
        'bits': 4,
        'max': 15,
        'license': 'MIT (Copyright 2017 Zalando SE)',
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    index = {'digits': digits(), 'fashion': fashion()}
    with open(os.path.join(OUT, 'index.json'), 'w') as f:
        json.dump(index, f, indent=2)
        f.write('\n')
    for k, v in index.items():
        size = os.path.getsize(os.path.join(OUT, v['file']))
        print(f"{k}: {v['count']} images {v['shape']} -> {v['file']} ({size / 1024:.0f} KiB)")


if __name__ == '__main__':
    main()
