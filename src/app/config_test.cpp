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
  // Issue 14, item 3: seed 001's https tunnel is accepted (VLLM_BASE_URL too), with the LoRA URL;
  // an unusable CA file is refused at start-up, naming the setting.
  env_block seed({"VLLM_BASE_URL=https://gpu-box.example.net/v1",
                  "LORA_VLLM_BASE_URL=https://gpu-box.example.net:8443/v1"});
  auto https = load_config("", {}, seed.get());
  ASSERT_TRUE(https) << https.error().message;
  EXPECT_EQ(https->cfg.vllm_base_url, "https://gpu-box.example.net/v1");
  EXPECT_EQ(https->cfg.llm_first_token_wait_ms, 4000);
  auto ca = load_config("", {{"llm.base_url", "https://gpu-box/v1"}, {"llm.ca_file", "/nope.pem"}},
                        none.get());
  ASSERT_TRUE(ca.has_error());
  EXPECT_NE(ca.error().message.find("llm.ca_file"), std::string::npos) << ca.error().message;
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

TEST(config, media_settings_are_checked_together_and_their_secrets_redacted) {
  auto with = [](std::vector<std::string> vars) {
    env_block env(std::move(vars));
    return load_config("", {}, env.get());
  };
  EXPECT_TRUE(with({"MARATANG_MEDIA_MODE=sfu"}).has_error());  // no media.janus_url
  EXPECT_TRUE(with({"MARATANG_MEDIA_JANUS_URL=http://127.0.0.1:8088/janus"}).has_error());
  EXPECT_TRUE(with({"MARATANG_MEDIA_JANUS_URL=https://x/janus",
                    "MARATANG_MEDIA_JANUS_ADMIN_URL=http://127.0.0.1:7088/admin",
                    "MARATANG_MEDIA_JANUS_ADMIN_SECRET=s"})
                  .has_error());                                                 // plain http only
  EXPECT_TRUE(with({"MARATANG_MEDIA_ICE_TRANSPORT_POLICY=relay"}).has_error());  // no TURN
  EXPECT_TRUE(with({"MARATANG_MEDIA_TURN_URLS=turn:127.0.0.1:3478"}).has_error());  // no secret
  auto lc = with(
      {"MARATANG_MEDIA_MODE=auto", "MARATANG_MEDIA_JANUS_URL=http://127.0.0.1:8088/janus",
       "MARATANG_MEDIA_JANUS_ADMIN_URL=http://127.0.0.1:7088/admin",
       "MARATANG_MEDIA_JANUS_ADMIN_SECRET=janus-admin-pw",
       "MARATANG_MEDIA_JANUS_ADMIN_KEY=videoroom-key",
       "MARATANG_MEDIA_TURN_URLS=turn:127.0.0.1:3478", "MARATANG_MEDIA_TURN_SECRET=turn-shared-pw",
       "MARATANG_MEDIA_ICE_TRANSPORT_POLICY=relay"});
  ASSERT_TRUE(lc.has_value()) << lc.error().message;
  EXPECT_EQ(lc->cfg.media_mode, "auto");
  const auto text = describe(*lc);
  for (const char* secret : {"janus-admin-pw", "videoroom-key", "turn-shared-pw"})
    EXPECT_EQ(text.find(secret), std::string::npos) << secret;
}

TEST(config, database_url_selects_postgres) {
  env_block env({"DATABASE_URL=postgresql://u:pw@127.0.0.1/db"});
  auto lc = load_config("", {}, env.get());
  ASSERT_TRUE(lc.has_value()) << lc.error().message;
  EXPECT_EQ(lc->cfg.storage_backend, "postgres");
  EXPECT_EQ(lc->cfg.database_url, "postgresql://u:pw@127.0.0.1/db");
  EXPECT_EQ(describe(*lc).find("pw"), std::string::npos);  // a secret: redacted
}

TEST(config, kafka_brokers_come_from_the_seed_variable_and_the_queue_bound_is_checked) {
  {
    env_block env({"KAFKA_BROKERS=k1:9092,k2:9092", "MARATANG_EVENTS_QUEUE_MAX_MESSAGES=500"});
    auto lc = load_config("", {}, env.get());
    ASSERT_TRUE(lc.has_value()) << lc.error().message;
    EXPECT_EQ(lc->cfg.kafka_brokers, "k1:9092,k2:9092");
    EXPECT_EQ(lc->cfg.events_queue_max_messages, 500);
    EXPECT_EQ(lc->sources.at("events.kafka_brokers"), source::env);
  }
  {
    env_block env({});
    auto lc = load_config("", {{"events.queue_max_messages", "0"}}, env.get());
    ASSERT_TRUE(lc.has_error());
    EXPECT_NE(lc.error().message.find("events.queue_max_messages"), std::string::npos);
  }
  {
    env_block env({});
    auto lc = load_config("", {}, env.get());
    ASSERT_TRUE(lc.has_value());
    EXPECT_TRUE(lc->cfg.kafka_brokers.empty());  // no Kafka unless asked for
  }
}

