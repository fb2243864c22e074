// What the Mystery mode needs from an LLM, as a small interface: the server adapts the
// OpenAI-compatible client (src/llm/) to it, unit tests plug in a fake. Free of Asio.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace maratang::mystery {

struct prompt_message {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct llm_call {
  bool lora = false;  // the LoRA endpoint (model = the adapter) rather than the base one
  std::string model;  // "" = the endpoint's configured model
  std::vector<prompt_message> messages;
  int max_tokens = 300;
  double temperature = 0.7;
  // A player is waiting for it (an NPC's answer, a look, free text): its first words must come
  // within the server's llm.first_token_wait_ms, retries included. Casebook chapters are not.
  bool player_waiting = false;
};

class llm_port {
 public:
  virtual ~llm_port() = default;
  using token_fn = std::function<void(std::string_view delta)>;
  // ok=false: the call failed (timeout, HTTP error, broken stream, breaker open...); `text` holds
  // what arrived before the failure and `why` says what went wrong.
  using done_fn = std::function<void(bool ok, std::string text, std::string why)>;
  // Starts a streamed call and returns at once. on_token runs for each piece of text as it
  // arrives, then on_done exactly once; both may run on any thread (post to your strand).
  virtual void chat(llm_call call, token_fn on_token, done_fn on_done) = 0;
  // Whether a LoRA endpoint is configured (else LoRA calls go to the base endpoint).
  virtual bool has_lora() const = 0;
};

}  // namespace maratang::mystery
