// tformer train: training mode (teacher forcing) from a text file or folder.
#include <csignal>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "train/dist.h"
#include "train/trainer.h"

namespace tf::cli {

namespace {
std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

std::string fmt_duration(double s) {
  char buf[32];
  const long t = long(s + 0.5);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}
}  // namespace

void add_train(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  auto resume = std::make_shared<std::string>();
  auto threads = std::make_shared<int>(0);
  auto* sub = app.add_subcommand("train", "Train in training mode (teacher forcing) on text");
  sub->add_option("--data", o->data, "text file, or a folder of text files (sorted order)");
  sub->add_option("--tokenizer", o->tokenizer, "byte | DIR (default: the --init dir's, else byte)");
  sub->add_option("--out", o->out, "output folder: the latest checkpoint, an HF model directory");
  sub->add_option("--init", o->init, "start from this model directory");
  sub->add_option("--preset", o->preset, "start from a fresh preset: tiny | small | gpt2");
  sub->add_option("--config", o->config, "start from a fresh model with this config.json");
  auto* steps = sub->add_option("--steps", o->steps, "optimizer steps")->capture_default_str();
  sub->add_option("--batch", o->batch, "rows per micro-batch (B)")->capture_default_str();
  sub->add_option("--seq", o->seq, "tokens per row (T)")->capture_default_str();
  sub->add_option("--accum", o->accum, "micro-batches per step")->capture_default_str();
  sub->add_option("--lr", o->lr, "peak learning rate")->capture_default_str();
  sub->add_option("--min-lr", o->min_lr, "final learning rate of the cosine schedule")->capture_default_str();
  sub->add_option("--warmup", o->warmup, "linear warm-up steps")->capture_default_str();
  sub->add_option("--lr-schedule", o->lr_schedule, "constant | cosine")->capture_default_str();
  sub->add_option("--optimizer", o->optimizer, "adamw | sgd")->capture_default_str();
  sub->add_option("--beta1", o->beta1, "AdamW beta1")->capture_default_str();
  sub->add_option("--beta2", o->beta2, "AdamW beta2")->capture_default_str();
  sub->add_option("--eps", o->eps, "AdamW epsilon")->capture_default_str();
  sub->add_option("--weight-decay", o->weight_decay, "decoupled, on matrices and embeddings")->capture_default_str();
  sub->add_option("--grad-clip", o->grad_clip, "global gradient-norm bound (0 = off)")->capture_default_str();
  sub->add_option("--seed", o->seed, "initialisation and shuffle seed")->capture_default_str();
  sub->add_option("--data-order", o->data_order, "sequential | shuffle")->capture_default_str();
  sub->add_option("--val-fraction", o->val_fraction, "last fraction of tokens held out")->capture_default_str();
  sub->add_option("--eval-every", o->eval_every, "validate every N steps (0 = only at the end)")->capture_default_str();
  sub->add_option("--eval-batches", o->eval_batches, "validation batches")->capture_default_str();
  sub->add_option("--save-every", o->save_every, "checkpoint every N steps (0 = only at the end)")
      ->capture_default_str();
  sub->add_option("--resume", *resume, "continue the run saved in DIR (--steps may extend it)");
  sub->add_option("--metrics", o->metrics, "metrics JSONL (default OUT/metrics.jsonl)");
  sub->add_option("--threads", *threads, "threads (0 = all cores)")->capture_default_str();
  sub->callback([o, resume, threads, sub, steps] {
    set_threads(*threads);
    const bool is_resume = !resume->empty();
    if (is_resume) {
      // Everything but these comes from the checkpoint.
      for (const auto* opt : sub->get_options()) {
        const std::string n = opt->get_name();
        if (opt->count() && n != "--resume" && n != "--steps" && n != "--threads" && n != "--metrics" &&
            n != "--help" && n != "--out")
          throw UsageError(n + " cannot change on --resume (the run keeps its options)");
      }
      if (!o->out.empty() && o->out != *resume) throw UsageError("--resume continues in its own folder; drop --out");
      o->out = *resume;
      if (!steps->count()) o->steps = 0;
    }
    Trainer trainer(*o, is_resume);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    const bool tty = stdout_is_terminal();
    const auto& opt = trainer.options();
    const bool root = Dist::get().is_root();  // rank 0 alone prints under mpirun
    if (root)
      std::printf("training %zu parameters on %s: %ld steps of %d x %d tokens%s, from step %ld\n",
                  trainer.model().params().size(), opt.data.c_str(), opt.steps, opt.batch, opt.seq,
                  opt.accum > 1 ? (" x " + std::to_string(opt.accum)).c_str() : "", trainer.start_step());
    std::fflush(stdout);
    const long plain_every = std::max(1L, opt.steps / 50);
    const long done = trainer.run(
        [&](const StepReport& r) {
          const double eta = r.elapsed_s / double(r.step - trainer.start_step()) * double(r.steps - r.step);
          char val[48] = "";
          if (r.val_loss) std::snprintf(val, sizeof val, " | val %.4f", *r.val_loss);
          if (tty) {
            std::printf("\r\033[Kstep %ld/%ld | loss %.4f%s | %.0f tok/s | lr %.2e | ETA %s", r.step, r.steps, r.loss,
                        val, r.tokens_per_second, r.lr, fmt_duration(eta).c_str());
            if (r.val_loss || r.step == r.steps) std::printf("\n");
          } else if (r.step % plain_every == 0 || r.val_loss || r.step == r.steps) {
            std::printf("step %ld/%ld loss %.4f%s tok/s %.0f lr %.3e eta %s\n", r.step, r.steps, r.loss, val,
                        r.tokens_per_second, r.lr, fmt_duration(eta).c_str());
          }
          std::fflush(stdout);
        },
        &g_stop);
    if (!root) return;
    if (Dist::get().size() > 1)
      std::printf("data-parallel over %d ranks: %.3fs in gradient all-reduces (%.1f ms a step)\n", Dist::get().size(),
                  Dist::get().allreduce_seconds,
                  1e3 * Dist::get().allreduce_seconds / double(std::max(1L, done - trainer.start_step())));
    if (done < opt.steps)
      std::printf("\ninterrupted: checkpoint at step %ld saved in %s; continue with: tformer train --resume %s\n", done,
                  opt.out.c_str(), opt.out.c_str());
    else
      std::printf("done: %s holds the model after %ld steps\n", opt.out.c_str(), done);
  });
}

}  // namespace tf::cli
