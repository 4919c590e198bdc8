// Validator registry: one slot per op id, filled by QH_OP_VALIDATOR lines at static-initialisation time.
#include "op.h"

namespace qh {

namespace {
// Function-local so registration from other translation units' static initialisers is order-safe.
ValidateFn* validator_table() {
  static ValidateFn table[kOpCount] = {};
  return table;
}
}  // namespace

bool register_validator(OpKind kind, ValidateFn fn) {
  const int id = static_cast<int>(kind);
  if (id < 0 || id >= kOpCount || fn == nullptr) return false;
  validator_table()[id] = fn;
  return true;
}

ValidateFn find_validator(OpKind kind) {
  const int id = static_cast<int>(kind);
  if (id < 0 || id >= kOpCount) return nullptr;
  return validator_table()[id];
}

}  // namespace qh
