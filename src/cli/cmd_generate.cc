#include "cli/commands.h"
namespace tf::cli { void add_generate(CLI::App&) {} }
