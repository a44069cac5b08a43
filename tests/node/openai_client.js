// The openai npm client, as a real user would point it at tformer serve's /v1/completions.
const OpenAI = require("openai");
const { startServer, check, finish } = require("./serve");

(async () => {
  const srv = await startServer();
  try {
    const client = new OpenAI({ apiKey: "not-needed", baseURL: srv.url + "/v1" });
    const r = await client.completions.create({ model: "toy", prompt: "I love", max_tokens: 3, temperature: 0, logprobs: 1 });
    check(r.choices[0].text === " deep learning and", `completion text '${r.choices[0].text}'`);
    check(r.usage.completion_tokens === 3 && r.choices[0].logprobs.token_logprobs.length === 3, "usage and logprobs");
    const n = await client.completions.create({ model: "toy", prompt: "I love", max_tokens: 3, temperature: 1.0, n: 3, seed: 5 });
    check(n.choices.length === 3 && n.choices.every((c, i) => c.index === i), "n = 3 choices");
    let text = "", events = 0;
    const stream = await client.completions.create({ model: "toy", prompt: "I love", max_tokens: 3, temperature: 0, stream: true });
    for await (const chunk of stream) { events++; text += chunk.choices[0].text; }
    check(text === " deep learning and" && events >= 3, `streamed '${text}' in ${events} events`);
    let err = null;
    try { await client.completions.create({ model: "toy", prompt: "I love", max_tokens: 3, top_p: 7 }); } catch (e) { err = e; }
    check(err && err.status === 400, "a bad request is a 400 APIError");
  } finally { srv.stop(); }
  finish();
})().catch((e) => { console.error(e); process.exit(1); });
