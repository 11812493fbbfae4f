#!/usr/bin/python3
"""Generate the tiny_cnn test fixture of snnc (dev time only; the outputs are committed).

Run from the repository root with Debian's system Python (python3-torch 1.13, python3-onnx, python3-numpy;
no downloads, no sklearn):

    /usr/bin/python3 fixtures-src/make_tiny_cnn.py

A small CNN with what PyTorch users write and snnc must take end to end (`snnc run`): nn.AvgPool2d (exported
at opset 13 as a constant all-zero Pad + AveragePool), a residual add, a torch.cat along channels, and a
global-average-pool (AdaptiveAvgPool2d(1)) → Linear head after a 1×1 expansion conv whose 72 × 8 × 8 = 4608
neurons exceed a Loihi core's 4096 input axons (the classifier, composed with the pools, gathers all of them).
Trained for a few seconds on a synthetic, seeded 16×16 shape-classification task.

Writes into test/fixtures/:
  tiny_cnn.onnx               the model (input `input` [batch, 1, 16, 16] = pixel / 255, output `logits`)
  tiny_cnn_calib_x.npy        uint8 [128, 1, 16, 16]  training-distribution samples for threshold balancing
  tiny_cnn_test_x.npy         uint8 [256, 1, 16, 16]  held-out test samples
  tiny_cnn_test_y.npy         int64 [256]             their labels
  tiny_cnn_ref_logits.npy     float32 [256, 8]        PyTorch eval-mode logits of the test samples (x / 255)
and prints the numbers for test/fixtures/README.md.
"""
import os
import time

import numpy as np
import onnx
import torch
import torch.nn as nn

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'test', 'fixtures')
SIZE = 16
CLASSES = ['horizontal bar', 'vertical bar', 'diagonal \\', 'diagonal /', 'square outline', 'filled square', 'plus', 'ring']
N_TRAIN, N_CALIB, N_TEST = 4000, 128, 256
EPOCHS = 12


# ---------------------------------------------------------------- data: seeded synthetic shapes
def draw(kind, rng):
    """One 16×16 image in [0, 1]: a shape of random position, size, thickness and intensity, plus noise."""
    img = np.zeros((SIZE, SIZE), np.float32)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    s = rng.randint(5, 12)                 # extent
    t = rng.randint(1, 3)                  # thickness
    r0 = rng.randint(0, SIZE - s + 1)
    c0 = rng.randint(0, SIZE - s + 1)
    inside = (yy >= r0) & (yy < r0 + s) & (xx >= c0) & (xx < c0 + s)
    cy, cx = r0 + (s - 1) / 2, c0 + (s - 1) / 2
    if kind == 0:
        m = inside & (np.abs(yy - cy) < t / 2 + 0.01)
    elif kind == 1:
        m = inside & (np.abs(xx - cx) < t / 2 + 0.01)
    elif kind == 2:
        m = inside & (np.abs((yy - r0) - (xx - c0)) < t)
    elif kind == 3:
        m = inside & (np.abs((yy - r0) + (xx - c0) - (s - 1)) < t)
    elif kind == 4:
        m = inside & ((yy < r0 + t) | (yy >= r0 + s - t) | (xx < c0 + t) | (xx >= c0 + s - t))
    elif kind == 5:
        m = inside
    elif kind == 6:
        m = inside & ((np.abs(yy - cy) < t / 2 + 0.01) | (np.abs(xx - cx) < t / 2 + 0.01))
    else:
        d = np.sqrt((yy - cy) ** 2 + (xx - cx) ** 2)
        m = np.abs(d - (s - 1) / 2) < t * 0.75
    img[m] = rng.uniform(0.4, 1.0)
    img += rng.normal(0, 0.2, img.shape).astype(np.float32)
    # clutter: a few bright pixels anywhere
    for _ in range(rng.randint(0, 10)):
        img[rng.randint(SIZE), rng.randint(SIZE)] = rng.uniform(0.4, 1.0)
    return np.clip(img, 0, 1)


