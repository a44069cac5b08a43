// The generation flags, derived from the one declaration in generate/options.h.
#include "cli/commands.h"
#include "generate/options.h"

namespace tf::cli {

void add_generate_flags(CLI::App* sub, GenerateSettings& s, const std::vector<std::string>& ids) {
  for (const auto& f : generate_fields()) {
    if (!ids.empty() && std::find(ids.begin(), ids.end(), f.id) == ids.end()) continue;
    const std::string flag = std::string("--") + f.flag;
    void* at = f.at(s);
    switch (f.kind) {
      case GenerateField::kInt: {
        auto* opt = sub->add_option(flag, *static_cast<int*>(at), f.help);
        if (!f.default_from_model) opt->capture_default_str();
        break;
      }
      case GenerateField::kU64:
        sub->add_option(flag, *static_cast<uint64_t*>(at), f.help)->capture_default_str();
        break;
      case GenerateField::kFloat:
        sub->add_option(flag, *static_cast<float*>(at), f.help)->capture_default_str();
        break;
      case GenerateField::kString:
        sub->add_option(flag, *static_cast<std::string*>(at), f.help)->capture_default_str();
        break;
      case GenerateField::kStrings:
        sub->add_option(flag, *static_cast<std::vector<std::string>*>(at), f.help);
        break;
      case GenerateField::kBool: {
        bool& b = *static_cast<bool*>(at);
        // An option that is on by default is turned off: --no-kv-cache.
        if (b)
          sub->add_flag_function(
              "--no-" + std::string(f.flag), [&b](int64_t) { b = false; }, f.help);
        else
          sub->add_flag(flag, b, f.help);
        break;
      }
    }
  }
}

GenerateOptions generate_options(const CLI::App* sub, const GenerateSettings& s) {
  return to_options(s, [sub](const std::string& id) {
    const GenerateField* f = find_generate_field(id);
    return f && sub->get_option_no_throw(std::string("--") + f->flag) && sub->count(std::string("--") + f->flag) > 0;
  });
}

}  // namespace tf::cli
