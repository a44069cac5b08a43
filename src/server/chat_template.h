// Chat templates: the Jinja subset that Hugging Face chat templates (tokenizer_config.json's
// chat_template) are written in, rendered as @huggingface/jinja renders them (its defaults:
// trim_blocks and lstrip_blocks, a final newline dropped). Covers text, {{ }}, {% if/elif/else %},
// {% for %} with loop.*, {% set %} (also ns.attr = with namespace()), comments, whitespace
// control, literals, lists and dicts, slicing, the arithmetic, comparison, logic and `in`
// operators, the filters and tests the Llama-3, Qwen3 and Llama-2 templates use, string methods
// and raise_exception(). Anything else is an Error naming it, at load time where it can be.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

namespace tf {

namespace jinja {
struct Node;
}

class ChatTemplate {
 public:
  // Parses source; throws Error with the offending construct.
  ChatTemplate(const std::string& source, nlohmann::json specials = nlohmann::json::object());
  ~ChatTemplate();
  // The template over a context (messages, add_generation_prompt, ...); the specials given at
  // construction (bos_token, eos_token) are visible too. Throws Error (raise_exception, a bad
  // value).
  std::string render(const nlohmann::json& context) const;
  std::string render(const nlohmann::json& messages, bool add_generation_prompt) const;

 private:
  std::unique_ptr<jinja::Node> root_;
  nlohmann::json specials_;
};

// The chat template of a model directory's tokenizer_config.json (its "default" one when it
// holds several), with its special tokens; null when there is none.
std::unique_ptr<ChatTemplate> load_chat_template(const std::string& model_dir);

}  // namespace tf
