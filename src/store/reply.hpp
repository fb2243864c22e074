// How every storage port answers (core::account_store, lobby::game_store, traces::trace_store,
// ...): each operation takes a completion, `store::reply<T>`, called exactly once.
//
// - The value: the operation ran and, if it wrote, committed. "Not found" and "taken" are values
//   (an empty optional, a store::status), not errors.
// - error{errc::unavailable}: storage could not do it (its queue is full, the database is down or
//   failing, the server is stopping). Then nothing was written.
//
// Executor contract, the same for every port and every implementation: the completion runs either
// before the call returns (only when storage refuses at once: unavailable) or later on the
// store's own thread (the embedded store's worker thread; a network store's I/O thread) — never
// on the caller's executor. It must not block: post to your own executor (a room's strand, a
// connection's strand) for anything more than a few microseconds. A completion may call the
// store again.
#pragma once

#include <functional>

#include "util/error.hpp"

namespace maratang::store {

template <class T>
using reply = std::function<void(result<T>)>;

}  // namespace maratang::store
