#include "io/loss_csv.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace ddpm {

CsvNumber::CsvNumber(double v) : value(v) {}

std::ostream& operator<<(std::ostream& os, CsvNumber n) {
  // A NaN's sign bit is whatever the arithmetic left (-O1 and -O2 builds
  // differ); the file says "nan" either way.
  if (std::isnan(n.value)) return os << "nan";
  return os << n.value;
}

std::string format_loss_csv(const std::vector<LossRow>& rows) {
  std::ostringstream s;
  s << "step,loss,grad_norm,lr,images_per_s\n";
  s.precision(8);
  for (const LossRow& r : rows)
    s << r.step << ',' << CsvNumber(r.loss) << ',' << CsvNumber(r.grad_norm) << ',' << CsvNumber(r.lr) << ','
      << CsvNumber(r.images_per_s) << '\n';
  return s.str();
}

namespace {

std::vector<LossRow> parse_lines(std::istream& in, int64_t upto) {
  std::vector<LossRow> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    LossRow r{};
    long long step = 0;
    if (std::sscanf(line.c_str(), "%lld,%lf,%lf,%lf,%lf", &step, &r.loss, &r.grad_norm, &r.lr,
                    &r.images_per_s) == 5 &&
        step < upto) {
      r.step = static_cast<int64_t>(step);
      rows.push_back(r);
    }
  }
  return rows;
}

}  // namespace

std::vector<LossRow> parse_loss_csv(const std::string& text, int64_t upto) {
  std::istringstream in(text);
  return parse_lines(in, upto);
}

std::vector<LossRow> read_loss_csv(const std::string& path, int64_t upto) {
  std::ifstream f(path);
  return parse_lines(f, upto);
}

}  // namespace ddpm
