// Status values: native code never throws across N-API (exceptions are off) and never aborts on bad input.
// `code` is one of the stable JS error codes (src/errors.ts), e.g. "INVALID_ARGUMENT", "CONTEXT_FULL".
#pragma once

#include <string>
#include <utility>

namespace qh {

struct Status {
  std::string code;     // empty = ok
  std::string message;  // names the op, tensor and value involved

  static Status ok() { return {}; }
  static Status error(std::string c, std::string m) { return Status{std::move(c), std::move(m)}; }
  bool is_ok() const { return code.empty(); }
};

#define QH_RETURN_IF_ERROR(expr)         \
  do {                                   \
    ::qh::Status _qh_s = (expr);         \
    if (!_qh_s.is_ok()) return _qh_s;    \
  } while (0)

}  // namespace qh
