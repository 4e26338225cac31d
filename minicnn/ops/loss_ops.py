"""Fused, numerically stable cross-entropies computed from logits.

Computing softmax and then log(softmax) separately loses precision and can
produce log(0). From logits z the same quantity is

    -log softmax(z)_t = logsumexp(z) - z_t,

and its gradient with respect to z is simply softmax(z) - onehot(t). The binary
case is the same idea with the sigmoid: for logit x and target y,

    loss = max(x, 0) - x·y + log(1 + exp(-|x|)),   d loss / dx = sigmoid(x) - y.
"""
from __future__ import annotations

from ..autograd import Function
from ..backend import get_array_module


def _log_softmax(z, axis=-1):
    xp = get_array_module(z)
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))


class SparseSoftmaxCrossEntropy(Function):
    """Per-sample -log softmax(logits)[label]. Inputs: logits (..., K), int labels (...)."""

    def forward(self, logits, labels):
        xp = get_array_module(logits)
        logp = _log_softmax(logits)
        self.logp, self.labels = logp, labels
        return -xp.take_along_axis(logp, labels[..., None].astype(xp.int64), axis=-1)[..., 0]

    def backward(self, g):
        xp = get_array_module(g)
        grad = xp.exp(self.logp)
        onehot = xp.arange(grad.shape[-1]) == self.labels[..., None]
        grad -= onehot
        return grad * g[..., None], None


class SoftmaxCrossEntropy(Function):
    """Per-sample -Σ t·log softmax(logits). Inputs: logits (..., K), targets (..., K)."""

    def forward(self, logits, targets):
        logp = _log_softmax(logits)
        self.logp, self.targets = logp, targets
        return -(targets * logp).sum(axis=-1)

    def backward(self, g):
        xp = get_array_module(g)
        p = xp.exp(self.logp)
        grad = p * self.targets.sum(axis=-1, keepdims=True) - self.targets
        return grad * g[..., None], None


class SigmoidCrossEntropy(Function):
    """Elementwise binary cross-entropy from logits. Inputs: logits, targets (same shape)."""

    def forward(self, x, y):
        xp = get_array_module(x)
        self.x, self.y = x, y
        return xp.maximum(x, 0) - x * y + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, g):
        xp = get_array_module(g)
        z = xp.exp(-xp.abs(self.x))
        sig = xp.where(self.x >= 0, 1 / (1 + z), z / (1 + z)).astype(g.dtype, copy=False)
        return g * (sig - self.y), None
