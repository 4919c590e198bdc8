#include "plan.h"

#include <algorithm>
#include <set>

namespace qh {

namespace {

constexpr size_t kArenaAlign = 64;

size_t align_up(size_t n) { return (n + kArenaAlign - 1) / kArenaAlign * kArenaAlign; }

const char* role_name(TensorRole r) {
  switch (r) {
    case TensorRole::Activation: return "activation";
    case TensorRole::Input: return "input";
    case TensorRole::State: return "state";
    case TensorRole::Weight: return "weight";
    case TensorRole::View: return "view";
  }
  return "?";
}

std::string tensor_label(const Graph& g, int32_t id) {
  const GraphTensor& t = g.tensors[static_cast<size_t>(id)];
  std::string s = "tensor #" + std::to_string(id) + " (" + role_name(t.role);
  if (!t.name.empty()) s += " '" + t.name + "'";
  const DTypeInfo* info = dtype_info(t.type);
  s += std::string(" ") + (info ? info->name : "?") + " " + shape_string(t.ne) + ")";
  return s;
}

std::string op_label(const Graph& g, size_t i) {
  return "op #" + std::to_string(i) + " (" + kOpMeta[static_cast<int>(g.ops[i].kind)].name + ")";
}

// First-fit-by-size offset allocator over an unbounded arena; freed ranges coalesce.
class ArenaAllocator {
 public:
  size_t allocate(size_t size) {
    size = align_up(size == 0 ? 1 : size);
    size_t best = free_.size();
    for (size_t i = 0; i < free_.size(); ++i) {
      if (free_[i].size >= size && (best == free_.size() || free_[i].size < free_[best].size)) best = i;
    }
    if (best < free_.size()) {
      const size_t off = free_[best].off;
      free_[best].off += size;
      free_[best].size -= size;
      if (free_[best].size == 0) free_.erase(free_.begin() + static_cast<std::ptrdiff_t>(best));
      return off;
    }
    // Grow: reuse a free block touching the top.
    if (!free_.empty() && free_.back().off + free_.back().size == top_) {
      const size_t off = free_.back().off;
      free_.pop_back();
      top_ = off + size;
      return off;
    }
    const size_t off = top_;
    top_ += size;
    return off;
  }
  void release(size_t off, size_t size) {
    size = align_up(size == 0 ? 1 : size);
    auto it = std::lower_bound(free_.begin(), free_.end(), off, [](const Block& b, size_t o) { return b.off < o; });
    it = free_.insert(it, Block{off, size});
    // Coalesce with the next, then the previous block.
    auto next = it + 1;
    if (next != free_.end() && it->off + it->size == next->off) {
      it->size += next->size;
      free_.erase(next);
    }
    if (it != free_.begin()) {
      auto prev = it - 1;
      if (prev->off + prev->size == it->off) {
        prev->size += it->size;
        free_.erase(it);
      }
    }
  }
  size_t top() const { return top_; }

