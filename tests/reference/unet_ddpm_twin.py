"""PyTorch twin of the DDPM UNet (ddpm::nn::UNet with arch ddpm; nn/unet_ddpm.h).

The same module tree, names, order and math as the C++ model, whose names are
diffusers' UNet2DModel's: conv_in, time_embedding.linear_{1,2},
class_embedding, down_blocks.<l>.{attentions,resnets,downsamplers.0.conv},
mid_block.{attentions.0,resnets.0,resnets.1},
up_blocks.<i>.{attentions,resnets,upsamplers.0.conv}, conv_norm_out,
conv_out; a ResBlock holds norm1, conv1, time_emb_proj, norm2, conv2
(conv_shortcut when its channels change), an attention block group_norm,
to_q, to_k, to_v, to_out.0 (Linear-shaped [C, C] weights).

With cross_attention_tokens T > 0 (class-conditional only) the model also
has class_tokens Embedding(K + 1, T * D) after class_embedding, whose row
[T * D] is read as [D, T] (column d * T + j: channel d of token j), and
every attention block gains norm2 (GroupNorm) and attn2.{to_q, to_k, to_v,
to_out.0}: after the self-attention residual, the pixels of norm2(x) attend
to the T tokens (keys and values Linear(D, C) of the tokens), and the
result is added back through attn2.to_out.0.

Written from the C++ model's description, not from diffusers; it differs
from UNet2DModel where the C++ model does: the upsampling is bilinear with
align_corners=True (diffusers: nearest), and the sinusoid is unet_twin's
[sin, cos] with frequencies over half - 1. Attention is computed plainly as
softmax(scale * q^T k) v per head, in the channels-first layout the engine's
fused attention op uses.

Used by tests/reference/make_unet_ddpm_reference.py (reference data for
tests/test_unet_ddpm_parity.cpp).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from unet_twin import sinusoidal_embedding


def pixelwise(linear, x):
    """A Linear(C, C) applied at every pixel of x [N, C, H, W], as a 1x1 convolution."""
    return F.conv2d(x, linear.weight[:, :, None, None], linear.bias)


class ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch, emb_dim, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.time_emb_proj = nn.Linear(emb_dim, out_ch)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        if in_ch != out_ch:
            self.conv_shortcut = nn.Conv2d(in_ch, out_ch, 1)
        else:
            self.conv_shortcut = None

    def forward(self, x, emb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(emb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))  # dropout (rate 0 for now) sits before conv2
        skip = self.conv_shortcut(x) if self.conv_shortcut is not None else x
        return skip + h


def attend(q, k, v, head_channels):
    """softmax(q^T k / sqrt(head_channels)) applied to v, channels first:
    q [B, D, Lq], k [B, D, Lk], v [B, E, Lk] -> [B, E, Lq]."""
    scores = torch.bmm(q.transpose(1, 2), k) / math.sqrt(head_channels)  # [B, Lq, Lk]
    p = torch.softmax(scores, dim=-1)
    return torch.bmm(v, p.transpose(1, 2))  # [B, E, Lq]


class CrossAttention(nn.Module):
    """attn2: queries from the pixels (C channels), keys and values from context tokens (Dc channels)."""

    def __init__(self, channels, context_dim):
        super().__init__()
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(context_dim, channels)
        self.to_v = nn.Linear(context_dim, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])


class AttentionBlock(nn.Module):
    def __init__(self, channels, head_channels, groups, context_dim=0):
        super().__init__()
        assert channels % head_channels == 0
        self.head_channels = head_channels
        self.group_norm = nn.GroupNorm(groups, channels)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.to_out = nn.ModuleList([nn.Linear(channels, channels)])
        if context_dim > 0:
            self.norm2 = nn.GroupNorm(groups, channels)
            self.attn2 = CrossAttention(channels, context_dim)
        else:
            self.norm2 = None
            self.attn2 = None

    def forward(self, x, context=None):
        """x [N, C, H, W]; context [N, Dc, T] (T tokens) with cross-attention."""
        n, c, h, w = x.shape
        heads = c // self.head_channels
        hn = self.group_norm(x)
        shape = (n * heads, self.head_channels, h * w)
        q = pixelwise(self.to_q, hn).reshape(shape)
        k = pixelwise(self.to_k, hn).reshape(shape)
        v = pixelwise(self.to_v, hn).reshape(shape)
        o = attend(q, k, v, self.head_channels)
        x = x + pixelwise(self.to_out[0], o.reshape(n, c, h, w))
        if self.attn2 is None:
            assert context is None
            return x
        a = self.attn2
        tokens = context.shape[2]
        q2 = pixelwise(a.to_q, self.norm2(x)).reshape(shape)
        # Keys and values: each token's Dc channels through Linear(Dc, C).
        token_shape = (n * heads, self.head_channels, tokens)
        k2 = (torch.einsum("cd,ndt->nct", a.to_k.weight, context) + a.to_k.bias[None, :, None]).reshape(token_shape)
        v2 = (torch.einsum("cd,ndt->nct", a.to_v.weight, context) + a.to_v.bias[None, :, None]).reshape(token_shape)
        o2 = attend(q2, k2, v2, self.head_channels)
        return x + pixelwise(a.to_out[0], o2.reshape(n, c, h, w))


class Resample(nn.Module):
    """diffusers' Downsample2D / Upsample2D with a convolution: a module holding `conv`."""

    def __init__(self, channels, stride):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=stride, padding=1)


