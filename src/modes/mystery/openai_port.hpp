// The Mystery mode's llm_port over the OpenAI-compatible client (src/llm/): the base endpoint
// (VLLM_BASE_URL) and, when configured, the LoRA endpoint (LORA_VLLM_BASE_URL) where an NPC's
// adapter is the request's model name.
#pragma once

#include <memory>
#include <string>

#include "llm/openai_client.hpp"
#include "modes/mystery/llm_port.hpp"

namespace maratang::mystery {

class openai_port final : public llm_port {
 public:
  // lora.base_url empty: no LoRA endpoint (LoRA NPCs then speak through the base model).
  // first_token_wait_ms: the whole wait for the first token of a call a player waits for
  // (llm_call::player_waiting), across retries; 0: none.
  openai_port(boost::asio::io_context& ioc, llm::endpoint base, llm::endpoint lora,
              std::string model, llm::client_options o, int first_token_wait_ms = 0);
  ~openai_port() override;

  void chat(llm_call call, token_fn on_token, done_fn on_done) override;
  bool has_lora() const override { return lora_ != nullptr; }

  const llm::client& base() const { return *base_; }
  const llm::client* lora() const { return lora_.get(); }

 private:
  std::unique_ptr<llm::client> base_;
  std::unique_ptr<llm::client> lora_;
  std::string model_;
  int first_token_wait_ms_ = 0;
};

}  // namespace maratang::mystery
