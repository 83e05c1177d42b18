import pytest
import torch

from rnncodec.network import ModelConfig, Network, macs_per_pixel


@pytest.mark.parametrize("h,w", [(16, 16), (32, 48), (64, 80), (112, 16)])
def test_shapes_for_several_sizes(tiny_config, h, w):
    model = Network(tiny_config).eval()
    x = torch.rand(2, 3, h, w) - 0.5
    with torch.no_grad():
        outs = list(model.iterate(x, 3))
    assert len(outs) == 3
    for bits, recon in outs:
        assert bits.shape == (2, tiny_config.code_channels, h // 16, w // 16)
        assert set(bits.unique().tolist()) <= {-1.0, 1.0}
        assert recon.shape == x.shape


def test_default_model_has_32_bits_per_16x16_block():
    model = Network().eval()
    with torch.no_grad():
        bits, _ = model.encode_step(torch.zeros(1, 3, 32, 64), 1)
    assert bits.shape == (1, 32, 2, 4)  # 32 bits / 256 pixels = 0.125 bpp
    assert macs_per_pixel(model) > 0


def test_rejects_sizes_not_multiple_of_16(tiny_config):
    with pytest.raises(ValueError):
        list(Network(tiny_config).iterate(torch.zeros(1, 3, 20, 32), 1))


def test_step_api_reproduces_iterate(tiny_config):
    """The decoder alone, fed the encoder's bits, rebuilds the encoder's reconstructions."""
    torch.manual_seed(0)
    model = Network(tiny_config).eval()
    x = torch.rand(1, 3, 32, 32) - 0.5
    with torch.no_grad():
        outs = list(model.iterate(x, 4))
        recon, state = torch.zeros_like(x), None
        for t, (bits, expected) in enumerate(outs, start=1):
            delta, state = model.decode_step(bits, t, state)
            recon = delta + model.cfg.gamma * recon
            torch.testing.assert_close(recon, expected)


def test_one_shot_gamma_zero(tiny_config):
    from dataclasses import replace

    model = Network(replace(tiny_config, gamma=0.0)).eval()
    x = torch.rand(1, 3, 16, 16) - 0.5
    with torch.no_grad():
        (b1, r1), (b2, r2) = list(model.iterate(x, 2))
        delta, _ = model.decode_step(b1, 1)
    torch.testing.assert_close(r1, delta)


def test_binarizer_is_stochastic_in_training_and_sign_at_inference(tiny_config):
    torch.manual_seed(0)
    model = Network(tiny_config)
    x = torch.rand(1, 3, 64, 64) - 0.5
    model.train()
    a, _ = model.encode_step(x, 1)
    b, _ = model.encode_step(x, 1)
    assert not torch.equal(a, b)
    model.eval()
    with torch.no_grad():
        a, _ = model.encode_step(x, 1)
        b, _ = model.encode_step(x, 1)
    assert torch.equal(a, b)


def test_sign_bits_in_training_match_inference(tiny_config):
    torch.manual_seed(0)
    model = Network(tiny_config)
    x = torch.rand(1, 3, 64, 64) - 0.5
    with torch.no_grad():
        expected, _ = model.eval().encode_step(x, 1)
    model.train().binarizer.stochastic = False
    bits, _ = model.encode_step(x, 1)
    assert torch.equal(bits.detach(), expected)
    bits.sum().backward()  # the straight-through gradient still reaches the encoder
    assert model.encoder.analysis.weight.grad.abs().sum() > 0


def test_straight_through_gradient_reaches_encoder(tiny_config):
    model = Network(tiny_config).train()
    loss = model(torch.rand(2, 3, 32, 32) - 0.5, 2).sum()
    loss.backward()
    assert model.encoder.analysis.weight.grad.abs().sum() > 0


def test_training_step_lowers_loss_on_fixed_batch(tiny_config):
    torch.manual_seed(0)
    model = Network(tiny_config).train()
    x = torch.rand(4, 3, 32, 32) - 0.5
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def loss_at(seed):
        torch.manual_seed(seed)  # same binarizer noise each time
        return model(x, 2).sum()

    before = loss_at(1).item()
    for _ in range(10):
        loss = loss_at(1)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss_at(1).item() < before


def test_config_round_trip():
    cfg = ModelConfig()
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError):
        ModelConfig.from_dict({**cfg.to_dict(), "bogus": 1})


