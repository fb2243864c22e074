// The player's web client served at / (web.public_dir): content types, ETag and 304, gzip, the
// Content-Security-Policy of pages, refused names (dotfiles, "..", links out of the folder), and
// every other endpoint answering as it did before the client existed. Over real sockets.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "harness.hpp"
#include "traces/http_cache.hpp"

namespace maratang::it {
namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

class web_static_test : public ::testing::Test {
 protected:
  void SetUp() override {
    site_ = dir_.path() / "public";
    write_file(site_ / "index.html", "<!doctype html><title>t</title><p>index</p>\n");
    std::string js = "// app\n";
    for (int i = 0; i < 200; ++i)
      js += "export const line" + std::to_string(i) + " = 'maratang';\n";
    js_ = js;
    write_file(site_ / "app.js", js_);
    write_file(site_ / "css" / "site.css", "body{margin:0}\n");
    write_file(site_ / "i18n" / "ko.json", R"({"hello":"안녕하세요"})");
    write_file(site_ / ".secret", "no");
    write_file(site_ / "css" / ".env", "no");
    write_file(dir_.path() / "outside.txt", "outside");
    fs::create_symlink(dir_.path() / "outside.txt", site_ / "link.txt");
    srv_ = std::make_unique<server_process>(
        std::vector<std::string>{"web.public_dir=" + site_.string()});
  }
  int port() const { return srv_->port(); }

