#include "autograd/engine.h"

#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "autograd/node.h"
#include "kernels/binary.h"

namespace ddpm::autograd {

namespace {

// Reverse topological order of the impls reachable from root through grad_fn
// (root first). Iterative DFS: UNet graphs are deep enough that recursion is
// not worth the risk. The list owns its impls: releasing a node during the
// pass drops its references to inputs that are still to be visited.
std::vector<std::shared_ptr<TensorImpl>> topo_order(const std::shared_ptr<TensorImpl>& root) {
  std::vector<std::shared_ptr<TensorImpl>> post;
  std::unordered_set<TensorImpl*> seen;
  std::vector<std::pair<std::shared_ptr<TensorImpl>, size_t>> stack;
  stack.emplace_back(root, 0);
  seen.insert(root.get());
  while (!stack.empty()) {
    auto& [impl, next] = stack.back();
    Node* node = impl->grad_fn.get();
    if (node && next < node->inputs.size()) {
      const std::shared_ptr<TensorImpl>& child = node->inputs[next++].impl_ptr();
      if (child && child->grad_fn && seen.insert(child.get()).second) stack.emplace_back(child, 0);
      continue;
    }
    post.push_back(impl);
    stack.pop_back();
  }
  return {post.rbegin(), post.rend()};
}

// The sum of two gradients reaching the same tensor. In place when the
// running sum alone owns its memory (no other Tensor, view or saved value
// refers to its impl or its storage: a backward may hand the same gradient
// to several inputs, as add's does, and that one must not change), which
// saves a buffer and a write per accumulation; the sum is the same float
// add either way.
void accumulate(Tensor& acc, const Tensor& g) {
  if (!acc.defined()) {
    acc = g;
    return;
  }
  if (acc.impl_ptr().use_count() == 1 && acc.impl()->storage.use_count() == 1 && !acc.impl()->grad_fn) {
    kernels::binary_inplace(kernels::BinaryOp::add, acc, g);
    return;
  }
  acc = kernels::binary_fwd(kernels::BinaryOp::add, acc, g);
}

}  // namespace

void backward(const Tensor& root, const Tensor& grad) {
  check_defined(root, "backward", "root");
  if (!root.requires_grad())
    throw std::logic_error("backward: " + root.desc() +
                           " does not require grad (no input of its graph has requires_grad set)");
  Tensor seed = grad;
  if (!seed.defined()) {
    if (root.numel() != 1)
      throw std::invalid_argument("backward: " + root.desc() +
                                  " is not a scalar; pass its upstream gradient explicitly");
    seed = Tensor::ones(root.shape(), root.dtype(), root.device());
  } else if (seed.shape() != root.shape() || seed.dtype() != root.dtype()) {
    throw std::invalid_argument("backward: upstream gradient " + seed.desc() + " does not match " +
                                root.desc());
  }

  NoGradGuard no_grad;
  if (!root.impl()->grad_fn) {  // a leaf: backward of x is x.grad += seed
    if (root.grad().defined()) {
      Tensor g = root.grad();
      kernels::binary_inplace(kernels::BinaryOp::add, g, seed);
    } else {
      root.impl()->grad = seed.clone();
    }
    return;
  }
  std::unordered_map<TensorImpl*, Tensor> grads;
  grads[root.impl()] = seed;
  for (const std::shared_ptr<TensorImpl>& owner : topo_order(root.impl_ptr())) {
    TensorImpl* impl = owner.get();
    auto it = grads.find(impl);
    if (it == grads.end()) continue;
    const Tensor g = std::move(it->second);
    grads.erase(it);
    Node* node = impl->grad_fn.get();
    if (node->released)
      throw std::logic_error("backward: the graph through '" + node->op +
                             "' was already freed by an earlier backward(); run the forward again");
    std::vector<Tensor> in_grads = node->backward(g);
    if (in_grads.size() != node->inputs.size())
      throw std::logic_error("backward of '" + node->op + "' returned " + std::to_string(in_grads.size()) +
                             " gradients for " + std::to_string(node->inputs.size()) + " inputs");
    for (size_t i = 0; i < in_grads.size(); ++i) {
      const Tensor& input = node->inputs[i];
      Tensor& gi = in_grads[i];
      if (!input.defined() || !input.requires_grad() || !gi.defined()) continue;
      if (gi.shape() != input.shape())
        throw std::logic_error("backward of '" + node->op + "': gradient " + gi.desc() + " for input " +
                               std::to_string(i) + " " + input.desc());
      TensorImpl* in = input.impl();
      if (in->grad_fn) {
        accumulate(grads[in], gi);
      } else {
        // A leaf accumulates in place when it already has a gradient buffer
        // (flattened modules bind grads to views of one flat buffer), else
        // keeps its own copy: gi may share storage with another view.
        if (in->grad.defined())
          kernels::binary_inplace(kernels::BinaryOp::add, in->grad, gi);
        else
          in->grad = gi.clone();
      }
    }
    node->backward = nullptr;  // frees saved tensors
    node->inputs.clear();
    node->released = true;
  }
}

}  // namespace ddpm::autograd
