"""Output sizes of sliding-window layers, and Keras' 'same' padding rule.

For an input of N pixels, a window of k pixels dilated by d (it then spans
k_eff = (k - 1)·d + 1 pixels), stride s and p pixels of padding on each side::

    N_out = floor((N + 2p - k_eff) / s) + 1

'valid' means p = 0. 'same' means "choose the padding so that N_out = ceil(N/s)";
the total padding is then ``max((ceil(N/s) - 1)·s + k_eff - N, 0)`` and, as in
TensorFlow/Keras, an odd total puts the extra pixel at the bottom/right.
"""
from __future__ import annotations

from dataclasses import dataclass


def effective_kernel(k: int, dilation: int = 1) -> int:
    """Pixels covered by a dilated kernel: (k - 1)·d + 1."""
    return (k - 1) * dilation + 1


def same_padding(n: int, k: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """(before, after) padding that Keras uses for padding='same'."""
    out = -(-n // stride)  # ceil(n / stride)
    total = max((out - 1) * stride + effective_kernel(k, dilation) - n, 0)
    return total // 2, total - total // 2


def output_length(n, k: int, stride: int, padding: str, dilation: int = 1):
    """N_out for one spatial axis (None stays None: unknown sizes propagate)."""
    if n is None:
        return None
    if padding == "same":
        return -(-n // stride)
    return (n - effective_kernel(k, dilation)) // stride + 1


@dataclass(frozen=True)
class WindowGeometry:
    """Everything a conv or pool kernel needs to know about one window sweep.

    ``pads`` is ((top, bottom), (left, right)); ``out_h``/``out_w`` follow the
    formula in this module's docstring.
    """

    in_h: int
    in_w: int
    kernel: tuple[int, int]
    strides: tuple[int, int]
    dilation: tuple[int, int]
    pads: tuple[tuple[int, int], tuple[int, int]]
    out_h: int
    out_w: int

    @classmethod
    def make(cls, in_h, in_w, kernel, strides, padding, dilation=(1, 1), layer="layer", pads=None):
        """Compute the geometry, raising a clear error if the window does not fit.

        ``pads`` ((top, bottom), (left, right)), with padding='valid', sweeps the
        input as if that many zeros surrounded it: a ZeroPadding2D followed by a
        'valid' window, without the padded copy."""
        if pads is not None:
            if padding != "valid":
                raise ValueError(f"{layer}: explicit pads go with padding='valid', got {padding!r}")
            pads = tuple(tuple(int(p) for p in side) for side in pads)
            out_h = output_length(in_h + sum(pads[0]), kernel[0], strides[0], "valid", dilation[0])
            out_w = output_length(in_w + sum(pads[1]), kernel[1], strides[1], "valid", dilation[1])
        else:
            if padding == "same":
                pads = (same_padding(in_h, kernel[0], strides[0], dilation[0]),
                        same_padding(in_w, kernel[1], strides[1], dilation[1]))
            else:
                pads = ((0, 0), (0, 0))
            out_h = output_length(in_h, kernel[0], strides[0], padding, dilation[0])
            out_w = output_length(in_w, kernel[1], strides[1], padding, dilation[1])
        if out_h < 1 or out_w < 1:
            kh, kw = (effective_kernel(k, d) for k, d in zip(kernel, dilation))
            raise ValueError(
                f"{layer}: a {kernel[0]}x{kernel[1]} window (dilation {dilation}, spanning "
                f"{kh}x{kw} pixels) does not fit a {in_h}x{in_w} input with padding="
                f"'{padding}' and strides {strides}: N_out = floor((N + 2p - k)/s) + 1 gives "
                f"{out_h}x{out_w}. Use a smaller kernel/pool, padding='same', or a larger input."
            )
        return cls(in_h, in_w, tuple(kernel), tuple(strides), tuple(dilation), pads, out_h, out_w)

    @property
    def is_pointwise(self) -> bool:
        """A 1x1 window, stride 1, no padding: each output pixel is one input
        pixel, so im2col of x is x itself seen as (pixels, channels)."""
        return self.kernel == (1, 1) and self.strides == (1, 1) and self.pads == ((0, 0), (0, 0))

    @property
    def is_2x2_tiling(self) -> bool:
        """2x2 windows, stride 2, no padding or dilation: the windows tile the
        image, each input cell in at most one window (the common max pool)."""
        return (self.kernel == (2, 2) and self.strides == (2, 2) and self.dilation == (1, 1)
                and self.pads == ((0, 0), (0, 0)))

    def as_ints(self) -> tuple[int, ...]:
        """The sweep as the plain ints compiled loops take: kh, kw, sh, sw, dh,
        dw, top and left padding, out_h, out_w."""
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.strides, self.dilation
        return kh, kw, sh, sw, dh, dw, self.pads[0][0], self.pads[1][0], self.out_h, self.out_w
