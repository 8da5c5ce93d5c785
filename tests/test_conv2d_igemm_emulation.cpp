// The CUDA conv2d's implicit-GEMM building blocks (kernels/cuda/conv2d_igemm.h)
// run on the CPU: every block of the grid is emulated k-tile by k-tile with
// 256 loader / core instances (one per thread), the same code the GPU runs,
// and the results are compared with a float64 CPU convolution. This checks,
// without a GPU, the loaders' gathers (im2col addressing, padding, stride,
// tile and problem edges), that the loaders fill every shared-memory tile
// slot once, that the cores hand every tile element to the epilogue once,
// the epilogues' NCHW addressing, the split-K plan and its ordered reduce.
// What it cannot check is the GPU main loop (double buffering, barriers) and
// mma.sync itself, emulated here from the PTX fragment layout.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cuda/conv2d_igemm.h"
#include "tensor/bf16.h"

namespace ddpm::test {

namespace {

namespace ig = kernels::cuda::igemm;

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// ---- the per-k-tile compute of a block, for each core ----

template <class Core>
struct Smem {
  alignas(16) float as[Core::kAStage];
  alignas(16) float bs[Core::kBStage];
};

// The SIMT cores run per thread, as on the GPU.
template <class Core>
void simt_compute(std::vector<Core>& core, const Smem<Core>& sm) {
  for (int tid = 0; tid < ig::kThreads; ++tid) core[static_cast<size_t>(tid)].compute(sm.as, sm.bs, tid);
}
void compute(std::vector<ig::SimtCore>& core, const Smem<ig::SimtCore>& sm) { simt_compute(core, sm); }
void compute(std::vector<ig::WideSimtCore>& core, const Smem<ig::WideSimtCore>& sm) {
  simt_compute(core, sm);
}

// mma.sync.m16n8k8 for each warp, assembled from the lanes' fragments by the
// PTX layout (g = lane / 4, t = lane % 4): A(g, t) = a0, A(g+8, t) = a1,
// A(g, t+4) = a2, A(g+8, t+4) = a3; B(t, g) = b0, B(t+4, g) = b1;
// D(g, 2t + q%2 + 8 (q/2)) += d_q.
float from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
// The m16n8kK product of one warp's tile (mi, ni) from the assembled A, B,
// added to each lane's D fragment (lane: g = lane / 4, t = lane % 4; d_q at
// (g + 8 (q / 2), 2t + q % 2)), in float64 then rounded once to float.
template <class Core, int K>
void mma_accumulate(std::vector<Core>& core, int warp, int mi, int ni, const float (&A)[16][K],
                    const float (&B)[K][8]) {
  for (int lane = 0; lane < 32; ++lane) {
    const int g = lane / 4, t = lane % 4;
    for (int q = 0; q < 4; ++q) {
      const int row = g + 8 * (q / 2), col = 2 * t + q % 2;
      double dot = 0;
      for (int k = 0; k < K; ++k) dot += static_cast<double>(A[row][k]) * static_cast<double>(B[k][col]);
      float& d = core[static_cast<size_t>(warp * 32 + lane)].acc[mi][ni][q];
      d = static_cast<float>(static_cast<double>(d) + dot);
    }
  }
}

// Both TF32 cores: the one rounding on the store (Tf32Core) and the one
// rounding each fragment element as it is read (Tf32ReadCore).
template <bool kRoundOnRead>
void compute(std::vector<ig::Tf32CoreT<kRoundOnRead>>& core, const Smem<ig::Tf32CoreT<kRoundOnRead>>& sm) {
  for (int warp = 0; warp < ig::kThreads / 32; ++warp) {
    uint32_t a[32][2][4], b[32][4][2];
    for (int lane = 0; lane < 32; ++lane)
      ig::Tf32CoreT<kRoundOnRead>::fragments(sm.as, sm.bs, warp * 32 + lane, a[lane], b[lane]);
    for (int mi = 0; mi < 2; ++mi)
      for (int ni = 0; ni < 4; ++ni) {
        float A[16][8], B[8][8];
        for (int lane = 0; lane < 32; ++lane) {
          const int g = lane / 4, t = lane % 4;
          A[g][t] = from_bits(a[lane][mi][0]);
          A[g + 8][t] = from_bits(a[lane][mi][1]);
          A[g][t + 4] = from_bits(a[lane][mi][2]);
          A[g + 8][t + 4] = from_bits(a[lane][mi][3]);
          B[t][g] = from_bits(b[lane][ni][0]);
          B[t + 4][g] = from_bits(b[lane][ni][1]);
        }
        mma_accumulate(core, warp, mi, ni, A, B);
      }
  }
}

// mma.sync.m16n8k8 bf16 for each warp, from the lanes' packed fragments by
// the PTX layout: a0 = {A(g, 2t), A(g, 2t+1)}, a1 = {A(g+8, 2t), A(g+8,
// 2t+1)}, b0 = {B(2t, g), B(2t+1, g)}, the lower k in the lower 16 bits; D as
// for TF32. BF16 products are exact in float64, as on the tensor cores.
float bf16_lo(uint32_t u) { return bf16_bits_to_float(static_cast<uint16_t>(u & 0xffffu)); }
float bf16_hi(uint32_t u) { return bf16_bits_to_float(static_cast<uint16_t>(u >> 16)); }
void compute(std::vector<ig::Bf16Core>& core, const Smem<ig::Bf16Core>& sm) {
  for (int warp = 0; warp < ig::kThreads / 32; ++warp) {
    uint32_t a[32][2][2], b[32][4];
    for (int lane = 0; lane < 32; ++lane)
      ig::Bf16Core::fragments(sm.as, sm.bs, warp * 32 + lane, a[lane], b[lane]);
    for (int mi = 0; mi < 2; ++mi)
      for (int ni = 0; ni < 4; ++ni) {
        float A[16][8], B[8][8];
        for (int lane = 0; lane < 32; ++lane) {
          const int g = lane / 4, t = lane % 4;
          A[g][2 * t] = bf16_lo(a[lane][mi][0]);
          A[g][2 * t + 1] = bf16_hi(a[lane][mi][0]);
          A[g + 8][2 * t] = bf16_lo(a[lane][mi][1]);
          A[g + 8][2 * t + 1] = bf16_hi(a[lane][mi][1]);
          B[2 * t][g] = bf16_lo(b[lane][ni]);
          B[2 * t + 1][g] = bf16_hi(b[lane][ni]);
        }
        mma_accumulate(core, warp, mi, ni, A, B);
      }
  }
}

// The wide TF32 core: per warp, two m16n8k8 steps for each of its 4 x 4
// tiles, the lanes' fragments (from the emulated ldmatrix) assembled by the
// PTX layout as for the narrow core.
void compute(std::vector<ig::WideTf32Core>& core, const Smem<ig::WideTf32Core>& sm) {
  for (int warp = 0; warp < ig::kThreads / 32; ++warp) {
    uint32_t a[32][2][4][4], b[32][2][4][2];
    for (int lane = 0; lane < 32; ++lane)
      for (int ks = 0; ks < 2; ++ks) {
        ig::WideTf32Core::b_fragments(sm.bs, warp * 32 + lane, ks, b[lane][ks]);
        for (int mi = 0; mi < 4; ++mi)
          ig::WideTf32Core::a_fragment(sm.as, warp * 32 + lane, ks, mi, a[lane][ks][mi]);
      }
    for (int ks = 0; ks < 2; ++ks)
      for (int mi = 0; mi < 4; ++mi)
        for (int ni = 0; ni < 4; ++ni) {
          float A[16][8], B[8][8];
          for (int lane = 0; lane < 32; ++lane) {
            const int g = lane / 4, t = lane % 4;
            A[g][t] = from_bits(a[lane][ks][mi][0]);
            A[g + 8][t] = from_bits(a[lane][ks][mi][1]);
            A[g][t + 4] = from_bits(a[lane][ks][mi][2]);
            A[g + 8][t + 4] = from_bits(a[lane][ks][mi][3]);
            B[t][g] = from_bits(b[lane][ks][ni][0]);
            B[t + 4][g] = from_bits(b[lane][ks][ni][1]);
          }
          mma_accumulate(core, warp, mi, ni, A, B);
        }
  }
}

// The wide BF16 core: one mma.sync.m16n8k16 bf16 per tile, assembled by its
// PTX layout (a0 = A(g, 2t..2t+1), a1 = A(g+8, 2t..2t+1), a2 = A(g, 2t+8..
// 2t+9), a3 = A(g+8, 2t+8..2t+9); b0 = B(2t..2t+1, g), b1 = B(2t+8..2t+9,
// g); lower k in the lower half). Which tile k the core hands to which mma k
// is its business; only a consistent choice for A and B gives the product.
void compute(std::vector<ig::WideBf16Core>& core, const Smem<ig::WideBf16Core>& sm) {
  for (int warp = 0; warp < ig::kThreads / 32; ++warp) {
    uint32_t a[32][4][4], b[32][4][2];
    for (int lane = 0; lane < 32; ++lane) {
      ig::WideBf16Core::b_fragments(sm.bs, warp * 32 + lane, b[lane]);
      for (int mi = 0; mi < 4; ++mi) ig::WideBf16Core::a_fragment(sm.as, warp * 32 + lane, mi, a[lane][mi]);
    }
    for (int mi = 0; mi < 4; ++mi)
      for (int ni = 0; ni < 4; ++ni) {
        float A[16][16], B[16][8];
        for (int lane = 0; lane < 32; ++lane) {
          const int g = lane / 4, t = lane % 4;
          for (int r = 0; r < 4; ++r) {
            const int row = g + 8 * (r % 2), col = 2 * t + 8 * (r / 2);
            A[row][col] = bf16_lo(a[lane][mi][r]);
            A[row][col + 1] = bf16_hi(a[lane][mi][r]);
          }
          for (int r = 0; r < 2; ++r) {
            B[2 * t + 8 * r][g] = bf16_lo(b[lane][ni][r]);
            B[2 * t + 8 * r + 1][g] = bf16_hi(b[lane][ni][r]);
          }
        }
        mma_accumulate(core, warp, mi, ni, A, B);
      }
  }
}

// ---- one block ----

// Runs k-tiles [kt_begin, kt_end) of one block whose loaders are ld, then
// hands every result to make_epi()'s epilogue. Checks that each k-tile's
// stores fill every slot of the shared tiles (they start as NaN) and that the
// cores produce every (row, col) of the block tile exactly once. Narrow
// tiles are filled through registers (load, store), wide ones by cp.async
// (issue, then each thread's wait lands its copies).
template <class Core, class Loader, class Epi>
void emulate_block(std::vector<Loader>& ld, int kt_begin, int kt_end, const Epi& epi) {
  auto sm = std::make_unique<Smem<Core>>();
  std::vector<Core> core(ig::kThreads);
  for (Core& c : core) c.zero();
  for (int kt = kt_begin; kt < kt_end; ++kt) {
    for (float& v : sm->as) v = kNaN;
    for (float& v : sm->bs) v = kNaN;
    if constexpr (Core::kWide) {
      for (const Loader& l : ld) {
        l.template issue<Core>(kt, sm->as, sm->bs);
        ig::cp_async_commit();
        ig::cp_async_wait<0>();
      }
    } else {
      for (Loader& l : ld) l.load(kt);
      for (Loader& l : ld) l.template store<Core>(sm->as, sm->bs);
    }
    int unfilled = 0;
    for (int k = 0; k < Core::kTileK; ++k) {
      for (int m = 0; m < Core::kTileM; ++m) unfilled += std::isnan(sm->as[Core::a_off(k, m)]) ? 1 : 0;
      for (int n = 0; n < Core::kTileN; ++n) unfilled += std::isnan(sm->bs[Core::b_off(k, n)]) ? 1 : 0;
    }
    REQUIRE_MESSAGE(unfilled == 0, unfilled << " shared-memory tile slots not written at k-tile " << kt);
    compute(core, *sm);
  }
  std::vector<int> seen(Core::kTileM * Core::kTileN, 0);
  for (int tid = 0; tid < ig::kThreads; ++tid)
    core[static_cast<size_t>(tid)].for_each(tid, [&](int row, int col, float) {
      REQUIRE((row >= 0 && row < Core::kTileM && col >= 0 && col < Core::kTileN));
      ++seen[static_cast<size_t>(row * Core::kTileN + col)];
    });
  for (int v : seen) REQUIRE(v == 1);
  for (int tid = 0; tid < ig::kThreads; ++tid) core[static_cast<size_t>(tid)].for_each(tid, epi);
}

// ---- the three passes on the whole grid ----

template <class Core>
std::vector<float> emu_fwd(const std::vector<float>& x, const std::vector<float>& w, const float* bias,
                           const ig::Geom& g) {
  constexpr int TM = Core::kTileM, TN = Core::kTileN;
  std::vector<float> y(static_cast<size_t>(g.N) * g.Cout * g.HWo, kNaN);
  for (int by = 0; by < ig::ceil_div(g.Cout, TM); ++by)
    for (int bx = 0; bx < ig::ceil_div(g.pix_out, TN); ++bx) {
      std::vector<ig::LoaderFor<Core, ig::FwdLoader>> ld;
      for (int tid = 0; tid < ig::kThreads; ++tid)
        ld.emplace_back(x.data(), w.data(), g, by * TM, bx * TN, tid);
      emulate_block<Core>(ld, 0, ig::ceil_div(g.CKK, Core::kTileK),
                          ig::FwdEpilogue{y.data(), bias, g, by * TM, bx * TN});
    }
  return y;
}

template <class Core, bool kUnit>
void emu_bwd_data_block(const std::vector<float>& gy, const std::vector<float>& w, const ig::Geom& g, int by,
                        int bx, const ig::BwdDataEpilogue& epi) {
  std::vector<ig::LoaderFor<Core, ig::BwdDataLoader<kUnit>>> ld;
  for (int tid = 0; tid < ig::kThreads; ++tid)
    ld.emplace_back(gy.data(), w.data(), g, by * Core::kTileM, bx * Core::kTileN, tid);
  emulate_block<Core>(ld, 0, ig::ceil_div(g.CoKK, Core::kTileK), epi);
}

template <class Core>
std::vector<float> emu_bwd_data(const std::vector<float>& gy, const std::vector<float>& w,
                                const ig::Geom& g) {
  constexpr int TM = Core::kTileM, TN = Core::kTileN;
  std::vector<float> gx(static_cast<size_t>(g.N) * g.Cin * g.HW, kNaN);
  for (int by = 0; by < ig::ceil_div(g.Cin, TM); ++by)
    for (int bx = 0; bx < ig::ceil_div(g.pix_in, TN); ++bx) {
      const ig::BwdDataEpilogue epi{gx.data(), g, by * TM, bx * TN};
      if (g.stride == 1)
        emu_bwd_data_block<Core, true>(gy, w, g, by, bx, epi);
      else
        emu_bwd_data_block<Core, false>(gy, w, g, by, bx, epi);
    }
  return gx;
}

// With the split plan for `sms` SMs: per-split partials, then the reduce
// kernel's ordered sum. Returns gw and the number of splits used.
template <class Core>
std::vector<float> emu_bwd_weight(const std::vector<float>& x, const std::vector<float>& gy,
                                  const ig::Geom& g, int sms, int* splits_used) {
  constexpr int TM = Core::kTileM, TN = Core::kTileN;
  const int tiles = ig::ceil_div(g.pix_out, Core::kTileK);
  const ig::SplitPlan plan = ig::split_plan(tiles, ig::ceil_div(g.Cout, TM) * ig::ceil_div(g.CKK, TN), sms);
  *splits_used = plan.splits;
  const size_t wsize = static_cast<size_t>(g.Cout) * static_cast<size_t>(g.CKK);
  std::vector<float> partial(wsize * static_cast<size_t>(plan.splits), kNaN);
  for (int z = 0; z < plan.splits; ++z)
    for (int by = 0; by < ig::ceil_div(g.Cout, TM); ++by)
      for (int bx = 0; bx < ig::ceil_div(g.CKK, TN); ++bx) {
        std::vector<ig::LoaderFor<Core, ig::BwdWeightLoader>> ld;
        for (int tid = 0; tid < ig::kThreads; ++tid)
          ld.emplace_back(x.data(), gy.data(), g, by * TM, bx * TN, tid);
        const int kt_begin = z * plan.tiles_per_split;
        emulate_block<Core>(
            ld, kt_begin, ig::imin(tiles, kt_begin + plan.tiles_per_split),
            ig::BwdWeightEpilogue{partial.data() + wsize * static_cast<size_t>(z), g, by * TM, bx * TN});
      }
  std::vector<float> gw(wsize);
  for (size_t i = 0; i < wsize; ++i) {
    float acc = partial[i];
    for (int z = 1; z < plan.splits; ++z) acc += partial[wsize * static_cast<size_t>(z) + i];
    gw[i] = acc;
  }
  return gw;
}

// ---- references and comparison ----

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.f, 1.f);
  std::vector<float> v(n);
  for (float& f : v) f = dist(gen);
  return v;
}

