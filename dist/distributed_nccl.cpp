// NCCL through dlopen (dist/distributed_nccl.h). The types come from nccl.h; the
// functions from libnccl.so.2 at run time.
#ifdef DDPM_NCCL

#include "dist/distributed_nccl.h"

#include <dlfcn.h>
#include <nccl.h>

#include <mutex>
#include <stdexcept>

#include "tensor/cuda/launch.cuh"

namespace ddpm::dist::nccl {

namespace {

struct Api {
  ncclResult_t (*get_version)(int*) = nullptr;
  ncclResult_t (*get_unique_id)(ncclUniqueId*) = nullptr;
  ncclResult_t (*comm_init_rank)(ncclComm_t*, int, ncclUniqueId, int) = nullptr;
  ncclResult_t (*all_reduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t,
                             cudaStream_t) = nullptr;
  ncclResult_t (*broadcast)(const void*, void*, size_t, ncclDataType_t, int, ncclComm_t,
                            cudaStream_t) = nullptr;
  const char* (*error_string)(ncclResult_t) = nullptr;
  int version = 0;
  bool ok = false;
  std::string why;
};

template <class F>
bool bind(void* lib, const char* name, F& fn, std::string& why) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (!fn) why = std::string("libnccl.so.2 has no symbol ") + name;
  return fn != nullptr;
}

Api& api() {
  static Api a;
  static std::once_flag once;
  std::call_once(once, [] {
    void* lib = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      const char* e = dlerror();
      a.why = std::string("cannot load libnccl.so.2: ") + (e ? e : "unknown error");
      return;
    }
    if (!bind(lib, "ncclGetVersion", a.get_version, a.why) ||
        !bind(lib, "ncclGetUniqueId", a.get_unique_id, a.why) ||
        !bind(lib, "ncclCommInitRank", a.comm_init_rank, a.why) ||
        !bind(lib, "ncclAllReduce", a.all_reduce, a.why) || !bind(lib, "ncclBroadcast", a.broadcast, a.why) ||
        !bind(lib, "ncclGetErrorString", a.error_string, a.why))
      return;
    if (a.get_version(&a.version) != ncclSuccess) {
      a.why = "ncclGetVersion failed";
      return;
    }
    if (a.version < 21000) {  // ncclAvg arrived in 2.10 (version code 21000)
      a.why = "libnccl.so.2 is version " + std::to_string(a.version) + ", ncclAvg needs 2.10 or later";
      return;
    }
    a.ok = true;
  });
  return a;
}

void check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess)
    throw std::runtime_error(std::string("NCCL: ") + what + " failed: " + api().error_string(r));
}

ncclDataType_t nccl_type(DType d) {
  if (d == DType::bf16)  // gradients and master weights are reduced in f32
    throw std::invalid_argument("NCCL all-reduce of a bf16 tensor: not supported, expected f32 or f64");
  return d == DType::f64 ? ncclFloat64 : ncclFloat32;
}

}  // namespace

bool load(std::string* why) {
  const Api& a = api();
  if (!a.ok && why) *why = a.why;
  return a.ok;
}

std::string version() {
  const int v = api().version;
  return "NCCL " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." +
         std::to_string(v % 100);
}

std::string unique_id() {
  static_assert(sizeof(ncclUniqueId) == kUniqueIdBytes, "NCCL_UNIQUE_ID_BYTES changed");
  ncclUniqueId id;
  check(api().get_unique_id(&id), "ncclGetUniqueId");
  return std::string(id.internal, sizeof id.internal);
}

Comm::Comm(const std::string& id, int rank, int size) {
  if (id.size() != kUniqueIdBytes)
    throw std::runtime_error("NCCL: unique id of " + std::to_string(id.size()) + " bytes, expected " +
                             std::to_string(kUniqueIdBytes));
  ncclUniqueId uid;
  for (size_t i = 0; i < kUniqueIdBytes; ++i) uid.internal[i] = id[i];
  ncclComm_t c = nullptr;
  check(api().comm_init_rank(&c, size, uid, rank), "ncclCommInitRank");
  comm_ = c;
}

void Comm::allreduce_mean(void* data, int64_t count, DType dtype) {
  check(api().all_reduce(data, data, static_cast<size_t>(count), nccl_type(dtype), ncclAvg,
                         static_cast<ncclComm_t>(comm_), cuda::stream()),
        "ncclAllReduce");
  cuda::check(cudaStreamSynchronize(cuda::stream()), "NCCL all-reduce");
}

void Comm::broadcast(void* data, int64_t count, DType dtype, int root) {
  check(api().broadcast(data, data, static_cast<size_t>(count), nccl_type(dtype), root,
                        static_cast<ncclComm_t>(comm_), cuda::stream()),
        "ncclBroadcast");
  cuda::check(cudaStreamSynchronize(cuda::stream()), "NCCL broadcast");
}

}  // namespace ddpm::dist::nccl

#endif  // DDPM_NCCL
