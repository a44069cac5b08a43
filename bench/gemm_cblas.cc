// The same GEMM shapes as bench_gemm.cc through cblas_sgemm, to compare BLAS libraries with
// oneDNN (docs/gemm.md). Built and run by bench/gemm_compare.sh for OpenBLAS and BLIS.
#include <cblas.h>
#include <omp.h>

#include <chrono>
#include <cstdio>
#include <vector>
int main(int argc, char** argv) {
  int shapes[][3] = {{1, 768, 768},    {1, 3072, 768},   {1, 50257, 768},  {4, 3072, 768},   {512, 768, 768},
                     {512, 3072, 768}, {4096, 768, 768}, {2048, 384, 384}, {2048, 128, 128}, {2048, 128, 512}};
  for (auto& s : shapes) {
    int M = s[0], N = s[1], K = s[2];
    std::vector<float> a(size_t(M) * K, 0.01f), w(size_t(N) * K, 0.02f), c(size_t(M) * N);
    double best = 1e9;
    for (int r = 0; r < (M < 8 ? 50 : 5); ++r) {
      auto t = std::chrono::steady_clock::now();
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a.data(), K, w.data(), K, 0.0f, c.data(), N);
      double d = std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
      if (d < best) best = d;
    }
    printf("%s M=%d N=%d K=%d %.1f GFLOP/s\n", argv[1], M, N, K, 2.0 * M * N * K / best / 1e9);
  }
}
