// CLI11's parse errors in plain words: "--steps takes one value; it was given 2 (1 2)" rather
// than "--steps: At Most 1 required but received 2", "give a command: …" rather than "A
// subcommand is required".
#include <regex>
#include <sstream>

#include "cli/commands.h"

namespace tf::cli {

namespace {

// The deepest command the arguments reached: "tformer", "tformer train", "tformer tokenizer train".
const CLI::App* reached(const CLI::App& app, std::string& path) {
  const CLI::App* cur = &app;
  path = "tformer";
  for (;;) {
    const auto subs = cur->get_subcommands();
    if (subs.empty()) return cur;
    cur = subs.front();
    path += " " + cur->get_name();
  }
}

std::string value_kind(const CLI::App* cmd, const std::string& flag) {
  const CLI::Option* opt = cmd->get_option_no_throw(flag);
  const std::string t = opt ? opt->get_type_name() : "";
  if (t == "INT" || t == "UINT") return "a whole number";
  if (t == "FLOAT") return "a number";
  return "a valid value";
}

}  // namespace

std::string plain_parse_error(const CLI::ParseError& e, const CLI::App& app) {
  std::string path;
  const CLI::App* cmd = reached(app, path);
  const std::string help = " (" + path + " --help lists them)";
  const std::string what = e.what();
  // By type: CLI11 names some errors after the subcommand (ExtrasError's get_name()).
  auto is = [&e]<class T>(const T*) { return dynamic_cast<const T*>(&e) != nullptr; };
  const CLI::RequiredError* required = nullptr;
  const CLI::ArgumentMismatch* mismatch = nullptr;
  const CLI::ExtrasError* extra = nullptr;
  const CLI::ConversionError* conversion = nullptr;
  std::smatch m;
  const std::string who = path == "tformer" ? "" : path.substr(8) + ": ";  // "train: "
  if (is(required) && what.rfind("A subcommand", 0) == 0) {
    std::string names;
    const auto subs = cmd->get_subcommands([](const CLI::App*) { return true; });
    for (size_t i = 0; i < subs.size(); ++i)
      names += (i == 0 ? "" : i + 1 == subs.size() ? " or " : ", ") + subs[i]->get_name();
    return who + "give a command: " + names + " (" + path + " --help says what each does)";
  }
  if (is(mismatch)) {
    static const std::regex at_most(R"((\S+): At Most (\d+) required but received (\d+))");
    static const std::regex at_least(R"((\S+): (At least )?(\d+) required.*)");
    static const std::regex exactly(R"(Expected (exactly|at least) (\d+) arguments to (\S+), got (\d+))");
    if (std::regex_match(what, m, at_most))
      return m[1].str() + " was given " + m[3].str() + " values; it takes " +
             (m[2] == "1" ? std::string("one (give it once)") : "at most " + m[2].str());
    if (std::regex_match(what, m, at_least)) return m[1].str() + " needs a value";
    if (std::regex_match(what, m, exactly))
      return m[3].str() + " takes " + m[2].str() + " value" + (m[2] == "1" ? "" : "s") + "; it was given " + m[4].str();
  }
  if (is(extra)) {
    static const std::regex extras(R"(The following arguments? (was|were) not expected: (.*))");
    if (std::regex_match(what, m, extras)) {
      std::string flags, values;  // CLI11 lists them last first
      std::istringstream in(m[2].str());
      for (std::string a; in >> a;) {
        std::string& to = a[0] == '-' ? flags : values;
        to = a + (to.empty() ? "" : " " + to);
      }
      if (!flags.empty()) return who + "unknown flag " + flags + help;
      return who + "unexpected argument " + values + " (a value follows its flag: --flag VALUE)";
    }
  }
  if (is(conversion)) {
    static const std::regex conv(R"(Could not convert: (\S+) = (.*))");
    if (std::regex_match(what, m, conv))
      return m[1].str() + ": '" + m[2].str() + "' is not " + value_kind(cmd, m[1].str());
  }
  if (is(required)) return who + what;
  return what;
}

}  // namespace tf::cli
