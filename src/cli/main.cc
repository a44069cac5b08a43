// tformer: one binary, subcommands over one engine. Errors from every layer arrive here and
// are printed as one line with a non-zero exit (1 bad input or failed run, 2 bad usage).
#include <filesystem>
#include <iostream>
#include <new>

#include "cli/commands.h"
#include "cli/interrupt.h"
#include "core/error.h"
#include "generate/options.h"

int main(int argc, char** argv) {
  tf::cli::watch_interrupts();  // before any thread: Ctrl-C never lands on a compute thread
  CLI::App app{"tformer: a GPT engine with a parallel training pass and a cached inference step"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tformer 0.1.0");
  tf::cli::add_init(app);
  tf::cli::add_eval(app);
  tf::cli::add_export(app);
  tf::cli::add_info(app);
  tf::cli::add_train(app);
  tf::cli::add_generate(app);
  tf::cli::add_tokenize(app);
  tf::cli::add_tokenizer(app);
  tf::cli::add_explain(app);
  tf::cli::add_serve(app);
  try {
    app.parse(argc, argv);  // runs the chosen subcommand's callback
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "tformer: error: " << tf::cli::plain_parse_error(e, app) << "\n";
    return tf::kExitUsage;
  } catch (const tf::cli::ExitCode& e) {  // the command has said what happened
    return e.code;
  } catch (const tf::FieldError& e) {  // a generation option, named as its flag
    std::cerr << "tformer: error: " << tf::render_field_error(e, tf::cli_name) << "\n";
    return e.exit_code();
  } catch (const tf::Error& e) {
    std::cerr << "tformer: error: " << e.what() << "\n";
    return e.exit_code();
  } catch (const std::filesystem::filesystem_error& e) {
    // "filesystem error: cannot create directories: Permission denied [/x]" -> "/x: cannot
    // create directories: Permission denied"
    std::string op = e.what();
    const std::string prefix = "filesystem error: ";
    if (op.rfind(prefix, 0) == 0) op = op.substr(prefix.size());
    op = op.substr(0, op.find(": "));
    std::cerr << "tformer: error: " << (e.path1().empty() ? "" : e.path1().string() + ": ") << op << ": "
              << e.code().message() << "\n";
    return tf::kExitBadInput;
  } catch (const std::bad_alloc&) {
    std::cerr << "tformer: error: out of memory\n";
    return tf::kExitBadInput;
  } catch (const std::exception& e) {
    std::cerr << "tformer: error: " << e.what() << "\n";
    return tf::kExitBadInput;
  }
  return 0;
}