// The operand rounding a core applies before it multiplies.
enum class Round { none, tf32, bf16 };

float rounded(float v, Round r) {
  if (r == Round::tf32) return ig::round_tf32(v);
  if (r == Round::bf16) return bf16_bits_to_float(float_to_bf16_bits(v));
  return v;
}

std::vector<double> to_double(const std::vector<float>& v, Round r) {
  std::vector<double> d(v.size());
  for (size_t i = 0; i < v.size(); ++i) d[i] = static_cast<double>(rounded(v[i], r));
  return d;
}

// ||got - want|| / ||want||, or infinity when got has a NaN (an element the
// epilogue never wrote).
double rel_error(const std::vector<float>& got, const std::vector<double>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i])) return std::numeric_limits<double>::infinity();
    const double d = static_cast<double>(got[i]) - want[i];
    num += d * d;
    den += want[i] * want[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

struct Spec {
  int n, cin, cout, h, w, k, stride, pad;
};

// Checks the three passes of one core against float64 references on the
// same (for TF32: TF32-rounded) inputs. Both sides then differ only by float
// summation: errors ~ sqrt(K/2) 2^-24 (K <= 1152 here, ~1.4e-6); 1e-5.
template <class Core>
void check_passes(const Spec& s, Round round, int sms) {
  const ig::Geom g = ig::make_geom(s.n, s.cin, s.h, s.w, s.cout, s.k, s.stride, s.pad);
  kernels::Conv2dDims d{};
  d.N = s.n;
  d.Cin = s.cin;
  d.H = s.h;
  d.W = s.w;
  d.Cout = s.cout;
  d.K = s.k;
  d.stride = s.stride;
  d.pad = s.pad;
  d.Hout = g.Hout;
  d.Wout = g.Wout;
  const std::vector<float> x = random_floats(static_cast<size_t>(s.n) * s.cin * s.h * s.w, 1);
  const std::vector<float> w = random_floats(static_cast<size_t>(s.cout) * g.CKK, 2);
  const std::vector<float> b = random_floats(static_cast<size_t>(s.cout), 3);
  const std::vector<float> gy = random_floats(static_cast<size_t>(s.n) * s.cout * g.HWo, 4);
  const std::vector<double> xd = to_double(x, round), wd = to_double(w, round), gyd = to_double(gy, round);
  const std::vector<double> bd = to_double(b, Round::none);  // the bias is added in the epilogue, unrounded
  constexpr double tol = 1e-5;

  std::vector<double> want(static_cast<size_t>(s.n) * s.cout * g.HWo);
  kernels::cpu::conv2d_fwd<double>(xd.data(), wd.data(), bd.data(), want.data(), d);
  const double e_fwd = rel_error(emu_fwd<Core>(x, w, b.data(), g), want);
  CHECK_MESSAGE(e_fwd <= tol, "fwd error " << e_fwd);

  want.assign(static_cast<size_t>(s.n) * s.cin * g.HW, 0.0);
  kernels::cpu::conv2d_bwd_data<double>(gyd.data(), wd.data(), want.data(), d);
  const double e_data = rel_error(emu_bwd_data<Core>(gy, w, g), want);
  CHECK_MESSAGE(e_data <= tol, "bwd-data error " << e_data);

  want.assign(static_cast<size_t>(s.cout) * g.CKK, 0.0);
  kernels::cpu::conv2d_bwd_weight<double>(xd.data(), gyd.data(), want.data(), nullptr, d);
  int splits = 0;
  const double e_weight = rel_error(emu_bwd_weight<Core>(x, gy, g, sms, &splits), want);
  CHECK_MESSAGE(e_weight <= tol, "bwd-weight error " << e_weight << " (" << splits << " splits)");
}

const Spec kSpecs[] = {
    {2, 3, 5, 7, 9, 3, 1, 1},      // odd, 3x3 same padding: one partial tile each way
    {2, 3, 5, 7, 9, 1, 1, 0},      // 1x1
    {2, 3, 5, 7, 9, 3, 2, 1},      // stride 2 (bwd-data's divisibility path)
    {2, 3, 5, 8, 9, 3, 2, 0},      // stride 2, no padding, even height
    {2, 3, 4, 7, 9, 5, 1, 2},      // 5x5
    {1, 2, 3, 6, 6, 2, 2, 0},      // even kernel, stride = kernel
    {3, 67, 70, 11, 13, 3, 1, 1},  // two row tiles, 429 pixels (4 column tiles), Cin*K*K = 603
    {1, 64, 64, 32, 32, 3, 1, 1},  // the UNet's 64 -> 64 at 32 x 32: 8 column tiles, split bwd-weight
    {2, 1, 64, 16, 16, 3, 1, 1},   // Cin = 1: Cin*K*K = 9, one full and one nearly empty k-tile
};

std::string spec_str(const Spec& s) {
  return "x [" + std::to_string(s.n) + ", " + std::to_string(s.cin) + ", " + std::to_string(s.h) + ", " +
         std::to_string(s.w) + "] w [" + std::to_string(s.cout) + ", " + std::to_string(s.cin) + ", " +
         std::to_string(s.k) + ", " + std::to_string(s.k) + "] s" + std::to_string(s.stride) + " p" +
         std::to_string(s.pad);
}

}  // namespace

