// What the operations endpoints ask of storage, whatever it is: does it answer (GET /ready).
// Completions: see store/reply.hpp.
#pragma once

#include <string>

#include "store/reply.hpp"

namespace maratang::store {

class health {
 public:
  virtual ~health() = default;
  virtual std::string backend_name() const = 0;
  // true when the database answers.
  virtual void ping(reply<bool> done) = 0;
};

}  // namespace maratang::store
