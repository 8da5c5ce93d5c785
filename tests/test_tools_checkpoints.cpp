// Broken checkpoint files fed to the programs: a model.safetensors to
// ddpm-sample and a state.safetensors to ddpm-train --resume. Each is refused
// with a message naming the file and the field, exit 1, and nothing written.
#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <nlohmann/json.hpp>

#include "io/safetensors.h"
#include "tests/tool_runner.h"

using namespace ddpm;
using namespace ddpm::test;
namespace fs = std::filesystem;

namespace {

// A finished tiny run in tmp/run, trained on tmp/png.
std::string make_run(const TempDir& tmp, int64_t steps = 2) {
  write_png_folder(tmp.path() / "png", 8, 8, 8);
  const std::string run = tmp.file("run");
  const RunResult r = run_program(kTrainExe, tiny_train_flags(tmp.file("png"), run, steps), tmp);
  REQUIRE_MESSAGE(r.status == 0, r.output);
  return run;
}

std::string u64le(uint64_t v) {
  std::string s(8, '\0');
  std::memcpy(s.data(), &v, 8);
  return s;
}

// The parts of a safetensors file.
struct Parts {
  std::string header;  // JSON text
  std::string data;
};
Parts split(const std::string& file) {
  uint64_t n = 0;
  std::memcpy(&n, file.data(), 8);
  return {file.substr(8, n), file.substr(8 + n)};
}
std::string join(const std::string& header, const std::string& data) {
  return u64le(header.size()) + header + data;
}

// The file with its header JSON edited (nlohmann keeps key order with ordered_json).
std::string edit_header(const std::string& file, const std::function<void(nlohmann::ordered_json&)>& edit) {
  Parts p = split(file);
  nlohmann::ordered_json h = nlohmann::ordered_json::parse(p.header);
  edit(h);
  return join(h.dump(), p.data);
}

// The file re-encoded by our writer after editing its entries and metadata.
std::string edit_entries(
    const std::string& file,
    const std::function<void(std::vector<SafetensorsBlob>&, std::map<std::string, std::string>&)>& edit) {
  const SafetensorsFile f = parse_safetensors(file, "input");
  std::vector<SafetensorsBlob> blobs;
  for (const SafetensorsEntry& e : f.entries()) {
    const auto b = f.bytes(e.name);
    blobs.push_back({e.name, e.dtype, e.shape, std::vector<std::byte>(b.begin(), b.end())});
  }
  std::map<std::string, std::string> meta = f.metadata();
  edit(blobs, meta);
  return encode_safetensors(blobs, meta);
}

SafetensorsBlob& blob(std::vector<SafetensorsBlob>& blobs, const std::string& name) {
  for (SafetensorsBlob& b : blobs)
    if (b.name == name) return b;
  FAIL("no blob " << name);
  return blobs.front();
}

void remove_blob(std::vector<SafetensorsBlob>& blobs, const std::string& name) {
  std::erase_if(blobs, [&](const SafetensorsBlob& b) { return b.name == name; });
}

void put_f32(SafetensorsBlob& b, size_t index, float v) { std::memcpy(b.bytes.data() + 4 * index, &v, 4); }
void put_i64(SafetensorsBlob& b, int64_t v) { std::memcpy(b.bytes.data(), &v, 8); }

// The name of the entry whose data starts at offset `begin`.
std::string entry_at(const nlohmann::ordered_json& h, uint64_t begin) {
  for (auto it = h.begin(); it != h.end(); ++it)
    if (it.key() != "__metadata__" && it.value()["data_offsets"][0].get<uint64_t>() == begin) return it.key();
  FAIL("no entry at " << begin);
  return "";
}

struct BrokenCase {
  std::string what;
  std::function<std::string(const std::string&)> make;  // good file bytes -> broken bytes
  std::vector<std::string> expect;                      // substrings of the message
};

// Breakages of the safetensors container itself, valid for any of our files.
std::vector<BrokenCase> container_cases() {
  return {
      {"empty file", [](const std::string&) { return std::string(); }, {"header length", "at least 8"}},
      {"length beyond the file",
       [](const std::string& f) { return u64le(f.size()) + f.substr(8); },
       {"header length", "bytes follow the length field"}},
      {"length beyond the cap",
       [](const std::string& f) { return u64le(200'000'000) + f.substr(8); },
       {"header length", "at most 100000000"}},
      {"header not JSON",
       [](const std::string& f) {
         Parts p = split(f);
         std::string h = "{\"a\": [1, 2" + std::string(p.header.size() - 11, ' ');
         return join(h, p.data);
       },
       {"header", "not valid JSON"}},
      {"header not an object",
       [](const std::string& f) {
         Parts p = split(f);
         return join("[1, 2, 3]" + std::string(p.header.size() - 9, ' '), p.data);
       },
       {"header", "expected a JSON object"}},
      {"header nested a million deep",
       [](const std::string& f) {
         return join(std::string(1'000'000, '[') + std::string(1'000'000, ']'), split(f).data);
       },
       {"header", "nested more than 16"}},
      {"unknown dtype",
       [](const std::string& f) {
         return edit_header(f, [](nlohmann::ordered_json& h) { h["final.bias"]["dtype"] = "F31"; });
       },
       {"tensor 'final.bias'.dtype", "unknown dtype 'F31'"}},
      {"shape x dtype size differs from the byte span",
       [](const std::string& f) {
         return edit_header(f, [](nlohmann::ordered_json& h) { h["final.weight"]["shape"][0] = 2; });
       },
       {"tensor 'final.weight'.data_offsets", "spans", "expected"}},
      {"shape that overflows 64 bits",
       [](const std::string& f) {
         return edit_header(f, [](nlohmann::ordered_json& h) {
           h["final.bias"]["shape"] = {uint64_t{1} << 62, uint64_t{1} << 62};
         });
       },
       {"tensor 'final.bias'.shape", "overflows"}},
      {"offsets beyond the data",
       [](const std::string& f) {
         return edit_header(f, [&](nlohmann::ordered_json& h) {
           const uint64_t size = split(f).data.size();
           for (auto it = h.begin(); it != h.end(); ++it)
             if (it.key() != "__metadata__" && it.value()["data_offsets"][1].get<uint64_t>() == size) {
               it.value()["data_offsets"][0] = it.value()["data_offsets"][0].get<uint64_t>() + 4;
               it.value()["data_offsets"][1] = size + 4;
             }
         });
       },
       {"data_offsets", "beyond the data section"}},
      {"overlapping entries",
       [](const std::string& f) {
         return edit_header(f, [](nlohmann::ordered_json& h) {
           // The entry that follows the first one starts 4 bytes early.
           const std::string first = entry_at(h, 0);
           const uint64_t end = h[first]["data_offsets"][1].get<uint64_t>();
           auto& next = h[entry_at(h, end)]["data_offsets"];
           next = {end - 4, next[1].get<uint64_t>() - 4};
         });
       },
       {"data_offsets", "overlaps tensor"}},
      {"a hole in the data",
       [](const std::string& f) {
         Parts p = split(f);
         nlohmann::ordered_json h = nlohmann::ordered_json::parse(p.header);
         for (auto it = h.begin(); it != h.end(); ++it)
           if (it.key() != "__metadata__")
             for (auto& o : it.value()["data_offsets"]) o = o.get<uint64_t>() + 8;
         return join(h.dump(), std::string(8, '\0') + p.data);
       },
       {"data_offsets", "hole of bytes [0, 8)"}},
      {"trailing bytes",
       [](const std::string& f) { return f + std::string(8, '\0'); },
       {"data section", "tensors cover"}},
      {"truncated file",
       [](const std::string& f) { return f.substr(0, f.size() - 100); },
       {"data_offsets", "beyond"}},
      {"duplicate tensor name",
       [](const std::string& f) {
         Parts p = split(f);
         const nlohmann::ordered_json h = nlohmann::ordered_json::parse(p.header);
         std::string text = h.dump();
         text.pop_back();  // the closing brace
         text += ",\"final.bias\":" + h["final.bias"].dump() + "}";
         return join(text, p.data);
       },
       {"duplicate tensor name 'final.bias'"}},
      {"metadata value not a string",
       [](const std::string& f) {
         return edit_header(f, [](nlohmann::ordered_json& h) { h["__metadata__"]["base_channels"] = 8; });
       },
       {"__metadata__.base_channels", "expected a string"}},
  };
}

}  // namespace

