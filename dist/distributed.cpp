// The communicators of dist/distributed.h: the single-process one, and (with
// DDPM_MPI) the MPI one with its watchdog and NCCL for CUDA tensors.
//
// Test-only fault hook: DDPM_TEST_FAULT="die:R:N" makes rank R kill itself
// (SIGKILL) when it enters its N-th collective; "hang:R:N" makes it sleep
// there forever instead. The distributed tests use it to check that the other
// ranks stop with a clear message rather than wait forever.
#include "dist/distributed.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "dist/distributed_nccl.h"
#include "kernels/binary.h"

#ifdef DDPM_MPI
#include <mpi.h>
#endif
#ifdef DDPM_CUDA
#include <cuda_runtime.h>
#endif

namespace ddpm::dist {

namespace {

class SingleProcess final : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  int local_size() const override { return 1; }
  void allreduce_mean(Tensor&) override {}
  void broadcast(Tensor&, int) override {}
  void broadcast(std::string&, int) override {}
  bool all_equal(uint64_t) override { return true; }
  void barrier() override {}
  void abort(int) override {}
  void set_timeout(double) override {}
  std::string describe() const override { return "single process"; }
};

#ifdef DDPM_MPI

void check_tensor(const Tensor& t, const char* op) {
  if (!t.defined()) throw std::invalid_argument(std::string("distributed ") + op + ": undefined tensor");
}

void check_mpi(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw std::runtime_error(std::string("MPI: ") + what + " failed: " +
                           std::string(text, static_cast<size_t>(len)) + " (another rank may have died)");
}

MPI_Datatype mpi_type(DType d) {
  if (d == DType::bf16)  // gradients and master weights are reduced in f32
    throw std::invalid_argument("MPI all-reduce of a bf16 tensor: not supported, expected f32 or f64");
  return d == DType::f64 ? MPI_DOUBLE : MPI_FLOAT;
}

// Largest element count per MPI call (counts are int).
constexpr int64_t kChunk = int64_t{1} << 30;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Ends the process when a collective waits longer than the timeout. The main
// thread marks entry and exit of each collective; this thread only reads the
// marks and never calls MPI (MPI_THREAD_FUNNELED).
class Watchdog {
 public:
  explicit Watchdog(int rank) : rank_(rank) {}
  ~Watchdog() { stop(); }

  void start(double seconds) {
    stop();
    if (!(seconds > 0)) return;
    timeout_ns_ = static_cast<int64_t>(seconds * 1e9);
    timeout_s_ = seconds;
    quit_ = false;
    thread_ = std::thread([this] { loop(); });
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void enter(const char* what, int64_t call) {
    what_.store(what);
    call_.store(call);
    since_.store(now_ns());
  }
  void leave() { since_.store(0); }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!cv_.wait_for(lock, std::chrono::milliseconds(200), [this] { return quit_; })) {
      const int64_t since = since_.load();
      if (since != 0 && now_ns() - since > timeout_ns_) {
        std::fprintf(
            stderr,
            "\nddpm: rank %d: no answer from the other ranks for %g s in %s (collective #%lld): a rank died, "
            "hangs, or is busy for longer than the timeout; stopping this rank (exit %d). Raise "
            "--dist-timeout if a rank is legitimately that slow (rank 0 alone draws the sample grids).\n",
            rank_, timeout_s_, what_.load(), static_cast<long long>(call_.load()), kExitPeerLost);
        std::fflush(stderr);
        std::_Exit(kExitPeerLost);
      }
    }
  }

  int rank_;
  int64_t timeout_ns_ = 0;
  double timeout_s_ = 0;
  std::atomic<int64_t> since_{0};
  std::atomic<const char*> what_{""};
  std::atomic<int64_t> call_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool quit_ = false;
  std::thread thread_;
};

struct Fault {
  enum Kind { none, die, hang } kind = none;
  int rank = -1;
  int64_t call = 0;
};

Fault parse_fault() {
  Fault f;
  const char* env = std::getenv("DDPM_TEST_FAULT");
  if (!env || !*env) return f;
  char kind[8] = {};
  long long call = 0;
  int rank = -1;
  if (std::sscanf(env, "%7[a-z]:%d:%lld", kind, &rank, &call) != 3 || call < 1)
    throw std::invalid_argument(std::string("DDPM_TEST_FAULT='") + env +
                                "': expected die:RANK:N or hang:RANK:N");
  const std::string k = kind;
  if (k != "die" && k != "hang")
    throw std::invalid_argument(std::string("DDPM_TEST_FAULT='") + env +
                                "': expected die:RANK:N or hang:RANK:N");
  f.kind = k == "die" ? Fault::die : Fault::hang;
  f.rank = rank;
  f.call = call;
  return f;
}

