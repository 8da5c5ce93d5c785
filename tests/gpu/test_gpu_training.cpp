// End-to-end checks on the GPU: training steps track the CPU's, the steady
// state allocates nothing, sampling is repeatable bit for bit, and the
// device's random draws equal the CPU's.
//
// These run the whole UNet, so they need every op's CUDA kernels (the dense
// ones included) in the default fp32 math mode, and one case in bf16.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "autograd/functions.h"
#include "diffusion/sampler.h"
#include "diffusion/streams.h"
#include "diffusion/trainer.h"
#include "kernels/math_mode.h"
#include "kernels/q_sample.h"
#include "nn/unet.h"
#include "tensor/bf16.h"
#include "tensor/cuda_backend.h"
#include "tensor/rng.h"
#include "tests/preconditions.h"

namespace ddpm::test {

namespace {

// The tiny configuration of the GPU checks: base 8, time embedding 16,
// batch 4 of 32x32 single-channel images.
TrainConfig tiny_config() {
  TrainConfig cfg;
  cfg.model.base_channels = 8;
  cfg.model.time_embed_dim = 16;
  cfg.model.time_embedding = nn::TimeEmbedding::sinusoidal;
  cfg.batch_size = 4;
  cfg.warmup_steps = 2;
  cfg.lr = 1e-3;
  cfg.seed = 3;
  return cfg;
}

// 16 random images in [-1, 1]: four batches per epoch, so the steps below
// cross an epoch boundary (a new data order).
Tensor random_images() { return rand_uniform({16, 1, 32, 32}, -1, 1, 42, 0); }

// Element i of a and b (float tensors) differ by at most one float rounding
// of the same real value: |a - b| <= 2^-23 |b|. Returns the number that
// differ at all (expected: a handful at most).
int64_t check_within_one_ulp(const Tensor& a, const Tensor& b, const char* what) {
  const std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
  REQUIRE(va.size() == vb.size());
  int64_t differ = 0, outside = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (va[i] == vb[i]) continue;
    ++differ;
    if (!(std::fabs(static_cast<double>(va[i]) - vb[i]) <=
          std::ldexp(std::fabs(static_cast<double>(vb[i])), -23)))
      ++outside;
  }
  INFO(what << ": " << differ << " of " << va.size() << " elements differ, " << outside
            << " by more than 1 ulp");
  CHECK(outside == 0);
  return differ;
}

}  // namespace

TEST_CASE("gpu: training steps on the GPU track the CPU's losses and gradient norms") {
  const TrainConfig cfg = tiny_config();
  const Tensor images = random_images();
  Trainer cpu(cfg, images, Device::cpu), gpu(cfg, images, Device::cuda);
  // Same weights (drawn on the host, then copied), same timesteps and data
  // order (host Philox), the same noise up to 1 ulp: the runs differ only by
  // float rounding (summation order in the reductions and convolutions,
  // fused multiply-adds). Measured on the CPU by perturbing every weight by a
  // relative 1e-6 after each step: loss differences stay below 1e-6 over ten
  // steps (Adam normalises the gradient, so rounding does not blow up this
  // early). 1e-4 leaves a factor 100 for the GPU's different rounding while a
  // wrong kernel (a missed element, a wrong gradient) moves the loss by
  // percents.
  const double tol = 1e-4;
  for (int s = 0; s < 6; ++s) {
    const Trainer::StepResult rc = cpu.step(), rg = gpu.step();
    INFO("step " << s << ": loss cpu " << rc.loss << " gpu " << rg.loss << ", gradient norm cpu "
                 << rc.grad_norm << " gpu " << rg.grad_norm);
    CHECK(std::isfinite(rg.loss));
    CHECK(std::fabs(rg.loss - rc.loss) <= tol * std::fabs(rc.loss));
    CHECK(std::fabs(rg.grad_norm - rc.grad_norm) <= tol * std::fabs(rc.grad_norm));
    CHECK(rg.lr == rc.lr);
  }
}

