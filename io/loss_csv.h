// loss.csv, the per-step log of a training run (docs/formats.md): a header
// line "step,loss,grad_norm,lr,images_per_s", then one row per step with the
// numbers at 8 significant digits (a skipped step's loss is "nan").
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace ddpm {

struct LossRow {
  int64_t step;
  double loss, grad_norm, lr, images_per_s;
};

// A number as the CSV files write it: the stream's precision, and "nan" for
// every NaN (a NaN's sign bit is an accident of the arithmetic).
struct CsvNumber {
  explicit CsvNumber(double v);
  double value;
};
std::ostream& operator<<(std::ostream& os, CsvNumber n);

// The file's text for `rows`, header included.
std::string format_loss_csv(const std::vector<LossRow>& rows);

// The rows of `text` (a loss.csv) with step < upto: a resumed run drops what
// was logged after its checkpoint, so the file matches an uninterrupted run.
// The header and lines that do not hold five numbers are skipped.
std::vector<LossRow> parse_loss_csv(const std::string& text, int64_t upto);

// parse_loss_csv of the file at `path`; no rows when it cannot be read.
std::vector<LossRow> read_loss_csv(const std::string& path, int64_t upto);

}  // namespace ddpm
