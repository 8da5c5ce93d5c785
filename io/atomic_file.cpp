#include "io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <vector>

namespace ddpm {

namespace {

[[noreturn]] void fail(const std::string& path, const char* step, int err) {
  throw std::runtime_error("cannot write '" + path + "': " + step + ": " + std::strerror(err));
}

// Closes the descriptor and unlinks the temporary unless released.
struct TempFile {
  std::string name;
  int fd = -1;
  bool armed = true;
  ~TempFile() {
    if (fd >= 0) ::close(fd);
    if (armed && !name.empty()) ::unlink(name.c_str());
  }
};

}  // namespace

void write_file_atomic(const std::string& path, std::span<const std::byte> bytes) {
  if (path.empty()) throw std::runtime_error("cannot write a file with an empty path");
  const std::filesystem::path target(path);
  std::filesystem::path dir = target.parent_path();
  if (dir.empty()) dir = ".";
  const std::string base = target.filename().string();
  if (base.empty() || base == "." || base == "..")
    throw std::runtime_error("cannot write '" + path + "': the path names a directory");

  // Keep the permissions of the file being replaced.
  mode_t mode = 0644;
  struct stat old_st {};
  if (::stat(path.c_str(), &old_st) == 0) {
    if (S_ISDIR(old_st.st_mode)) fail(path, "the target is a directory", EISDIR);
    mode = old_st.st_mode & 07777;
  }

  TempFile tmp;
  std::string templ = (dir / ("." + base + ".tmp.XXXXXX")).string();
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  tmp.fd = ::mkstemp(buf.data());
  if (tmp.fd < 0) fail(path, "creating a temporary file in its directory", errno);
  tmp.name = buf.data();

  const auto* p = reinterpret_cast<const char*>(bytes.data());
  size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(tmp.fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail(path, "writing the temporary file", errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fchmod(tmp.fd, mode) != 0) fail(path, "setting permissions", errno);
  if (::fsync(tmp.fd) != 0) fail(path, "fsync of the temporary file", errno);
  const int fd = tmp.fd;
  tmp.fd = -1;
  if (::close(fd) != 0) fail(path, "closing the temporary file", errno);
  if (::rename(tmp.name.c_str(), path.c_str()) != 0) fail(path, "renaming the temporary file over it", errno);
  tmp.armed = false;

  // Make the rename durable. Filesystems that cannot fsync a directory say
  // EINVAL; the data itself is already on disk then, so that is not an error.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) fail(path, "opening its directory for fsync", errno);
  const int rc = ::fsync(dfd);
  const int err = errno;
  ::close(dfd);
  if (rc != 0 && err != EINVAL) fail(path, "fsync of its directory", err);
}

void write_file_atomic(const std::string& path, const std::string& bytes) {
  write_file_atomic(path, std::as_bytes(std::span<const char>(bytes.data(), bytes.size())));
}

std::string read_file(const std::string& path, uint64_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("cannot read '" + path + "': " + std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw std::runtime_error("cannot stat '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw std::runtime_error("cannot read '" + path + "': not a regular file");
  const auto size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    throw std::runtime_error("cannot read '" + path + "': it has " + std::to_string(size) +
                             " bytes, more than the limit of " + std::to_string(max_bytes));
  std::string out(static_cast<size_t>(size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error("cannot read '" + path + "': " + std::strerror(errno));
    }
    if (n == 0) {
      throw std::runtime_error("cannot read '" + path + "': it shrank while being read (" +
                               std::to_string(got) + " of " + std::to_string(size) + " bytes)");
    }
    got += static_cast<size_t>(n);
  }
  return out;
}

}  // namespace ddpm
