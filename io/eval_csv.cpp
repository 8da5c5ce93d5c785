#include "io/eval_csv.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "io/loss_csv.h"

namespace ddpm {

std::string format_eval_csv(const std::vector<EvalRow>& rows) {
  std::ostringstream s;
  s << "step,fd,is,precision,recall,n\n";
  s.precision(8);
  for (const EvalRow& r : rows)
    s << r.step << ',' << CsvNumber(r.fd) << ',' << CsvNumber(r.is) << ',' << CsvNumber(r.precision) << ','
      << CsvNumber(r.recall) << ',' << r.n << '\n';
  return s.str();
}

namespace {

std::vector<EvalRow> parse_lines(std::istream& in, int64_t upto) {
  std::vector<EvalRow> rows;
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    EvalRow r{};
    long long step = 0, n = 0;
    if (std::sscanf(line.c_str(), "%lld,%lf,%lf,%lf,%lf,%lld", &step, &r.fd, &r.is, &r.precision, &r.recall,
                    &n) == 6 &&
        step <= upto) {
      r.step = static_cast<int64_t>(step);
      r.n = static_cast<int64_t>(n);
      rows.push_back(r);
    }
  }
  return rows;
}

}  // namespace

std::vector<EvalRow> parse_eval_csv(const std::string& text, int64_t upto) {
  std::istringstream in(text);
  return parse_lines(in, upto);
}

std::vector<EvalRow> read_eval_csv(const std::string& path, int64_t upto) {
  std::ifstream f(path);
  return parse_lines(f, upto);
}

}  // namespace ddpm
