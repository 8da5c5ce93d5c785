#include "diffusion/train_config.h"

#include <cmath>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace ddpm {

Prediction parse_prediction(const std::string& s) {
  if (s == "epsilon") return Prediction::epsilon;
  if (s == "v") return Prediction::v;
  throw std::invalid_argument("unknown prediction '" + s + "' (expected epsilon or v)");
}

const char* prediction_name(Prediction p) { return p == Prediction::v ? "v" : "epsilon"; }

Conditioning parse_conditioning(const std::string& s) {
  if (s == "none") return Conditioning::none;
  if (s == "class") return Conditioning::class_label;
  if (s == "image") return Conditioning::image;
  throw std::invalid_argument("unknown conditioning '" + s + "' (expected none, class or image)");
}

const char* conditioning_name(Conditioning c) {
  switch (c) {
    case Conditioning::class_label:
      return "class";
    case Conditioning::image:
      return "image";
    case Conditioning::none:
      break;
  }
  return "none";
}

ImageTask parse_image_task(const std::string& s) {
  if (s == "superres") return ImageTask::superres;
  if (s == "inpaint") return ImageTask::inpaint;
  throw std::invalid_argument("unknown image task '" + s + "' (expected superres or inpaint)");
}

const char* image_task_name(ImageTask t) { return t == ImageTask::inpaint ? "inpaint" : "superres"; }

int64_t condition_channels(ImageTask task, int64_t in_channels) {
  return task == ImageTask::inpaint ? in_channels + 1 : in_channels;
}

std::string format_number(double v) {
  if (std::isnan(v)) return "nan";  // the sign of a NaN means nothing (and varies by kernel path)
  std::ostringstream s;
  s.precision(17);
  s << v;
  return s.str();
}

namespace {
const std::string& need(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  if (it == m.end()) throw std::invalid_argument("configuration: missing key '" + key + "'");
  return it->second;
}

double to_double(const std::map<std::string, std::string>& m, const std::string& key) {
  const std::string& v = need(m, key);
  size_t used = 0;
  double d = 0;
  try {
    d = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || v.empty())
    throw std::invalid_argument("configuration: '" + key + "' is '" + v + "', expected a number");
  return d;
}

int64_t to_int(const std::map<std::string, std::string>& m, const std::string& key) {
  const std::string& v = need(m, key);
  size_t used = 0;
  long long d = 0;
  try {
    d = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || v.empty())
    throw std::invalid_argument("configuration: '" + key + "' is '" + v + "', expected an integer");
  return d;
}

// A decimal uint64 (seeds use the whole range, which stoll cannot hold).
uint64_t to_uint(const std::map<std::string, std::string>& m, const std::string& key) {
  const std::string& v = need(m, key);
  size_t used = 0;
  unsigned long long d = 0;
  const bool digits = !v.empty() && v[0] >= '0' && v[0] <= '9';  // stoull takes "-1" as 2^64-1
  try {
    if (digits) d = std::stoull(v, &used, 10);
  } catch (const std::exception&) {
    used = 0;
  }
  if (!digits || used != v.size())
    throw std::invalid_argument("configuration: '" + key + "' is '" + v + "', expected an integer in 0.." +
                                std::to_string(std::numeric_limits<uint64_t>::max()));
  return d;
}
}  // namespace

std::map<std::string, std::string> TrainConfig::to_map() const {
  std::map<std::string, std::string> m = model.to_map();
  m["schedule"] = beta_schedule_name(schedule);
  m["timesteps"] = std::to_string(timesteps);
  m["prediction"] = prediction_name(prediction);
  m["batch_size"] = std::to_string(batch_size);
  m["lr"] = format_number(lr);
  m["warmup_steps"] = std::to_string(warmup_steps);
  m["lr_schedule"] = lr_schedule_name(lr_schedule);
  m["lr_decay_steps"] = std::to_string(lr_decay_steps);
  m["grad_clip"] = format_number(grad_clip);
  m["ema_decay"] = format_number(ema_decay);
  m["weight_decay"] = format_number(weight_decay);
  m["adamw"] = adamw ? "true" : "false";
  m["seed"] = std::to_string(seed);
  m["conditional"] = conditioning_name(conditioning);
  m["cond_drop"] = format_number(cond_drop);
  if (conditioning == Conditioning::image) {
    m["task"] = image_task_name(task);
    if (task == ImageTask::superres) m["superres_from"] = std::to_string(superres_from);
  }
  return m;
}