// --precision bf16 on the GPU (MathMode::bf16: the convolutions on BF16
// tensor cores, FP32 elsewhere) against FP32 training on the GPU, from the
// same weights and draws. The CPU's two modes (BF16 through its Winograd,
// whose transforms are rounded; the same tiny configuration, measured
// 2026-12-08) differ by at most 3.1e-4 in the loss and 2.5e-3 in the
// gradient norm over these six steps; BF16 rounding of raw operands is of
// the same size. 5e-3 and 1.5e-2 leave a factor 6-16, while a wrong fragment
// or packing garbles every convolution (the loss moves by tens of percent at
// the first step). And the two must differ somewhere: equal results would
// mean the BF16 cores never ran.
TEST_CASE("gpu: BF16 training steps on the GPU track FP32 training on the GPU") {
  const TrainConfig cfg = tiny_config();
  const Tensor images = random_images();
  Trainer fp32(cfg, images, Device::cuda), bf16(cfg, images, Device::cuda);
  double most = 0;
  for (int s = 0; s < 6; ++s) {
    Trainer::StepResult rf, rb;
    {
      kernels::MathModeScope m(kernels::MathMode::fp32);
      rf = fp32.step();
    }
    {
      kernels::MathModeScope m(kernels::MathMode::bf16);
      rb = bf16.step();
    }
    const double dl = std::fabs(rb.loss - rf.loss) / std::fabs(rf.loss),
                 dn = std::fabs(rb.grad_norm - rf.grad_norm) / std::fabs(rf.grad_norm);
    INFO("step " << s << ": loss fp32 " << rf.loss << " bf16 " << rb.loss << ", gradient norm fp32 "
                 << rf.grad_norm << " bf16 " << rb.grad_norm);
    CHECK(std::isfinite(rb.loss));
    CHECK(dl <= 5e-3);
    CHECK(dn <= 1.5e-2);
    most = std::max({most, dl, dn});
  }
  CHECK(most > 1e-6);
}

// CTest entry `gpu-allocator` (precondition `caching-allocator`), skipped
// with DDPM_CUDA_DIRECT_ALLOC=1, which bypasses the caching allocator; a bare
// run (memcheck in scripts/gpu-check.sh) skips it through the decorator.
TEST_CASE("gpu-allocator: after two steps, training steps make no cudaMalloc calls" *
          test::unless_missing("caching-allocator")) {
  DDPM_REQUIRE_PRECONDITION("caching-allocator");
  Trainer gpu(tiny_config(), random_images(), Device::cuda);
  gpu.step();
  gpu.step();
  const cuda::AllocatorStats before = cuda::allocator_stats();
  for (int s = 0; s < 4; ++s) gpu.step();
  const cuda::AllocatorStats after = cuda::allocator_stats();
  INFO("cudaMalloc calls " << before.cuda_malloc_calls << " -> " << after.cuda_malloc_calls
                           << ", bytes in use " << before.bytes_in_use << " -> " << after.bytes_in_use);
  CHECK(after.cuda_malloc_calls == before.cuda_malloc_calls);
  CHECK(after.bytes_in_use == before.bytes_in_use);  // nothing leaks from step to step
}

TEST_CASE("gpu: sampling twice on the GPU with the same seed gives bitwise equal results") {
  const TrainConfig cfg = tiny_config();
  nn::UNet model(cfg.model, cfg.seed);
  model.to(Device::cuda);
  const NoiseScheduler sched(cfg.schedule, cfg.timesteps);
  const DenoiseFn denoise = [&](const Tensor& x, const Tensor& t) { return model.forward(x, t); };
  for (SamplerKind kind :
       {SamplerKind::ddpm, SamplerKind::ddim, SamplerKind::dpmpp_2m, SamplerKind::euler_a}) {
    SamplerConfig sc;
    sc.kind = kind;
    sc.steps = 8;
    sc.spacing = default_spacing(kind);
    sc.eta = kind == SamplerKind::ddim
                 ? 1.0
                 : 0.0;  // DDIM with noise too: the device draws are part of what repeats
    sc.seed = 11;
    sc.stream = streams::kSampling;
    const Tensor a = sample(sched, denoise, {3, 1, 32, 32}, sc, DType::f32, Device::cuda);
    const Tensor b = sample(sched, denoise, {3, 1, 32, 32}, sc, DType::f32, Device::cuda);
    CHECK(a.device() == Device::cuda);
    const std::vector<float> va = a.to_vector<float>(), vb = b.to_vector<float>();
    CHECK_MESSAGE(va == vb, sampler_kind_name(kind) << " sampling is not repeatable");
    bool finite = true;
    for (float v : va) finite = finite && std::isfinite(v);
    CHECK(finite);
  }
}

