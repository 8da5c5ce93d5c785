// eval.csv, the sample-quality log of a training run with --eval-every
// (docs/formats.md): a header line "step,fd,is,precision,recall,n", then one
// row per evaluation, step being the steps finished when it ran, numbers at
// 8 significant digits.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace ddpm {

struct EvalRow {
  int64_t step;
  double fd, is, precision, recall;
  int64_t n;
};

// The file's text for `rows`, header included.
std::string format_eval_csv(const std::vector<EvalRow>& rows);

// The rows of `text` with step <= upto (an evaluation at the checkpoint's own
// step ran before that checkpoint was written, so a resume keeps it). The
// header and lines that do not hold six numbers are skipped.
std::vector<EvalRow> parse_eval_csv(const std::string& text, int64_t upto);

// parse_eval_csv of the file at `path`; no rows when it cannot be read.
std::vector<EvalRow> read_eval_csv(const std::string& path, int64_t upto);

}  // namespace ddpm