TEST_CASE("parity: CUDA conv2d implicit-GEMM tiles (FP32 SIMT core), emulated on the CPU, match conv2d") {
  for (const Spec& s : kSpecs) {
    INFO(spec_str(s));
    check_passes<ig::SimtCore>(s, Round::none, 132);
  }
}

TEST_CASE(
    "parity: CUDA conv2d implicit-GEMM tiles (TF32 mma core), emulated on the CPU, match conv2d on TF32 "
    "inputs") {
  for (const Spec& s : kSpecs) {
    INFO(spec_str(s));
    check_passes<ig::Tf32Core>(s, Round::tf32, 132);
  }
}

// The BF16 core: operands rounded to BF16 (nearest even) and packed in pairs
// as the fragments are read; the reference multiplies the same BF16 values
// in float64, so the two differ by float accumulation only (1e-5, as above).
TEST_CASE(
    "parity: CUDA conv2d implicit-GEMM tiles (BF16 mma core), emulated on the CPU, match conv2d on BF16 "
    "inputs") {
  for (const Spec& s : kSpecs) {
    INFO(spec_str(s));
    check_passes<ig::Bf16Core>(s, Round::bf16, 132);
  }
  // The packing: the lower k in the lower half, each value rounded to nearest even.
  CHECK(ig::Bf16Core::pack(1.0f, -2.0f) == 0xc0003f80u);
  const float up = 1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -12);  // past the halfway point: up
  const float tie = 1.0f + std::ldexp(1.0f, -8);                         // a tie at an even bf16: down
  CHECK(ig::Bf16Core::pack(up, tie) == ((0x3f80u << 16) | 0x3f81u));
}

