#include "modes/mystery/openai_port.hpp"

#include <fmt/format.h>

namespace maratang::mystery {

openai_port::openai_port(boost::asio::io_context& ioc, llm::endpoint base, llm::endpoint lora,
                         std::string model, llm::client_options o, int first_token_wait_ms)
    : base_(std::make_unique<llm::client>(ioc, std::move(base), o)),
      model_(std::move(model)),
      first_token_wait_ms_(first_token_wait_ms) {
  if (!lora.base_url.empty()) lora_ = std::make_unique<llm::client>(ioc, std::move(lora), o);
}

openai_port::~openai_port() = default;

void openai_port::chat(llm_call call, token_fn on_token, done_fn on_done) {
  llm::chat_request r;
  const bool use_lora = call.lora && lora_;
  r.model = use_lora && !call.model.empty() ? call.model : model_;
  r.max_tokens = call.max_tokens;
  r.temperature = call.temperature;
  r.stream = true;
  if (call.player_waiting) r.first_token_wait_ms = first_token_wait_ms_;
  for (auto& m : call.messages)
    r.messages.push_back({std::move(m.role), std::move(m.content)});
  llm::client& c = use_lora ? *lora_ : *base_;
  c.complete(std::move(r), std::move(on_token), [done = std::move(on_done)](llm::call_result res) {
    if (res) return done(true, std::move(res->text), {});
    const auto& e = res.error();
    done(false, e.partial_text, fmt::format("{}: {}", llm::to_string(e.kind), e.detail));
  });
}

}  // namespace maratang::mystery
