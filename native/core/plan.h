// The backend-independent plan: a graph description from TS (tensors + ops as data, design §2.1) validated once,
// with buffer lifetimes turned into arena offsets. Backends (native/cpu/backend.h) add kernels, scratch and
// data pointers on top.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "op.h"
#include "weights.h"

namespace qh {

// Where a graph tensor's bytes live. Ids are part of the TS ↔ native graph format (src/model/graph/builder.ts).
enum class TensorRole : int32_t {
  Activation = 0,  // written by exactly one op; lives in the plan's arena for its lifetime
  Input = 1,       // named, copied in at the start of each run; lives in the arena
  State = 2,       // named, owned by a session state object; ops update it in place
  Weight = 3,      // read-only bytes of a WeightData
  View = 4,        // contiguous reinterpretation of another tensor's bytes at a byte offset (reshape / slice)
};

struct GraphTensor {
  TensorRole role = TensorRole::Activation;
  DType type = DType::F32;
  int64_t ne[4] = {1, 1, 1, 1};
  std::string name;                          // Input / State (required), Weight (for messages)
  std::shared_ptr<const WeightData> weight;  // Weight
  int32_t view_of = -1;                      // View: id of a non-view tensor
  uint64_t view_offset = 0;                  // View: byte offset into view_of
};

struct GraphOp {
  OpKind kind = OpKind::GET_ROWS;
  OpParams p;
  std::vector<int32_t> in;
  std::vector<int32_t> out;
};

struct GraphOutput {
  std::string name;
  int32_t tensor = -1;
};

struct Graph {
  std::vector<GraphTensor> tensors;
  std::vector<GraphOp> ops;
  std::vector<GraphOutput> outputs;
};

struct IoSpec {
  std::string name;
  int32_t tensor = -1;
  DType type = DType::F32;
  int64_t ne[4] = {1, 1, 1, 1};
  size_t bytes = 0;
};

struct CompiledGraph {
  Graph graph;
  std::vector<size_t> bytes;          // per tensor: contiguous byte size
  std::vector<int64_t> arena_offset;  // per tensor: arena byte offset (Activation / Input), else -1
  size_t arena_bytes = 0;             // arena size (64-byte aligned offsets)
  size_t activation_bytes = 0;        // sum of Activation + Input bytes (arena_bytes without reuse)
  std::vector<IoSpec> inputs;         // Input tensors, graph order
  std::vector<IoSpec> states;         // State tensors, graph order; a session state must match these
  std::vector<IoSpec> outputs;        // graph outputs, in Graph::outputs order
  std::vector<OpCall> calls;          // one per op, tensor views filled except data pointers
};

// The tensor as an op sees it (data == nullptr), contiguous strides.
Tensor tensor_view(const GraphTensor& t);

// Validates the graph (structure, every op's arity, types and shapes through its registered validator) and
// plans the arena. Errors are INVALID_ARGUMENT / BAD_TENSOR with "op #i (KIND): ..." or "tensor #j (...)".
Status compile_graph(Graph graph, CompiledGraph* out);

// Shape as "{4096, 1}" for messages.
std::string shape_string(const int64_t ne[4]);

}  // namespace qh
