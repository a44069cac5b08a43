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
#include "train/memory.h"

namespace fs = std::filesystem;

namespace tf {

namespace {

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

// The model's shapes, read before anything is allocated.
Config run_config(const TrainOptions& o) {
  if (!o.init.empty()) return load_config(o.init + "/config.json");
  return o.preset.empty() ? load_config(o.config) : preset_config(o.preset);
}

// Bytes of the corpus: the file, or the regular files of the folder (as load_token_stream).
double corpus_bytes(const std::string& path) {
  if (!fs::exists(path)) throw Error(path + ": no such file or folder");
  if (!fs::is_directory(path)) return double(fs::file_size(path));
  double n = 0;
  for (auto& e : fs::directory_iterator(path))
    if (e.is_regular_file()) n += double(e.file_size());
  return n;
}

}  // namespace

Trainer::Trainer(TrainOptions opt, bool resume, const std::vector<std::string>& given) : opt_(std::move(opt)) {
  std::string state_dir;
  TrainState state;
  if (resume) {
    state_dir = find_state_dir(opt_.out);
    if (state_dir.empty()) throw Error(opt_.out + ": holds no tformer training run to resume");
    state = read_train_state(state_dir);
    TrainOptions saved;
    try {
      saved = options_from_json(state.options);
    } catch (const std::exception& e) {
      throw Error(state_dir + "/state.json: " + e.what());
    }
    opt_ = resume_options(saved, opt_, given);
    if (opt_.steps > 0 && opt_.steps < state.step)
      throw UsageError("--steps " + std::to_string(opt_.steps) + " is below the checkpoint's step " +
                       std::to_string(state.step));
    if (!fs::exists(opt_.data))
      throw Error("the run's data " + opt_.data +
                  " is not there any more; give --data PATH (the same text at its new path, checked by "
                  "fingerprint)");
    start_step_ = state.step;
    spent_s_ = state.elapsed_s;
  } else {  // stored absolute: the run resumes from any folder
    opt_.data = absolute_path(opt_.data);
    opt_.init = absolute_path(opt_.init);
    opt_.config = absolute_path(opt_.config);
  }
  validate_options(opt_);
  if (opt_.metrics.empty()) opt_.metrics = opt_.out + "/metrics.jsonl";
  bool replace_unstarted = false;
  if (!resume && fs::exists(opt_.out) && !(fs::is_directory(opt_.out) && fs::is_empty(opt_.out))) {
    const std::string sd = find_state_dir(opt_.out);
    if (sd.empty()) throw Error(opt_.out + ": exists and holds something else; refusing to write into it");
    const long at = read_train_state(sd).step;
    if (at > 0)
      throw Error(opt_.out + ": holds a training run already (at step " + std::to_string(at) +
                  "); continue it with --resume " + opt_.out + " or choose another --out");
    replace_unstarted = true;  // a run that stopped before its first step: nothing to keep
  }
  Dist& dist = Dist::get();
  if (opt_.batch % dist.size() != 0)
    throw UsageError("--batch " + std::to_string(opt_.batch) + " does not split over " + std::to_string(dist.size()) +
                     " ranks (each rank takes batch/ranks rows of every micro-batch)");

  // Refuse before allocating what the machine does not have.
  const Config shape = run_config(opt_);
  if (opt_.seq > shape.n_positions)
    throw UsageError("--seq " + std::to_string(opt_.seq) + " is larger than the model's n_positions " +
                     std::to_string(shape.n_positions));
  const TrainMemory mem =
      estimate_train_memory(shape, opt_.batch / dist.size(), opt_.seq, opt_.optimizer, corpus_bytes(opt_.data));
  const double avail = available_memory_bytes();
  if (avail > 0 && mem.total() > avail)
    throw Error("--batch " + std::to_string(opt_.batch) + " --seq " + std::to_string(opt_.seq) + " needs about " +
                format_bytes(mem.total()) + " (" + mem.describe() + "), more than the " + format_bytes(avail) +
                " this machine has available (MemAvailable in /proc/meminfo); lower --batch or --seq "
                "(--accum keeps the batch size with the memory of one micro-batch)");

  // The model: from a directory, a preset or a config, initialised from the seed.
  std::string tok_spec = opt_.tokenizer;
  if (!opt_.init.empty()) {
    LoadedModel m = load_model_dir(opt_.init);
    model_ = std::move(m.model);
    model_->drop_weight_copies();  // a Q8_0 GGUF file's blocks: training starts from their values
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
    if (tok_spec.empty() && shape.vocab_size > 256)
      throw UsageError("the model has vocab_size " + std::to_string(shape.vocab_size) +
                       ", a byte-level tokenizer would use 256 of its rows: give --tokenizer DIR (vocab.json + "
                       "merges.txt, e.g. from tformer tokenizer train), or --tokenizer byte to mean it");
    if (tok_spec.empty()) tok_spec = "byte";
    model_ = std::make_unique<Model>(Config{shape});
    init_params(shape, model_->mutable_params().data(), opt_.seed);
  }
  tok_ = load_tokenizer(tok_spec);
  opt_.tokenizer = absolute_path(tok_spec);  // resolved: a resume loads the same one from anywhere
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

  tokens_ = load_token_stream(opt_.data, *tok_);
  if (resume && (state.data_fingerprint != token_fingerprint(tokens_) || state.data_tokens != long(tokens_.size())))
    throw Error(opt_.data + ": the data differ from those the run in " + opt_.out +
                " was started with (their tokens' fingerprint does not match)");
  batcher_ = std::make_unique<Batcher>(tokens_, opt_.val_fraction, opt_.seq, opt_.data_order, opt_.seed);
  if (opt_.val_fraction > 0 && !batcher_->has_val())
    throw Error("the validation set has " + std::to_string(batcher_->n_val()) + " tokens; --seq " +
                std::to_string(opt_.seq) + " needs at least " + std::to_string(opt_.seq + 1) +
                " (raise --val-fraction or set it to 0)");
  if (batcher_->n_val() > 0) {
    double bytes = 0;
    for (size_t i = size_t(batcher_->n_train()); i < tokens_.size(); ++i) bytes += tok_->token_bytes(tokens_[i]).size();
    val_bytes_per_token_ = bytes / double(batcher_->n_val());
  }
  optim_ = std::make_unique<Optimizer>(
      model_->table(), OptimizerConfig{opt_.optimizer, opt_.beta1, opt_.beta2, opt_.eps, opt_.weight_decay});

  if (resume) {
    load_checkpoint(state_dir, *model_, *optim_);
    // Until this invocation's first save: three copies of the weights-sized buffers at ~200 MB/s.
    save_s_ = 3.0 * double(model_->params().size()) * sizeof(float) * 3 / 200e6;
  }
  dist.barrier();  // every rank has checked the folder before rank 0 writes into it
  if (dist.is_root()) {
    if (resume) {
      truncate_metrics(opt_.metrics, start_step_);
    } else {
      if (replace_unstarted)
        for (const char* d : {"tformer_state", "tformer_state.old", "tformer_state.new"})
          fs::remove_all(fs::path(opt_.out) / d);
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
  const double lr = lr_at(s, opt_.lr, opt_.min_lr, warmup(), opt_.steps, opt_.lr_schedule);
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

void Trainer::save(long step, double elapsed_s) {
  const auto t0 = std::chrono::steady_clock::now();
  Dist& dist = Dist::get();
  if (dist.is_root()) {  // rank 0 alone writes; the state is the same on every rank
    TrainState st{step, options_to_json(opt_), token_fingerprint(tokens_), long(tokens_.size()), elapsed_s};
    save_checkpoint(opt_.out, *model_, *optim_, st, tokenizer_dir_);
  }
  dist.barrier();
  save_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

double Trainer::eval_seconds(double step_s) const {
  if (opt_.val_fraction <= 0 || !batcher_->has_val()) return 0;
  if (eval_s_ >= 0) return eval_s_;
  // A validation batch is a forward over B rows: about a third of one micro-batch's step.
  return step_s * double(opt_.eval_batches) / (3.0 * opt_.accum);
}

long Trainer::plan_steps(long done, double step_s, double budget_s, bool overhead_included) const {
  const double ev = eval_seconds(step_s);
  double per_step = step_s;
  if (!overhead_included)
    per_step += (opt_.eval_every > 0 ? ev / double(opt_.eval_every) : 0) +
                (opt_.save_every > 0 ? save_s_ / double(opt_.save_every) : 0);
  const double more = std::floor((budget_s - ev - save_s_) / per_step);  // the final evaluation and save
  return done + long(std::max(0.0, more));
}

long Trainer::warmup() const {
  return opt_.max_time_s > 0 && opt_.steps > 0 ? std::min(opt_.warmup, opt_.steps / 2) : opt_.warmup;
}

RunResult Trainer::run(const std::function<void(const StepReport&)>& on_step, const std::atomic<bool>* stop) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  Dist& dist = Dist::get();
  std::ofstream metrics;
  if (dist.is_root()) {
    metrics.open(opt_.metrics, std::ios::app);
    if (!metrics) throw Error(opt_.metrics + ": cannot write the metrics file");
  }
  RunResult res{start_step_, opt_.steps, StopReason::kDone, 0};
  long last_saved = start_step_;
  if (start_step_ == 0) save(0, 0);  // a run killed before its first save still resumes
  const bool budgeted = opt_.max_time_s > 0;
  const double budget = opt_.max_time_s - spent_s_;  // this invocation's seconds
  if (budgeted && budget <= 0 && (opt_.steps == 0 || start_step_ < opt_.steps)) {
    res.why = StopReason::kTimeUp;
    return res;
  }
  // Fractions of the budget at which the steps are planned, then revised; a resumed run that
  // has its plan revises it no more.
  constexpr int kPlans = 4;
  constexpr double kPlanAt[kPlans] = {0.05, 0.25, 0.5, 0.75};
  int plan_at = opt_.steps > 0 ? kPlans : 0;
  Clock::time_point last_plan;
  long last_plan_done = 0;
  Clock::time_point first_done;  // end of this invocation's first step (which also allocates)
  double step_s = 0;             // seconds a step, measured over the steps after the first
  for (long s = start_step_; opt_.steps == 0 || s < opt_.steps; ++s) {
    const auto ts = Clock::now();
    StepReport r;
    r.step = s + 1;
    r.lr = lr_at(s, opt_.lr, opt_.min_lr, warmup(), opt_.steps, opt_.lr_schedule);
    r.loss = train_step(s, &r.grad_norm);
    if (!std::isfinite(r.loss) || !std::isfinite(r.grad_norm))
      throw Error("step " + std::to_string(s + 1) + ": " + (std::isfinite(r.loss) ? "the gradient norm" : "the loss") +
                  " is not finite; stopping. The last good checkpoint (step " + std::to_string(last_saved) + ") in " +
                  opt_.out + " is kept");
    const double dt = since(ts);
    const long done = s + 1 - start_step_;
    if (done == 1)
      first_done = Clock::now();
    else
      step_s = since(first_done) / double(done - 1);
    const double step_est = done == 1 ? dt : step_s;
    // The plan: made once 5% of the budget has gone (and 3 steps at least), revised at 25%, 50%
    // and 75% from the speed since the last plan, evaluations and saves included (a shared
    // machine's speed drifts); every rank takes the same mean speed.
    if (budgeted && plan_at < kPlans && done >= 3 && dist.any(since(t0) >= kPlanAt[plan_at] * budget)) {
      const double window_s = plan_at == 0 ? step_s : since(last_plan) / double(std::max(1L, done - last_plan_done));
      const double agreed = dist.allreduce_sum(window_s) / dist.size();
      opt_.steps = std::max(s + 1, plan_steps(s + 1, agreed, budget - since(t0), plan_at > 0));
      while (plan_at < kPlans && since(t0) >= kPlanAt[plan_at] * budget) ++plan_at;
      last_plan = Clock::now();
      last_plan_done = done;
    } else if (budgeted && opt_.steps > s + 1 && plan_at > 0 && done >= 3) {
      // Between revisions the plan only shrinks, as soon as the steps left would overrun (the
      // machine slowed): the schedule then ends at its last step instead of being cut short.
      const double agreed = dist.allreduce_sum(step_est) / dist.size();
      opt_.steps = std::min(opt_.steps, std::max(s + 1, plan_steps(s + 1, agreed, budget - since(t0), true)));
    }
    r.steps = opt_.steps;
    r.tokens_per_second = double(opt_.batch) * opt_.seq * opt_.accum / dt;
    r.elapsed_s = since(t0);
    const bool last = r.step == opt_.steps;
    // Stop now, saved, when one more step, the final evaluation and the save would overrun.
    const bool time_up =
        budgeted && !last && dist.any(since(t0) + step_est + eval_seconds(step_est) + save_s_ > budget);
    if (batcher_->has_val() && opt_.val_fraction > 0 &&
        ((opt_.eval_every > 0 && r.step % opt_.eval_every == 0) || last || time_up)) {
      const auto te = Clock::now();
      r.val_loss = val_loss();
      eval_s_ = since(te);
      r.val_bpb = *r.val_loss / val_bytes_per_token_ / std::log(2.0);
    }
    r.eta_s = opt_.steps > 0 ? step_est * double(opt_.steps - r.step) : std::max(0.0, budget - since(t0));
    nlohmann::json j = {{"step", r.step},
                        {"loss", r.loss},
                        {"lr", r.lr},
                        {"grad_norm", r.grad_norm},
                        {"tokens_per_second", r.tokens_per_second}};
    if (r.val_loss) {
      j["val_loss"] = *r.val_loss;
      j["val_bpb"] = *r.val_bpb;
    }
    if (dist.is_root()) {
      metrics << j.dump() << "\n";
      metrics.flush();
    }
    // Ctrl-C reaches the ranks at different moments: they agree before anyone stops.
    const bool stopping = dist.any(stop && stop->load());
    if (last || stopping || time_up || (opt_.save_every > 0 && r.step % opt_.save_every == 0)) {
      // A finite loss can still leave non-finite weights (a huge step): never save those.
      for (float w : model_->params())
        if (!std::isfinite(w))
          throw Error("step " + std::to_string(r.step) +
                      ": the weights are not finite; stopping. The last good "
                      "checkpoint (step " +
                      std::to_string(last_saved) + ") in " + opt_.out + " is kept");
      save(r.step, spent_s_ + since(t0));
      last_saved = r.step;
    }
    if (on_step && dist.is_root()) on_step(r);
    if (stopping || time_up) {
      res.why = stopping ? StopReason::kInterrupted : StopReason::kTimeUp;
      res.steps = r.step;
      break;
    }
    res.steps = r.step;
  }
  res.planned = opt_.steps;
  res.elapsed_s = since(t0);
  return res;
}

}  // namespace tf
