// What a training run left in its model folder, for the walkthrough of a loaded model: the loss
// curve of metrics.jsonl, and the held-out validation text (the ground truth that the
// teacher-forced vs free-running panel compares a generation with).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace tf {

// {"source", "step": [...], "loss": [...], "val_step": [...], "val_loss": [...], "points_of"}
// from DIR/metrics.jsonl, or null when the folder has none. A long run is thinned to at most
// max_points training points (every k-th step, the last one kept) so that the page stays small;
// "points_of" is the number of lines read.
nlohmann::json run_loss_curve(const std::string& dir, size_t max_points = 1000);

// The run's held-out text: the last val_fraction of the data named in DIR/tformer_state/state.json
// (its options.data, read relative to the current folder as the trainer did). The split is in
// tokens; this cuts at the same fraction of bytes, exact for the byte tokenizer and close for BPE.
// Empty when the folder is not a run, has no validation split, or the data cannot be read.
std::string validation_text(const std::string& dir);

// A default ground-truth continuation of `prompt`: the max_bytes that follow its first occurrence
// in the validation text; empty when it does not occur there.
std::string continuation_in(const std::string& text, const std::string& prompt, size_t max_bytes);

// A passage of the validation text split into a short prompt (the first words of its first full
// line, up to ~prompt_bytes) and the continuation after it: {"prompt", "truth"}, or null.
nlohmann::json validation_sample(const std::string& text, size_t prompt_bytes = 16, size_t truth_bytes = 48);

}  // namespace tf
