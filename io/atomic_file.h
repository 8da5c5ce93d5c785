// Whole-file reads and crash-safe whole-file writes.
//
// write_file_atomic: the bytes go to a fresh temporary file in the target's
// directory (".<name>.tmp.XXXXXX", so the rename never crosses a filesystem),
// which is written in full, fsync'ed and closed; then rename(2) puts it over
// the target and the directory is fsync'ed so the new name survives a crash.
// A reader therefore sees either the old file or the complete new one, never
// a torn mix. On any failure (ENOSPC, EFBIG, EACCES, a missing parent, the
// target being a directory, ...) the temporary is removed, the old file is
// left untouched, and std::runtime_error names the path, the step that failed
// and strerror(errno).
//
// The new file gets the old file's permission bits when it replaces one, and
// 0644 otherwise (mkstemp would leave 0600).
//
// read_file: the whole file in memory, refusing anything larger than
// max_bytes (so a corrupt or hostile path cannot make us allocate without
// bound) and anything that is not a regular file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace ddpm {

void write_file_atomic(const std::string& path, std::span<const std::byte> bytes);
void write_file_atomic(const std::string& path, const std::string& bytes);

// Default cap for read_file: 16 GiB.
inline constexpr uint64_t kDefaultReadCap = uint64_t{16} << 30;

// Throws std::runtime_error naming the path when it is missing, unreadable,
// not a regular file, or larger than max_bytes.
std::string read_file(const std::string& path, uint64_t max_bytes = kDefaultReadCap);

}  // namespace ddpm
