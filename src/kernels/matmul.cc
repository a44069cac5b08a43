#include <dnnl.h>

#include <algorithm>
#include <cassert>
#include <vector>

#include "core/error.h"
#include "kernels/kernels.h"

namespace tf {

void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
          float beta, float* C, int ldc) {
  if (M == 0 || N == 0) return;
  // dnnl_sgemm is row-major, like this function. Called inside an OpenMP parallel region
  // (attention, per head) it runs on the calling thread only.
  const dnnl_status_t st = dnnl_sgemm(ta ? 'T' : 'N', tb ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (st != dnnl_success) throw Error("oneDNN sgemm failed with status " + std::to_string(st));
}

void gemm_naive(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda, const float* B, int ldb,
                float beta, float* C, int ldc) {
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double acc = 0;
      for (int k = 0; k < K; ++k) {
        const float a = ta ? A[k * lda + i] : A[i * lda + k];
        const float b = tb ? B[j * ldb + k] : B[k * ldb + j];
        acc += double(a) * b;
      }
      C[i * ldc + j] = float(alpha * acc + (beta == 0 ? 0.0 : double(beta) * C[i * ldc + j]));
    }
}

void matmul_forward(float* out, const float* inp, const float* w, const float* bias, int N, int C, int OC) {
  // 1..8 rows (decode, beam search, batched generation): the weight-streaming kernel reads each
  // weight once for all rows (matmul_rows.cc); oneDNN's sgemm packs 2..8 rows and runs them at
  // half the bandwidth (docs/gemm.md). One row goes there too, although oneDNN streams it
  // as fast: a row's bits must not depend on how many rows were batched with it
  // (StepRows in src/model/model_test.cc), and oneDNN sums a row in another order.
  if (N <= 8) return matmul_rows(out, inp, w, bias, N, C, OC);
  if (bias) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < N; ++i)
      for (int o = 0; o < OC; ++o) out[size_t(i) * OC + o] = bias[o];
  }
  gemm(false, true, N, OC, C, 1.0f, inp, C, w, C, bias ? 1.0f : 0.0f, out, OC);
}

void matmul_backward(float* dinp, float* dw, float* dbias, const float* dout, const float* inp, const float* w, int N,
                     int C, int OC) {
  if (dinp) gemm(false, false, N, C, OC, 1.0f, dout, OC, w, C, 0.0f, dinp, C);
  gemm(true, false, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dw, C);
  if (dbias) {
    // Each thread owns a fixed block of columns and sums the rows in order: deterministic.
    constexpr int kBlock = 64;
#pragma omp parallel for schedule(static)
    for (int o0 = 0; o0 < OC; o0 += kBlock) {
      const int o1 = o0 + kBlock < OC ? o0 + kBlock : OC;
      float acc[kBlock] = {};
      for (int i = 0; i < N; ++i) {
        const float* row = dout + size_t(i) * OC;
        for (int o = o0; o < o1; ++o) acc[o - o0] += row[o];
      }
      for (int o = o0; o < o1; ++o) dbias[o] += acc[o - o0];
    }
  }
}

}  // namespace tf