// The cp.async main loop's TF32 core: shared memory holds the operands
// unrounded and the fragments round them. Its results must be those of the
// register-staged core bit for bit (same rounded operands, same k order).
TEST_CASE(
    "parity: CUDA conv2d TF32 core rounding on fragment reads (the cp.async path) gives the bits of the one "
    "rounding on stores") {
  const auto same_bits = [](const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
  };
  for (const Spec& s : kSpecs) {
    INFO(spec_str(s));
    check_passes<ig::Tf32ReadCore>(s, Round::tf32, 132);
    const ig::Geom g = ig::make_geom(s.n, s.cin, s.h, s.w, s.cout, s.k, s.stride, s.pad);
    const std::vector<float> x = random_floats(static_cast<size_t>(s.n) * s.cin * s.h * s.w, 11);
    const std::vector<float> w = random_floats(static_cast<size_t>(s.cout) * g.CKK, 12);
    const std::vector<float> gy = random_floats(static_cast<size_t>(s.n) * s.cout * g.HWo, 13);
    CHECK(same_bits(emu_fwd<ig::Tf32ReadCore>(x, w, nullptr, g), emu_fwd<ig::Tf32Core>(x, w, nullptr, g)));
    CHECK(same_bits(emu_bwd_data<ig::Tf32ReadCore>(gy, w, g), emu_bwd_data<ig::Tf32Core>(gy, w, g)));
    int s1 = 0, s2 = 0;
    CHECK(same_bits(emu_bwd_weight<ig::Tf32ReadCore>(x, gy, g, 132, &s1),
                    emu_bwd_weight<ig::Tf32Core>(x, gy, g, 132, &s2)));
  }
  // Unrounded values in shared memory are rounded on the way to the mma (and
  // not by Tf32Core, whose stores have rounded them already).
  auto sm = std::make_unique<Smem<ig::Tf32ReadCore>>();
  const std::vector<float> v =
      random_floats(static_cast<size_t>(ig::Tf32ReadCore::kAStage + ig::Tf32ReadCore::kBStage), 14);
  size_t at = 0;
  for (float& f : sm->as) f = v[at++];
  for (float& f : sm->bs) f = v[at++];
  int unrounded = 0, raw = 0;
  for (int tid = 0; tid < ig::kThreads; ++tid) {
    uint32_t a[2][4], b[4][2], a0[2][4], b0[4][2];
    ig::Tf32ReadCore::fragments(sm->as, sm->bs, tid, a, b);
    ig::Tf32Core::fragments(sm->as, sm->bs, tid, a0, b0);
    for (int i = 0; i < 8; ++i) {
      const uint32_t r = a[i / 4][i % 4], r0 = a0[i / 4][i % 4];
      unrounded += (r & 0x1fffu) != 0 || from_bits(r) != ig::round_tf32(from_bits(r0));
      raw += (r0 & 0x1fffu) != 0;
      const uint32_t q = b[i / 2][i % 2], q0 = b0[i / 2][i % 2];
      unrounded += (q & 0x1fffu) != 0 || from_bits(q) != ig::round_tf32(from_bits(q0));
      raw += (q0 & 0x1fffu) != 0;
    }
  }
  CHECK(unrounded == 0);
  CHECK(raw > 0);  // the test values had low bits to lose
}

