// An in-process stand-in for MPI in the tests: R threads, each holding the
// Communicator of one rank of a ThreadGroup. Collectives meet at a barrier;
// allreduce_mean sums the ranks' tensors in rank order 0..R-1 (in double) on
// every rank, so every rank gets the same bytes, as with MPI. It lets the
// sharding and averaging of the Trainer be tested in every build, MPI or not.
#pragma once

#include <barrier>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dist/distributed.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ddpm::test {

class ThreadGroup {
 public:
  explicit ThreadGroup(int size) : size_(size), barrier_(size), tensors_(size), strings_(size), words_(size) {
    for (int r = 0; r < size; ++r) ranks_.push_back(std::make_unique<Rank>(*this, r));
  }

  // Runs f(comm) on `size` threads, one per rank (one OpenMP thread each),
  // and waits for all of them. An exception on one rank would leave the
  // others waiting at the barrier, so f must not throw past a collective.
  void run(const std::function<void(dist::Communicator&)>& f) {
    std::vector<std::thread> threads;
    for (int r = 0; r < size_; ++r)
      threads.emplace_back([&, r] {
#ifdef _OPENMP
        omp_set_num_threads(1);
#endif
        f(*ranks_[static_cast<size_t>(r)]);
      });
    for (auto& t : threads) t.join();
  }

 private:
  class Rank final : public dist::Communicator {
   public:
    Rank(ThreadGroup& g, int r) : g_(g), r_(r) {}
    int rank() const override { return r_; }
    int size() const override { return g_.size_; }
    int local_rank() const override { return r_; }
    int local_size() const override { return g_.size_; }
    void allreduce_mean(Tensor& t) override {
      g_.tensors_[static_cast<size_t>(r_)] = t;
      g_.barrier_.arrive_and_wait();
      std::vector<double> sum(static_cast<size_t>(t.numel()), 0.0);
      for (const Tensor& other : g_.tensors_) {
        const std::vector<double> v = other.to_vector<double>();
        for (size_t i = 0; i < sum.size(); ++i) sum[i] += v[i];
      }
      g_.barrier_.arrive_and_wait();  // everyone has read before anyone writes
      for (double& x : sum) x /= g_.size_;
      t.copy_(Tensor::from_vector(sum, t.shape()));
    }
    void broadcast(Tensor& t, int root) override {
      g_.tensors_[static_cast<size_t>(r_)] = t.clone();
      g_.barrier_.arrive_and_wait();
      t.copy_(g_.tensors_[static_cast<size_t>(root)]);
      g_.barrier_.arrive_and_wait();
    }
    void broadcast(std::string& s, int root) override {
      g_.strings_[static_cast<size_t>(r_)] = s;
      g_.barrier_.arrive_and_wait();
      s = g_.strings_[static_cast<size_t>(root)];
      g_.barrier_.arrive_and_wait();
    }
    bool all_equal(uint64_t value) override {
      g_.words_[static_cast<size_t>(r_)] = value;
      g_.barrier_.arrive_and_wait();
      bool same = true;
      for (uint64_t w : g_.words_) same = same && w == g_.words_[0];
      g_.barrier_.arrive_and_wait();
      return same;
    }
    void barrier() override { g_.barrier_.arrive_and_wait(); }
    void abort(int) override { std::abort(); }
    void set_timeout(double) override {}
    std::string describe() const override { return "test thread group"; }

   private:
    ThreadGroup& g_;
    int r_;
  };

  int size_;
  std::barrier<> barrier_;
  std::vector<Tensor> tensors_;
  std::vector<std::string> strings_;
  std::vector<uint64_t> words_;
  std::vector<std::unique_ptr<Rank>> ranks_;
};

}  // namespace ddpm::test
