import torch
import torch.nn as nn
import torch.nn.functional as F

from rnncodec.layers import GDN, ConvLSTMCell, NonNegative, depth_to_space_after


def test_gdn_matches_direct_formula():
    torch.manual_seed(0)
    gdn = GDN(5)
    with torch.no_grad():  # a non-trivial β and γ
        gdn.beta_raw.copy_(gdn.beta_param.init(torch.rand(5) + 0.5))
        gdn.gamma_raw.copy_(gdn.gamma_param.init(torch.rand(5, 5) * 0.3))
    x = torch.randn(2, 5, 4, 3)
    beta, gamma = gdn.beta, gdn.gamma
    expected = torch.empty_like(x)
    for i in range(5):  # y_i = x_i / sqrt(β_i + Σ_j γ_ij x_j²)
        expected[:, i] = x[:, i] / torch.sqrt(beta[i] + sum(gamma[i, j] * x[:, j] ** 2 for j in range(5)))
    torch.testing.assert_close(gdn(x), expected)


def test_inverse_gdn_undoes_gdn():
    torch.manual_seed(1)
    gdn, igdn = GDN(4), GDN(4, inverse=True)
    igdn.load_state_dict(gdn.state_dict())
    x = torch.randn(3, 4, 5, 5)
    # with diagonal γ the normalisation of channel i depends on x_i only, so it inverts exactly
    y = gdn(x)
    x_back = y / torch.sqrt(1 - gdn.gamma.diagonal().view(1, 4, 1, 1) * y**2) * torch.sqrt(gdn.beta.view(1, 4, 1, 1))
    torch.testing.assert_close(x_back, x, atol=1e-4, rtol=1e-4)
    # and IGDN with the same parameters is GDN's multiplicative counterpart
    norm = gdn.beta.view(1, 4, 1, 1) + gdn.gamma.diagonal().view(1, 4, 1, 1) * x**2
    torch.testing.assert_close(igdn(x), x * torch.sqrt(norm))
    torch.testing.assert_close(gdn(x) * norm, igdn(x))


def test_gdn_parameters_stay_non_negative_under_gradient_steps():
    gdn = GDN(3)
    opt = torch.optim.SGD(gdn.parameters(), lr=10.0)
    for _ in range(5):  # push β and γ hard towards negative values
        loss = gdn.beta.sum() + gdn.gamma.sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert (gdn.beta >= 1e-6 - 1e-12).all()
    assert (gdn.gamma >= 0).all()


def test_lower_bound_lets_gradient_push_back_up():
    p = NonNegative(0.5)
    v = torch.tensor([0.0], requires_grad=True)  # below the bound
    (-p(v)).sum().backward()  # loss falls as p grows: the gradient must reach v
    assert v.grad.item() != 0


def test_convlstm_shapes_and_state():
    cell = ConvLSTMCell(4, 6, 3, stride=2)
    x = torch.randn(2, 4, 16, 12)
    h, state = cell(x, None)
    assert h.shape == (2, 6, 8, 6) and state[1].shape == (2, 6, 8, 6)
    h2, _ = cell(x, state)
    assert not torch.allclose(h, h2)  # the state is used


def test_convlstm_gate_by_gate_is_the_same_cell():
    torch.manual_seed(0)
    cell = ConvLSTMCell(5, 6, 3, stride=2, hidden_kernel=3)
    x, state = torch.randn(1, 5, 16, 12), (torch.randn(1, 6, 8, 6), torch.randn(1, 6, 8, 6))
    with torch.no_grad():
        plain = [cell(x, None), cell(x, state)]
        cell.gate_by_gate = True
        one_by_one = [cell(x, None), cell(x, state)]
    for (h, (_, c)), (h1, (_, c1)) in zip(plain, one_by_one):
        assert torch.allclose(h, h1, atol=1e-6) and torch.allclose(c, c1, atol=1e-6)


def test_convolution_after_depth_to_space_runs_before_it():
    """conv(d2s(z)) = d2s(conv'(z)) at every pixel, borders included."""
    torch.manual_seed(0)
    conv = nn.Conv2d(5, 3, 3, padding=1)
    z = torch.randn(2, 20, 7, 9)
    with torch.no_grad():
        after = conv(F.pixel_shuffle(z, 2))
        before = F.pixel_shuffle(F.conv2d(z, *depth_to_space_after(conv), padding=1), 2)
    assert torch.allclose(after, before, atol=1e-5)
