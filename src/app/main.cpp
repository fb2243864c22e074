// maratang: the game server binary. Subcommands: serve, migrate, config, protocol, version,
// scenario validate, admin grant|revoke, sink.
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>

#include "app/config.hpp"
#include "app/protocol_doc.hpp"
#include "app/server.hpp"
#include "modes/mystery/loader.hpp"

extern char** environ;

namespace {

using namespace maratang;

void setup_logging(const app::config& cfg) {
  auto logger = spdlog::stderr_color_mt("maratang");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(cfg.log_level));
  if (cfg.log_format == "json") {
    spdlog::set_pattern(R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"msg":"%v"})");
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%-5l%$ %v");
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App cli{"Maratang game server"};
  cli.require_subcommand(1);
  std::string config_file;
  std::vector<std::string> sets;
  std::string host, data_dir, port_file;
  int port = -1;
  auto add_common = [&](CLI::App* sub) {
    sub->add_option("-c,--config", config_file, "JSON config file (comments allowed)");
    sub->add_option("--set", sets, "Override a setting: key=value (repeatable)");
    sub->add_option("--host", host, "server.host");
    sub->add_option("-p,--port", port, "server.port");
    sub->add_option("--data-dir", data_dir, "server.data_dir");
    sub->add_option("--port-file", port_file, "server.port_file");
  };
  auto* serve = cli.add_subcommand("serve", "Run the server");
  auto* migrate = cli.add_subcommand("migrate", "Apply storage migrations and exit");
  auto* sink_cmd = cli.add_subcommand(
      "sink", "Consume the event topics from Kafka into PostgreSQL and hourly JSON Lines files");
  auto* show = cli.add_subcommand("config", "Print the effective configuration (secrets redacted)");
  auto* proto_cmd =
      cli.add_subcommand("protocol", "Print docs/PROTOCOL.md as generated from the code");
  bool proto_json = false;
  proto_cmd->add_flag("--json", proto_json,
                      "Print the message and endpoint tables as JSON instead "
                      "(web/public/sdk/protocol.json)");
  auto* version = cli.add_subcommand("version", "Print the version");
  auto* scenario_cmd = cli.add_subcommand("scenario", "Mystery scenario tools");
  scenario_cmd->require_subcommand(1);
  auto* validate = scenario_cmd->add_subcommand(
      "validate", "Check Mystery scenarios: each PATH is a scenario folder or a folder of them");
  std::vector<std::string> scenario_paths;
  validate->add_option("PATH", scenario_paths, "Scenario folder(s)")->required();
  auto* admin_cmd = cli.add_subcommand("admin", "Admin accounts");
  admin_cmd->require_subcommand(1);
  auto* grant = admin_cmd->add_subcommand(
      "grant", "Make the account with this email an admin (written to the audit log)");
  auto* revoke = admin_cmd->add_subcommand("revoke", "Take the admin flag back from an account");
  std::string admin_email;
  for (auto* sub : {grant, revoke})
    sub->add_option("EMAIL", admin_email, "The account's email")->required();
  for (auto* sub : {serve, migrate, show, grant, revoke, sink_cmd})
    add_common(sub);
  CLI11_PARSE(cli, argc, argv);

  if (*version) {
    std::cout << "maratang " << MARATANG_VERSION << "\n";
    return 0;
  }
  if (*validate) {
    std::vector<std::filesystem::path> paths(scenario_paths.begin(), scenario_paths.end());
    return mystery::validate_paths(paths, std::cout, std::cerr) ? 0 : 1;
  }
  if (*proto_cmd) {
    std::cout << (proto_json ? app::protocol_json() : app::protocol_markdown());
    return 0;
  }

  app::overrides flags;
  for (const auto& kv : sets) {
    auto eq = kv.find('=');
    if (eq == std::string::npos) {
      std::cerr << "maratang: --set expects key=value, got \"" << kv << "\"\n";
      return 2;
    }
    flags.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  if (!host.empty()) flags.emplace_back("server.host", host);
  if (port >= 0) flags.emplace_back("server.port", std::to_string(port));
  if (!data_dir.empty()) flags.emplace_back("server.data_dir", data_dir);
  if (!port_file.empty()) flags.emplace_back("server.port_file", port_file);

  auto loaded = app::load_config(config_file, flags, environ);
  if (!loaded) {
    std::cerr << "maratang: bad configuration: " << loaded.error().message << "\n";
    return 2;
  }
  if (*show) {
    std::cout << app::describe(*loaded) << "\n";
    return 0;
  }
  setup_logging(loaded->cfg);
  if (*migrate) {
    auto v = app::migrate(loaded->cfg);
    if (!v) {
      spdlog::error("{}", v.error().message);
      return 1;
    }
    spdlog::info("storage at schema version {}", *v);
    return 0;
  }
  if (*sink_cmd) return app::run_sink(loaded->cfg);
  if (*grant || *revoke) {
    const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    auto done = app::set_admin(loaded->cfg, admin_email, static_cast<bool>(*grant), now);
    if (!done) {
      spdlog::error("{}", done.error().message);
      return 1;
    }
    std::cout << *done << "\n";
    return 0;
  }
  app::server srv(loaded->cfg, app::describe(*loaded));
  auto port_bound = srv.start();
  if (!port_bound) {
    spdlog::error("cannot start: {}", port_bound.error().message);
    return 1;
  }
  spdlog::info("maratang {} listening on {}:{} (storage: {})", MARATANG_VERSION, loaded->cfg.host,
               *port_bound, loaded->cfg.storage_backend);
  return srv.run();
}
