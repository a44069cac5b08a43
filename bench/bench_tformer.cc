// One tformer measurement per run, printed as JSON, so that bench/run.py can pair it with the
// same measurement in PyTorch (bench/torch_bench.py) and read each run's peak memory.
//   bench_tformer train   --preset tiny --batch 16 --seq 128 --reps 3
//   bench_tformer prefill --preset gpt2 --seq 512      (presets: tiny, small, gpt2, smollm2-135m)
//   bench_tformer decode  --preset gpt2 --prompt 16 --new 128 [--no-cache] [--beams 4] [--dtype bf16|q8_0]
//   bench_tformer peak | bandwidth
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

#include "core/rng.h"
#include "generate/generator.h"
#include "model/model.h"
#include "train/optimizer.h"

using namespace tf;
using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<int> random_tokens(size_t n, int V, uint64_t seed) {
  Rng r(seed);
  std::vector<int> t(n);
  for (auto& x : t) x = int(r.next() % uint64_t(V));
  return t;
}

// Peak fp32 FLOP/s: independent FMA chains the compiler keeps in registers.
double peak_flops() {
  const long iters = 100000000;
  auto t0 = Clock::now();
  double sink = 0;
#pragma omp parallel reduction(+ : sink)
  {
    float a[8][16];
    for (int k = 0; k < 8; ++k)
      for (int i = 0; i < 16; ++i) a[k][i] = 1.0f + 1e-3f * float(k * 16 + i);
    for (long it = 0; it < iters / 16; ++it)
      for (int k = 0; k < 8; ++k)
#pragma omp simd
        for (int i = 0; i < 16; ++i) a[k][i] = a[k][i] * 0.999999f + 1e-7f;
    for (int k = 0; k < 8; ++k) sink += a[k][0];
  }
  const double dt = seconds(t0);
  return 2.0 * 8 * 16 * double(iters / 16) * omp_get_max_threads() / dt + 0 * sink;
}

// STREAM-style triad a = b + s·c over 3 × 256 MB.
double bandwidth() {
  const size_t n = size_t(64) << 20;
  std::vector<float> a(n), b(n, 1.0f), c(n, 2.0f);
  double best = 0;
  for (int r = 0; r < 5; ++r) {
    auto t0 = Clock::now();
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; ++i) a[i] = b[i] + 0.5f * c[i];
    best = std::max(best, 3.0 * 4 * double(n) / seconds(t0));
  }
  return best + 0 * a[n / 2];
}

// Read-only streaming, the access of a decode step (weights read once, nothing written): a sum
// over 512 MB into 32 independent lanes per thread (one float accumulator would be bound by the
// add latency, not by memory). The triad above writes a third of its bytes, and write-allocate
// traffic makes it understate what a GEMV can stream.
double read_bandwidth() {
  constexpr size_t kLanes = 32;
  const size_t n = size_t(128) << 20;  // a multiple of kLanes
  std::vector<float> a(n, 1.0f);
  double best = 0, sink = 0;
  for (int r = 0; r < 5; ++r) {
    auto t0 = Clock::now();
    float s = 0;
#pragma omp parallel for schedule(static) reduction(+ : s)
    for (size_t i0 = 0; i0 < n; i0 += size_t(1) << 16) {
      float lane[kLanes] = {};
      for (size_t i = i0; i < i0 + (size_t(1) << 16); i += kLanes)
        for (size_t j = 0; j < kLanes; ++j) lane[j] += a[i + j];
      for (float x : lane) s += x;
    }
    best = std::max(best, 4 * double(n) / seconds(t0));
    sink += s;
  }
  return best + 0 * sink;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"one tformer benchmark measurement, as JSON"};
  std::string what, preset = "tiny";
  int batch = 8, seq = 128, reps = 3, prompt = 16, new_tokens = 128, beams = 1, threads = 0;
  bool no_cache = false;
  app.add_option("what", what, "train | prefill | decode | peak | bandwidth")->required();
  app.add_option("--preset", preset);
  app.add_option("--batch", batch);
  app.add_option("--seq", seq);
  app.add_option("--reps", reps);
  app.add_option("--prompt", prompt);
  app.add_option("--new", new_tokens);
  app.add_option("--beams", beams);
  app.add_option("--threads", threads);
  app.add_flag("--no-cache", no_cache);
  std::string dtype = "f32";
  app.add_option("--dtype", dtype, "decode weights: f32 | bf16 | q8_0")->check(CLI::IsMember({"f32", "bf16", "q8_0"}));
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) omp_set_num_threads(threads);
  nlohmann::json out = {{"engine", "tformer"}, {"what", what}, {"preset", preset}, {"threads", omp_get_max_threads()}};
  if (what == "peak") {
    out["flops"] = peak_flops();
  } else if (what == "bandwidth") {
    out["bytes_per_second"] = bandwidth();
    out["read_bytes_per_second"] = read_bandwidth();
  } else {
    const Config c = preset_config(preset);
    Model g(c);
    init_params(c, g.mutable_params().data(), 1);
    out["parameters"] = g.params().size();
    Workspace ws;  // kept across repetitions: only the first allocates
    if (what == "train") {
      Optimizer opt(g.table(), {});
      const auto x = random_tokens(size_t(batch) * seq, c.vocab_size, 2),
                 y = random_tokens(size_t(batch) * seq, c.vocab_size, 3);
      std::vector<double> times;
      std::vector<float> grads;
      for (int r = 0; r <= reps; ++r) {  // the first step allocates: not timed
        auto t0 = Clock::now();
        grads.assign(g.params().size(), 0.0f);
        g.forward_backward(ws, grads.data(), x.data(), y.data(), batch, seq, 1.0f / float(batch * seq));
        clip_grad_norm(grads.data(), grads.size(), 1.0);
        opt.step(g.mutable_params().data(), grads.data(), 1e-4);
        if (r) times.push_back(seconds(t0));
      }
      out["seconds"] = median(times);
      out["tokens_per_second"] = double(batch) * seq / median(times);
    } else if (what == "prefill") {
      const auto x = random_tokens(size_t(seq), c.vocab_size, 4);
      std::vector<double> times;
      for (int r = 0; r <= reps; ++r) {
        KvCache cache(c, seq);
        KvSeq s;
        auto t0 = Clock::now();
        g.prefill(ws, cache, s, x);
        if (r) times.push_back(seconds(t0));
      }
      out["tokens_per_second"] = seq / median(times);
    } else if (what == "decode") {
      const auto x = random_tokens(size_t(prompt), c.vocab_size, 5);
      if (dtype == "bf16") g.use_bf16_weights();
      if (dtype == "q8_0") g.use_q8_0_weights();
      out["dtype"] = dtype;
      GenerateOptions o{.max_new = new_tokens, .kv_cache = !no_cache};
      if (beams > 1) o.search = BeamSearch{.width = beams};
      std::vector<double> rates;
      for (int r = 0; r < reps; ++r) {
        const GenerateResult res = generate(g, nullptr, x, o, {}, &ws);
        // Decode rate: steps after the prefill (each step yields one token per beam).
        rates.push_back(double(new_tokens - 1) / res.stats.decode_s);
      }
      out["tokens_per_second"] = median(rates);
      out["kv_cache_bytes"] = c.n_layer * 2.0 * (prompt + beams * new_tokens) * c.kv_dim() * 4;
    } else {
      std::fprintf(stderr, "unknown measurement %s\n", what.c_str());
      return 2;
    }
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