TEST(config, postgres_settings_that_cannot_work_are_refused) {
  {
    env_block env({"DATABASE_URL=mysql://u@127.0.0.1/db"});
    auto lc = load_config("", {}, env.get());
    ASSERT_TRUE(lc.has_error());
    EXPECT_NE(lc.error().message.find("postgresql://"), std::string::npos);
  }
  {
    env_block env({"DATABASE_URL=postgresql://u@127.0.0.1/db"});
    auto lc = load_config("", {{"storage.backend", "memory"}}, env.get());
    ASSERT_TRUE(lc.has_error());
    EXPECT_NE(lc.error().message.find("memory"), std::string::npos);
  }
  {
    env_block env({});
    auto lc = load_config("", {{"storage.backend", "postgres"}}, env.get());
    ASSERT_TRUE(lc.has_error());
    EXPECT_NE(lc.error().message.find("DATABASE_URL"), std::string::npos);
  }
}

}  // namespace
}  // namespace maratang::app

namespace maratang::app {
namespace {

TEST(config, redact_userinfo_masks_the_password_of_every_url) {
  EXPECT_EQ(redact_userinfo("http://user:hunter2@llm:8000/v1"), "http://user:***@llm:8000/v1");
  EXPECT_EQ(redact_userinfo("postgresql://admin:s3cr%40t@db.internal:5432/app?sslmode=require"),
            "postgresql://admin:***@db.internal:5432/app?sslmode=require");
  // A user name alone may be a token: all of it goes.
  EXPECT_EQ(redact_userinfo("https://ghp_token@host/x"), "https://***@host/x");
  // An '@' inside the password (not encoded) is still hidden: up to the last '@'.
  EXPECT_EQ(redact_userinfo("http://u:p@ss@host/"), "http://u:***@host/");
  // Every URL in a message, quoted or not; text and URLs without user info are unchanged.
  EXPECT_EQ(redact_userinfo("setting x: \"http://a:b@h1/\" and http://c:d@h2 end"),
            "setting x: \"http://a:***@h1/\" and http://c:***@h2 end");
  EXPECT_EQ(redact_userinfo("http://127.0.0.1:8000/v1"), "http://127.0.0.1:8000/v1");
  EXPECT_EQ(redact_userinfo("no url here, mail@example.com"), "no url here, mail@example.com");
  EXPECT_EQ(redact_userinfo(""), "");
  EXPECT_EQ(redact_userinfo("http://"), "http://");
  EXPECT_EQ(redact_userinfo("http://@host"), "http://***@host");
}

TEST(config, start_up_errors_never_show_a_url_password) {
  for (const char* var : {"VLLM_BASE_URL=http://user:hunter2@127.0.0.1:8000/v1",
                          "VLLM_BASE_URL=https://user:hunter2@llm.example/v1",
                          "DATABASE_URL=mysql://user:hunter2@127.0.0.1/db",
                          "MARATANG_SERVER_PORT=http://user:hunter2@x:1",
                          "MARATANG_LOG_LEVEL=http://user:hunter2@x:1"}) {
    env_block env({var});
    auto lc = load_config("", {}, env.get());
    ASSERT_TRUE(lc.has_error()) << var;
    EXPECT_EQ(lc.error().message.find("hunter2"), std::string::npos)
        << var << ": " << lc.error().message;
    EXPECT_NE(lc.error().message.find("setting "), std::string::npos) << lc.error().message;
  }
  // The refused value is still named, its user info masked.
  env_block env({"VLLM_BASE_URL=http://user:hunter2@127.0.0.1:8000/v1"});
  auto lc = load_config("", {}, env.get());
  ASSERT_TRUE(lc.has_error());
  EXPECT_NE(lc.error().message.find("http://user:***@127.0.0.1:8000/v1"), std::string::npos)
      << lc.error().message;
}

TEST(config, describe_masks_url_user_info) {
  env_block env({"MARATANG_DOCS_ASSETS_DIR=http://user:hunter2@cdn/x"});
  auto lc = load_config("", {}, env.get());
  ASSERT_TRUE(lc.has_value()) << lc.error().message;
  auto text = describe(*lc);
  EXPECT_EQ(text.find("hunter2"), std::string::npos) << text;
  EXPECT_NE(text.find("http://user:***@cdn/x"), std::string::npos) << text;
}

}  // namespace
}  // namespace maratang::app
