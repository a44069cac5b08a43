// The row kernels (matmul_rows.cc, matmul_q8_0.cc) are templates on MB, the number of rows of x
// a task holds in registers (1 to 8); this turns a run-time row count into that parameter.
#pragma once

namespace tf {

// Calls f.template operator()<MB>() with MB = m for m in 1..7, and MB = 8 for anything larger
// (callers split wider batches into blocks of 8 first).
template <typename F>
void with_rows(int m, F&& f) {
  switch (m) {
    case 1:
      return f.template operator()<1>();
    case 2:
      return f.template operator()<2>();
    case 3:
      return f.template operator()<3>();
    case 4:
      return f.template operator()<4>();
    case 5:
      return f.template operator()<5>();
    case 6:
      return f.template operator()<6>();
    case 7:
      return f.template operator()<7>();
    default:
      return f.template operator()<8>();
  }
}

}  // namespace tf