class Block(nn.Module):
    """A down, mid or up block: attentions (when any) before resnets, as diffusers registers them."""

    def __init__(self, resnets, attentions, sampler_name=None, sampler=None):
        super().__init__()
        if attentions:
            self.attentions = nn.ModuleList(attentions)
        else:
            self.attentions = None
        self.resnets = nn.ModuleList(resnets)
        if sampler is not None:
            setattr(self, sampler_name, nn.ModuleList([sampler]))
        self.sampler_name = sampler_name if sampler is not None else None

    def sampler(self):
        return getattr(self, self.sampler_name)[0] if self.sampler_name else None


class UNetDdpmTwin(nn.Module):
    def __init__(self, in_channels=1, base_channels=64, time_embed_dim=256, groups=8, num_classes=0,
                 cond_channels=0, channel_mult=(1, 2, 2), num_res_blocks=2, attention_resolutions=(16, 8),
                 head_channels=32, cross_attention_tokens=0):
        super().__init__()
        assert cross_attention_tokens == 0 or num_classes > 0
        levels = len(channel_mult)
        ch = [base_channels * m for m in channel_mult]
        d, g, r = time_embed_dim, groups, num_res_blocks
        attn = [(32 >> l) in attention_resolutions for l in range(levels)]
        self.c0 = ch[0]
        self.null_label = num_classes
        self.conv_in = nn.Conv2d(in_channels + cond_channels, ch[0], 3, padding=1)
        self.time_embedding = nn.Module()
        self.time_embedding.linear_1 = nn.Linear(ch[0], d)
        self.time_embedding.linear_2 = nn.Linear(d, d)
        self.class_embedding = nn.Embedding(num_classes + 1, d) if num_classes > 0 else None
        self.tokens = cross_attention_tokens
        self.class_tokens = nn.Embedding(num_classes + 1, self.tokens * d) if self.tokens > 0 else None
        ctx = d if self.tokens > 0 else 0  # the attention blocks' context width

        skips, cur = [ch[0]], ch[0]
        downs = []
        for l in range(levels):
            resnets, attns = [], []
            for _ in range(r):
                resnets.append(ResBlock(cur, ch[l], d, g))
                cur = ch[l]
                if attn[l]:
                    attns.append(AttentionBlock(cur, head_channels, g, ctx))
                skips.append(cur)
            sampler = None
            if l < levels - 1:
                sampler = Resample(cur, 2)
                skips.append(cur)
            downs.append(Block(resnets, attns, "downsamplers", sampler))
        self.down_blocks = nn.ModuleList(downs)

        self.mid_block = Block([ResBlock(cur, cur, d, g), ResBlock(cur, cur, d, g)],
                               [AttentionBlock(cur, head_channels, g, ctx)])

        ups = []
        for i in range(levels):
            l = levels - 1 - i
            resnets, attns = [], []
            for _ in range(r + 1):
                resnets.append(ResBlock(cur + skips.pop(), ch[l], d, g))
                cur = ch[l]
                if attn[l]:
                    attns.append(AttentionBlock(cur, head_channels, g, ctx))
            sampler = Resample(cur, 1) if i < levels - 1 else None
            ups.append(Block(resnets, attns, "upsamplers", sampler))
        self.up_blocks = nn.ModuleList(ups)
        assert not skips

        self.conv_norm_out = nn.GroupNorm(g, cur)
        self.conv_out = nn.Conv2d(cur, in_channels, 3, padding=1)

    def embed_time(self, t):
        te = self.time_embedding
        return te.linear_2(F.silu(te.linear_1(sinusoidal_embedding(t, self.c0))))

    def forward(self, x, t, labels=None, cond=None):
        """x [N, C, H, W]; t [N] float timesteps of x's dtype; labels [N] class ids
        (null_label: no class; None: no class for every image); cond [N, c, H, W]."""
        emb = self.embed_time(t)
        context = None
        if self.class_embedding is not None:
            if labels is None:
                labels = torch.full((x.shape[0],), self.null_label, dtype=torch.long)
            emb = emb + self.class_embedding(labels)
            if self.class_tokens is not None:
                context = self.class_tokens(labels).reshape(x.shape[0], -1, self.tokens)  # [N, D, T]
        if cond is not None:
            x = torch.cat([x, cond], dim=1)
        h = self.conv_in(x)
        skips = [h]
        for b in self.down_blocks:
            for j, res in enumerate(b.resnets):
                h = res(h, emb)
                if b.attentions is not None:
                    h = b.attentions[j](h, context)
                skips.append(h)
            if b.sampler() is not None:
                h = b.sampler().conv(h)
                skips.append(h)
        m = self.mid_block
        h = m.resnets[1](m.attentions[0](m.resnets[0](h, emb), context), emb)
        for b in self.up_blocks:
            for j, res in enumerate(b.resnets):
                h = res(torch.cat([h, skips.pop()], dim=1), emb)
                if b.attentions is not None:
                    h = b.attentions[j](h, context)
            if b.sampler() is not None:
                h = b.sampler().conv(F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=True))
        return self.conv_out(F.silu(self.conv_norm_out(h)))
