// A real browser's WebSocket against the server's own RFC 6455 framing: Debian's Chromium, driven
// by playwright-core (tests/integration/ws_browser.cjs), loads a page that says hello, chats in
// Korean in a room, sends a 45 KB message and a binary one, and closes cleanly; the page writes
// what it saw, which the test compares line by line.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "harness.hpp"

namespace maratang::it {
namespace {

std::string browser_path() {
  for (const char* b : {"/usr/bin/chromium", "/usr/bin/chromium-browser"}) {
    if (std::filesystem::exists(b)) return b;
  }
  return {};
}

// The page: each step appends a line to <pre id=o>; "END" marks the close.
constexpr std::string_view kPage = R"(<!doctype html><meta charset="utf-8"><pre id=o></pre><script>
const o = document.getElementById('o');
const say = (s) => { o.textContent += s + '\n'; };
const ws = new WebSocket('ws://127.0.0.1:PORT/ws?token=TOKEN');
const send = (m) => ws.send(JSON.stringify(m));
ws.onopen = () => send({type: 'hello', id: 1, data: {version: 1}});
ws.onmessage = (e) => {
  if (typeof e.data !== 'string') { say('NOT TEXT'); return; }
  const m = JSON.parse(e.data);
  if (m.ok === false) {
    say('error ' + m.type + ' ' + m.error.code + ': ' + m.error.message);
  } else if (m.id === 1 && m.ok) {
    say('hello ' + m.data.version);
    send({type: 'room.create', id: 2, data: {mode: 'mafia', name: '브라우저 방'}});
  } else if (m.id === 2 && m.ok) {
    say('room ' + m.data.room.name);
    send({type: 'room.chat', id: 3, data: {text: '안녕하세요 🙂'}});
  } else if (m.type === 'room.chat' && !('ok' in m)) {
    say('chat ' + m.data.text);
    send({type: 'time.sync', id: '큰', data: {client_send: 4, pad: '가'.repeat(15000)}});
  } else if (m.id === '큰' && m.ok) {
    say('big ' + m.data.client_send);
    ws.send(new TextEncoder().encode(JSON.stringify(
        {type: 'time.sync', id: 'bin', data: {client_send: 5}})).buffer);
  } else if (m.id === 'bin' && m.ok) {
    say('binary ' + m.data.client_send);
    ws.close(1000, 'bye');
  }
};
ws.onclose = (e) => say('END ' + e.code + ' ' + e.wasClean);
</script>)";

TEST(ws_browser_test, chromium_speaks_to_the_server) {
  const auto browser = browser_path();
  ASSERT_FALSE(browser.empty()) << "no Chromium: run scripts/setup.sh --test";
  server_process srv;
  auto p = make_player(srv.port(), "브라우저");
  temp_dir out;
  std::string page(kPage);
  page.replace(page.find("PORT"), 4, std::to_string(srv.port()));
  page.replace(page.find("TOKEN"), 5, p.token);
  const auto page_file = out.path() / "page.html";
  std::ofstream(page_file) << page;
  const auto source = std::filesystem::path(MARATANG_SOURCE_DIR);
  const auto cmd = fmt::format("timeout 60 node {} {} {} {} 2>&1",
                               (source / "tests" / "integration" / "ws_browser.cjs").string(),
                               browser, page_file.string(), (source / "web").string());
  std::string lines;
  FILE* pipe = popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr) << cmd;
  char buf[4096];
  for (std::size_t n; (n = fread(buf, 1, sizeof buf, pipe)) > 0;)
    lines.append(buf, n);
  EXPECT_EQ(pclose(pipe), 0) << cmd << "\n" << lines;
  EXPECT_EQ(lines,
            "hello 1\n"
            "room 브라우저 방\n"
            "chat 안녕하세요 🙂\n"
            "big 4\n"
            "binary 5\n"
            "END 1000 true\n");
}

}  // namespace
}  // namespace maratang::it