namespace {

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// A wide core against float64 (check_passes), and, where its sums are the
// narrow core's (same operands, same k order), against that core bit for bit
// (fwd and bwd-data unsplit; bwd-weight with one split, sms = 0).
template <class Wide, class Narrow>
void check_wide(Round round, bool narrow_bits) {
  for (const Spec& s : kSpecs) {
    INFO(spec_str(s));
    check_passes<Wide>(s, round, 132);
    if (!narrow_bits) continue;
    const ig::Geom g = ig::make_geom(s.n, s.cin, s.h, s.w, s.cout, s.k, s.stride, s.pad);
    const std::vector<float> x = random_floats(static_cast<size_t>(s.n) * s.cin * s.h * s.w, 21);
    const std::vector<float> w = random_floats(static_cast<size_t>(s.cout) * g.CKK, 22);
    const std::vector<float> b = random_floats(static_cast<size_t>(s.cout), 23);
    const std::vector<float> gy = random_floats(static_cast<size_t>(s.n) * s.cout * g.HWo, 24);
    CHECK(same_bits(emu_fwd<Wide>(x, w, b.data(), g), emu_fwd<Narrow>(x, w, b.data(), g)));
    CHECK(same_bits(emu_bwd_data<Wide>(gy, w, g), emu_bwd_data<Narrow>(gy, w, g)));
    int s1 = 0, s2 = 0;
    CHECK(same_bits(emu_bwd_weight<Wide>(x, gy, g, 0, &s1), emu_bwd_weight<Narrow>(x, gy, g, 0, &s2)));
  }
}

}  // namespace

