#ifndef COPENBLAS_H
#define COPENBLAS_H

// The few CBLAS routines the fused linear cross-entropy needs, in row-major order, forwarded to OpenBLAS
// (libopenblas.so.0, Debian's libopenblas0) opened at run time: nothing links it, so the package builds
// and runs everything else without it. Names carry our prefix, so that a program that also links a
// BLAS keeps its own.

#include <stdint.h>

/// Whether a matrix is read as stored or transposed (CBLAS's CblasNoTrans and CblasTrans).
typedef enum xent_blas_transpose { XENT_BLAS_NO_TRANSPOSE = 111, XENT_BLAS_TRANSPOSE = 112 } xent_blas_transpose;

/// Opens OpenBLAS if no call has yet, and returns why it cannot be used (the library or one of its
/// functions missing), or NULL when it is loaded. The library is `libopenblas.so.0`, or the file named by
/// the environment variable XENT_OPENBLAS_LIBRARY. Unless OPENBLAS_CORETYPE is set, sets it first to the
/// kernels the CPU's features allow (OpenBLAS 0.3.21 mistakes CPUs it does not know for a Prescott). The
/// routines below must not be called without it.
const char *xent_blas_problem(void);

/// OpenBLAS's build (`openblas_get_config`: version, kernel, threading).
const char *xent_blas_config(void);

/// The threads OpenBLAS's routines use from now on.
void xent_blas_set_threads(int threads);

/// C = alpha op(A) op(B) + beta C, row major: op(A) is m x k, op(B) k x n, C m x n.
void xent_blas_sgemm(xent_blas_transpose a_transpose, xent_blas_transpose b_transpose, int m, int n, int k,
                     float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
void xent_blas_dgemm(xent_blas_transpose a_transpose, xent_blas_transpose b_transpose, int m, int n, int k,
                     double alpha, const double *a, int lda, const double *b, int ldb, double beta, double *c,
                     int ldc);

/// y = alpha op(A) x + beta y, row major, A m x n.
void xent_blas_sgemv(xent_blas_transpose a_transpose, int m, int n, float alpha, const float *a, int lda,
                     const float *x, int incx, float beta, float *y, int incy);
void xent_blas_dgemv(xent_blas_transpose a_transpose, int m, int n, double alpha, const double *a, int lda,
                     const double *x, int incx, double beta, double *y, int incy);

#endif