def dataset(n, seed):
    rng = np.random.RandomState(seed)
    y = np.arange(n) % len(CLASSES)
    rng.shuffle(y)
    x = np.stack([draw(k, rng) for k in y])[:, None]
    return np.round(x * 255).astype(np.uint8), y.astype(np.int64)


# ---------------------------------------------------------------- model
def conv_bn(cin, cout, k):
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout))


class TinyCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = conv_bn(1, 8, 3)
        self.res_a = conv_bn(8, 8, 3)
        self.res_b = conv_bn(8, 8, 3)
        self.pool = nn.AvgPool2d(2)
        self.cat_1x1 = conv_bn(8, 16, 1)
        self.cat_3x3 = conv_bn(8, 16, 3)
        self.expand = conv_bn(32, 72, 1)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(72, len(CLASSES))
        self.relu = nn.ReLU()

    def forward(self, x):
        x = self.relu(self.stem(x))                               # [8, 16, 16]
        x = self.relu(x + self.res_b(self.relu(self.res_a(x))))   # residual add, [8, 16, 16]
        x = self.pool(x)                                          # AvgPool2d(2): Pad + AveragePool, [8, 8, 8]
        x = torch.cat([self.relu(self.cat_1x1(x)), self.relu(self.cat_3x3(x))], dim=1)  # [32, 8, 8]
        x = self.relu(self.expand(x))                             # [72, 8, 8] = 4608 neurons
        x = torch.flatten(self.gap(x), 1)                         # GlobalAveragePool + Flatten, [72]
        return self.fc(x)


def main():
    t0 = time.time()
    torch.manual_seed(0)
    xtr, ytr = dataset(N_TRAIN, 1)
    xcal, _ = dataset(N_CALIB, 2)
    xte, yte = dataset(N_TEST, 3)
    f = lambda a: torch.from_numpy(a.astype(np.float32) / 255)
    Xtr, Ytr, Xte, Yte = f(xtr), torch.from_numpy(ytr), f(xte), torch.from_numpy(yte)

    model = TinyCnn()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, EPOCHS)
    g = torch.Generator().manual_seed(0)
    for epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(N_TRAIN, generator=g)
        for i in range(0, N_TRAIN, 64):
            idx = perm[i:i + 64]
            loss = nn.functional.cross_entropy(model(Xtr[idx]), Ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(Xte).argmax(1) == Yte).float().mean().item()
        print(f'epoch {epoch + 1}: loss {loss.item():.3f}, test accuracy {100 * acc:.2f} %')

    model.eval()
    path = os.path.join(OUT, 'tiny_cnn.onnx')
    torch.onnx.export(model, Xte[:1], path, opset_version=13, input_names=['input'], output_names=['logits'],
                      dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}},
                      training=torch.onnx.TrainingMode.EVAL, export_params=True)
    m = onnx.load(path)
    onnx.checker.check_model(m)
    with torch.no_grad():
        logits = model(Xte).numpy().astype(np.float32)
    correct = int((logits.argmax(1) == yte).sum())
    np.save(os.path.join(OUT, 'tiny_cnn_calib_x.npy'), np.ascontiguousarray(xcal))
    np.save(os.path.join(OUT, 'tiny_cnn_test_x.npy'), np.ascontiguousarray(xte))
    np.save(os.path.join(OUT, 'tiny_cnn_test_y.npy'), np.ascontiguousarray(yte))
    np.save(os.path.join(OUT, 'tiny_cnn_ref_logits.npy'), np.ascontiguousarray(logits))

    ops = {}
    for n in m.graph.node:
        ops[n.op_type] = ops.get(n.op_type, 0) + 1
    params = sum(p.numel() for p in model.parameters())
    print(f'ANN test accuracy {100 * correct / N_TEST:.2f} % ({correct}/{N_TEST}); {params} parameters; '
          f'{os.path.getsize(path)} bytes; {time.time() - t0:.1f} s')
    print('ONNX ops: ' + ', '.join(f'{k}×{v}' if v > 1 else k for k, v in sorted(ops.items())))


if __name__ == '__main__':
    main()
