// tformer train: training mode (teacher forcing) from a text file or folder.
#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/interrupt.h"
#include "core/error.h"
#include "train/dist.h"
#include "train/trainer.h"

namespace fs = std::filesystem;

namespace tf::cli {

namespace {
std::atomic<bool> g_stop{false};

std::string fmt_duration(double s) {
  char buf[32];
  const long t = std::lround(s);
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else
    std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}

// "90s", "5m", "1h", "1h30m", "2.5m" or plain seconds ("300") to seconds.
double parse_duration(const std::string& text) {
  const std::string bad = "--max-time: '" + text + "' is not a duration (e.g. 90s, 5m, 1h, 1h30m)";
  double total = 0;
  size_t i = 0;
  if (text.empty()) throw UsageError(bad);
  while (i < text.size()) {
    size_t used = 0;
    double v = 0;
    try {
      v = std::stod(text.substr(i), &used);
    } catch (const std::exception&) {
      throw UsageError(bad);
    }
    if (v < 0 || (!std::isdigit(static_cast<unsigned char>(text[i])) && text[i] != '.')) throw UsageError(bad);
    i += used;
    const char unit = i < text.size() ? text[i++] : 's';
    if (unit == 's')
      total += v;
    else if (unit == 'm')
      total += 60 * v;
    else if (unit == 'h')
      total += 3600 * v;
    else
      throw UsageError(bad);
  }
  if (!(total > 0)) throw UsageError("--max-time must be more than 0 seconds");
  return total;
}

// A flag whose value is one of a few names, held as an enum (the library's type); the
// checkpoint keeps writing the names. A wrong name gets a plain message listing the right ones.
template <class E>
CLI::Option* add_choice(CLI::App* sub, const std::string& flag, E& value, std::vector<std::pair<std::string, E>> names,
                        const std::string& help) {
  std::string list, current;
  for (size_t i = 0; i < names.size(); ++i) {
    list += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i].first;
    if (names[i].second == value) current = names[i].first;
  }
  auto* opt = sub->add_option(flag, value, help);
  opt->transform(CLI::Validator(
      [names, list](std::string& in) -> std::string {
        for (const auto& [name, v] : names)
          if (in == name) {
            in = std::to_string(int(v));  // CLI11 reads an enum as its integer
            return "";
          }
        return "must be " + list + ", got " + in;
      },
      "", ""));
  opt->default_str(current);
  return opt;
}

// The options_to_json key of a flag: "--min-lr" -> "min_lr".
std::string option_key(const std::string& flag) {
  if (flag == "--max-time") return "max_time_s";
  std::string k = flag.substr(2);
  std::replace(k.begin(), k.end(), '-', '_');
  return k;
}

bool same_folder(const std::string& a, const std::string& b) {
  std::error_code e1, e2;
  return fs::weakly_canonical(fs::absolute(a), e1) == fs::weakly_canonical(fs::absolute(b), e2) && !e1 && !e2;
}
}  // namespace

