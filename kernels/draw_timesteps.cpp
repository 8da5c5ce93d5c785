#include "kernels/draw_timesteps.h"

#include <stdexcept>
#include <string>

#include "kernels/dispatch.h"

namespace ddpm::kernels {

TimestepDraw draw_timesteps(int64_t batch, uint64_t seed, uint64_t stream, uint64_t first,
                            const Tensor& table_a, const Tensor& table_b) {
  const char* op = "draw_timesteps";
  check_defined(table_a, op, "table_a");
  check_defined(table_b, op, "table_b");
  check_all_like(op, table_a, {&table_b});
  if (table_a.dim() != 1 || table_a.size(0) < 1)
    throw std::invalid_argument(std::string(op) + ": table_a " + table_a.desc() +
                                ", expected one value per diffusion step, [T] with T >= 1");
  check_shape(table_b, table_a.shape(), op, "table_b");
  if (batch < 0) throw std::invalid_argument(std::string(op) + ": batch " + std::to_string(batch) + " < 0");
  TimestepDraw r;
  r.t = Tensor::empty({batch}, table_a.dtype(), table_a.device());
  r.a = Tensor::empty({batch}, table_a.dtype(), table_a.device());
  r.b = Tensor::empty({batch}, table_a.dtype(), table_a.device());
  const DrawTimestepsDims d{batch, table_a.size(0), seed, stream, first};
  on_device(
      op, table_a,
      [&](auto v) {
        using T = decltype(v);
        cpu::draw_timesteps<T>(table_a.data<T>(), table_b.data<T>(), r.t.data<T>(), r.a.data<T>(),
                               r.b.data<T>(), d);
      },
      [&](auto) {
        cuda::draw_timesteps(table_a.data<float>(), table_b.data<float>(), r.t.data<float>(),
                             r.a.data<float>(), r.b.data<float>(), d);
      });
  return r;
}

}  // namespace ddpm::kernels
