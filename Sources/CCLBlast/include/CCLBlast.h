#ifndef CCLBLAST_H
#define CCLBLAST_H

// The few CLBlast routines the fused linear cross-entropy needs on an OpenCL device, in row-major order,
// forwarded to CLBlast (libclblast.so.1, Debian's libclblast1) opened at run time: nothing links it, so
// the package builds and runs everything else without it. Each enqueues on `queue` and returns CLBlast's
// status (0 on success; OpenCL's codes, or CLBlast's own from -1024 down).

#include <COpenCL.h>
#include <stddef.h>

/// Whether a matrix is read as stored or transposed (CLBlastTransposeNo and CLBlastTransposeYes).
typedef enum xent_clblast_transpose {
    XENT_CLBLAST_NO_TRANSPOSE = 111,
    XENT_CLBLAST_TRANSPOSE = 112
} xent_clblast_transpose;

/// Opens CLBlast if no call has yet, and returns why it cannot be used (the library or one of its
/// functions missing), or NULL when it is loaded. The library is `libclblast.so.1`, or the file named by
/// the environment variable XENT_CLBLAST_LIBRARY. The routines below must not be called without it.
const char *xent_clblast_problem(void);

/// C = alpha op(A) op(B) + beta C, row major (op(A) m x k, op(B) k x n), matrices at element offsets.
int xent_clblast_sgemm(xent_clblast_transpose a_transpose, xent_clblast_transpose b_transpose, size_t m, size_t n,
                       size_t k, float alpha, cl_mem a, size_t a_offset, size_t lda, cl_mem b, size_t b_offset,
                       size_t ldb, float beta, cl_mem c, size_t c_offset, size_t ldc, cl_command_queue queue);
int xent_clblast_dgemm(xent_clblast_transpose a_transpose, xent_clblast_transpose b_transpose, size_t m, size_t n,
                       size_t k, double alpha, cl_mem a, size_t a_offset, size_t lda, cl_mem b, size_t b_offset,
                       size_t ldb, double beta, cl_mem c, size_t c_offset, size_t ldc, cl_command_queue queue);

/// y = alpha op(A) x + beta y, row major (A m x n), unit strides.
int xent_clblast_sgemv(xent_clblast_transpose a_transpose, size_t m, size_t n, float alpha, cl_mem a,
                       size_t a_offset, size_t lda, cl_mem x, size_t x_offset, float beta, cl_mem y, size_t y_offset,
                       cl_command_queue queue);
int xent_clblast_dgemv(xent_clblast_transpose a_transpose, size_t m, size_t n, double alpha, cl_mem a,
                       size_t a_offset, size_t lda, cl_mem x, size_t x_offset, double beta, cl_mem y,
                       size_t y_offset, cl_command_queue queue);

/// A += alpha x y^T, row major (A m x n), unit strides.
int xent_clblast_sger(size_t m, size_t n, float alpha, cl_mem x, size_t x_offset, cl_mem y, size_t y_offset, cl_mem a,
                      size_t a_offset, size_t lda, cl_command_queue queue);
int xent_clblast_dger(size_t m, size_t n, double alpha, cl_mem x, size_t x_offset, cl_mem y, size_t y_offset,
                      cl_mem a, size_t a_offset, size_t lda, cl_command_queue queue);

#endif
