// Reading a streamed chat completion: the Server-Sent Events body of an OpenAI-compatible server
// (`data: {json chunk}` lines, `data: [DONE]` at the end) and its error bodies. Pure functions, no
// I/O; the client (openai_client.cpp) feeds them what it has read so far.
#pragma once

#include <boost/json/fwd.hpp>
#include <functional>
#include <string>
#include <string_view>

namespace maratang::llm {

enum class sse_state {
  more,  // every complete line consumed; more may follow
  done,  // `data: [DONE]` seen
  bad,   // an event that is not a JSON object, or reports an error (see bad_detail)
};

// Consumes the complete lines at the front of `body` (the stream read so far) and erases them;
// an incomplete last line stays for the next call. Each non-empty `choices[0].delta.content` goes
// to on_delta; a string `choices[0].finish_reason` is stored in finish_reason. Stops at the first
// event that ends the stream (done or bad: bad_detail says why).
sse_state consume_sse(std::string& body, std::string& finish_reason, std::string& bad_detail,
                      const std::function<void(std::string_view delta)>& on_delta);

// The message of an OpenAI ({"error":{"message"}}) or vLLM ({"message"}) error body, if any;
// else the body's first 200 bytes.
std::string error_message(std::string_view body);

// choices[0] of a reply or chunk, or null.
const boost::json::object* first_choice(const boost::json::value& v);

}  // namespace maratang::llm
