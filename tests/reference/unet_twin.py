"""PyTorch twin of nn/unet.h (ddpm::nn::UNet): the same module tree, names and math.

Used by tests/reference/make_unet_reference.py (reference data for
tests/test_unet_parity.cpp) and by benchmarks/torch_e2e.py. state_dict
names match the C++ Module::named_parameters() exactly, in the same order:
time_mlp.{0,2}, enc1..dec1 (.0/.3 Conv2d, .1/.4 GroupNorm), final,
time_proj.<block> (one Linear(D, out_ch) per conv block, added per channel to
the block's output).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

BLOCKS = ["enc1", "enc2", "enc3", "bottleneck", "dec3", "dec2", "dec1"]


def conv_block(in_ch, out_ch, groups):
    return nn.Sequential(
        nn.Conv2d(in_ch, out_ch, 3, padding=1),
        nn.GroupNorm(groups, out_ch),
        nn.SiLU(),
        nn.Conv2d(out_ch, out_ch, 3, padding=1),
        nn.GroupNorm(groups, out_ch),
        nn.SiLU(),
    )


def sinusoidal_embedding(t, dim):
    """DDPM / tensor2tensor convention: [sin(t f_i), cos(t f_i)], f_i = 10000^(-i/(half-1))."""
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / (half - 1))
    args = t.unsqueeze(-1) * freqs.to(t.dtype).unsqueeze(0)
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class UNetTwin(nn.Module):
    def __init__(self, in_channels=1, base_channels=64, time_embed_dim=256,
                 time_embedding="linear", groups=8):
        super().__init__()
        assert time_embedding in ("linear", "sinusoidal")
        self.time_embedding = time_embedding
        self.time_embed_dim = time_embed_dim
        b, d = base_channels, time_embed_dim
        t_in = 1 if time_embedding == "linear" else d
        self.time_mlp = nn.Sequential(nn.Linear(t_in, d), nn.SiLU(), nn.Linear(d, d))
        self.enc1 = conv_block(in_channels, b, groups)
        self.enc2 = conv_block(b, 2 * b, groups)
        self.enc3 = conv_block(2 * b, 4 * b, groups)
        self.bottleneck = conv_block(4 * b, 8 * b, groups)
        self.dec3 = conv_block(8 * b + 4 * b, 4 * b, groups)
        self.dec2 = conv_block(4 * b + 2 * b, 2 * b, groups)
        self.dec1 = conv_block(2 * b + b, b, groups)
        self.final = nn.Conv2d(b, in_channels, 1)
        out = {"enc1": b, "enc2": 2 * b, "enc3": 4 * b, "bottleneck": 8 * b,
               "dec3": 4 * b, "dec2": 2 * b, "dec1": b}
        self.time_proj = nn.ModuleDict({k: nn.Linear(d, out[k]) for k in BLOCKS})

    def embed_time(self, t):
        if self.time_embedding == "linear":
            return self.time_mlp(t.unsqueeze(-1) / 1000)
        return self.time_mlp(sinusoidal_embedding(t, self.time_embed_dim))

    def _block(self, name, h, emb):
        y = getattr(self, name)(h)
        return y + self.time_proj[name](emb)[:, :, None, None]

    def forward(self, x, t):
        """x [N, C, H, W] (H, W multiples of 8); t [N] float timesteps of x's dtype."""
        emb = self.embed_time(t)
        up = lambda h: F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=True)
        e1 = self._block("enc1", x, emb)
        e2 = self._block("enc2", F.max_pool2d(e1, 2), emb)
        e3 = self._block("enc3", F.max_pool2d(e2, 2), emb)
        b = self._block("bottleneck", F.max_pool2d(e3, 2), emb)
        d3 = self._block("dec3", torch.cat([up(b), e3], dim=1), emb)
        d2 = self._block("dec2", torch.cat([up(d3), e2], dim=1), emb)
        d1 = self._block("dec1", torch.cat([up(d2), e1], dim=1), emb)
        return self.final(d1)