class MpiCommunicator final : public Communicator {
 public:
  MpiCommunicator() : fault_(parse_fault()) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      check_mpi(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_ = true;
    }
    // Errors come back as codes (and become exceptions) instead of MPI's
    // default of aborting without saying where.
    check_mpi(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
    check_mpi(MPI_Comm_rank(MPI_COMM_WORLD, &rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(MPI_COMM_WORLD, &size_), "MPI_Comm_size");
    MPI_Comm local = MPI_COMM_NULL;
    check_mpi(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local),
              "MPI_Comm_split_type");
    check_mpi(MPI_Comm_rank(local, &local_rank_), "MPI_Comm_rank");
    check_mpi(MPI_Comm_size(local, &local_size_), "MPI_Comm_size");
    MPI_Comm_free(&local);
    int first_on_machine = local_rank_ == 0 ? 1 : 0;
    check_mpi(MPI_Allreduce(&first_on_machine, &machines_, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD),
              "MPI_Allreduce");
    watchdog_ = std::make_unique<Watchdog>(rank_);
  }

  ~MpiCommunicator() override {
    watchdog_.reset();
    int finalised = 0;
    MPI_Finalized(&finalised);
    if (owns_ && !finalised) MPI_Finalize();
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  int local_size() const override { return local_size_; }

  void allreduce_mean(Tensor& t) override {
    check_tensor(t, "allreduce_mean");
    if (size_ == 1) return;
    Busy busy(*this, "allreduce_mean");
#ifdef DDPM_NCCL
    if (t.device() == Device::cuda && use_nccl()) {
      nccl_->allreduce_mean(t.raw_data(), t.numel(), t.dtype());
      return;
    }
#endif
    if (t.device() != Device::cpu) {  // staged through host memory
      Tensor host = t.to(Device::cpu);
      host_allreduce_mean(host);
      t.copy_(host);
      return;
    }
    host_allreduce_mean(t);
  }

  void broadcast(Tensor& t, int root) override {
    check_tensor(t, "broadcast");
    check_root(root);
    if (size_ == 1) return;
    Busy busy(*this, "broadcast");
#ifdef DDPM_NCCL
    if (t.device() == Device::cuda && use_nccl()) {
      nccl_->broadcast(t.raw_data(), t.numel(), t.dtype(), root);
      return;
    }
#endif
    if (t.device() != Device::cpu) {
      Tensor host = t.to(Device::cpu);
      host_broadcast(host.raw_data(), host.numel(), t.dtype(), root);
      t.copy_(host);
      return;
    }
    host_broadcast(t.raw_data(), t.numel(), t.dtype(), root);
  }

  void broadcast(std::string& s, int root) override {
    check_root(root);
    if (size_ == 1) return;
    Busy busy(*this, "broadcast");
    uint64_t n = s.size();
    check_mpi(MPI_Bcast(&n, 1, MPI_UINT64_T, root, MPI_COMM_WORLD), "MPI_Bcast");
    s.resize(static_cast<size_t>(n));
    for (uint64_t done = 0; done < n;) {
      const int part = static_cast<int>(std::min<uint64_t>(n - done, static_cast<uint64_t>(kChunk)));
      check_mpi(MPI_Bcast(s.data() + done, part, MPI_CHAR, root, MPI_COMM_WORLD), "MPI_Bcast");
      done += static_cast<uint64_t>(part);
    }
  }

  bool all_equal(uint64_t value) override {
    if (size_ == 1) return true;
    Busy busy(*this, "all_equal");
    // max(v) and max(~v) = ~min(v) in one call: equal iff max == min.
    uint64_t in[2] = {value, ~value}, out[2] = {0, 0};
    check_mpi(MPI_Allreduce(in, out, 2, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
    return out[0] == ~out[1];
  }

  void barrier() override {
    if (size_ == 1) return;
    Busy busy(*this, "barrier");
    check_mpi(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  }

  void abort(int code) override {
    if (size_ == 1) return;
    std::fflush(stdout);
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, code);
    std::_Exit(code);
  }

  void set_timeout(double seconds) override {
    if (size_ > 1) watchdog_->start(seconds);
  }

  std::string describe() const override {
    std::string s = "MPI, " + std::to_string(size_) + (size_ == 1 ? " rank" : " ranks") + " on " +
                    std::to_string(machines_) + (machines_ == 1 ? " machine" : " machines");
#ifdef DDPM_NCCL
    if (nccl_)
      s += ", CUDA tensors through " + nccl::version();
    else if (nccl_tried_)
      s += ", CUDA tensors through host memory (" + nccl_why_ + ")";
#endif
    return s;
  }

 private:
  // Marks a collective for the watchdog and applies the test fault hook.
  class Busy {
   public:
    Busy(MpiCommunicator& c, const char* what) : c_(c) {
      const int64_t call = ++c_.calls_;
      if (c_.fault_.kind != Fault::none && c_.fault_.rank == c_.rank_ && c_.fault_.call == call) {
        std::fprintf(stderr, "ddpm: rank %d: DDPM_TEST_FAULT: %s at collective #%lld\n", c_.rank_,
                     c_.fault_.kind == Fault::die ? "dying" : "hanging", static_cast<long long>(call));
        std::fflush(stderr);
        if (c_.fault_.kind == Fault::die) std::raise(SIGKILL);
        for (;;) std::this_thread::sleep_for(std::chrono::hours(1));
      }
      c_.watchdog_->enter(what, call);
    }
    ~Busy() { c_.watchdog_->leave(); }
    Busy(const Busy&) = delete;
    Busy& operator=(const Busy&) = delete;

   private:
    MpiCommunicator& c_;
  };

  void check_root(int root) const {
    if (root < 0 || root >= size_)
      throw std::invalid_argument("distributed broadcast: root " + std::to_string(root) +
                                  " is not a rank of " + std::to_string(size_));
  }

  void host_allreduce_mean(Tensor& t) {
    char* p = static_cast<char*>(t.raw_data());
    const size_t esize = dtype_size(t.dtype());
    for (int64_t done = 0; done < t.numel();) {
      const int64_t part = std::min(t.numel() - done, kChunk);
      check_mpi(MPI_Allreduce(MPI_IN_PLACE, p + static_cast<size_t>(done) * esize, static_cast<int>(part),
                              mpi_type(t.dtype()), MPI_SUM, MPI_COMM_WORLD),
                "MPI_Allreduce");
      done += part;
    }
    kernels::binary_inplace(kernels::BinaryOp::div, t, Tensor::full({}, size_, t.dtype(), t.device()));
  }

  void host_broadcast(void* data, int64_t count, DType dtype, int root) {
    char* p = static_cast<char*>(data);
    const size_t esize = dtype_size(dtype);
    for (int64_t done = 0; done < count;) {
      const int64_t part = std::min(count - done, kChunk);
      check_mpi(MPI_Bcast(p + static_cast<size_t>(done) * esize, static_cast<int>(part), mpi_type(dtype),
                          root, MPI_COMM_WORLD),
                "MPI_Bcast");
      done += part;
    }
  }

#ifdef DDPM_NCCL
  // NCCL is used only when every rank can load it: the ranks agree first.
  bool use_nccl() {
    if (!nccl_tried_) {
      nccl_tried_ = true;
      int ok = nccl::load(&nccl_why_) ? 1 : 0, all = 0;
      check_mpi(MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD), "MPI_Allreduce");
      if (all == 1) {
        std::string id = rank_ == 0 ? nccl::unique_id() : std::string(nccl::kUniqueIdBytes, '\0');
        check_mpi(MPI_Bcast(id.data(), static_cast<int>(id.size()), MPI_CHAR, 0, MPI_COMM_WORLD),
                  "MPI_Bcast");
        nccl_ = std::make_unique<nccl::Comm>(id, rank_, size_);
      } else if (ok == 1) {
        nccl_why_ = "another rank cannot load NCCL";
      }
    }
    return nccl_ != nullptr;
  }
  std::unique_ptr<nccl::Comm> nccl_;
  bool nccl_tried_ = false;
  std::string nccl_why_;
#endif

  int rank_ = 0, size_ = 1, local_rank_ = 0, local_size_ = 1, machines_ = 1;
  bool owns_ = false;
  int64_t calls_ = 0;
  Fault fault_;
  std::unique_ptr<Watchdog> watchdog_;
};

#endif  // DDPM_MPI

}  // namespace

Communicator& single_process() {
  static SingleProcess c;
  return c;
}

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MV2_COMM_WORLD_SIZE"})
    if (std::getenv(v)) return true;
  return false;
}

