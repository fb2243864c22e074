// Admin accounts and the trace moderation queue over real sockets: `maratang admin grant|revoke`
// run against the running server's database, the checks on every /v1/admin request, restoring
// and deleting reported traces, and the audit log that records each of these.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>

#include "harness.hpp"

namespace maratang::it {
namespace {

struct command_result {
  int code = -1;
  std::string output;
};

command_result run(const std::string& cmd) {
  command_result r;
  FILE* p = ::popen(fmt::format("{} 2>&1", cmd).c_str(), "r");
  if (!p) return r;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p))
    r.output.append(buf, n);
  const int st = ::pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

constexpr std::string_view kTrace = R"({
  "obj": {"u_uuid": "u", "o_type": 1, "o_pos": "1,2,3", "o_rot": "0,0,0"},
  "message": {"u_uuid": "u", "part1": "try", "part2": "jumping", "part3": "here"},
  "phantom": {"u_uuid": "u", "data": [["1,2,3", "0,0,0"]]}
})";

class admin_test : public ::testing::Test {
 protected:
  admin_test()
      : srv_({"traces.hide_after_reports=2", "traces.report_min_account_age_s=0",
              "traces.anon_writes_per_minute=0", "traces.account_writes_per_minute=0"},
             data_.path() / "data") {}

  int port() const { return srv_.port(); }

  command_result admin(std::string_view verb, std::string_view email) {
    return run(fmt::format("{} admin {} {} --data-dir {}", MARATANG_BINARY, verb, email,
                           srv_.data_dir().string()));
  }

  // Registers an email account; returns {id, token}.
  player register_email(const std::string& email) {
    auto r = http_call(
        port(), "POST", "/v1/auth/register",
        json::serialize(json::object{{"email", email}, {"password", "moderator-pass-77"}}));
    EXPECT_EQ(r.status, 201) << r.body;
    player p;
    p.token = str(at(r.json(), "token"));
    auto me = http_call(port(), "GET", "/v1/account", {}, bearer(p.token));
    p.id = num(at(me.json(), "id"));
    return p;
  }

  // Stores one object and one message; returns their ids.
  std::pair<std::int64_t, std::int64_t> add_trace() {
    auto r = http_call(port(), "POST", "/add-object", std::string(kTrace));
    EXPECT_EQ(r.status, 200) << r.body;
    return {num(at(r.json(), "ids.obj")), num(at(r.json(), "ids.message"))};
  }

  http_result report(std::int64_t id, const player& p, std::string_view from) {
    return http_call_from(from, port(), "POST", fmt::format("/v1/traces/items/{}/report", id), {},
                          bearer(p.token));
  }

  std::size_t listed(std::string_view kind) {
    auto r = http_call(port(), "GET", "/get-objects");
    EXPECT_EQ(r.status, 200) << r.body;
    return at(r.json(), kind).as_array().size();
  }

  temp_dir data_;
  server_process srv_;
};

