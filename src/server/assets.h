// The page's files, embedded in the binary at build time (cmake/embed.cmake over web/).
#pragma once
#include <cstddef>
#include <vector>

namespace tf {

struct Asset {
  const char* path;  // "/index.html"
  const char* content_type;
  const unsigned char* data;
  size_t size;
};
const std::vector<Asset>& web_assets();

}  // namespace tf