 private:
  struct Block {
    size_t off, size;
  };
  std::vector<Block> free_;
  size_t top_ = 0;
};

}  // namespace

std::string shape_string(const int64_t ne[4]) {
  int n = 4;
  while (n > 1 && ne[n - 1] == 1) --n;
  std::string s = "{";
  for (int d = 0; d < n; ++d) s += (d ? ", " : "") + std::to_string(ne[d]);
  return s + "}";
}

Tensor tensor_view(const GraphTensor& t) {
  Tensor v;
  v.type = t.type;
  for (int d = 0; d < 4; ++d) v.ne[d] = t.ne[d];
  set_contiguous_strides(v);
  return v;
}

Status compile_graph(Graph graph, CompiledGraph* out) {
  const Graph& g = graph;
  const size_t nt = g.tensors.size();
  const size_t nops = g.ops.size();
  CompiledGraph c;
  c.bytes.assign(nt, 0);
  c.arena_offset.assign(nt, -1);

  // ---- tensors ----
  std::set<std::string> input_names, state_names, output_names;
  for (size_t j = 0; j < nt; ++j) {
    const GraphTensor& t = g.tensors[j];
    const std::string where = "tensor #" + std::to_string(j) + (t.name.empty() ? "" : " '" + t.name + "'");
    const int role = static_cast<int>(t.role);
    if (role < 0 || role > static_cast<int>(TensorRole::View)) {
      return Status::error("INVALID_ARGUMENT", where + ": unknown role " + std::to_string(role));
    }
    const DTypeInfo* info = dtype_info(t.type);
    if (info == nullptr) {
      return Status::error("BAD_TENSOR", where + ": unsupported type id " + std::to_string(static_cast<int>(t.type)));
    }
    uint64_t elements = 1;
    for (int d = 0; d < 4; ++d) {
      if (t.ne[d] < 1 || t.ne[d] > (int64_t(1) << 40)) {
        return Status::error("BAD_TENSOR", where + ": dim " + std::to_string(d) + " = " + std::to_string(t.ne[d]) +
                                               " is not a positive size");
      }
      elements *= static_cast<uint64_t>(t.ne[d]);
      if (elements > (uint64_t(1) << 50)) return Status::error("BAD_TENSOR", where + ": element count overflows");
    }
    if (t.ne[0] % info->block_size != 0) {
      return Status::error("BAD_TENSOR", where + ": ne0 = " + std::to_string(t.ne[0]) + " is not a multiple of the " +
                                             info->name + " block size " + std::to_string(info->block_size));
    }
    c.bytes[j] = static_cast<size_t>(elements / static_cast<uint64_t>(info->block_size)) * static_cast<size_t>(info->block_bytes);
    switch (t.role) {
      case TensorRole::Input:
      case TensorRole::State: {
        if (t.name.empty()) return Status::error("INVALID_ARGUMENT", where + ": " + role_name(t.role) + " tensors need a name");
        auto& names = t.role == TensorRole::Input ? input_names : state_names;
        if (!names.insert(t.name).second) {
          return Status::error("INVALID_ARGUMENT", where + ": duplicate " + role_name(t.role) + " name '" + t.name + "'");
        }
        IoSpec s;
        s.name = t.name;
        s.tensor = static_cast<int32_t>(j);
        s.type = t.type;
        for (int d = 0; d < 4; ++d) s.ne[d] = t.ne[d];
        s.bytes = c.bytes[j];
        (t.role == TensorRole::Input ? c.inputs : c.states).push_back(s);
        break;
      }
      case TensorRole::Weight: {
        if (!t.weight) return Status::error("INVALID_ARGUMENT", where + ": weight tensor without weight data");
        bool same = t.weight->type == t.type;
        for (int d = 0; d < 4; ++d) same = same && t.weight->ne[d] == t.ne[d];
        if (!same) {
          return Status::error("BAD_TENSOR", where + ": declared " + info->name + " " + shape_string(t.ne) + " but weight '" +
                                                 t.weight->name + "' is " + dtype_info(t.weight->type)->name + " " +
                                                 shape_string(t.weight->ne));
        }
        break;
      }
      case TensorRole::View: {
        if (t.view_of < 0 || static_cast<size_t>(t.view_of) >= nt || g.tensors[static_cast<size_t>(t.view_of)].role == TensorRole::View) {
          return Status::error("INVALID_ARGUMENT", where + ": view of " + std::to_string(t.view_of) + " is not a non-view tensor id");
        }
        break;
      }
      case TensorRole::Activation: break;
    }
  }
  // Views: bounds (needs every base's byte size).
  for (size_t j = 0; j < nt; ++j) {
    const GraphTensor& t = g.tensors[j];
    if (t.role != TensorRole::View) continue;
    const size_t base_bytes = c.bytes[static_cast<size_t>(t.view_of)];
    if (t.view_offset > base_bytes || c.bytes[j] > base_bytes - t.view_offset) {
      return Status::error("BAD_TENSOR", tensor_label(g, static_cast<int32_t>(j)) + ": view bytes [" + std::to_string(t.view_offset) +
                                             ", " + std::to_string(t.view_offset + c.bytes[j]) + ") exceed " +
                                             tensor_label(g, t.view_of) + " (" + std::to_string(base_bytes) + " bytes)");
    }
  }
  auto root_of = [&](int32_t id) -> int32_t {
    const GraphTensor& t = g.tensors[static_cast<size_t>(id)];
    return t.role == TensorRole::View ? t.view_of : id;
  };

  // ---- ops: structure, producer order, lifetimes ----
  constexpr int64_t kNotProduced = -2;
  std::vector<int64_t> def(nt, kNotProduced);  // op index writing the tensor; -1 for inputs
  std::vector<int64_t> last(nt, kNotProduced);
  for (size_t j = 0; j < nt; ++j) {
    if (g.tensors[j].role == TensorRole::Input) def[j] = last[j] = -1;
  }
  c.calls.resize(nops);
  for (size_t i = 0; i < nops; ++i) {
    const GraphOp& op = g.ops[i];
    const int kind = static_cast<int>(op.kind);
    if (kind < 0 || kind >= kOpCount) {
      return Status::error("INVALID_ARGUMENT", "op #" + std::to_string(i) + ": unknown op kind " + std::to_string(kind));
    }
    const OpMeta& meta = kOpMeta[kind];
    const std::string label = op_label(g, i);
    const int n_in = static_cast<int>(op.in.size());
    const int n_out = static_cast<int>(op.out.size());
    if (meta.n_inputs >= 0 ? n_in != meta.n_inputs : (n_in < 1 || n_in > kMaxOpInputs)) {
      return Status::error("INVALID_ARGUMENT", label + ": takes " +
                                                   (meta.n_inputs >= 0 ? std::to_string(meta.n_inputs) : std::string("1 to ") + std::to_string(kMaxOpInputs)) +
                                                   " inputs, got " + std::to_string(n_in));
    }
    if (n_out != meta.n_outputs || n_out > kMaxOpOutputs) {
      return Status::error("INVALID_ARGUMENT", label + ": has " + std::to_string(meta.n_outputs) + " outputs, got " + std::to_string(n_out));
    }
    OpCall& call = c.calls[i];
    call.kind = op.kind;
    call.p = op.p;
    call.n_in = n_in;
    call.n_out = n_out;
    for (int s = 0; s < n_in; ++s) {
      const int32_t id = op.in[static_cast<size_t>(s)];
      if (id < 0 || static_cast<size_t>(id) >= nt) {
        return Status::error("INVALID_ARGUMENT", label + ": input " + std::to_string(s) + " names tensor #" + std::to_string(id) +
                                                     ", but the graph has " + std::to_string(nt) + " tensors");
      }
      const int32_t r = root_of(id);
      if (g.tensors[static_cast<size_t>(r)].role == TensorRole::Activation) {
        if (def[static_cast<size_t>(r)] == kNotProduced) {
          return Status::error("INVALID_ARGUMENT", label + ": input " + std::to_string(s) + " " + tensor_label(g, id) +
                                                       " is read before any op writes it");
        }
      }
      if (def[static_cast<size_t>(r)] != kNotProduced) last[static_cast<size_t>(r)] = static_cast<int64_t>(i);
      call.in[s] = tensor_view(g.tensors[static_cast<size_t>(id)]);
    }
    for (int s = 0; s < n_out; ++s) {
      const int32_t id = op.out[static_cast<size_t>(s)];
      if (id < 0 || static_cast<size_t>(id) >= nt) {
        return Status::error("INVALID_ARGUMENT", label + ": output " + std::to_string(s) + " names tensor #" + std::to_string(id) +
                                                     ", but the graph has " + std::to_string(nt) + " tensors");
      }
      if (g.tensors[static_cast<size_t>(id)].role != TensorRole::Activation) {
        return Status::error("INVALID_ARGUMENT", label + ": output " + std::to_string(s) + " " + tensor_label(g, id) +
                                                     " must be an activation (ops update state tensors given as inputs)");
      }
      if (def[static_cast<size_t>(id)] != kNotProduced) {
        return Status::error("INVALID_ARGUMENT", label + ": output " + std::to_string(s) + " " + tensor_label(g, id) +
                                                     " is already written by op #" + std::to_string(def[static_cast<size_t>(id)]));
      }
      def[static_cast<size_t>(id)] = last[static_cast<size_t>(id)] = static_cast<int64_t>(i);
      call.out[s] = tensor_view(g.tensors[static_cast<size_t>(id)]);
    }
    const ValidateFn validate = find_validator(op.kind);
    if (validate == nullptr) {
      return Status::error("BACKEND_UNAVAILABLE", label + ": no validator is registered for this op in this build");
    }
    const Status st = validate(call);
    if (!st.is_ok()) return Status::error(st.code, label + ": " + st.message);
  }

  // ---- graph outputs ----
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    const GraphOutput& o = g.outputs[k];
    if (o.name.empty() || !output_names.insert(o.name).second) {
      return Status::error("INVALID_ARGUMENT", "graph output #" + std::to_string(k) + ": name '" + o.name + "' is empty or a duplicate");
    }
    if (o.tensor < 0 || static_cast<size_t>(o.tensor) >= nt) {
      return Status::error("INVALID_ARGUMENT", "graph output '" + o.name + "' names tensor #" + std::to_string(o.tensor) +
                                                   ", but the graph has " + std::to_string(nt) + " tensors");
    }
    const int32_t r = root_of(o.tensor);
    if (g.tensors[static_cast<size_t>(r)].role == TensorRole::Activation && def[static_cast<size_t>(r)] == kNotProduced) {
      return Status::error("INVALID_ARGUMENT", "graph output '" + o.name + "': " + tensor_label(g, o.tensor) + " is never written");
    }
    if (def[static_cast<size_t>(r)] != kNotProduced) last[static_cast<size_t>(r)] = static_cast<int64_t>(nops);  // live to the end
    IoSpec s;
    s.name = o.name;
    s.tensor = o.tensor;
    s.type = g.tensors[static_cast<size_t>(o.tensor)].type;
    for (int d = 0; d < 4; ++d) s.ne[d] = g.tensors[static_cast<size_t>(o.tensor)].ne[d];
    s.bytes = c.bytes[static_cast<size_t>(o.tensor)];
    c.outputs.push_back(s);
  }

