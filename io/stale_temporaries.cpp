#include "io/stale_temporaries.h"

#include <filesystem>

namespace ddpm {

namespace fs = std::filesystem;

bool is_atomic_write_temporary(const std::string& name) {
  const size_t tmp = name.rfind(".tmp.");
  return name.size() > 1 && name[0] == '.' && tmp != std::string::npos && tmp > 1 && name.size() == tmp + 11;
}

int remove_stale_temporaries(const std::vector<std::string>& dirs) {
  int removed = 0;
  for (const std::string& dir : dirs) {
    const fs::path d(dir);
    std::error_code ec;
    if (!fs::is_directory(d, ec)) continue;
    for (const auto& e : fs::directory_iterator(d, ec))
      if (is_atomic_write_temporary(e.path().filename().string()) && e.is_regular_file(ec) &&
          fs::remove(e.path(), ec))
        ++removed;
  }
  return removed;
}

}  // namespace ddpm
