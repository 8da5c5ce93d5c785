"""PyTorch twin of ddpm-bench-e2e: training and sampling images/s of the seed UNet.

The model is tests/reference/unet_twin.py's UNetTwin (the same module tree and
math as nn/unet.h). Same flags and JSON fields as ddpm-bench-e2e:

  --what train   one step = the Trainer's recipe: batch from a CPU data set
                 copied to the device, t ~ U{0..999}, noise = randn, x_t =
                 sqrt(ab_t) x0 + sqrt(1-ab_t) noise, MSE(model(x_t, t), noise),
                 backward, clip_grad_norm_(1.0), warm-up lr, Adam(lr 1e-3),
                 EMA 0.995 (torch._foreach_mul_/_foreach_add_); loss and norm
                 read on the host every step (as ours does). Median of
                 --iters steps after --warmup.
  --what sample  DDPM (ancestral, fixed_large, clip x0) or DDIM (eta 0, clip)
                 over --steps of the T=1000 linear schedule, timesteps
                 t_k = k*T//K visited from the largest (as diffusion/sampler.cpp);
                 batch / wall time of the whole chain, median of --repeats.

--mode eager or compile (torch.compile(model), PyTorch >= 2; the optimizer and
the sampler's update stay eager, as a user would write them). Precision FP32
with TF32 off (torch.backends.cuda.matmul.allow_tf32 = False,
torch.backends.cudnn.allow_tf32 = False) unless --precision tf32 (alias
--tf32); --precision bf16 runs the model under torch.autocast(bfloat16) (the
PyTorch user's mixed precision: weights, optimizer and loss stay FP32, the
model's output is cast back to FP32 for the loss and the sampler). cuDNN autotuning
(torch.backends.cudnn.benchmark) is on unless --no-cudnn-benchmark: the
fastest eager PyTorch. CPU: torch.set_num_threads(--threads).
"""
import argparse
import json
import math
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))
from unet_twin import UNetTwin  # noqa: E402

T = 1000


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def alphabar_table():
    betas = torch.linspace(1e-4, 0.02, T, dtype=torch.float64)
    return torch.cumprod(1.0 - betas, dim=0)