  // ---- arena: walk the ops; allocate a tensor when written, release it after its last reader ----
  // Outputs of op i are placed before op i's inputs are released, so an op never reads and writes one range.
  std::vector<std::vector<int32_t>> dies_after(nops + 1);
  ArenaAllocator arena;
  for (size_t j = 0; j < nt; ++j) {
    if (g.tensors[j].role != TensorRole::Input) continue;
    c.arena_offset[j] = static_cast<int64_t>(arena.allocate(c.bytes[j]));
    c.activation_bytes += c.bytes[j];
    if (last[j] >= 0) dies_after[static_cast<size_t>(last[j])].push_back(static_cast<int32_t>(j));
    // last == -1: an input nobody reads stays allocated (it is still copied in).
  }
  for (size_t i = 0; i < nops; ++i) {
    for (int32_t id : g.ops[i].out) {
      c.arena_offset[static_cast<size_t>(id)] = static_cast<int64_t>(arena.allocate(c.bytes[static_cast<size_t>(id)]));
      c.activation_bytes += c.bytes[static_cast<size_t>(id)];
      dies_after[static_cast<size_t>(last[static_cast<size_t>(id)])].push_back(id);
    }
    for (int32_t id : dies_after[i]) arena.release(static_cast<size_t>(c.arena_offset[static_cast<size_t>(id)]), c.bytes[static_cast<size_t>(id)]);
  }
  c.arena_bytes = arena.top();

  c.graph = std::move(graph);
  *out = std::move(c);
  return Status::ok();
}

}  // namespace qh