void add_train(CLI::App& app) {
  auto o = std::make_shared<TrainOptions>();
  auto resume = std::make_shared<std::string>();
  auto max_time = std::make_shared<std::string>();
  auto threads = std::make_shared<int>(0);
  auto* sub = app.add_subcommand("train", "Train in training mode (teacher forcing) on text");
  sub->add_option("--data", o->data, "text file, or a folder of text files (sorted order)");
  sub->add_option("--tokenizer", o->tokenizer, "byte | DIR (default: the --init dir's, else byte)");
  sub->add_option("--out", o->out, "output folder: the latest checkpoint, an HF model directory");
  sub->add_option("--init", o->init, "start from this model directory");
  sub->add_option("--preset", o->preset, "start from a fresh preset: tiny | small | gpt2");
  sub->add_option("--config", o->config, "start from a fresh model with this config.json");
  auto* steps = sub->add_option("--steps", o->steps, "optimizer steps")->capture_default_str();
  sub->add_option("--max-time", *max_time,
                  "time budget instead of --steps, e.g. 90s, 5m, 1h: the steps (and the cosine schedule) are "
                  "planned from the first steps' speed, and the run stops, saved, before the budget runs out");
  sub->add_option("--batch", o->batch, "rows per micro-batch (B)")->capture_default_str();
  sub->add_option("--seq", o->seq, "tokens per row (T)")->capture_default_str();
  sub->add_option("--accum", o->accum, "micro-batches per step")->capture_default_str();
  sub->add_option("--lr", o->lr, "peak learning rate")->capture_default_str();
  sub->add_option("--min-lr", o->min_lr, "final learning rate of the cosine schedule")->capture_default_str();
  sub->add_option("--warmup", o->warmup, "linear warm-up steps")->capture_default_str();
  add_choice<Schedule>(sub, "--lr-schedule", o->lr_schedule,
                       {{"constant", Schedule::kConstant}, {"cosine", Schedule::kCosine}}, "constant | cosine");
  add_choice<OptimizerKind>(sub, "--optimizer", o->optimizer,
                            {{"adamw", OptimizerKind::kAdamW}, {"sgd", OptimizerKind::kSgd}}, "adamw | sgd");
  sub->add_option("--beta1", o->beta1, "AdamW beta1")->capture_default_str();
  sub->add_option("--beta2", o->beta2, "AdamW beta2")->capture_default_str();
  sub->add_option("--eps", o->eps, "AdamW epsilon")->capture_default_str();
  sub->add_option("--weight-decay", o->weight_decay, "decoupled, on matrices and embeddings")->capture_default_str();
  sub->add_option("--grad-clip", o->grad_clip, "global gradient-norm bound (0 = off)")->capture_default_str();
  sub->add_option("--seed", o->seed, "initialisation and shuffle seed")->capture_default_str();
  add_choice<DataOrder>(sub, "--data-order", o->data_order,
                        {{"sequential", DataOrder::kSequential}, {"shuffle", DataOrder::kShuffle}},
                        "sequential | shuffle");
  sub->add_option("--val-fraction", o->val_fraction, "last fraction of tokens held out")->capture_default_str();
  sub->add_option("--eval-every", o->eval_every, "validate every N steps (0 = only at the end)")->capture_default_str();
  sub->add_option("--eval-batches", o->eval_batches, "validation batches")->capture_default_str();
  sub->add_option("--save-every", o->save_every, "checkpoint every N steps (0 = only at the end)")
      ->capture_default_str();
  sub->add_option("--resume", *resume,
                  "continue the run saved in DIR; other flags may repeat its options (a different value is "
                  "refused), --steps or --max-time may extend it, --data may give its text's new path");
  sub->add_option("--metrics", o->metrics, "metrics JSONL (default OUT/metrics.jsonl)");
  sub->add_option("--threads", *threads, "threads (0 = all cores)")->capture_default_str();
  sub->callback([o, resume, max_time, threads, sub, steps] {
    set_threads(*threads);
    const bool is_resume = !resume->empty();
    if (!max_time->empty()) {
      if (steps->count()) throw UsageError("give --steps or --max-time, not both (--max-time plans the steps)");
      o->max_time_s = parse_duration(*max_time);
      if (!is_resume) o->steps = 0;  // planned from the first steps' speed
    }
    std::vector<std::string> given;  // on --resume: the options to check against the saved run
    if (is_resume) {
      if (!o->out.empty() && !same_folder(o->out, *resume))
        throw UsageError("--out " + o->out + " is not the --resume folder " + *resume +
                         "; a run continues in its own folder (drop --out)");
      o->out = *resume;
      for (const auto* opt : sub->get_options()) {
        const std::string n = opt->get_name();
        if (opt->count() && n != "--resume" && n != "--threads" && n != "--help" && n != "--out")
          given.push_back(option_key(n));
      }
    }
    Trainer trainer(*o, is_resume, given);
    on_interrupt([] { g_stop = true; });  // Ctrl-C: finish the step, save, exit 130
    const bool tty = stdout_is_terminal();
    const auto& opt = trainer.options();
    const bool root = Dist::get().is_root();  // rank 0 alone prints under mpirun
    const std::string accum = opt.accum > 1 ? " x " + std::to_string(opt.accum) : "";
    if (root && opt.steps > 0)
      std::printf("training %zu parameters on %s: %ld steps of %d x %d tokens%s, from step %ld%s\n",
                  trainer.model().params().size(), opt.data.c_str(), opt.steps, opt.batch, opt.seq, accum.c_str(),
                  trainer.start_step(), opt.max_time_s > 0 ? (", within " + fmt_duration(opt.max_time_s)).c_str() : "");
    else if (root)
      std::printf(
          "training %zu parameters on %s: steps of %d x %d tokens%s for %s (planned from the first "
          "steps' speed), from step %ld\n",
          trainer.model().params().size(), opt.data.c_str(), opt.batch, opt.seq, accum.c_str(),
          fmt_duration(opt.max_time_s).c_str(), trainer.start_step());
    std::fflush(stdout);
    bool line_open = false;  // the terminal's live line awaits its newline
    const RunResult res = trainer.run(
        [&](const StepReport& r) {
          const std::string of = r.steps > 0 ? std::to_string(r.steps) : "?";
          char val[64] = "";
          if (r.val_loss) std::snprintf(val, sizeof val, " | val %.4f (%.3f bits/byte)", *r.val_loss, *r.val_bpb);
          const long plain_every = std::max(1L, r.steps / 50);
          if (tty) {
            std::printf("\r\033[Kstep %ld/%s | loss %.4f%s | %.0f tok/s | lr %.2e | ETA %s", r.step, of.c_str(), r.loss,
                        val, r.tokens_per_second, r.lr, fmt_duration(r.eta_s).c_str());
            line_open = !(r.val_loss || r.step == r.steps);
            if (!line_open) std::printf("\n");
          } else if ((r.steps > 0 && r.step % plain_every == 0) || r.val_loss || r.step == r.steps) {
            std::printf("step %ld/%s loss %.4f%s tok/s %.0f lr %.3e eta %s\n", r.step, of.c_str(), r.loss, val,
                        r.tokens_per_second, r.lr, fmt_duration(r.eta_s).c_str());
          }
          std::fflush(stdout);
        },
        &g_stop);
    if (root) {
      if (line_open) std::printf("\n");
      if (Dist::get().size() > 1)
        std::printf("data-parallel over %d ranks: %.3fs in gradient all-reduces (%.1f ms a step)\n", Dist::get().size(),
                    Dist::get().allreduce_seconds,
                    1e3 * Dist::get().allreduce_seconds / double(std::max(1L, res.steps - trainer.start_step())));
      const std::string took = fmt_duration(res.elapsed_s);
      const char* dir = opt.out.c_str();
      switch (res.why) {
        case StopReason::kDone:
          std::printf("done in %s: %s holds the model after %ld steps (checkpoint saved at step %ld)\n", took.c_str(),
                      dir, res.steps, res.steps);
          break;
        case StopReason::kTimeUp:
          std::printf("time budget reached in %s: stopped at step %ld of the planned %ld; checkpoint saved in %s\n",
                      took.c_str(), res.steps, res.planned, dir);
          break;
        case StopReason::kInterrupted:
          std::printf(
              "interrupted after %s: checkpoint at step %ld saved in %s; continue with: tformer train --resume %s\n",
              took.c_str(), res.steps, dir, dir);
          break;
      }
      std::fflush(stdout);
    }
    if (res.why == StopReason::kInterrupted) throw ExitCode{kExitInterrupted};
  });
}

}  // namespace tf::cli