// The wide tiles (128 x 128 x 16, filled by cp.async through WideLoader):
// the register-blocked FP32 core (8 x 8 per thread) sums in the narrow SIMT
// core's order, the TF32 one (fragments by ldmatrix from swizzled shared
// memory) runs the narrow TF32 core's mma sequence: both give its bits.
TEST_CASE(
    "parity: CUDA conv2d wide tiles (FP32 8x8-per-thread core), emulated on the CPU, match conv2d and the "
    "narrow SIMT core's bits") {
  check_wide<ig::WideSimtCore, ig::SimtCore>(Round::none, true);
}

TEST_CASE(
    "parity: CUDA conv2d wide tiles (TF32 mma, ldmatrix from swizzled shared memory), emulated on the CPU, "
    "match conv2d on TF32 inputs and the narrow TF32 core's bits") {
  check_wide<ig::WideTf32Core, ig::Tf32Core>(Round::tf32, true);
}

// m16n8k16 sums 16 products per step where the narrow BF16 core sums 8: no
// common bits, the float64 comparison only.
TEST_CASE(
    "parity: CUDA conv2d wide tiles (BF16 mma m16n8k16, ldmatrix), emulated on the CPU, match conv2d on "
    "BF16 inputs") {
  check_wide<ig::WideBf16Core, ig::Bf16Core>(Round::bf16, false);
}

