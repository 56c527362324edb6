"""The self-supervised task the label-free feature network learns (gan/measure/rotation_features.py): which way an
image was turned and, on colour images, in which order its colour channels were put back.

    x_in, y = pretext_batch(x, g)            # x float (B, C, S, S) -> (4B, C, S, S) inputs, (4B,) labels
    rot, order = split_label(y, nc)          # label = rotation * len(colour_orders(nc)) + colour order

Rotation alone (Gidaris et al. 2018) is easy on clip art and icons: an object centred on a flat white ground is
told upright from its outline alone, and the network learns little that separates a heavily blurred image from
noise. Asking also which of the 6 orders of R, G, B an input is shown in (24 classes on colour images; grey
images have one order, so 4) makes it look at colour and its placement, and each input is moved by up to SHIFT
pixels (edge pixels repeated), so that where the object sits in the frame cannot answer either question.
"""

from __future__ import annotations

import itertools

import torch

SHIFT = 4  # largest random translation in pixels, each axis
_RGB_ORDERS = tuple(itertools.permutations(range(3)))  # (0, 1, 2) first: the image as it is


def colour_orders(nc: int) -> tuple[tuple[int, ...], ...]:
    """The channel orders the task tells apart: the 6 permutations of RGB; a grey image only its own."""
    return _RGB_ORDERS if nc == 3 else (tuple(range(nc)),)


def num_classes(nc: int) -> int:
    """4 rotations x the colour orders: 24 for RGB, 4 for grey."""
    return 4 * len(colour_orders(nc))


def split_label(y: torch.Tensor, nc: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Labels (N,) -> (quarter turns 0-3 (N,), colour order index (N,))."""
    n = len(colour_orders(nc))
    return y // n, y % n


def inverse_order(k: int, nc: int) -> int:
    """The index of the colour order that puts channels reordered by order k back."""
    order = colour_orders(nc)[k]
    return colour_orders(nc).index(tuple(order.index(c) for c in range(nc)))


def reorder_colours(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """x (B, C, S, S), k (B,) colour order indices -> out[b, i] = x[b, colour_orders(C)[k[b]][i]]."""
    orders = torch.tensor(colour_orders(x.shape[1]), device=x.device)[k]  # (B, C)
    return torch.gather(x, 1, orders[:, :, None, None].expand_as(x))


def translate(x: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """x (B, C, H, W) moved down by dy (B,) and right by dx (B,) pixels, the edge pixels repeated into the gap:
    out[b, :, i, j] = x[b, :, clamp(i - dy[b]), clamp(j - dx[b])]. Repeating the edge keeps a white (or black)
    ground its colour, where a constant fill would draw a frame the network could read."""
    b, c, h, w = x.shape
    rows = (torch.arange(h, device=x.device) - dy[:, None].to(x.device)).clamp(0, h - 1)  # (B, H)
    cols = (torch.arange(w, device=x.device) - dx[:, None].to(x.device)).clamp(0, w - 1)  # (B, W)
    return x[torch.arange(b, device=x.device)[:, None, None, None], torch.arange(c, device=x.device)[None, :, None, None],
             rows[:, None, :, None], cols[:, None, None, :]]


def rotations(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """x (B, C, S, S) -> (all four rotations (4B, C, S, S), their labels 0-3 (4B,) = k quarter turns)."""
    y = torch.arange(4, device=x.device).repeat_interleave(len(x))
    return torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)]), y


def pretext_batch(x: torch.Tensor, g: torch.Generator, shift: int = SHIFT) -> tuple[torch.Tensor, torch.Tensor]:
    """Float images x (B, C, S, S) -> (inputs (4B, C, S, S), labels (4B,)): each image in all four rotations (Gidaris
    et al.'s best setting), each of those in a random colour order and moved by a random -shift..shift pixels on
    each axis; label = quarter turns * len(colour_orders(C)) + colour order. g draws the orders and shifts (CPU)."""
    turned, rot = rotations(x)
    n = len(colour_orders(x.shape[1]))
    k = torch.randint(n, (len(turned),), generator=g).to(x.device)
    dy, dx = torch.randint(-shift, shift + 1, (2, len(turned)), generator=g)
    return translate(reorder_colours(turned, k), dy, dx), rot * n + k