TEST_F(admin_test, only_granted_accounts_moderate_and_every_action_is_audited) {
  auto mod = register_email("Mod@Example.com");
  auto a = login_device(port(), "device-admin-a");
  auto b = login_device(port(), "device-admin-b");

  // Before the grant: 401 without a token, 403 with an ordinary one.
  EXPECT_EQ(http_call(port(), "GET", "/v1/admin/traces").status, 401);
  auto refused = http_call(port(), "GET", "/v1/admin/traces", {}, bearer(mod.token));
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(refused.error_code(), "forbidden");
  EXPECT_FALSE(http_call(port(), "GET", "/v1/account", {}, bearer(mod.token))
                   .json()
                   .as_object()
                   .contains("admin"));

  // The operator grants, against the running server's database; an unknown email is an error.
  auto unknown = admin("grant", "nobody@example.com");
  EXPECT_EQ(unknown.code, 1) << unknown.output;
  EXPECT_NE(unknown.output.find("nobody@example.com"), std::string::npos) << unknown.output;
  auto granted = admin("grant", "mod@example.COM");
  ASSERT_EQ(granted.code, 0) << granted.output;
  EXPECT_NE(granted.output.find("is now an admin"), std::string::npos) << granted.output;
  EXPECT_EQ(at(http_call(port(), "GET", "/v1/account", {}, bearer(mod.token)).json(), "admin"),
            json::value(true));

  auto empty = http_call(port(), "GET", "/v1/admin/traces", {}, bearer(mod.token));
  ASSERT_EQ(empty.status, 200) << empty.body;
  EXPECT_TRUE(at(empty.json(), "items").as_array().empty());
  EXPECT_TRUE(at(empty.json(), "next_before").is_null());

  // One trace reported once (listed, not hidden), one hidden by two addresses.
  auto [obj1, msg1] = add_trace();
  auto [obj2, msg2] = add_trace();
  ASSERT_EQ(report(msg1, a, "127.0.0.2").status, 200);
  ASSERT_EQ(report(obj2, a, "127.0.0.2").status, 200);
  auto hid = report(obj2, b, "127.0.0.3");
  ASSERT_EQ(at(hid.json(), "hidden"), json::value(true)) << hid.body;
  EXPECT_EQ(listed("objects"), 1u);
  EXPECT_EQ(listed("messages"), 2u);

  auto queue = http_call(port(), "GET", "/v1/admin/traces", {}, bearer(mod.token));
  ASSERT_EQ(queue.status, 200) << queue.body;
  auto items = at(queue.json(), "items").as_array();
  ASSERT_EQ(items.size(), 2u) << queue.body;
  EXPECT_EQ(num(at(items[0], "id")), obj2);
  EXPECT_EQ(str(at(items[0], "kind")), "objects");
  EXPECT_EQ(str(at(items[0], "area")), "default");
  EXPECT_EQ(at(items[0], "hidden"), json::value(true));
  EXPECT_EQ(num(at(items[0], "reports")), 2);
  EXPECT_EQ(str(at(items[0], "trace.o_pos")), "1,2,3");
  ASSERT_EQ(at(items[0], "reported_by").as_array().size(), 2u);
  EXPECT_EQ(num(at(items[0], "reported_by.0.account_id")), std::min(a.id, b.id));
  EXPECT_EQ(num(at(items[1], "id")), msg1);
  EXPECT_EQ(at(items[1], "hidden"), json::value(false));
  auto hidden_only =
      http_call(port(), "GET", "/v1/admin/traces?hidden=true", {}, bearer(mod.token));
  ASSERT_EQ(at(hidden_only.json(), "items").as_array().size(), 1u) << hidden_only.body;
  auto paged = http_call(port(), "GET", "/v1/admin/traces?limit=1", {}, bearer(mod.token));
  EXPECT_EQ(num(at(paged.json(), "next_before")), obj2);

  // An ordinary account cannot restore or delete, and nothing changes when it tries.
  EXPECT_EQ(http_call(port(), "POST", fmt::format("/v1/admin/traces/{}/restore", obj2), {},
                      bearer(a.token))
                .status,
            403);
  EXPECT_EQ(
      http_call(port(), "DELETE", fmt::format("/v1/admin/traces/{}", msg1), {}, bearer(a.token))
          .status,
      403);
  EXPECT_EQ(listed("objects"), 1u);
  EXPECT_EQ(listed("messages"), 2u);

  // Restore: listed again at once (the cached listing is dropped), out of the queue.
  auto restored = http_call(port(), "POST", fmt::format("/v1/admin/traces/{}/restore", obj2), {},
                            bearer(mod.token));
  ASSERT_EQ(restored.status, 200) << restored.body;
  EXPECT_EQ(at(restored.json(), "hidden"), json::value(false));
  EXPECT_EQ(num(at(restored.json(), "reports")), 0);
  EXPECT_EQ(listed("objects"), 2u);

  // Delete: gone from listings and the queue; a second delete finds nothing.
  auto deleted =
      http_call(port(), "DELETE", fmt::format("/v1/admin/traces/{}", msg1), {}, bearer(mod.token));
  ASSERT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_EQ(num(at(deleted.json(), "deleted")), msg1);
  EXPECT_EQ(listed("messages"), 1u);
  auto after = http_call(port(), "GET", "/v1/admin/traces", {}, bearer(mod.token));
  EXPECT_TRUE(at(after.json(), "items").as_array().empty()) << after.body;
  EXPECT_EQ(
      http_call(port(), "DELETE", fmt::format("/v1/admin/traces/{}", msg1), {}, bearer(mod.token))
          .status,
      404);

  // The audit log, newest first: delete, restore, then the operator's grant.
  auto audit = http_call(port(), "GET", "/v1/admin/audit", {}, bearer(mod.token));
  ASSERT_EQ(audit.status, 200) << audit.body;
  auto entries = at(audit.json(), "entries").as_array();
  ASSERT_EQ(entries.size(), 3u) << audit.body;
  EXPECT_EQ(str(at(entries[0], "action")), "trace.delete");
  EXPECT_EQ(str(at(entries[0], "target")), fmt::format("trace:{}", msg1));
  EXPECT_EQ(num(at(entries[0], "actor")), mod.id);
  EXPECT_EQ(str(at(entries[0], "detail.trace.part2")), "jumping");
  EXPECT_EQ(str(at(entries[1], "action")), "trace.restore");
  EXPECT_EQ(at(entries[1], "detail.hidden"), json::value(true));
  EXPECT_EQ(str(at(entries[2], "action")), "admin.grant");
  EXPECT_EQ(num(at(entries[2], "actor")), 0);
  EXPECT_EQ(str(at(entries[2], "target")), fmt::format("account:{}", mod.id));
  EXPECT_EQ(str(at(entries[2], "detail.email")), "mod@example.com");
  EXPECT_GE(num(at(entries[2], "at")), now_ms() - 60'000);

  // Revoked: the very next request is refused, without a restart or a new token.
  auto revoked = admin("revoke", "mod@example.com");
  ASSERT_EQ(revoked.code, 0) << revoked.output;
  EXPECT_EQ(http_call(port(), "GET", "/v1/admin/audit", {}, bearer(mod.token)).status, 403);
  ASSERT_EQ(admin("grant", "mod@example.com").code, 0);
  auto audit2 = http_call(port(), "GET", "/v1/admin/audit?limit=2", {}, bearer(mod.token));
  auto e2 = at(audit2.json(), "entries").as_array();
  ASSERT_EQ(e2.size(), 2u) << audit2.body;
  EXPECT_EQ(str(at(e2[0], "action")), "admin.grant");
  EXPECT_EQ(str(at(e2[1], "action")), "admin.revoke");
  EXPECT_EQ(num(at(audit2.json(), "next_before")), num(at(e2[1], "id")));
}

TEST_F(admin_test, bad_admin_requests_get_clear_errors) {
  auto mod = register_email("mod2@example.com");
  ASSERT_EQ(admin("grant", "mod2@example.com").code, 0);
  auto call = [&](std::string_view method, std::string_view target) {
    return http_call(port(), method, target, {}, bearer(mod.token));
  };
  for (auto [method, target, status, code] :
       std::vector<std::tuple<std::string, std::string, int, std::string>>{
           {"GET", "/v1/admin/traces?limit=0", 400, "bad_field"},
           {"GET", "/v1/admin/traces?limit=101", 400, "bad_field"},
           {"GET", "/v1/admin/traces?hidden=maybe", 400, "bad_field"},
           {"GET", "/v1/admin/audit?before=-3", 400, "bad_field"},
           {"POST", "/v1/admin/traces/abc/restore", 400, "bad_field"},
           {"POST", "/v1/admin/traces/0/restore", 400, "bad_field"},
           {"POST", "/v1/admin/traces/999/restore", 404, "not_found"},
           {"GET", "/v1/admin/traces/5/restore", 405, "method_not_allowed"},
           {"POST", "/v1/admin/traces", 405, "method_not_allowed"},
           {"GET", "/v1/admin/nothing", 404, "not_found"},
       }) {
    auto r = call(method, target);
    EXPECT_EQ(r.status, status) << method << " " << target << ": " << r.body;
    EXPECT_EQ(r.error_code(), code) << method << " " << target;
  }
  // The server goes on.
  EXPECT_EQ(call("GET", "/v1/admin/traces").status, 200);
}

}  // namespace
}  // namespace maratang::it