  temp_dir dir_;
  fs::path site_;
  std::string js_;
  std::unique_ptr<server_process> srv_;
};

TEST_F(web_static_test, serves_index_and_files_with_their_types) {
  auto root = http_call(port(), "GET", "/");
  ASSERT_EQ(root.status, 200) << root.body;
  EXPECT_EQ(root.header("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(root.body, "<!doctype html><title>t</title><p>index</p>\n");
  const auto csp = root.header("content-security-policy");
  EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << csp;
  EXPECT_EQ(root.header("x-content-type-options"), "nosniff");
  EXPECT_EQ(http_call(port(), "GET", "/index.html").body, root.body);

  auto js = http_call(port(), "GET", "/app.js");
  ASSERT_EQ(js.status, 200);
  EXPECT_EQ(js.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js.body, js_);
  EXPECT_TRUE(js.header("content-security-policy").empty()) << "only pages carry the policy";
  auto css = http_call(port(), "GET", "/css/site.css");
  EXPECT_EQ(css.status, 200);
  EXPECT_EQ(css.header("content-type"), "text/css; charset=utf-8");
  auto ko = http_call(port(), "GET", "/i18n/ko.json");
  EXPECT_EQ(ko.header("content-type"), "application/json");
  EXPECT_EQ(ko.body, R"({"hello":"안녕하세요"})");
}

TEST_F(web_static_test, head_answers_as_get_without_the_body) {
  auto get = http_call(port(), "GET", "/app.js");
  ASSERT_EQ(get.status, 200);
  auto head = http_call(port(), "HEAD", "/app.js");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.header("content-length"), std::to_string(get.body.size()));
  EXPECT_EQ(head.header("etag"), get.header("etag"));
  EXPECT_EQ(head.header("content-type"), get.header("content-type"));
  EXPECT_EQ(http_call(port(), "HEAD", "/no-such-file.js").status, 404);
  // On one connection, a HEAD then a GET: nothing follows the HEAD's head but the next response
  // (a body sent after it would be read as the start of the next one).
  namespace asio = boost::asio;
  asio::io_context ioc;
  asio::ip::tcp::socket sock(ioc);
  sock.connect({asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port())});
  asio::write(sock,
              asio::buffer(std::string("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"
                                       "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")));
  std::string all;
  boost::system::error_code ec;
  char buf[4096];
  while (!ec) {
    auto n = sock.read_some(asio::buffer(buf), ec);
    all.append(buf, n);
  }
  const auto end_of_head = all.find("\r\n\r\n");
  ASSERT_NE(end_of_head, std::string::npos) << all;
  EXPECT_EQ(all.compare(end_of_head + 4, 12, "HTTP/1.1 200"), 0) << all;
  EXPECT_TRUE(all.ends_with(http_call(port(), "GET", "/").body)) << all;
}

TEST_F(web_static_test, etag_revalidates_and_a_changed_file_is_read_again) {
  auto first = http_call(port(), "GET", "/app.js");
  ASSERT_EQ(first.status, 200);
  const auto tag = first.header("etag");
  ASSERT_FALSE(tag.empty());
  EXPECT_EQ(first.header("cache-control"), "no-cache");
  auto again = http_call(port(), "GET", "/app.js", {}, {{"If-None-Match", tag}});
  EXPECT_EQ(again.status, 304);
  EXPECT_TRUE(again.body.empty());
  EXPECT_EQ(again.header("etag"), tag);
  EXPECT_EQ(http_call(port(), "GET", "/app.js", {}, {{"If-None-Match", "\"other\""}}).status, 200);

  write_file(site_ / "app.js", js_ + "export const added = 1;\n");
  auto changed = http_call(port(), "GET", "/app.js", {}, {{"If-None-Match", tag}});
  ASSERT_EQ(changed.status, 200);
  EXPECT_NE(changed.header("etag"), tag);
  EXPECT_EQ(changed.body, js_ + "export const added = 1;\n");
}

TEST_F(web_static_test, gzip_when_accepted_with_its_own_tag) {
  auto plain = http_call(port(), "GET", "/app.js");
  auto z = http_call(port(), "GET", "/app.js", {}, {{"Accept-Encoding", "gzip, br"}});
  ASSERT_EQ(z.status, 200);
  EXPECT_EQ(z.header("content-encoding"), "gzip");
  EXPECT_EQ(z.header("vary"), "Accept-Encoding");
  EXPECT_LT(z.body.size(), plain.body.size() / 4);
  std::string unzipped;
  ASSERT_TRUE(traces::gunzip(z.body, unzipped));
  EXPECT_EQ(unzipped, js_);
  EXPECT_NE(z.header("etag"), plain.header("etag"));
  EXPECT_EQ(http_call(port(), "GET", "/app.js", {},
                      {{"Accept-Encoding", "gzip"}, {"If-None-Match", z.header("etag")}})
                .status,
            304);
  // A tiny file is not worth compressing.
  EXPECT_TRUE(http_call(port(), "GET", "/css/site.css", {}, {{"Accept-Encoding", "gzip"}})
                  .header("content-encoding")
                  .empty());
}

TEST_F(web_static_test, refuses_dotfiles_climbing_and_links_out) {
  for (const char* p : {"/.secret", "/css/.env", "/css/../.secret", "/%2e%2e/outside.txt",
                        "/css/%2e%2e/%2e%2e/outside.txt", "/..%2Foutside.txt", "/link.txt",
                        "/css//site.css", "/css/", "/nope.js", "/app.js%00.html"}) {
    auto r = http_call(port(), "GET", p);
    EXPECT_EQ(r.status, 404) << p << ": " << r.body;
    EXPECT_EQ(r.error_code(), "not_found") << p;
    EXPECT_EQ(r.body.find("outside"), std::string::npos) << p;
  }
  // Only GET reads files.
  EXPECT_NE(http_call(port(), "POST", "/app.js", "{}").status, 200);
}

TEST_F(web_static_test, other_endpoints_answer_as_before) {
  EXPECT_EQ(http_call(port(), "GET", "/health").body, R"({"status":"healthy"})");
  auto m = http_call(port(), "GET", "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.header("content-type").rfind("text/plain", 0), 0u);
  auto nope = http_call(port(), "GET", "/v1/nope");
  EXPECT_EQ(nope.status, 404);
  EXPECT_EQ(nope.error_code(), "not_found");
  EXPECT_EQ(http_call(port(), "GET", "/v1/modes").status, 200);
  EXPECT_EQ(http_call(port(), "GET", "/v1/account").status, 401);
  EXPECT_EQ(http_call(port(), "GET", "/openapi.json").status, 200);
  auto p = make_player(port(), "정적");
  ws_client ws(port(), p.token);
  EXPECT_EQ(num(ws.hello().at("version")), 1);
}

// With no setting, the server finds the source tree's web/public beside its executable
// (build/<preset>/maratang), whatever its working directory.
TEST(web_static_default_test, default_dir_is_the_source_trees_client) {
  server_process srv;
  auto r = http_call(srv.port(), "GET", "/");
  ASSERT_EQ(r.status, 200) << r.body;
  std::ifstream in(fs::path(MARATANG_SOURCE_DIR) / "web" / "public" / "index.html");
  std::string want((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(r.body, want);
  EXPECT_EQ(http_call(srv.port(), "GET", "/sdk/maratang.js").header("content-type"),
            "text/javascript; charset=utf-8");
}

}  // namespace
}  // namespace maratang::it