TEST_CASE("gpu: q_sample noise on the GPU equals the CPU's") {
  // The trainer's call at step 5 of a batch of 4 32x32 images.
  const Shape shape{4, 1, 32, 32};
  const int64_t per = 32 * 32;
  const uint64_t offset = 5 * 4 * per;
  const Tensor x0 = rand_uniform(shape, -1, 1, 1, 0);
  const Tensor a = rand_uniform({4}, 0.1, 1, 1, 1), b = rand_uniform({4}, 0.1, 1, 1, 2);
  for (bool v_pred : {false, true}) {
    const kernels::QSampleResult qc = kernels::q_sample(x0, a, b, 3, streams::kTrainNoise, offset, v_pred);
    const kernels::QSampleResult qg = kernels::q_sample(
        x0.to(Device::cuda), a.to(Device::cuda), b.to(Device::cuda), 3, streams::kTrainNoise, offset, v_pred);
    // The same Philox draw and double Box-Muller on both; the device's double
    // log/cos (within 2 ulp) may move a value across a float rounding
    // boundary: at most 1 ulp, rarely.
    const int64_t differ = check_within_one_ulp(qg.noise, qc.noise, "q_sample noise");
    CHECK(differ <= 4);
  }
}

TEST_CASE("gpu: device fills and Philox draws equal the CPU's") {
  const Shape shape{3, 5, 7};
  Tensor g = Tensor::empty(shape, DType::f32, Device::cuda);
  g.fill_(-2.5);
  CHECK(g.to_vector<float>() == std::vector<float>(105, -2.5f));
  g.fill_(0.0);
  CHECK(g.to_vector<float>() == std::vector<float>(105, 0.0f));
  CHECK(Tensor::ones(shape, DType::f32, Device::cuda).to_vector<float>() == std::vector<float>(105, 1.0f));
  CHECK(Tensor::full({}, 0.25, DType::f64, Device::cuda).item() == 0.25);
  // Same (seed, stream, offset) on both devices, element for element.
  check_within_one_ulp(randn({1001}, 9, 4, DType::f32, Device::cuda), randn({1001}, 9, 4), "randn");
  check_within_one_ulp(rand_uniform({1001}, -3, 2, 9, 5, DType::f32, Device::cuda),
                       rand_uniform({1001}, -3, 2, 9, 5), "rand_uniform");
  Tensor off_g = Tensor::empty({64}, DType::f32, Device::cuda), off_c = Tensor::empty({64});
  fill_normal(off_g, 9, 4, uint64_t{1} << 40);
  fill_normal(off_c, 9, 4, uint64_t{1} << 40);
  check_within_one_ulp(off_g, off_c, "fill_normal at offset 2^40");
}

TEST_CASE("gpu: bf16 tensors fill, copy and draw on the device as on the CPU") {
  Tensor b = Tensor::empty({2, 65}, DType::bf16, Device::cuda);
  b.fill_(1.0 / 3.0);
  const Tensor back = b.to(Device::cpu);
  CHECK(back.dtype() == DType::bf16);
  for (int64_t i = 0; i < back.numel(); ++i)
    CHECK(back.data<bf16>()[i].bits == float_to_bf16_bits(1.0f / 3.0f));
  // Host -> device -> host keeps every bit, and conversions agree.
  const Tensor h = randn({257}, 4, 2).to(DType::bf16);
  const Tensor round = h.to(Device::cuda).to(Device::cpu);
  for (int64_t i = 0; i < h.numel(); ++i) CHECK(round.data<bf16>()[i].bits == h.data<bf16>()[i].bits);
  // Draws: the float draw rounded once on both devices; the float draws may
  // differ by an ulp (the check above), so the bf16 bits by at most one.
  const Tensor gd = randn({1001}, 9, 4, DType::bf16, Device::cuda).to(Device::cpu);
  const Tensor cd = randn({1001}, 9, 4, DType::bf16);
  int64_t far = 0;
  for (int64_t i = 0; i < cd.numel(); ++i) {
    const int a = gd.data<bf16>()[i].bits, c = cd.data<bf16>()[i].bits;
    if (a != c && a != c + 1 && a != c - 1) ++far;
  }
  CHECK(far == 0);
}

}  // namespace ddpm::test
