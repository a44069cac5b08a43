// The subcommands of the tformer binary. Each registers its flags (declared once, with
// defaults shown in --help) and a callback that runs it after parsing.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace tf {
struct LoadedModel;
struct GenerateSettings;
struct GenerateOptions;
}  // namespace tf

namespace tf::cli {

void add_init(CLI::App& app);
void add_eval(CLI::App& app);
void add_export(CLI::App& app);
void add_info(CLI::App& app);
void add_train(CLI::App& app);
void add_generate(CLI::App& app);
void add_tokenize(CLI::App& app);
void add_tokenizer(CLI::App& app);
void add_explain(CLI::App& app);
void add_serve(CLI::App& app);

// A command that ends with a status of its own (no message): thrown to main, which returns it.
struct ExitCode {
  int code;
};
inline constexpr int kExitInterrupted = 130;  // 128 + SIGINT, as a shell reports Ctrl-C

// A parse error of CLI11 in plain words, naming the command it arose in.
std::string plain_parse_error(const CLI::ParseError& e, const CLI::App& app);

// Shared helpers.
std::vector<int> parse_token_list(const std::string& s);  // "1,2,3"
void set_threads(int threads);                            // 0 = all cores; above the cores: clamped, with a warning
bool stdout_is_terminal();
// The prompt as token ids: --tokens as given, or --prompt through the directory's tokenizer.
std::vector<int> prompt_tokens(const LoadedModel& m, const std::string& prompt, const std::string& tokens);
// The generation flags (generate/options.h) named by ids, all when empty, bound to s.
void add_generate_flags(CLI::App* sub, GenerateSettings& s, const std::vector<std::string>& ids = {});
// The options the parsed flags describe; a flag the strategy ignores is an error.
GenerateOptions generate_options(const CLI::App* sub, const GenerateSettings& s);

}  // namespace tf::cli
