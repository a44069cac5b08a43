"""Texts that both tokenizer parity tests run: tests/hf_tokenizer_parity.py (against
transformers.js) and tests/gguf_tokenizer.py (against llama.cpp). Prose, code, scripts, emoji,
whitespace runs, special tokens inside text, NFC and NFD input, a long run of one letter, and
one-character texts. Each test adds the texts only its own reference handles (see there)."""

COMMON = [
    "Hello world! It's a test, isn't it? We'll see; they've said I'd go. DON'T SHOUT, YOU'LL WAKE 'EM.",
    "def f(x):\n    if x > 0:\n        return x ** 2  # square\n\treturn {'k': [1, 2]}\n\n\nclass A:\n    pass\n",
    "Русский текст, Ελληνικά γράμματα, العربية لغة جميلة, עברית כתובה, हिन्दी भाषा, ภาษาไทยง่ายมาก",
    "中文字符和标点。日本語のテキスト、カタカナ。한국어 문장입니다. 漢字かな交じり文",
    "Emoji: 🙂🚀 👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽 🇯🇵 ✓ ★ — “quotes” … 𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "runs of   spaces     and\n\n\n\nnewlines \n \n  trailing   \t\ttabs\t \r\n\r\nCRLF\rCR",
    "   leading spaces and trailing ones   ",
    "<|begin_of_text|>Hi<|eot_id|> <|im_start|>user\nhello<|im_end|>\n<s>x</s> <unk> <think>t</think>",
    "<|im_start|><|im_start|>a<|begin_of_text|><|end_of_text|>b<s></s><s>",
    "café naïve coöperate Ωmega",
    "cafe\u0301 nai\u0308ve coo\u0308perate Tie\u0302\u0301ng Vie\u0323\u0302t",  # NFD input
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!!!!!!!!!!!!!!!!!!!!????",
    "x",
    " ",
    "\n",
]
