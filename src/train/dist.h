// Data-parallel training over MPI (OpenMPI's mpirun). A process started by mpirun joins the
// world; any other runs alone (size 1), so the single-process build and run need no MPI.
// Each rank computes its share of every micro-batch's rows; gradients are summed over the one
// flat gradient buffer with MPI_Allreduce; every rank applies the same optimizer step.
#pragma once
#include <cstddef>

namespace tf {

class Dist {
 public:
  static Dist& get();  // initialises MPI on first use when launched by mpirun
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool is_root() const { return rank_ == 0; }
  void allreduce_sum(float* data, size_t n);  // in place; no-op alone
  double allreduce_sum(double x);
  bool any(bool flag);  // true when it is true on any rank
  void barrier();
  double allreduce_seconds = 0;  // time spent in gradient all-reduces

 private:
  Dist();
  int rank_ = 0, size_ = 1;
};

}  // namespace tf
