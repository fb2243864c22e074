#include "app/config.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace maratang::app {
namespace {

namespace json = boost::json;

struct env_block {
  explicit env_block(std::vector<std::string> vars) : storage(std::move(vars)) {
    for (auto& s : storage)
      ptrs.push_back(s.data());
    ptrs.push_back(nullptr);
  }
  char** get() { return ptrs.data(); }
  std::vector<std::string> storage;
  std::vector<char*> ptrs;
};

std::string write_file(const std::string& text) {
  auto path =
      std::filesystem::temp_directory_path() /
      ("maratang_cfg_" + std::to_string(::getpid()) + "_" + std::to_string(std::rand()) + ".json");
  std::ofstream(path) << text;
  return path.string();
}

TEST(config, defaults_run_with_nothing_set) {
  env_block env({});
  auto lc = load_config("", {}, env.get());
  ASSERT_TRUE(lc.has_value()) << lc.error().message;
  EXPECT_EQ(lc->cfg.port, 8080);
  EXPECT_EQ(lc->cfg.storage_backend, "sqlite");
  EXPECT_EQ(lc->cfg.sqlite_path, "./data/maratang.db");
  EXPECT_EQ(lc->sources.at("server.port"), source::defaults);
}

TEST(config, precedence_is_defaults_file_env_flags) {
  auto file = write_file(R"({
    // comments are allowed
    "server": {"port": 9001, "host": "127.0.0.1"},
    "rooms.reconnect_grace_ms": 1000,
    "log": {"level": "debug"},
  })");
  env_block env({"MARATANG_SERVER_PORT=9002", "MARATANG_LOG_LEVEL=warn"});
  auto lc = load_config(file, {{"server.port", "9003"}}, env.get());
  std::filesystem::remove(file);
  ASSERT_TRUE(lc.has_value()) << lc.error().message;
  EXPECT_EQ(lc->cfg.port, 9003);
  EXPECT_EQ(lc->sources.at("server.port"), source::flag);
  EXPECT_EQ(lc->cfg.log_level, "warn");
  EXPECT_EQ(lc->sources.at("log.level"), source::env);
  EXPECT_EQ(lc->cfg.host, "127.0.0.1");
  EXPECT_EQ(lc->sources.at("server.host"), source::file);
  EXPECT_EQ(lc->cfg.reconnect_grace_ms, 1000);
}

TEST(config, seed_names_are_honoured) {
  env_block env(
      {"VLLM_BASE_URL=http://127.0.0.1:8000/v1", "LORA_VLLM_BASE_URL=http://127.0.0.1:8001/v1"});
  auto lc = load_config("", {}, env.get());
  ASSERT_TRUE(lc.has_value());
  EXPECT_EQ(lc->cfg.vllm_base_url, "http://127.0.0.1:8000/v1");
  EXPECT_EQ(lc->cfg.lora_vllm_base_url, "http://127.0.0.1:8001/v1");
  // The MARATANG_ name wins over the alias.
  env_block both({"VLLM_BASE_URL=http://a:1", "MARATANG_LLM_BASE_URL=http://b:2"});
  EXPECT_EQ(load_config("", {}, both.get())->cfg.vllm_base_url, "http://b:2");
}

TEST(config, llm_urls_are_checked_at_start_up) {
  env_block none({});
  auto bad = load_config("", {{"llm.base_url", "ftp://gpu-box/v1"}}, none.get());
  ASSERT_TRUE(bad.has_error());
  EXPECT_NE(bad.error().message.find("llm.base_url"), std::string::npos) << bad.error().message;
  auto lora_alone = load_config("", {{"llm.lora_base_url", "http://127.0.0.1:8001"}}, none.get());
  ASSERT_TRUE(lora_alone.has_error());
  EXPECT_NE(lora_alone.error().message.find("llm.lora_base_url"), std::string::npos);
  EXPECT_TRUE(load_config("", {{"llm.base_url", "http://127.0.0.1:8000/v1"}}, none.get()));
}

TEST(config, errors_name_the_setting_and_source) {
  env_block env({"MARATANG_SERVER_PORT=eighty"});
  auto lc = load_config("", {}, env.get());
  ASSERT_TRUE(lc.has_error());
  EXPECT_NE(lc.error().message.find("server.port"), std::string::npos) << lc.error().message;
  EXPECT_NE(lc.error().message.find("MARATANG_SERVER_PORT"), std::string::npos);
  EXPECT_NE(lc.error().message.find("eighty"), std::string::npos);

  env_block none({});
  auto unknown = load_config("", {{"server.prot", "1"}}, none.get());
  ASSERT_TRUE(unknown.has_error());
  EXPECT_NE(unknown.error().message.find("server.prot"), std::string::npos);

  auto choice = load_config("", {{"storage.backend", "oracle"}}, none.get());
  ASSERT_TRUE(choice.has_error());
  EXPECT_NE(choice.error().message.find("sqlite"), std::string::npos);

  auto range = load_config("", {{"server.port", "70000"}}, none.get());
  ASSERT_TRUE(range.has_error());

  auto file = write_file("{not json");
  auto bad_file = load_config(file, {}, none.get());
  std::filesystem::remove(file);
  ASSERT_TRUE(bad_file.has_error());
  EXPECT_NE(bad_file.error().message.find(file), std::string::npos);

  auto missing = load_config("/nonexistent/maratang.json", {}, none.get());
  ASSERT_TRUE(missing.has_error());
}

TEST(config, describe_redacts_secrets) {
  env_block env({"MARATANG_AUTH_SECRET=c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ",
                 "VLLM_API_KEY=sk-very-secret"});
  auto lc = load_config("", {}, env.get());
  ASSERT_TRUE(lc.has_value());
  auto text = describe(*lc);
  EXPECT_EQ(text.find("sk-very-secret"), std::string::npos);
  EXPECT_EQ(text.find("c2VjcmV0"), std::string::npos);
  auto v = json::parse(text);
  EXPECT_EQ(v.at("auth.secret").at("value"), "<redacted>");
  EXPECT_EQ(v.at("auth.secret").at("source"), "env");
  EXPECT_EQ(v.at("server.port").at("value"), 8080);
}

TEST(config, postgres_url_is_refused_until_supported) {
  env_block env({"DATABASE_URL=postgresql://u@127.0.0.1/db"});
  auto lc = load_config("", {}, env.get());
  ASSERT_TRUE(lc.has_error());
  EXPECT_NE(lc.error().message.find("storage.database_url"), std::string::npos);
}

}  // namespace
}  // namespace maratang::app
