#include "train/options.h"

#include <algorithm>
#include <filesystem>

#include "core/error.h"

namespace fs = std::filesystem;

namespace tf {

nlohmann::json options_to_json(const TrainOptions& o) {
  return {{"data", o.data},
          {"tokenizer", o.tokenizer},
          {"init", o.init},
          {"preset", o.preset},
          {"config", o.config},
          {"steps", o.steps},
          {"max_time_s", o.max_time_s},
          {"batch", o.batch},
          {"seq", o.seq},
          {"accum", o.accum},
          {"lr", o.lr},
          {"min_lr", o.min_lr},
          {"warmup", o.warmup},
          {"lr_schedule", schedule_name(o.lr_schedule)},
          {"optimizer", optimizer_name(o.optimizer)},
          {"beta1", o.beta1},
          {"beta2", o.beta2},
          {"eps", o.eps},
          {"weight_decay", o.weight_decay},
          {"grad_clip", o.grad_clip},
          {"seed", o.seed},
          {"data_order", data_order_name(o.data_order)},
          {"val_fraction", o.val_fraction},
          {"eval_every", o.eval_every},
          {"eval_batches", o.eval_batches},
          {"save_every", o.save_every}};
}

TrainOptions options_from_json(const nlohmann::json& j) {
  TrainOptions o;
  o.data = j.at("data");
  o.tokenizer = j.at("tokenizer");
  o.init = j.at("init");
  o.preset = j.at("preset");
  o.config = j.at("config");
  o.steps = j.at("steps");
  o.max_time_s = j.value("max_time_s", 0.0);  // absent before time budgets existed
  o.batch = j.at("batch");
  o.seq = j.at("seq");
  o.accum = j.at("accum");
  o.lr = j.at("lr");
  o.min_lr = j.at("min_lr");
  o.warmup = j.at("warmup");
  o.lr_schedule = schedule_from_name(j.at("lr_schedule"));
  o.optimizer = optimizer_from_name(j.at("optimizer"));
  o.beta1 = j.at("beta1");
  o.beta2 = j.at("beta2");
  o.eps = j.at("eps");
  o.weight_decay = j.at("weight_decay");
  o.grad_clip = j.at("grad_clip");
  o.seed = j.at("seed");
  o.data_order = data_order_from_name(j.at("data_order"));
  o.val_fraction = j.at("val_fraction");
  o.eval_every = j.at("eval_every");
  o.eval_batches = j.at("eval_batches");
  o.save_every = j.at("save_every");
  return o;
}

void validate_options(const TrainOptions& o) {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw UsageError(msg);
  };
  need(!o.data.empty(), "train: --data is required");
  need(!o.out.empty(), "train: --out is required");
  need((!o.init.empty()) + (!o.preset.empty()) + (!o.config.empty()) == 1,
       "train: give exactly one of --init, --preset or --config");
  need(o.max_time_s >= 0, "--max-time must be >= 0");
  need(o.steps >= 1 || (o.steps == 0 && o.max_time_s > 0), "--steps must be >= 1");
  need(o.batch >= 1 && o.seq >= 1 && o.accum >= 1, "--batch, --seq and --accum must be >= 1");
  need(o.lr >= 0 && o.min_lr >= 0, "--lr and --min-lr must be >= 0");
  need(o.warmup >= 0, "--warmup must be >= 0");
  // A warm-up that outlasts the run never reaches --lr nor decays. A time-planned run caps it
  // instead (Trainer::warmup), as its plan is not known yet.
  need(o.max_time_s > 0 || o.warmup < o.steps,
       "--warmup " + std::to_string(o.warmup) + " must be below --steps " + std::to_string(o.steps));
  need(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "--beta1/--beta2 must be in [0, 1)");
  need(o.eps > 0, "--eps must be > 0");
  need(o.weight_decay >= 0 && o.grad_clip >= 0, "--weight-decay and --grad-clip must be >= 0");
  need(o.val_fraction >= 0 && o.val_fraction < 1, "--val-fraction must be in [0, 1)");
  need(o.eval_every >= 0 && o.eval_batches >= 1 && o.save_every >= 0,
       "--eval-every/--save-every must be >= 0 and --eval-batches >= 1");
}

std::string option_flag(const std::string& key) {
  if (key == "max_time_s") return "--max-time";
  std::string f = "--" + key;
  std::replace(f.begin(), f.end(), '_', '-');
  return f;
}

std::string absolute_path(const std::string& path) {
  if (path.empty() || path == "byte") return path;
  return fs::absolute(path).lexically_normal().string();
}

namespace {

bool same_path(const std::string& a, const std::string& b) {
  if (a == b) return true;
  if (a.empty() || b.empty() || a == "byte" || b == "byte") return false;
  std::error_code ec1, ec2;
  const fs::path pa = fs::weakly_canonical(fs::absolute(a), ec1), pb = fs::weakly_canonical(fs::absolute(b), ec2);
  return !ec1 && !ec2 && pa == pb;
}

std::string shown(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>().empty() ? "(none)" : v.get<std::string>();
  return v.dump();
}

}  // namespace

TrainOptions resume_options(const TrainOptions& saved, const TrainOptions& cli, const std::vector<std::string>& given) {
  TrainOptions o = saved;
  const nlohmann::json s = options_to_json(saved), c = options_to_json(cli);
  auto is_given = [&](const char* key) { return std::find(given.begin(), given.end(), key) != given.end(); };
  for (const std::string& key : given) {
    if (key == "steps" || key == "max_time_s" || key == "metrics" || key == "out") continue;
    if (!s.contains(key)) throw Error("resume: unknown option " + key);
    const bool is_path = key == "data" || key == "init" || key == "config" || key == "tokenizer";
    if (is_path ? same_path(s[key], c[key]) : s[key] == c[key]) continue;
    if (key == "data") {  // the same bytes may live elsewhere now; the fingerprint decides
      o.data = absolute_path(cli.data);
      continue;
    }
    throw UsageError(option_flag(key) + " " + shown(c[key]) + " differs from the run's " + shown(s[key]) +
                     "; a resumed run keeps its options (drop the flag, or start a new run in another --out)");
  }
  o.out = cli.out;
  o.metrics = cli.metrics;
  if (is_given("steps")) {
    o.steps = cli.steps;
    o.max_time_s = 0;  // the plan is the given steps now, unless --max-time comes too
  }
  if (is_given("max_time_s")) o.max_time_s = cli.max_time_s;
  return o;
}

}  // namespace tf
