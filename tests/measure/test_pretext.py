"""gan/measure/pretext.py: the label-free network's task (rotation x colour order, shifted) on hand-built tensors."""

from __future__ import annotations

import torch

from gan.measure import pretext


def rgb(values=(10.0, 20.0, 30.0)) -> torch.Tensor:
    """(1, 3, 2, 2): each channel one constant value."""
    return torch.tensor(values)[None, :, None, None].expand(1, 3, 2, 2).clone()


def test_colour_orders_and_class_counts():
    assert pretext.colour_orders(3) == ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
    assert pretext.colour_orders(1) == ((0,),)
    assert pretext.num_classes(3) == 24 and pretext.num_classes(1) == 4
    rot, order = pretext.split_label(torch.tensor([0, 5, 6, 13, 23]), 3)
    assert rot.tolist() == [0, 0, 1, 2, 3] and order.tolist() == [0, 5, 0, 1, 5]
    rot, order = pretext.split_label(torch.tensor([0, 3]), 1)
    assert rot.tolist() == [0, 3] and order.tolist() == [0, 0]


def test_a_colour_order_moves_the_channels_it_names_and_its_inverse_puts_them_back():
    x = rgb()
    out = pretext.reorder_colours(x, torch.tensor([4]))  # order (2, 0, 1): B, R, G
    assert out[0, :, 0, 0].tolist() == [30.0, 10.0, 20.0]
    assert pretext.inverse_order(4, 3) == 3  # (1, 2, 0): channel i comes back from where it went
    assert torch.equal(pretext.reorder_colours(out, torch.tensor([3])), x)
    for k in range(6):  # every order has one inverse; the swaps are their own
        back = pretext.reorder_colours(pretext.reorder_colours(x, torch.tensor([k])),
                                       torch.tensor([pretext.inverse_order(k, 3)]))
        assert torch.equal(back, x)
    assert [pretext.inverse_order(k, 3) for k in range(6)] == [0, 1, 2, 4, 3, 5]
    grey = torch.arange(4.0).reshape(1, 1, 2, 2)
    assert torch.equal(pretext.reorder_colours(grey, torch.tensor([0])), grey)


def test_translate_moves_the_image_and_repeats_its_edge():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)  # row r, column c holds 4r + c
    down_left = pretext.translate(x, torch.tensor([1]), torch.tensor([-1]))[0, 0]
    assert down_left.tolist() == [[1, 2, 3, 3], [1, 2, 3, 3], [5, 6, 7, 7], [9, 10, 11, 11]]
    assert torch.equal(pretext.translate(x, torch.tensor([0]), torch.tensor([0])), x)
    two = torch.stack([x[0], x[0] + 100])  # each image its own shift
    out = pretext.translate(two, torch.tensor([0, -2]), torch.tensor([2, 0]))
    assert out[0, 0, 0].tolist() == [0, 0, 0, 1] and out[1, 0, :, 0].tolist() == [108, 112, 112, 112]


def test_a_pretext_batch_is_each_image_turned_and_recoloured_as_its_label_says():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    inputs, y = pretext.pretext_batch(x, g, shift=0)
    assert inputs.shape == (12, 3, 8, 8) and y.shape == (12,) and 0 <= y.min() and y.max() < 24
    rot, order = pretext.split_label(y, 3)
    assert rot.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]  # all four rotations of each image
    for i in range(12):  # undo the colour order, then the turn: the image itself
        k = torch.tensor([pretext.inverse_order(int(order[i]), 3)])
        back = torch.rot90(pretext.reorder_colours(inputs[i:i + 1], k), -int(rot[i]), dims=(2, 3))
        assert torch.equal(back[0], x[i % 3])
    shifted, y2 = pretext.pretext_batch(x, torch.Generator().manual_seed(0), shift=2)
    assert torch.equal(y2, y) and not torch.equal(shifted, inputs)  # same draws of orders, then moved
    grey_in, grey_y = pretext.pretext_batch(x[:, :1], torch.Generator().manual_seed(0))
    assert grey_in.shape == (12, 1, 8, 8) and grey_y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3]
