#include "server/chat_template.h"

#include <fstream>

#include "core/error.h"
#include "server/jinja.h"

namespace tf {

using json = nlohmann::json;

ChatTemplate::ChatTemplate(const std::string& source, json specials)
    : root_(jinja::parse(jinja::lex(source))), specials_(std::move(specials)) {}
ChatTemplate::~ChatTemplate() = default;

std::string ChatTemplate::render(const json& context) const {
  json ctx = specials_;
  for (auto it = context.begin(); it != context.end(); ++it) ctx[it.key()] = it.value();
  std::string out;
  jinja::render(*root_, ctx, out);
  return out;
}

std::string ChatTemplate::render(const json& messages, bool add_generation_prompt) const {
  return render(json{{"messages", messages}, {"add_generation_prompt", add_generation_prompt}});
}

std::unique_ptr<ChatTemplate> load_chat_template(const std::string& model_dir) {
  const std::string path = model_dir + "/tokenizer_config.json";
  std::ifstream in(path);
  if (!in) return nullptr;
  json c;
  try {
    c = json::parse(in);
  } catch (const json::exception& e) {
    throw Error(path + ": not valid JSON: " + e.what());
  }
  json t = c.value("chat_template", json());
  if (t.is_array()) {  // named templates: the default one
    json chosen;
    for (const auto& e : t)
      if (e.value("name", "") == "default") chosen = e.value("template", json());
    t = chosen;
  }
  if (!t.is_string()) return nullptr;
  json specials = json::object();
  for (const char* k : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
    const json& v = c.value(k, json());
    if (v.is_string()) specials[k] = v;
    if (v.is_object() && v.contains("content")) specials[k] = v["content"];
  }
  try {
    return std::make_unique<ChatTemplate>(t.get<std::string>(), specials);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

}  // namespace tf