TrainConfig TrainConfig::from_map(const std::map<std::string, std::string>& m) {
  TrainConfig c;
  c.model = nn::UNetConfig::from_map(m);
  c.schedule = parse_beta_schedule(need(m, "schedule"));
  c.timesteps = to_int(m, "timesteps");
  c.prediction = parse_prediction(need(m, "prediction"));
  c.batch_size = to_int(m, "batch_size");
  c.lr = to_double(m, "lr");
  c.warmup_steps = to_int(m, "warmup_steps");
  if (m.count("lr_schedule")) {
    try {
      c.lr_schedule = parse_lr_schedule(m.at("lr_schedule"));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("configuration: ") + e.what());
    }
  }
  if (m.count("lr_decay_steps")) c.lr_decay_steps = to_int(m, "lr_decay_steps");
  c.grad_clip = to_double(m, "grad_clip");
  c.ema_decay = to_double(m, "ema_decay");
  c.weight_decay = to_double(m, "weight_decay");
  const std::string& aw = need(m, "adamw");
  if (aw != "true" && aw != "false")
    throw std::invalid_argument("configuration: 'adamw' is '" + aw + "', expected true or false");
  c.adamw = aw == "true";
  c.seed = to_uint(m, "seed");
  if (m.count("conditional")) {
    try {
      c.conditioning = parse_conditioning(m.at("conditional"));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("configuration: ") + e.what());
    }
  }
  if (m.count("cond_drop")) c.cond_drop = to_double(m, "cond_drop");
  if (c.conditioning == Conditioning::image) {
    try {
      c.task = parse_image_task(need(m, "task"));
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("configuration: ") + e.what());
    }
    if (c.task == ImageTask::superres) c.superres_from = to_int(m, "superres_from");
  }
  c.validate();
  return c;
}

void TrainConfig::validate() const {
  model.validate();
  auto bad = [](const std::string& what) { throw std::invalid_argument("configuration: " + what); };
  // Upper bounds on the model's sizes: a configuration read from a file must
  // not make us allocate without bound (the flags allow the same ranges).
  auto range = [&](const char* key, int64_t v, int64_t lo, int64_t hi) {
    if (v < lo || v > hi)
      bad(std::string(key) + " is " + std::to_string(v) + ", expected " + std::to_string(lo) + ".." +
          std::to_string(hi));
  };
  range("in_channels", model.in_channels, 1, 64);
  range("base_channels", model.base_channels, 1, 1024);
  range("time_embed_dim", model.time_embed_dim, 1, 4096);
  range("groups", model.groups, 1, model.base_channels);
  if (timesteps < 2 || timesteps > 100000) bad("timesteps must be in 2..100000");
  if (batch_size < 1 || batch_size > 65536) bad("batch_size must be in 1..65536");
  if (!(lr > 0 && lr < 1)) bad("lr must be in (0, 1)");
  if (warmup_steps < 0 || warmup_steps > 100000000) bad("warmup_steps must be in 0..100000000");
  if (lr_decay_steps < 0 || lr_decay_steps > 100000000) bad("lr_decay_steps must be in 0..100000000");
  if (lr_schedule == LrSchedule::cosine && lr_decay_steps <= warmup_steps)
    bad("the cosine learning-rate schedule decays from the end of the warm-up (step " +
        std::to_string(warmup_steps) + ") to lr_decay_steps, which is " + std::to_string(lr_decay_steps) +
        ": expected more steps than warm-up steps");
  if (!(grad_clip >= 0) || !std::isfinite(grad_clip)) bad("grad_clip must be >= 0 (0 turns clipping off)");
  if (!(ema_decay >= 0 && ema_decay < 1)) bad("ema_decay must be in [0, 1) (0 turns EMA off)");
  if (!(weight_decay >= 0 && weight_decay < 1)) bad("weight_decay must be in [0, 1)");
  if (!(cond_drop >= 0 && cond_drop < 1)) bad("cond_drop must be in [0, 1)");
  if (conditioning == Conditioning::class_label && model.num_classes < 1)
    bad("conditional=class needs num_classes >= 1, got " + std::to_string(model.num_classes));
  if (conditioning != Conditioning::class_label && model.num_classes != 0)
    bad("num_classes is " + std::to_string(model.num_classes) + " but conditional=" +
        conditioning_name(conditioning) + " (a class embedding needs conditional=class)");
  if (conditioning == Conditioning::image) {
    const int64_t want = condition_channels(task, model.in_channels);
    if (model.cond_channels != want)
      bad("cond_channels is " + std::to_string(model.cond_channels) + ", expected " + std::to_string(want) +
          " for task=" + image_task_name(task) + " on " + std::to_string(model.in_channels) +
          "-channel images");
    if (task == ImageTask::superres) range("superres_from", superres_from, 1, 4096);
  } else if (model.cond_channels != 0) {
    bad("cond_channels is " + std::to_string(model.cond_channels) + " but conditional=" +
        conditioning_name(conditioning) + " (a condition image needs conditional=image)");
  }
}

