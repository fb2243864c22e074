// The casebook port: where a finished Mystery game's casebook is kept (casebook_writer writes,
// the gateway reads). Owned here, by its users; implemented by store::batched_store (over the
// memory, SQLite or PostgreSQL backend). Completions: see store/reply.hpp.
#pragma once

#include <optional>
#include <string>

#include "store/records.hpp"
#include "store/reply.hpp"

namespace maratang::mystery {

class casebook_store {
 public:
  virtual ~casebook_store() = default;
  // Inserts or replaces the game's casebook: true once committed.
  virtual void put_casebook(store::casebook_record c, store::reply<bool> done) = 0;
  virtual void find_casebook(std::string game_id,
                             store::reply<std::optional<store::casebook_record>> done) = 0;
};

}  // namespace maratang::mystery
