// The CBLAS routines of COpenBLAS.h, forwarded to OpenBLAS opened at run time (dlopen).

#include "COpenBLAS.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

// CBLAS's enums as OpenBLAS declares them (cblas.h): row major is 101, the transposes are ours.
enum { CBLAS_ROW_MAJOR = 101 };

typedef void (*sgemm_function)(int, int, int, int, int, int, float, const float *, int, const float *, int, float,
                               float *, int);
typedef void (*dgemm_function)(int, int, int, int, int, int, double, const double *, int, const double *, int,
                               double, double *, int);
typedef void (*sgemv_function)(int, int, int, int, float, const float *, int, const float *, int, float, float *,
                               int);
typedef void (*dgemv_function)(int, int, int, int, double, const double *, int, const double *, int, double,
                               double *, int);

static struct {
    sgemm_function sgemm;
    dgemm_function dgemm;
    sgemv_function sgemv;
    dgemv_function dgemv;
    void (*set_num_threads)(int);
    char *(*get_config)(void);
} loaded;

static char problem[512];
static int available;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

// OpenBLAS's DYNAMIC_ARCH builds pick their kernels from the CPU's model number, and Debian's 0.3.21 takes
// CPUs it does not know (Sapphire Rapids, or a virtual machine's model) for a Prescott: SSE3 kernels at a
// fifth of the AVX-512 rate. Unless the caller set OPENBLAS_CORETYPE, name the kernels the CPU's features
// allow (x86-64-v4: SkylakeX's; v3: Haswell's), as OpenBLAS reads it when it loads.
static void choose_core_type(void) {
#if defined(__x86_64__)
    if (getenv("OPENBLAS_CORETYPE")) {
        return;
    }
    __builtin_cpu_init();
    const char *core = __builtin_cpu_supports("x86-64-v4")   ? "SkylakeX"
                       : __builtin_cpu_supports("x86-64-v3") ? "Haswell"
                                                             : NULL;
    if (core) {
        setenv("OPENBLAS_CORETYPE", core, 0);
    }
#endif
}

static void load(void) {
    choose_core_type();
    const char *named = getenv("XENT_OPENBLAS_LIBRARY");
    const char *path = named && *named ? named : "libopenblas.so.0";
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char *error = dlerror();
        snprintf(problem, sizeof problem, "OpenBLAS (%s) cannot be opened: %s", path, error ? error : "unknown error");
        return;
    }
#define XENT_LOOK_UP(field, name)                                                                         \
    *(void **)&loaded.field = dlsym(library, name);                                                       \
    if (!loaded.field) {                                                                                  \
        snprintf(problem, sizeof problem, "OpenBLAS (%s) has no %s", path, name);                         \
        return;                                                                                           \
    }
    XENT_LOOK_UP(sgemm, "cblas_sgemm")
    XENT_LOOK_UP(dgemm, "cblas_dgemm")
    XENT_LOOK_UP(sgemv, "cblas_sgemv")
    XENT_LOOK_UP(dgemv, "cblas_dgemv")
    XENT_LOOK_UP(set_num_threads, "openblas_set_num_threads")
    XENT_LOOK_UP(get_config, "openblas_get_config")
#undef XENT_LOOK_UP
    available = 1;
}

const char *xent_blas_problem(void) {
    pthread_once(&load_once, load);
    return available ? NULL : problem;
}

const char *xent_blas_config(void) { return loaded.get_config(); }

void xent_blas_set_threads(int threads) { loaded.set_num_threads(threads); }

void xent_blas_sgemm(xent_blas_transpose a_transpose, xent_blas_transpose b_transpose, int m, int n, int k,
                     float alpha, const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    loaded.sgemm(CBLAS_ROW_MAJOR, a_transpose, b_transpose, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void xent_blas_dgemm(xent_blas_transpose a_transpose, xent_blas_transpose b_transpose, int m, int n, int k,
                     double alpha, const double *a, int lda, const double *b, int ldb, double beta, double *c,
                     int ldc) {
    loaded.dgemm(CBLAS_ROW_MAJOR, a_transpose, b_transpose, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void xent_blas_sgemv(xent_blas_transpose a_transpose, int m, int n, float alpha, const float *a, int lda,
                     const float *x, int incx, float beta, float *y, int incy) {
    loaded.sgemv(CBLAS_ROW_MAJOR, a_transpose, m, n, alpha, a, lda, x, incx, beta, y, incy);
}

void xent_blas_dgemv(xent_blas_transpose a_transpose, int m, int n, double alpha, const double *a, int lda,
                     const double *x, int incx, double beta, double *y, int incy) {
    loaded.dgemv(CBLAS_ROW_MAJOR, a_transpose, m, n, alpha, a, lda, x, incx, beta, y, incy);
}