double TrainConfig::learning_rate_at(int64_t step) const {
  return learning_rate(lr, warmup_steps, lr_schedule, lr_decay_steps, step);
}

void check_condition_geometry(const TrainConfig& cfg, int64_t h, int64_t w) {
  if (cfg.conditioning != Conditioning::image || cfg.task != ImageTask::superres) return;
  const int64_t s = cfg.superres_from;
  const std::string size = std::to_string(h) + "x" + std::to_string(w);
  if (s < 1 || s >= h || h % s != 0)
    throw std::invalid_argument("superres from " + std::to_string(s) + " pixels: the " + size +
                                " images need a low resolution below " + std::to_string(h) +
                                " that divides it (e.g. " + std::to_string(h / 4) + " or " +
                                std::to_string(h / 2) + ")");
  if (w % (h / s) != 0)
    throw std::invalid_argument("superres from " + std::to_string(s) + " pixels: the " + size +
                                " images' width is not a multiple of the factor " + std::to_string(h / s));
}

int64_t superres_factor(const TrainConfig& cfg, int64_t h) { return h / cfg.superres_from; }

int64_t per_rank_batch_for_resume(const std::map<std::string, std::string>& meta, int world_size) {
  const int64_t batch = to_int(meta, "batch_size");
  const int64_t saved_world = meta.count("world_size") ? to_int(meta, "world_size") : 1;
  // Bounded so that the global batch cannot overflow (a corrupt world_size of
  // 2^62 did: found by review of the checkpoint fuzz target).
  constexpr int64_t kMaxBatch = 65536, kMaxWorld = 1000000;
  if (batch < 1 || batch > kMaxBatch || saved_world < 1 || saved_world > kMaxWorld || world_size < 1)
    throw std::runtime_error("checkpoint metadata: batch_size " + std::to_string(batch) + " and world_size " +
                             std::to_string(saved_world) + " must be in 1.." + std::to_string(kMaxBatch) +
                             " and 1.." + std::to_string(kMaxWorld));
  const int64_t global = batch * saved_world;
  if (global % world_size != 0)
    throw std::runtime_error("the checkpoint was trained with a global batch of " + std::to_string(global) +
                             " (" + std::to_string(saved_world) + " rank(s) x " + std::to_string(batch) +
                             "), which " + std::to_string(world_size) +
                             " ranks cannot split evenly: resume with a rank count that divides " +
                             std::to_string(global));
  return global / world_size;
}

}  // namespace ddpm
