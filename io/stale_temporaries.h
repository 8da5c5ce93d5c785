// The temporaries write_file_atomic (io/atomic_file.h) leaves behind when the
// process is killed mid-write: ".<name>.tmp.XXXXXX" (six characters from
// mkstemp), never a finished file, so removing them loses nothing.
#pragma once

#include <string>
#include <vector>

namespace ddpm {

// Whether a file name has the form of such a temporary.
bool is_atomic_write_temporary(const std::string& name);

// Removes the regular files with such names directly inside each of `dirs`
// (missing folders are skipped, nothing else is touched); returns how many.
int remove_stale_temporaries(const std::vector<std::string>& dirs);

}  // namespace ddpm
