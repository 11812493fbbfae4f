#!/usr/bin/python3
"""
Torchvision-style models for `npm run bench:scale` (issue 11), with random weights.

Run with Debian's system Python (packages python3-torch, python3-torchvision, python3-onnx, python3-numpy):

    /usr/bin/python3 bench/models/make_torchvision.py [OUT_DIR] [--models a,b] [--opset18] [--force]

OUT_DIR defaults to /tmp/snnc-scale; it must not be inside the repository (nothing large is committed).
For each model it writes

    <name>.onnx            opset 13, torch.onnx.export (TorchScript exporter, eval mode), dynamic batch axis N
    <name>_op18.onnx       the same at opset 18, with --opset18 (needs torch >= 2.0; skipped with a note before)
    <name>_calib_x.npy     16 calibration images, float32 [16, 3, H, W], already normalised (ImageNet mean/std)
    <name>_test_x.npy      2 test images, float32 [2, 3, H, W], normalised the same way
    <name>_test_y.npy      their labels, int64 [2]

and manifest.json (one entry per model: files, input shape, classes, parameters, whether the model has MaxPool
and so needs `snnc compile --maxpool avg`). The models:

    resnet18_224   torchvision resnet18, 224x224, 1000 classes (MaxPool kept: compile with --maxpool avg)
    mobilenet_v2_224  torchvision mobilenet_v2, 224x224, 1000 classes
    resnet34_32    torchvision resnet34, 32x32 input, 1000 classes (MaxPool kept: compile with --maxpool avg)
    vgg16_32       torchvision vgg16_bn features in the CIFAR form of the conversion papers: every MaxPool2d
                   replaced by AvgPool2d(2), 32x32 input (1x1x512 after the last pool), one Linear(512, 10) head

Weights are torchvision's own random initialisation; BatchNorm statistics are re-drawn so the network looks
trained (running_mean ~ N(0, 0.1), running_var ~ U(0.5, 2), gamma ~ U(0.9, 1.1), beta ~ N(0, 0.1)).
Everything is seeded per model, so a re-run gives the same files (on the same torch build and CPU).
"""
import argparse
import inspect
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torchvision

MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 3, 1, 1)
STD = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 3, 1, 1)
CALIB = 16
TEST = 2


def vgg16_cifar():
    """torchvision vgg16_bn features, MaxPool2d -> AvgPool2d(2), one Linear(512, 10) head (32x32 input)."""
    features = torchvision.models.vgg16_bn(weights=None).features
    layers = [nn.AvgPool2d(2) if isinstance(m, nn.MaxPool2d) else m for m in features]
    return nn.Sequential(nn.Sequential(*layers), nn.Flatten(1), nn.Linear(512, 10))


# name -> (constructor, input size, classes, seed)
MODELS = {
    'resnet18_224': (lambda: torchvision.models.resnet18(weights=None), 224, 1000, 18),
    'mobilenet_v2_224': (lambda: torchvision.models.mobilenet_v2(weights=None), 224, 1000, 2),
    'resnet34_32': (lambda: torchvision.models.resnet34(weights=None), 32, 1000, 34),
    'vgg16_32': (vgg16_cifar, 32, 10, 16),
}


def redraw_batchnorm(model, gen):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.5)
                m.weight.copy_(1 + (torch.rand(c, generator=gen) * 0.2 - 0.1))
                m.bias.copy_(torch.randn(c, generator=gen) * 0.1)


def images(rng, n, size):
    """Uniform random pixels in [0, 1], normalised with the ImageNet mean and std, float32 [n, 3, size, size]."""
    x = rng.random((n, 3, size, size), dtype=np.float32)
    return np.ascontiguousarray((x - MEAN) / STD, dtype=np.float32)


def export(model, example, path, opset):
    kwargs = dict(
        opset_version=opset,
        input_names=['input'],
        output_names=['logits'],
        dynamic_axes={'input': {0: 'N'}, 'logits': {0: 'N'}},
        do_constant_folding=True,
    )
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        kwargs['dynamo'] = False  # torch >= 2.5: keep the TorchScript exporter
    torch.onnx.export(model, example, path, **kwargs)


def op_histogram(path):
    import onnx
    m = onnx.load(path, load_external_data=False)
    hist = {}
    for n in m.graph.node:
        hist[n.op_type] = hist.get(n.op_type, 0) + 1
    return dict(sorted(hist.items(), key=lambda kv: -kv[1]))