// The swizzle: a bijection of the 128 x 16 tile onto its 2048 floats, and
// every 8-row matrix of every ldmatrix the wide cores issue reads 8
// different 4-bank groups (conflict-free). The same rows unswizzled
// (row * 16 + k) conflict, so the check can fail.
TEST_CASE(
    "parity: CUDA conv2d wide tiles' swizzled shared memory is a bijection and ldmatrix reads are "
    "conflict-free") {
  std::vector<int> hits(ig::kWM * ig::kWK, 0);
  for (int m = 0; m < ig::kWM; ++m)
    for (int k = 0; k < ig::kWK; ++k) {
      const int off = ig::swizzled(m, k);
      REQUIRE((off >= 0 && off < ig::kWM * ig::kWK));
      ++hits[static_cast<size_t>(off)];
    }
  for (int h : hits) CHECK(h == 1);
  // Undo the swizzle of a row offset: (row, chunk) -> the unswizzled offset.
  const auto unswizzle = [](int off) {
    const int row = off / ig::kWK, chunk = ((off % ig::kWK) / 4) ^ ((row >> 1) & 3);
    return row * ig::kWK + chunk * 4;
  };
  int conflicted = 0, conflicted_plain = 0, loads = 0;
  const auto count = [&](const auto& row_of) {
    for (int i = 0; i < 4; ++i) {  // the x4 load's four matrices, one shared-memory phase each
      int seen = 0, seen_plain = 0;
      bool clash = false, clash_plain = false;
      for (int r = 0; r < 8; ++r) {
        const int off = row_of(8 * i + r);
        REQUIRE(off % 4 == 0);
        const int group = (off / 4) % 8, group_plain = (unswizzle(off) / 4) % 8;
        clash = clash || (seen >> group & 1);
        clash_plain = clash_plain || (seen_plain >> group_plain & 1);
        seen |= 1 << group;
        seen_plain |= 1 << group_plain;
      }
      conflicted += clash;
      conflicted_plain += clash_plain;
      ++loads;
    }
  };
  for (int warp = 0; warp < ig::kThreads / 32; ++warp)
    for (int ks = 0; ks < 2; ++ks)
      for (int i = 0; i < 4; ++i) {
        count([&](int l) { return ig::MmaWideTiles::a_row(warp * 32, ks, i, l); });
        if (i < 2) count([&](int l) { return ig::MmaWideTiles::b_row(warp * 32, ks, i, l); });
      }
  CHECK(loads == 8 * 2 * 6 * 4);
  CHECK(conflicted == 0);
  CHECK(conflicted_plain == loads);
}