@pytest.mark.parametrize("detach", [False, True])
def test_detach_previous_cuts_only_the_reconstruction_path(tiny_config, detach):
    torch.manual_seed(0)
    model = Network(tiny_config).train()
    model.binarizer.stochastic = False
    x = torch.rand(2, 3, 32, 32) - 0.5
    (_, first), (_, second) = model.iterate(x, 2, detach_previous=detach)
    first.retain_grad()
    (x - second).abs().mean().backward()  # the second iteration's loss term alone
    reached_first = first.grad is not None and first.grad.abs().sum() > 0
    assert reached_first != detach
    assert model.decoder.to_rgb.weight.grad.abs().sum() > 0  # its own output is still trained
    with torch.no_grad():  # the forward values do not change
        assert torch.equal(model(x, 2, detach_previous=True), model(x, 2))


def test_config_rejects_impossible_widths():
    with pytest.raises(ValueError):
        ModelConfig(encoder_hidden=(64, 128))  # 16× downsampling needs three strided cells
    with pytest.raises(ValueError):
        ModelConfig(decoder_hidden=(256, 128, 64, 30))  # depth-to-space needs multiples of 4


def _nearly_the_same_function(model, grown, x, iterations=3):
    """The first iteration's bits agree almost everywhere and every reconstruction stays close."""
    with torch.no_grad():
        for t, ((bits, recon), (grown_bits, grown_recon)) in enumerate(zip(model.iterate(x, iterations), grown.iterate(x, iterations))):
            if t == 0:
                assert (bits == grown_bits).float().mean() > 0.98
            assert (recon - grown_recon).abs().mean() < 0.02


