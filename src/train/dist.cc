#include "train/dist.h"

#include <chrono>
#include <cstdlib>
#include <string>

#include "core/error.h"

#ifdef TFORMER_MPI
#include <mpi.h>
#endif

namespace tf {

namespace {
// Launched by mpirun (OpenMPI or a PMI launcher)?
bool launched_by_mpirun() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(v)) return true;
  return false;
}
}  // namespace

Dist& Dist::get() {
  static Dist d;
  return d;
}

Dist::Dist() {
  if (!launched_by_mpirun()) return;
#ifdef TFORMER_MPI
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    MPI_Init(nullptr, nullptr);
    std::atexit([] {
      int fin = 0;
      MPI_Finalized(&fin);
      if (!fin) MPI_Finalize();
    });
  }
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
#else
  const char* n = std::getenv("OMPI_COMM_WORLD_SIZE");
  if (n && std::string(n) != "1")
    throw Error("this tformer was built without MPI; install libopenmpi-dev and rebuild to run under mpirun");
#endif
}

void Dist::allreduce_sum(float* data, size_t n) {
  if (size_ == 1) return;
#ifdef TFORMER_MPI
  const auto t0 = std::chrono::steady_clock::now();
  // MPI counts are int: large buffers go in chunks.
  constexpr size_t kChunk = size_t(1) << 30;
  for (size_t off = 0; off < n; off += kChunk) {
    const int cnt = int(std::min(kChunk, n - off));
    MPI_Allreduce(MPI_IN_PLACE, data + off, cnt, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
  }
  allreduce_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
#endif
}

double Dist::allreduce_sum(double x) {
#ifdef TFORMER_MPI
  if (size_ > 1) MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#endif
  return x;
}

bool Dist::any(bool flag) {
  int v = flag;
#ifdef TFORMER_MPI
  if (size_ > 1) MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
#endif
  return v != 0;
}

void Dist::barrier() {
#ifdef TFORMER_MPI
  if (size_ > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

}  // namespace tf