TEST_CASE("parity: CUDA conv2d weight-gradient split plans cover the pixels with no empty split") {
  for (int tiles : {1, 2, 15, 16, 17, 100, 256, 1000, 16384, 1 << 20})
    for (int mn : {1, 5, 36, 216, 1000})
      for (int sms : {1, 132}) {
        const ig::SplitPlan p = ig::split_plan(tiles, mn, sms);
        INFO("tiles " << tiles << " mn blocks " << mn << " sms " << sms);
        CHECK(p.splits >= 1);
        CHECK(p.splits <= 256);
        CHECK(p.tiles_per_split >= 1);
        CHECK((p.splits - 1) * p.tiles_per_split < tiles);  // the last split is not empty
        CHECK(p.splits * p.tiles_per_split >= tiles);       // and they cover every tile
        if (p.splits > 1) CHECK(p.tiles_per_split >= 16);
      }
  // Different split counts give the same weight gradient up to float summation.
  const ig::Geom g = ig::make_geom(2, 3, 17, 19, 5, 3, 1, 1);
  const std::vector<float> x = random_floats(static_cast<size_t>(2 * 3 * 17 * 19), 5);
  const std::vector<float> gy = random_floats(static_cast<size_t>(2 * 5 * 17 * 19), 6);
  int s1 = 0, s2 = 0;
  const std::vector<float> a = emu_bwd_weight<ig::SimtCore>(x, gy, g, 0, &s1);  // nothing to fill: one split
  const std::vector<float> b = emu_bwd_weight<ig::SimtCore>(x, gy, g, 1000, &s2);
  CHECK(s1 == 1);
  CHECK(s2 > 1);
  const double err = rel_error(a, to_double(b, Round::none));
  CHECK(err <= 1e-5);  // 646 pixels summed in two orders: ~sqrt(323) 2^-24 ~ 1e-6 each
}

TEST_CASE("parity: TF32 rounding matches cvt.rna (nearest, ties away from zero, 13 low bits cleared)") {
  const auto bits = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
  };
  CHECK(ig::round_tf32(1.0f) == 1.0f);
  CHECK(ig::round_tf32(-2.5f) == -2.5f);
  const float one_ulp_tf32 = std::ldexp(1.0f, -10);
  CHECK(ig::round_tf32(1.0f + std::ldexp(1.0f, -11)) == 1.0f + one_ulp_tf32);  // a tie: away from zero
  CHECK(ig::round_tf32(-(1.0f + std::ldexp(1.0f, -11))) == -(1.0f + one_ulp_tf32));
  CHECK(ig::round_tf32(1.0f + std::ldexp(1.0f, -12)) == 1.0f);  // below half: down
  CHECK((bits(ig::round_tf32(0.1f)) & 0x1fffu) == 0u);
  CHECK(std::isinf(ig::round_tf32(std::numeric_limits<float>::infinity())));
  CHECK(std::isnan(ig::round_tf32(kNaN)));
}

}  // namespace ddpm::test
