// Improved precision and recall (eval/precision_recall.h).
#include "eval/precision_recall.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

#include "eval/eigen.h"  // first: see the note on GCC 12 there

namespace ddpm::eval {
namespace {

constexpr int64_t kRowBlock = 128;  // query rows per task
constexpr int64_t kColBlock = 512;  // reference rows per GEMM

using ConstRowMap = Eigen::Map<const RowMatrixD>;

std::vector<double> squared_norms(const double* x, int64_t n, int64_t d) {
  std::vector<double> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = ConstRowMap(x + i * d, 1, d).squaredNorm();
  return out;
}

// g = squared distances between rows [r0, r0 + rows) of a and [c0, c0 + cols)
// of b, clamped at 0 (the expansion can round below).
void block_distances(const double* a, const std::vector<double>& na, int64_t r0, int64_t rows,
                     const double* b, const std::vector<double>& nb, int64_t c0, int64_t cols, int64_t d,
                     RowMatrixD& g) {
  g.resize(rows, cols);
  g.noalias() = ConstRowMap(a + r0 * d, rows, d) * ConstRowMap(b + c0 * d, cols, d).transpose();
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j)
      g(i, j) =
          std::max(0.0, na[static_cast<size_t>(r0 + i)] + nb[static_cast<size_t>(c0 + j)] - 2.0 * g(i, j));
}

int64_t num_blocks(int64_t n) { return (n + kRowBlock - 1) / kRowBlock; }

void check_set(int64_t n, int64_t d, int64_t k, const char* what) {
  if (k < 1 || d < 1 || n <= k) {
    std::ostringstream os;
    os << "precision_recall: " << what << " features: need N > k samples of width D >= 1 (k = " << k
       << "), got N = " << n << ", D = " << d;
    throw std::invalid_argument(os.str());
  }
}

std::vector<double> to_double(const Tensor& t, const char* what) {
  if (!t.defined() || t.dim() != 2)
    throw std::invalid_argument(std::string("precision_recall: ") + what +
                                " features: expected an [N, D] tensor, got " +
                                (t.defined() ? t.desc() : std::string("an undefined tensor")));
  std::vector<double> v = t.to_vector<double>();
  for (size_t i = 0; i < v.size(); ++i)
    if (!std::isfinite(v[i])) {
      std::ostringstream os;
      os << "precision_recall: " << what << " features[" << i / static_cast<size_t>(t.size(1)) << ", "
         << i % static_cast<size_t>(t.size(1)) << "] = " << v[i] << " is not finite";
      throw std::invalid_argument(os.str());
    }
  return v;
}

}  // namespace

std::vector<double> knn_radii(const double* x, int64_t n, int64_t d, int64_t k) {
  check_set(n, d, k, "knn_radii");
  const std::vector<double> norms = squared_norms(x, n, d);
  std::vector<double> radii(static_cast<size_t>(n));
  const int64_t blocks = num_blocks(n);
#pragma omp parallel
  {
    RowMatrixD g;
    std::vector<double> best(static_cast<size_t>(kRowBlock * k));
#pragma omp for schedule(dynamic, 1)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t r0 = blk * kRowBlock, rows = std::min(kRowBlock, n - r0);
      std::fill(best.begin(), best.end(), std::numeric_limits<double>::infinity());
      for (int64_t c0 = 0; c0 < n; c0 += kColBlock) {
        const int64_t cols = std::min(kColBlock, n - c0);
        block_distances(x, norms, r0, rows, x, norms, c0, cols, d, g);
        for (int64_t i = 0; i < rows; ++i) {
          double* b = best.data() + i * k;  // the k smallest so far, ascending
          for (int64_t j = 0; j < cols; ++j) {
            const double v = g(i, j);
            if (v >= b[k - 1] || c0 + j == r0 + i) continue;  // not closer, or the sample itself
            int64_t p = k - 1;
            while (p > 0 && b[p - 1] > v) {
              b[p] = b[p - 1];
              --p;
            }
            b[p] = v;
          }
        }
      }
      for (int64_t i = 0; i < rows; ++i)
        radii[static_cast<size_t>(r0 + i)] = std::sqrt(best[static_cast<size_t>(i * k + k - 1)]);
    }
  }
  return radii;
}

double manifold_coverage(const double* queries, int64_t n_queries, const double* ref,
                         const std::vector<double>& radii, int64_t n_ref, int64_t d) {
  if (n_queries < 1 || n_ref < 1 || d < 1 || radii.size() != static_cast<size_t>(n_ref)) {
    std::ostringstream os;
    os << "manifold_coverage: need queries [N_q >= 1, D], ref [N_r >= 1, D] and N_r radii, got N_q = "
       << n_queries << ", N_r = " << n_ref << ", D = " << d << ", " << radii.size() << " radii";
    throw std::invalid_argument(os.str());
  }
  const std::vector<double> nq = squared_norms(queries, n_queries, d);
  const std::vector<double> nr = squared_norms(ref, n_ref, d);
  std::vector<double> r2(radii.size());
  for (size_t j = 0; j < radii.size(); ++j) r2[j] = radii[j] * radii[j];
  std::vector<unsigned char> covered(static_cast<size_t>(n_queries), 0);
  const int64_t blocks = num_blocks(n_queries);
#pragma omp parallel
  {
    RowMatrixD g;
#pragma omp for schedule(dynamic, 1)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t r0 = blk * kRowBlock, rows = std::min(kRowBlock, n_queries - r0);
      int64_t left = rows;  // rows of this block not yet covered
      for (int64_t c0 = 0; c0 < n_ref && left > 0; c0 += kColBlock) {
        const int64_t cols = std::min(kColBlock, n_ref - c0);
        block_distances(queries, nq, r0, rows, ref, nr, c0, cols, d, g);
        for (int64_t i = 0; i < rows; ++i) {
          unsigned char& c = covered[static_cast<size_t>(r0 + i)];
          if (c) continue;
          for (int64_t j = 0; j < cols; ++j)
            if (g(i, j) <= r2[static_cast<size_t>(c0 + j)]) {
              c = 1;
              --left;
              break;
            }
        }
      }
    }
  }
  int64_t count = 0;
  for (unsigned char c : covered) count += c;
  return static_cast<double>(count) / static_cast<double>(n_queries);
}

PrecisionRecall precision_recall(const double* real, int64_t n_real, const double* generated,
                                 int64_t n_generated, int64_t d, int64_t k) {
  check_set(n_real, d, k, "real");
  check_set(n_generated, d, k, "generated");
  const std::vector<double> real_radii = knn_radii(real, n_real, d, k);
  const std::vector<double> gen_radii = knn_radii(generated, n_generated, d, k);
  PrecisionRecall r;
  r.precision = manifold_coverage(generated, n_generated, real, real_radii, n_real, d);
  r.recall = manifold_coverage(real, n_real, generated, gen_radii, n_generated, d);
  return r;
}

PrecisionRecall precision_recall(const Tensor& real, const Tensor& generated, int64_t k) {
  const std::vector<double> r = to_double(real, "real");
  const std::vector<double> g = to_double(generated, "generated");
  if (real.size(1) != generated.size(1)) {
    std::ostringstream os;
    os << "precision_recall: feature widths differ: real " << real.desc() << ", generated "
       << generated.desc();
    throw std::invalid_argument(os.str());
  }
  return precision_recall(r.data(), real.size(0), g.data(), generated.size(0), real.size(1), k);
}

}  // namespace ddpm::eval
