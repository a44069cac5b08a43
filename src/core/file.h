// File helpers shared by every layer that touches disk.
#pragma once
#include <functional>
#include <string>

namespace tf {

// The whole file; throws Error naming the path when it cannot be read.
std::string read_file(const std::string& path);

// Writes path atomically: the bytes go to "path.tmp.<pid>" in the same folder, are fsync'ed,
// and the temp file is renamed over path (then the folder is fsync'ed). A process killed at
// any instant leaves either the old file or the new one, never a torn one.
void write_file_atomic(const std::string& path, const std::function<void(std::FILE*)>& write);
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace tf