def make(name, out, opset18):
    ctor, size, classes, seed = MODELS[name]
    torch.manual_seed(seed)
    model = ctor()
    gen = torch.Generator().manual_seed(1000 + seed)
    redraw_batchnorm(model, gen)
    model.eval()
    has_maxpool = any(isinstance(m, nn.MaxPool2d) for m in model.modules())
    params = sum(p.numel() for p in model.parameters())

    rng = np.random.default_rng(seed)
    calib = images(rng, CALIB, size)
    test_x = images(rng, TEST, size)
    test_y = rng.integers(0, classes, size=TEST, dtype=np.int64)
    files = {
        'onnx': f'{name}.onnx',
        'calib_x': f'{name}_calib_x.npy',
        'test_x': f'{name}_test_x.npy',
        'test_y': f'{name}_test_y.npy',
    }
    np.save(os.path.join(out, files['calib_x']), calib)
    np.save(os.path.join(out, files['test_x']), test_x)
    np.save(os.path.join(out, files['test_y']), test_y)

    example = torch.from_numpy(test_x[:1])
    t0 = time.time()
    export(model, example, os.path.join(out, files['onnx']), 13)
    export_s = time.time() - t0
    notes = []
    if opset18:
        try:
            export(model, example, os.path.join(out, f'{name}_op18.onnx'), 18)
            files['onnx_op18'] = f'{name}_op18.onnx'
        except Exception as e:  # torch 1.13's TorchScript exporter stops at opset 17
            notes.append(f'opset 18 not written: {str(e).splitlines()[0]}')
    with torch.no_grad():
        logits = model(torch.from_numpy(test_x)).numpy()
    entry = {
        'files': files,
        'input_shape': [3, size, size],
        'classes': classes,
        'params': params,
        'maxpool': has_maxpool,
        'opset': 13,
        'seed': seed,
        'ops': op_histogram(os.path.join(out, files['onnx'])),
        'test_logits_absmax': float(np.abs(logits).max()),
        'torch': torch.__version__,
        'torchvision': torchvision.__version__,
    }
    if notes:
        entry['notes'] = notes
    size_mb = os.path.getsize(os.path.join(out, files['onnx'])) / 1e6
    print(f'{name}: {params / 1e6:.2f} M params, input 3x{size}x{size}, {classes} classes, '
          f'{"MaxPool (compile with --maxpool avg)" if has_maxpool else "no MaxPool"}; '
          f'wrote {files["onnx"]} ({size_mb:.1f} MB, export {export_s:.1f} s), '
          f'{files["calib_x"]} [{CALIB}], {files["test_x"]} [{TEST}], {files["test_y"]}', flush=True)
    for note in notes:
        print(f'  {note}', flush=True)
    return entry


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('out', nargs='?', default='/tmp/snnc-scale', help='output folder (default /tmp/snnc-scale)')
    ap.add_argument('--models', default=','.join(MODELS), help=f'comma-separated subset of {",".join(MODELS)}')
    ap.add_argument('--opset18', action='store_true', help='also export <name>_op18.onnx at opset 18')
    ap.add_argument('--force', action='store_true', help='rewrite models that are already there')
    args = ap.parse_args()

    out = os.path.abspath(args.out)
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
    if out == repo or out.startswith(repo + os.sep):
        sys.exit(f'make_torchvision.py: {out} is inside the repository; write the models elsewhere (default /tmp/snnc-scale)')
    names = [n for n in args.models.split(',') if n]
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        sys.exit(f'make_torchvision.py: unknown model(s) {", ".join(unknown)}; known: {", ".join(MODELS)}')
    os.makedirs(out, exist_ok=True)
    torch.set_num_threads(min(2, os.cpu_count() or 1))

    manifest_path = os.path.join(out, 'manifest.json')
    manifest = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as f:
            manifest = json.load(f)
    for name in names:
        entry = manifest.get(name)
        present = entry and all(os.path.exists(os.path.join(out, p)) for p in entry['files'].values())
        if present and not args.force and (not args.opset18 or 'onnx_op18' in entry['files'] or entry.get('notes')):
            print(f'{name}: already in {out} (--force rewrites it)', flush=True)
            continue
        manifest[name] = make(name, out, args.opset18)
        with open(manifest_path + '.tmp', 'w') as f:
            json.dump(manifest, f, indent=2)
        os.replace(manifest_path + '.tmp', manifest_path)
    print(f'wrote {manifest_path}', flush=True)


if __name__ == '__main__':
    main()
