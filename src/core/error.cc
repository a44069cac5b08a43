#include "core/error.h"

#include <vector>

namespace tf {

std::string shape_str(const std::initializer_list<long>& dims) { return shape_str(std::vector<long>(dims)); }

}  // namespace tf
