#include "train/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/file.h"
#include "model/model_dir.h"
#include "tokenizer/hf_tokenizer.h"
#include "train/checkpoint.h"
#include "train/dist.h"

namespace fs = std::filesystem;

namespace tf {

// ---- options, as saved in the checkpoint

nlohmann::json options_to_json(const TrainOptions& o) {
  return {{"data", o.data},
          {"tokenizer", o.tokenizer},
          {"init", o.init},
          {"preset", o.preset},
          {"config", o.config},
          {"steps", o.steps},
          {"batch", o.batch},
          {"seq", o.seq},
          {"accum", o.accum},
          {"lr", o.lr},
          {"min_lr", o.min_lr},
          {"warmup", o.warmup},
          {"lr_schedule", o.lr_schedule},
          {"optimizer", o.optimizer},
          {"beta1", o.beta1},
          {"beta2", o.beta2},
          {"eps", o.eps},
          {"weight_decay", o.weight_decay},
          {"grad_clip", o.grad_clip},
          {"seed", o.seed},
          {"data_order", o.data_order},
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
  o.batch = j.at("batch");
  o.seq = j.at("seq");
  o.accum = j.at("accum");
  o.lr = j.at("lr");
  o.min_lr = j.at("min_lr");
  o.warmup = j.at("warmup");
  o.lr_schedule = j.at("lr_schedule");
  o.optimizer = j.at("optimizer");
  o.beta1 = j.at("beta1");
  o.beta2 = j.at("beta2");
  o.eps = j.at("eps");
  o.weight_decay = j.at("weight_decay");
  o.grad_clip = j.at("grad_clip");
  o.seed = j.at("seed");
  o.data_order = j.at("data_order");
  o.val_fraction = j.at("val_fraction");
  o.eval_every = j.at("eval_every");
  o.eval_batches = j.at("eval_batches");
  o.save_every = j.at("save_every");
  return o;
}

namespace {

void validate(const TrainOptions& o) {
  auto need = [](bool ok, const std::string& msg) {
    if (!ok) throw UsageError(msg);
  };
  need(!o.data.empty(), "train: --data is required");
  need(!o.out.empty(), "train: --out is required");
  need((!o.init.empty()) + (!o.preset.empty()) + (!o.config.empty()) == 1,
       "train: give exactly one of --init, --preset or --config");
  need(o.steps >= 1, "--steps must be >= 1");
  need(o.batch >= 1 && o.seq >= 1 && o.accum >= 1, "--batch, --seq and --accum must be >= 1");
  need(o.lr >= 0 && o.min_lr >= 0, "--lr and --min-lr must be >= 0");
  need(o.warmup >= 0, "--warmup must be >= 0");
  need(o.lr_schedule == "constant" || o.lr_schedule == "cosine",
       "--lr-schedule must be constant or cosine, got " + o.lr_schedule);
  need(o.optimizer == "adamw" || o.optimizer == "sgd", "--optimizer must be adamw or sgd");
  need(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1, "--beta1/--beta2 must be in [0, 1)");
  need(o.eps > 0, "--eps must be > 0");
  need(o.weight_decay >= 0 && o.grad_clip >= 0, "--weight-decay and --grad-clip must be >= 0");
  need(o.data_order == "sequential" || o.data_order == "shuffle", "--data-order must be sequential or shuffle");
  need(o.val_fraction >= 0 && o.val_fraction < 1, "--val-fraction must be in [0, 1)");
  need(o.eval_every >= 0 && o.eval_batches >= 1 && o.save_every >= 0,
       "--eval-every/--save-every must be >= 0 and --eval-batches >= 1");
}

// Keeps the metrics lines of steps <= step (a resumed run rewrites what followed).
void truncate_metrics(const std::string& path, long step) {
  if (!fs::exists(path)) return;
  std::istringstream in(read_file(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    try {
      if (nlohmann::json::parse(line).at("step").get<long>() <= step) kept += line + "\n";
    } catch (const std::exception&) {
      // a torn last line from a killed run: dropped
    }
  }
  write_file_atomic(path, kept);
}

}  // namespace

Trainer::Trainer(TrainOptions opt, bool resume) : opt_(std::move(opt)) {
  std::string state_dir;
  TrainState state;
  if (resume) {
    state_dir = find_state_dir(opt_.out);
    if (state_dir.empty()) throw Error(opt_.out + ": holds no tformer training run to resume");
    state = read_train_state(state_dir);
    TrainOptions saved = options_from_json(state.options);
    saved.out = opt_.out;
    saved.metrics = opt_.metrics;
    if (opt_.steps > 0) saved.steps = opt_.steps;
    opt_ = saved;
    if (opt_.steps < state.step)
      throw UsageError("--steps " + std::to_string(opt_.steps) + " is below the checkpoint's step " +
                       std::to_string(state.step));
  }
  validate(opt_);
  if (opt_.metrics.empty()) opt_.metrics = opt_.out + "/metrics.jsonl";
  if (!resume && fs::exists(opt_.out) && !(fs::is_directory(opt_.out) && fs::is_empty(opt_.out))) {
    if (!find_state_dir(opt_.out).empty())
      throw Error(opt_.out + ": holds a training run already; continue it with --resume " + opt_.out +
                  " or choose another --out");
    throw Error(opt_.out + ": exists and holds something else; refusing to write into it");
  }

  // The model: from a directory, a preset or a config, initialised from the seed.
  std::string tok_spec = opt_.tokenizer;
  if (!opt_.init.empty()) {
    LoadedModel m = load_model_dir(opt_.init);
    model_ = std::move(m.model);
    if (tok_spec.empty()) {
      // The folder's own BPE (tokenizer.json, or GPT-2's vocab.json + merges.txt), else bytes.
      if (fs::exists(opt_.init + "/vocab.json") || has_hf_tokenizer(opt_.init))
        tok_spec = opt_.init;
      else if (m.tokenizer)
        tok_spec = "byte";
      else
        throw Error(opt_.init + ": the model directory has no tokenizer; give --tokenizer");
    }
  } else {
    Config c = opt_.preset.empty() ? load_config(opt_.config) : preset_config(opt_.preset);
    if (tok_spec.empty()) tok_spec = "byte";
    model_ = std::make_unique<Model>(Config{c});
    init_params(c, model_->mutable_params().data(), opt_.seed);
  }
  tok_ = load_tokenizer(tok_spec);
  Config c = model_->config();
  if (tok_->vocab_size() > c.vocab_size)
    throw Error("tokenizer " + tok_spec + " has " + std::to_string(tok_->vocab_size()) +
                " tokens, more than the model's vocab_size " + std::to_string(c.vocab_size));
  if (tok_->kind() == TokenizerKind::kByte && c.tokenizer != "byte") {
    c.tokenizer = "byte";  // record it so that the saved directory carries its tokenizer
    auto m = std::make_unique<Model>(c);
    m->mutable_params() = model_->params();
    model_ = std::move(m);
  }
  if (tok_->kind() != TokenizerKind::kByte) tokenizer_dir_ = tok_spec;
  if (opt_.seq > c.n_positions)
    throw UsageError("--seq " + std::to_string(opt_.seq) + " is larger than the model's n_positions " +
                     std::to_string(c.n_positions));

  tokens_ = load_token_stream(opt_.data, *tok_);
  batcher_ =
      std::make_unique<Batcher>(tokens_, opt_.val_fraction, opt_.seq,
                                opt_.data_order == "shuffle" ? DataOrder::kShuffle : DataOrder::kSequential, opt_.seed);
  if (opt_.val_fraction > 0 && !batcher_->has_val())
    throw Error("the validation set has " + std::to_string(batcher_->n_val()) + " tokens; --seq " +
                std::to_string(opt_.seq) + " needs at least " + std::to_string(opt_.seq + 1) +
                " (raise --val-fraction or set it to 0)");
  optim_ = std::make_unique<Optimizer>(
      model_->table(), OptimizerConfig{opt_.optimizer, opt_.beta1, opt_.beta2, opt_.eps, opt_.weight_decay});

  if (resume) {
    if (state.data_fingerprint != token_fingerprint(tokens_) || state.data_tokens != long(tokens_.size()))
      throw Error(opt_.data + ": the data differ from those the run in " + opt_.out + " was started with");
    if (state.options.at("optimizer") != opt_.optimizer) throw Error(state_dir + ": optimizer differs");
    load_checkpoint(state_dir, *model_, *optim_);
    start_step_ = state.step;
  }
  Dist& dist = Dist::get();
  if (opt_.batch % dist.size() != 0)
    throw UsageError("--batch " + std::to_string(opt_.batch) + " does not split over " + std::to_string(dist.size()) +
                     " ranks (each rank takes batch/ranks rows of every micro-batch)");
  dist.barrier();  // every rank has checked the folder before rank 0 writes into it
  if (dist.is_root()) {
    if (resume) {
      truncate_metrics(opt_.metrics, start_step_);
    } else {
      fs::create_directories(opt_.out);
      if (fs::exists(opt_.metrics)) fs::remove(opt_.metrics);
    }
  }
  inputs_.resize(size_t(opt_.batch) * opt_.seq);
  targets_.resize(inputs_.size());
}

double Trainer::train_step(long s, double* grad_norm) {
  const Model& g = *model_;
  grads_.assign(g.params().size(), 0.0f);
  Dist& dist = Dist::get();
  const int B = opt_.batch, T = opt_.seq;
  // This rank's rows of each micro-batch; the gradient is of the global mean loss, so the sum
  // over ranks (one all-reduce) is the gradient one process computes for the whole batch.
  const int rows = B / dist.size();
  const long first = long(dist.rank()) * rows;
  double loss_sum = 0;
  for (int m = 0; m < opt_.accum; ++m) {
    batcher_->fill((s * opt_.accum + m) * long(B) + first, rows, inputs_.data(), targets_.data());
    loss_sum += double(g.forward_backward(ws_, grads_.data(), inputs_.data(), targets_.data(), rows, T,
                                          1.0f / float(B * T * opt_.accum))) *
                rows;
  }
  dist.allreduce_sum(grads_.data(), grads_.size());
  const double loss = dist.allreduce_sum(loss_sum) / (double(B) * opt_.accum);
  const double norm = clip_grad_norm(grads_.data(), grads_.size(), opt_.grad_clip);
  if (grad_norm) *grad_norm = norm;
  if (!std::isfinite(loss) || !std::isfinite(norm)) return loss + norm;  // the caller stops
  const double lr = lr_at(s, opt_.lr, opt_.min_lr, opt_.warmup, opt_.steps,
                          opt_.lr_schedule == "cosine" ? Schedule::kCosine : Schedule::kConstant);
  optim_->step(model_->mutable_params().data(), grads_.data(), lr);
  return loss;
}

double Trainer::val_loss() {
  double sum = 0;
  for (long j = 0; j < opt_.eval_batches; ++j) {
    batcher_->fill_val(j, opt_.batch, inputs_.data(), targets_.data());
    sum += model_->loss(ws_, inputs_.data(), targets_.data(), opt_.batch, opt_.seq);
  }
  return sum / double(opt_.eval_batches);
}

void Trainer::save(long step) {
  Dist& dist = Dist::get();
  if (dist.is_root()) {  // rank 0 alone writes; the state is the same on every rank
    TrainState st{step, options_to_json(opt_), token_fingerprint(tokens_), long(tokens_.size())};
    save_checkpoint(opt_.out, *model_, *optim_, st, tokenizer_dir_);
  }
  dist.barrier();
}

long Trainer::run(const std::function<void(const StepReport&)>& on_step, const std::atomic<bool>* stop) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  Dist& dist = Dist::get();
  std::ofstream metrics;
  if (dist.is_root()) {
    metrics.open(opt_.metrics, std::ios::app);
    if (!metrics) throw Error(opt_.metrics + ": cannot write the metrics file");
  }
  long last_saved = start_step_;
  if (start_step_ == 0) {
    save(0);  // a run killed before its first save still resumes
  }
  for (long s = start_step_; s < opt_.steps; ++s) {
    const auto ts = Clock::now();
    StepReport r;
    r.step = s + 1;
    r.steps = opt_.steps;
    r.lr = lr_at(s, opt_.lr, opt_.min_lr, opt_.warmup, opt_.steps,
                 opt_.lr_schedule == "cosine" ? Schedule::kCosine : Schedule::kConstant);
    r.loss = train_step(s, &r.grad_norm);
    if (!std::isfinite(r.loss) || !std::isfinite(r.grad_norm))
      throw Error("step " + std::to_string(s + 1) + ": " + (std::isfinite(r.loss) ? "the gradient norm" : "the loss") +
                  " is not finite; stopping. The last good checkpoint (step " + std::to_string(last_saved) + ") in " +
                  opt_.out + " is kept");
    const double dt = std::chrono::duration<double>(Clock::now() - ts).count();
    r.tokens_per_second = double(opt_.batch) * opt_.seq * opt_.accum / dt;
    r.elapsed_s = std::chrono::duration<double>(Clock::now() - t0).count();
    const bool last = r.step == opt_.steps;
    if (batcher_->has_val() && opt_.val_fraction > 0 &&
        ((opt_.eval_every > 0 && r.step % opt_.eval_every == 0) || last))
      r.val_loss = val_loss();
    nlohmann::json j = {{"step", r.step},
                        {"loss", r.loss},
                        {"lr", r.lr},
                        {"grad_norm", r.grad_norm},
                        {"tokens_per_second", r.tokens_per_second}};
    if (r.val_loss) j["val_loss"] = *r.val_loss;
    if (dist.is_root()) {
      metrics << j.dump() << "\n";
      metrics.flush();
    }
    // Ctrl-C reaches the ranks at different moments: they agree before anyone stops.
    const bool stopping = dist.any(stop && stop->load());
    if (last || stopping || (opt_.save_every > 0 && r.step % opt_.save_every == 0)) {
      // A finite loss can still leave non-finite weights (a huge step): never save those.
      for (float w : model_->params())
        if (!std::isfinite(w))
          throw Error("step " + std::to_string(r.step) +
                      ": the weights are not finite; stopping. The last good "
                      "checkpoint (step " +
                      std::to_string(last_saved) + ") in " + opt_.out + " is kept");
      save(r.step);
      last_saved = r.step;
    }
    if (on_step && dist.is_root()) on_step(r);
    if (stopping) return r.step;
  }
  return opt_.steps;
}

}  // namespace tf