bool built_with_mpi() {
#ifdef DDPM_MPI
  return true;
#else
  return false;
#endif
}

Communicator& world() {
#ifdef DDPM_MPI
  if (launched_by_mpi()) {
    static MpiCommunicator c;
    return c;
  }
#endif
  return single_process();
}

bool any_rank(Communicator& c, bool flag) {
  if (c.size() == 1) return flag;
  Tensor t = Tensor::full({1}, flag ? 1.0 : 0.0, DType::f64);
  c.allreduce_mean(t);
  return t.item() > 0;
}

void select_local_gpu(const Communicator& c) {
  if (c.size() == 1) return;
#ifdef DDPM_CUDA
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
  // One GPU visible per rank (the launcher set CUDA_VISIBLE_DEVICES per rank):
  // use it. Otherwise local rank i takes GPU i.
  int device = count == 1 ? 0 : c.local_rank();
  if (count == 0 || device >= count)
    throw std::runtime_error("--device cuda with " + std::to_string(c.local_size()) +
                             " ranks on this machine, which has " + std::to_string(count) +
                             " GPU(s): start at most one rank per GPU");
  const cudaError_t err = cudaSetDevice(device);
  if (err != cudaSuccess)
    throw std::runtime_error("rank " + std::to_string(c.rank()) + ": cudaSetDevice(" +
                             std::to_string(device) + ") failed: " + cudaGetErrorString(err));
#else
  throw std::runtime_error("--device cuda: this build has no CUDA backend");
#endif
}

}  // namespace ddpm::dist