def sampling_timesteps(K):
    return [k * T // K for k in reversed(range(K))]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def groupnorm_in_fp32(model):
    """GroupNorm in FP32 with the result cast back to its input's dtype.

    torch 1.13's CPU autocast has no rule for group_norm, so a bf16 input
    meets FP32 affine weights and fails; this is the usual fix (OpenAI's
    guided-diffusion GroupNorm32), and where autocast has a rule (CUDA) it is
    what autocast does anyway.
    """
    for mod in model.modules():
        if isinstance(mod, torch.nn.GroupNorm):
            def gn(x, mod=mod):
                return F.group_norm(x.float(), mod.num_groups, mod.weight, mod.bias, mod.eps).to(x.dtype)
            mod.forward = gn


def autocast_bf16(fwd, device):
    """fwd under torch.autocast(bfloat16), its output cast back to FP32."""
    def f(x, t):
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            y = fwd(x, t)
        return y.float()
    return f


def bench_train(a, device, fwd, model, out):
    B = a.batch
    ab = alphabar_table()
    sqrt_ab = ab.sqrt().float().to(device)
    sqrt_1mab = (1.0 - ab).sqrt().float().to(device)
    g = torch.Generator().manual_seed(1)
    data = torch.rand(4 * B, a.channels, a.size, a.size, generator=g) * 2 - 1
    params = [p for p in model.parameters()]
    opt = torch.optim.Adam(params, lr=1e-3)
    ema = [p.detach().clone() for p in params]
    decay, lr, warmup_steps, clip = 0.995, 1e-3, 100, 1.0
    state = {"step": 0, "perm": None}

    def step():
        s = state["step"]
        k = s % 4
        if k == 0:
            state["perm"] = torch.randperm(4 * B, generator=g)
        x0 = data[state["perm"][k * B:(k + 1) * B]].to(device)
        t = torch.randint(0, T, (B,), device=device)
        noise = torch.randn_like(x0)
        x_t = sqrt_ab[t].view(-1, 1, 1, 1) * x0 + sqrt_1mab[t].view(-1, 1, 1, 1) * noise
        loss = F.mse_loss(fwd(x_t, t.float()), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(params, clip)
        for group in opt.param_groups:
            group["lr"] = lr * min(1.0, (s + 1) / warmup_steps)
        lv, nv = loss.item(), float(norm)
        if math.isfinite(lv) and math.isfinite(nv):
            opt.step()
            with torch.no_grad():
                torch._foreach_mul_(ema, decay)
                torch._foreach_add_(ema, params, alpha=1 - decay)
        state["step"] = s + 1
        return lv

    t0 = time.perf_counter()
    for _ in range(a.warmup):
        step()
    sync(device)
    out["warmup_s"] = time.perf_counter() - t0
    ms = []
    for i in range(a.iters):
        t0 = time.perf_counter()
        lv = step()
        sync(device)
        ms.append((time.perf_counter() - t0) * 1e3)
        print(f"step {i + 1}: {ms[-1]:.2f} ms (loss {lv:.4f})", flush=True)
    med = statistics.median(ms)
    out.update(iters=a.iters, warmup=a.warmup, step_ms=med, step_ms_all=ms, images_per_s=B * 1e3 / med,
               recipe="Adam lr 1e-3 (warm-up 100), clip 1.0, EMA 0.995, eps target, linear schedule T=1000")
    print(f"median {med:.2f} ms/step, {out['images_per_s']:.1f} images/s")


@torch.no_grad()
def run_chain(fwd, shape, kind, K, device, ab):
    ts = sampling_timesteps(K)
    n = shape[0]
    x = torch.randn(shape, device=device)

    def abar(t):
        return 1.0 if t < 0 else float(ab[t])

    for i, t in enumerate(ts):
        tp = ts[i + 1] if i + 1 < len(ts) else -1
        out = fwd(x, torch.full((n,), float(t), device=device))
        a_t, a_p = abar(t), abar(tp)
        sa, sb = math.sqrt(a_t), math.sqrt(1 - a_t)
        x0 = ((x - sb * out) / sa).clamp(-1.0, 1.0)
        if kind == "ddpm":
            beta = 1 - a_t / a_p
            c_x0 = math.sqrt(a_p) * beta / (1 - a_t)
            c_xt = math.sqrt(1 - beta) * (1 - a_p) / (1 - a_t)
            mean = c_x0 * x0 + c_xt * x
            x = mean + math.sqrt(beta) * torch.randn_like(x) if tp >= 0 else mean
        else:
            eps = (x - sa * x0) / sb
            x = math.sqrt(a_p) * x0 + math.sqrt(1 - a_p) * eps
    return x


def bench_sample(a, device, fwd, model, out, sampler, steps):
    model.eval()
    ab = alphabar_table()
    shape = (a.batch, a.channels, a.size, a.size)
    print(f"sample: {sampler} {steps} steps, batch {a.batch}", flush=True)
    t0 = time.perf_counter()
    run_chain(fwd, shape, sampler, 2, device, ab)
    sync(device)
    out["warmup_s"] = time.perf_counter() - t0
    secs = []
    for r in range(a.repeats):
        t0 = time.perf_counter()
        run_chain(fwd, shape, sampler, steps, device, ab)
        sync(device)
        secs.append(time.perf_counter() - t0)
        print(f"chain {r + 1}: {secs[-1]:.2f} s ({secs[-1] * 1e3 / steps:.2f} ms/step)", flush=True)
    med = statistics.median(secs)
    out.update(sampler=sampler, steps=steps, repeats=a.repeats, chain_s=med, chain_s_all=secs,
               step_ms=med * 1e3 / steps, images_per_s=a.batch / med)
    print(f"median {med:.3f} s per chain, {out['images_per_s']:.2f} images/s")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--what", default="train", choices=["train", "sample"])
    ap.add_argument("--mode", default="eager", choices=["eager", "compile"])
    ap.add_argument("--compile-mode", default="default", help="torch.compile mode (default, reduce-overhead, ...)")
    ap.add_argument("--sampler", default="ddpm",
                    help="ddpm or ddim, or a comma-separated list run in one process (one compile)")
    ap.add_argument("--steps", default="", help="sampling steps, one per sampler (default 1000 ddpm, 50 ddim)")
    ap.add_argument("--batch", type=int, default=0, help="default 128 train, 256 sample")
    ap.add_argument("--iters", type=int, default=0, help="timed training steps (default 20 cuda, 3 cpu)")
    ap.add_argument("--warmup", type=int, default=-1, help="untimed training steps (default 5 cuda, 1 cpu)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--base", type=int, default=64)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--time-embed", type=int, default=256)
    ap.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"])
    ap.add_argument("--tf32", action="store_true", help="the same as --precision tf32")
    ap.add_argument("--no-cudnn-benchmark", action="store_true")
    ap.add_argument("--json", default="")
    ap.add_argument("--note", default="")
    a = ap.parse_args()
    gpu = a.device == "cuda"
    a.batch = a.batch or (128 if a.what == "train" else 256)
    samplers = a.sampler.split(",")
    if any(x not in ("ddpm", "ddim") for x in samplers):
        ap.error(f"--sampler {a.sampler}: expected ddpm or ddim (comma-separated)")
    steps = [int(x) for x in a.steps.split(",")] if a.steps else [1000 if x == "ddpm" else 50 for x in samplers]
    if len(steps) != len(samplers) or any(k < 1 or k > T for k in steps):
        ap.error(f"--steps {a.steps}: expected one value in 1..{T} per sampler")
    a.iters = a.iters or (20 if gpu else 3)
    a.warmup = a.warmup if a.warmup >= 0 else (5 if gpu else 1)

    impl = "torch_" + a.mode
    out = {"benchmark": "e2e", "impl": impl, "device": a.device, "what": a.what, "batch": a.batch,
           "model": {"base_channels": a.base, "in_channels": a.channels, "size": a.size,
                     "time_embed_dim": a.time_embed},
           "note": a.note, "load_before": loadavg(), "torch_version": torch.__version__,
           "threads": None if gpu else a.threads}

    results = []

    def finish(code):
        out["load_after"] = loadavg()
        for r in results:
            r["load_after"] = out["load_after"]
        doc = out
        if len(results) > 1:
            doc = {"benchmark": "e2e-suite", "device": a.device, "runs": results}
        elif results:
            doc = results[0]
        if a.json:
            with open(a.json, "w") as f:
                json.dump(doc, f, indent=1)
                f.write("\n")
        return code

    if a.mode == "compile" and not hasattr(torch, "compile"):
        out["skipped"] = f"torch.compile does not exist in torch {torch.__version__}"
        print(f"torch_e2e: {out['skipped']}; skipped")
        return finish(0)
    if gpu and not torch.cuda.is_available():
        out["error"] = "--device cuda but torch.cuda.is_available() is False"
        print("torch_e2e: " + out["error"], file=sys.stderr)
        return finish(1)

    if a.tf32:
        a.precision = "tf32"
    a.tf32 = a.precision == "tf32"
    device = torch.device(a.device)
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.backends.cudnn.benchmark = gpu and not a.no_cudnn_benchmark
    if not gpu:
        torch.set_num_threads(a.threads)
    out["precision"] = {"tf32": "tf32 (TF32 allowed)", "bf16": "bf16 (torch.autocast bfloat16)"}.get(
        a.precision, "fp32 (TF32 off)")
    out["cudnn_benchmark"] = torch.backends.cudnn.benchmark
    machine = f"{cpu_model()}, {os.cpu_count()} cpus"
    if gpu:
        machine = f"{torch.cuda.get_device_name(0)} (host {machine})"
        out["cuda_version"] = torch.version.cuda
        out["cudnn_version"] = torch.backends.cudnn.version()
    out["machine"] = machine
    if a.mode == "compile":
        out["compile_mode"] = a.compile_mode

    torch.manual_seed(0)
    model = UNetTwin(a.channels, a.base, a.time_embed).to(device)
    fwd = model
    if a.mode == "compile":
        fwd = torch.compile(model, mode=None if a.compile_mode == "default" else a.compile_mode)
    if a.precision == "bf16":
        groupnorm_in_fp32(model)
        fwd = autocast_bf16(fwd, device)
    print(f"torch_e2e: {impl}, {a.what} on {machine}, {out['precision']}, torch {torch.__version__}"
          + ("" if gpu else f", threads {torch.get_num_threads()}"), flush=True)
    try:
        if a.what == "train":
            bench_train(a, device, fwd, model, out)
            results.append(out)
        else:
            for sampler, k in zip(samplers, steps):
                r = dict(out)
                results.append(r)
                bench_sample(a, device, fwd, model, r, sampler, k)
    except Exception as e:  # recorded in the JSON, so one failure does not lose the others
        err = f"{type(e).__name__}: {e}"
        (results[-1] if results else out)["error"] = err
        print("torch_e2e: " + err, file=sys.stderr)
        return finish(1)
    for r in results:
        print(f"RESULT images_per_s={r['images_per_s']:.4f}")
    return finish(0)


if __name__ == "__main__":
    sys.exit(main())