TEST_CASE("tools: ddpm-sample refuses a broken model.safetensors naming the file and the field") {
  TempDir tmp;
  const std::string run = make_run(tmp);
  const std::string good = read_file(run + "/model.safetensors");
  const std::string broken = tmp.file("broken.safetensors"), grid = tmp.file("grid.png");
  auto sample = [&] {
    return run_program(
        kSampleExe, {"--model", broken, "--out", grid, "--num", "1", "--steps", "1", "--device", "cpu"}, tmp);
  };

  std::vector<BrokenCase> cases = container_cases();
  auto entries =
      [](std::function<void(std::vector<SafetensorsBlob>&, std::map<std::string, std::string>&)> e) {
        return [e](const std::string& f) { return edit_entries(f, e); };
      };
  using Blobs = std::vector<SafetensorsBlob>;
  using Meta = std::map<std::string, std::string>;
  const std::vector<BrokenCase> model_cases = {
      {"missing tensor",
       entries([](Blobs& b, Meta&) { remove_blob(b, "final.bias"); }),
       {"missing: final.bias"}},
      {"extra tensor",
       entries([](Blobs& b, Meta&) {
         b.push_back({"junk", "F32", {1}, std::vector<std::byte>(4)});
       }),
       {"unexpected: junk"}},
      {"tensor of the wrong shape",
       entries([](Blobs& b, Meta&) {
         SafetensorsBlob& x = blob(b, "final.bias");
         x.shape = {2};
         x.bytes.resize(8);
       }),
       {"wrong shape: final.bias", "expected [1]"}},
      {"configuration that does not match the tensors",
       entries([](Blobs&, Meta& m) { m["base_channels"] = "16"; }),
       {"wrong shape: enc1.0.weight"}},
      {"configuration that does not parse",
       entries([](Blobs&, Meta& m) { m["base_channels"] = "8x"; }),
       {"bad __metadata__", "base_channels", "8x"}},
      {"configuration beyond the limits",
       entries([](Blobs&, Meta& m) { m["base_channels"] = "100000"; }),
       {"bad __metadata__", "base_channels is 100000, expected 1..1024"}},
      {"configuration key missing", entries([](Blobs&, Meta& m) { m.erase("timesteps"); }), {"'timesteps'"}},
      {"format tag missing", entries([](Blobs&, Meta& m) { m.erase("format"); }), {"'format' is missing"}},
      {"image size not a multiple of 8",
       entries([](Blobs&, Meta& m) { m["data.height"] = "12"; }),
       {"data.height", "multiples of 8"}},
      {"image size not a number",
       entries([](Blobs&, Meta& m) { m["data.width"] = "-32"; }),
       {"data.width", "'-32'", "8..4096"}},
      {"crop outside the image",
       entries([](Blobs&, Meta& m) { m["data.orig_height"] = "40"; }),
       {"data.orig_height 40", "does not fit"}},
      {"integer dtype for a weight",
       entries([](Blobs& b, Meta&) { blob(b, "final.bias").dtype = "I32"; }),
       {"tensor 'final.bias' has dtype I32", "float type"}},
      {"a NaN weight",
       entries([](Blobs& b, Meta&) {
         put_f32(blob(b, "final.bias"), 0, std::numeric_limits<float>::quiet_NaN());
       }),
       {"tensor 'final.bias'", "nan", "expected finite values"}},
      {"the training state instead of the model",
       [&](const std::string&) { return read_file(run + "/state.safetensors"); },
       {"'ddpm-engine train state v1'", "the model is model.safetensors"}},
  };
  cases.insert(cases.end(), model_cases.begin(), model_cases.end());

  for (const BrokenCase& c : cases) {
    CAPTURE(c.what);
    write_file_atomic(broken, c.make(good));
    const RunResult r = sample();
    CHECK(r.status == 1);
    check_contains(r.output, {"ddpm-sample: error:", broken});
    for (const std::string& e : c.expect) check_contains(r.output, {e});
    CHECK_FALSE(fs::exists(grid));
  }

  // The good file works, so each failure above is the breakage's doing.
  write_file_atomic(broken, good);
  check_run(sample(), 0, {"wrote"});
  CHECK(fs::is_regular_file(grid));
}