def test_widen_keeps_the_function_and_trains_the_new_channels_at_once(tiny_config):
    from dataclasses import replace

    from rnncodec.network import widen

    torch.manual_seed(0)
    model = Network(tiny_config).eval()
    wide_cfg = replace(tiny_config, analysis_channels=12, encoder_hidden=(8, 12, 16), synthesis_channels=20,
                       decoder_hidden=(16, 16, 12, 16))
    wide = widen(model, wide_cfg)
    assert wide.cfg == wide_cfg
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in model.parameters())
    x = torch.rand(2, 3, 32, 48) - 0.5
    _nearly_the_same_function(model, wide, x)
    wide.train()
    wide.binarizer.stochastic = False
    wide(x, 2).sum().backward()
    old_channels = tiny_config.decoder_hidden[-1]
    new_columns = wide.decoder.to_rgb.weight.grad[:, old_channels // 4 :]
    assert new_columns.abs().sum() > 0
    # the new channels' incoming weights learn from the first step too (a zero start gave them none)
    last_cell = wide.decoder.cells[-1].conv_in.weight.grad  # gates stacked: rows [g·16, g·16 + 16)
    assert last_cell[[g * 16 + c for g in range(4) for c in range(old_channels, 16)]].abs().sum() > 0


def test_widen_adds_tail_capacity_that_learns_at_once(tiny_config):
    from dataclasses import replace

    from rnncodec.network import macs_per_pixel, new_parameters, widen

    torch.manual_seed(0)
    model = Network(tiny_config).eval()
    cfg = replace(tiny_config, tail_branches=(16, 12), full_resolution_channels=6, iteration_conditioning=True,
                  full_resolution_branch=8)
    grown = widen(model, cfg)
    x = torch.rand(2, 3, 32, 48) - 0.5
    _nearly_the_same_function(model, grown, x)
    assert macs_per_pixel(grown) > macs_per_pixel(model)
    added = new_parameters(grown, model.state_dict())
    assert {"decoder.branches.0.conv1.weight", "decoder.branches.1.conv2.weight", "decoder.output_bias",
            "decoder.full_resolution.conv1.weight"} <= added
    assert not any(name.startswith("encoder") for name in added)
    grown.train()
    grown.binarizer.stochastic = False
    grown(x, 3).sum().backward()
    for name, p in grown.named_parameters():
        if name in added:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert grown.decoder.to_rgb.weight.shape[1] == 6


def test_tail_capacity_config_round_trip_and_old_configs_load(tiny_config):
    from dataclasses import replace

    cfg = replace(tiny_config, tail_branches=(16, 12), full_resolution_channels=6, iteration_conditioning=True,
                  full_resolution_branch=8)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    old = {k: v for k, v in tiny_config.to_dict().items()
           if k not in ("tail_branches", "full_resolution_channels", "iteration_conditioning", "full_resolution_branch")}
    assert ModelConfig.from_dict(old) == tiny_config  # weights saved before the tail fields existed
    with pytest.raises(ValueError):
        replace(tiny_config, full_resolution_channels=6)  # extra channels need a 1/2 branch


def test_widen_refuses_to_narrow_or_change_other_settings(tiny_config):
    from dataclasses import replace

    from rnncodec.network import widen

    model = Network(tiny_config)
    with pytest.raises(ValueError):
        widen(model, replace(tiny_config, decoder_hidden=(16, 16, 8, 4)))
    with pytest.raises(ValueError):
        widen(model, replace(tiny_config, code_channels=16))


def _with_tail(tiny_config):
    from dataclasses import replace

    from rnncodec.network import widen

    torch.manual_seed(0)
    model = widen(Network(tiny_config), replace(tiny_config, tail_branches=(16, 12), full_resolution_channels=6))
    with torch.no_grad():  # a trained tail, not the almost silent start of a grown one
        for branch in model.decoder.branches:
            branch.conv2.weight.normal_(0, 0.1)
    return model.eval()


def test_narrow_to_the_same_widths_keeps_the_function(tiny_config):
    from rnncodec.network import narrow

    model = _with_tail(tiny_config)
    same = narrow(model, model.cfg)
    x = torch.rand(2, 3, 32, 48) - 0.5
    with torch.no_grad():
        for (bits, recon), (same_bits, same_recon) in zip(model.iterate(x, 3), same.iterate(x, 3)):
            assert torch.equal(bits, same_bits) and torch.equal(recon, same_recon)


def test_narrow_keeps_the_strongest_channels_with_their_weights(tiny_config):
    from dataclasses import replace

    from rnncodec.network import kept_channels, macs_per_pixel, narrow

    model = _with_tail(tiny_config)
    with torch.no_grad():  # make one hidden channel of the 1/2 branch, and one group of the 1/16 cell, the strongest
        model.decoder.branches[1].conv2.weight[:, 5] *= 100
        model.decoder.cells[1].conv_in.weight[:, 2] *= 100
    hidden = model.cfg.decoder_hidden[0]
    cfg = replace(model.cfg, tail_branches=(8, 1), decoder_hidden=(4, *model.cfg.decoder_hidden[1:]))
    kept = kept_channels(model, cfg)
    assert kept.branch_hidden[1].tolist() == [5] and kept.groups.tolist() == [2]
    thin = narrow(model, cfg)
    assert thin.cfg == cfg and macs_per_pixel(thin) < macs_per_pixel(model)
    old, new = model.decoder, thin.decoder
    assert torch.equal(new.branches[1].conv1.weight[0], old.branches[1].conv1.weight[5])
    assert torch.equal(new.cells[1].conv_in.weight[:, 0], old.cells[1].conv_in.weight[:, 2])
    units = [8, 9, 10, 11]  # group 2's hidden channels, in each of the four gates
    for gate in range(4):
        assert torch.equal(new.cells[0].conv_in.weight[4 * gate : 4 * gate + 4], old.cells[0].conv_in.weight[[gate * hidden + u for u in units]])
    assert torch.equal(new.cells[0].conv_hidden.weight[:4], old.cells[0].conv_hidden.weight[units][:, units])
    with torch.no_grad():
        out = list(thin.iterate(torch.rand(1, 3, 32, 32) - 0.5, 2))
    assert out[-1][1].shape == (1, 3, 32, 32)


def test_narrow_refuses_anything_but_thinning_the_decoder(tiny_config):
    from dataclasses import replace

    from rnncodec.network import narrow

    model = _with_tail(tiny_config)
    for change in ({"tail_branches": (0, 12)}, {"tail_branches": (20, 12)}, {"decoder_hidden": (16, 8, 8, 8)},
                   {"encoder_hidden": (8, 8, 8)}, {"code_channels": 16}):
        with pytest.raises(ValueError):
            narrow(model, replace(model.cfg, **change))


def test_the_network_keeps_its_earlier_public_name():
    import rnncodec

    assert rnncodec.RNNCodec is rnncodec.Network is Network