TEST_CASE("tools: ddpm-train --resume refuses a broken state.safetensors and leaves the run untouched") {
  TempDir tmp;
  const std::string run = make_run(tmp);
  const std::string state = run + "/state.safetensors";
  const std::string good = read_file(state);
  auto resume = [&](const std::vector<std::string>& extra = {}) {
    return run_program(
        kTrainExe,
        std::vector<std::string>{"--out", run, "--resume", "--steps", "4", "--threads", "1", "--device",
                                 "cpu", "--sample-num", "1", "--sample-steps", "1"} +
            extra,
        tmp);
  };

  std::vector<BrokenCase> cases = container_cases();
  auto entries =
      [](std::function<void(std::vector<SafetensorsBlob>&, std::map<std::string, std::string>&)> e) {
        return [e](const std::string& f) { return edit_entries(f, e); };
      };
  using Blobs = std::vector<SafetensorsBlob>;
  using Meta = std::map<std::string, std::string>;
  const std::vector<BrokenCase> state_cases = {
      {"missing tensor",
       entries([](Blobs& b, Meta&) { remove_blob(b, "optim.step"); }),
       {"missing: optim.step"}},
      {"missing moment",
       entries([](Blobs& b, Meta&) { remove_blob(b, "optim.exp_avg_sq.final.bias"); }),
       {"missing: optim.exp_avg_sq.final.bias"}},
      {"extra tensor",
       entries([](Blobs& b, Meta&) {
         b.push_back({"junk", "F32", {1}, std::vector<std::byte>(4)});
       }),
       {"unexpected: junk"}},
      {"a NaN moment",
       entries([](Blobs& b, Meta&) {
         put_f32(blob(b, "optim.exp_avg.final.bias"), 0, std::numeric_limits<float>::infinity());
       }),
       {"tensor 'optim.exp_avg.final.bias'", "inf", "expected finite values"}},
      {"negative step",
       entries([](Blobs& b, Meta&) { put_i64(blob(b, "step"), -1); }),
       {"step=-1", "step counters"}},
      {"optimiser ahead of the step count",
       entries([](Blobs& b, Meta&) { put_i64(blob(b, "optim.step"), 7); }),
       {"optim.step=7", "optim.step <= step"}},
      {"step counter of the wrong dtype",
       entries([](Blobs& b, Meta&) { blob(b, "step").dtype = "F64"; }),
       {"tensor 'step' has dtype F64, expected I64"}},
      {"the model instead of the state",
       [&](const std::string&) { return read_file(run + "/model.safetensors"); },
       {"not a training state file", "resume from state.safetensors"}},
      {"configuration that does not parse",
       entries([](Blobs&, Meta& m) { m["lr"] = "fast"; }),
       {"bad __metadata__", "'lr' is 'fast'"}},
      {"configuration that does not match the tensors",
       entries([](Blobs&, Meta& m) { m["time_embed_dim"] = "32"; }),
       {"wrong shape: time_mlp.0.weight"}},
  };
  cases.insert(cases.end(), state_cases.begin(), state_cases.end());

  for (const BrokenCase& c : cases) {
    CAPTURE(c.what);
    write_file_atomic(state, c.make(good));
    const Snapshot before = snapshot(run);
    const RunResult r = resume();
    CHECK(r.status == 1);
    check_contains(r.output, {"ddpm-train: error:", "state.safetensors"});
    for (const std::string& e : c.expect) check_contains(r.output, {e});
    check_unchanged(before, run);
  }

  write_file_atomic(state, good);
  const Snapshot before = snapshot(run);
  // A configuration that differs from the checkpoint's, and data of another geometry.
  check_run(resume({"--base-channels", "16"}), 1, {"--base-channels 16 differs", "base_channels=8"});
  check_run(resume({"--prediction", "epsilon"}), 1,
            {"--prediction epsilon differs", "prediction=v"});  // v: the CPU default
  write_png_folder(tmp.path() / "png16", 8, 16, 16);
  check_run(resume({"--data", tmp.file("png16")}), 1,
            {"--data", "data.orig_height=16", "trained on data.orig_height=8"});
  write_png_folder(tmp.path() / "rgb", 8, 8, 8, 3);
  check_run(resume({"--data", tmp.file("rgb")}), 1, {"data.channels=3", "data.channels=1"});
  check_unchanged(before, run);

  // Nothing to resume: no state in the folder, or no folder (not created).
  fs::create_directories(tmp.path() / "empty");
  check_run(run_program(kTrainExe, {"--out", tmp.file("empty"), "--resume", "--steps", "2"}, tmp), 1,
            {"--resume", "nothing to resume", "empty/state.safetensors"});
  check_run(run_program(kTrainExe, {"--out", tmp.file("nowhere"), "--resume", "--steps", "2"}, tmp), 1,
            {"nothing to resume"});
  CHECK_FALSE(fs::exists(tmp.file("nowhere")));

  // The good state resumes, and without --data it finds the data it was trained on.
  check_run(resume(), 0, {"steps 2..4"});
  CHECK(load_safetensors(state).int64s("step").at(0) == 4);
}
