// The CLBlast routines of CCLBlast.h, forwarded to CLBlast opened at run time (dlopen).

#include "CCLBlast.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

// CLBlast's layout enum (clblast_c.h): row major.
enum { CLBLAST_ROW_MAJOR = 101 };

typedef int (*sgemm_function)(int, int, int, size_t, size_t, size_t, float, cl_mem, size_t, size_t, cl_mem, size_t,
                              size_t, float, cl_mem, size_t, size_t, cl_command_queue *, cl_event *);
typedef int (*dgemm_function)(int, int, int, size_t, size_t, size_t, double, cl_mem, size_t, size_t, cl_mem, size_t,
                              size_t, double, cl_mem, size_t, size_t, cl_command_queue *, cl_event *);
typedef int (*sgemv_function)(int, int, size_t, size_t, float, cl_mem, size_t, size_t, cl_mem, size_t, size_t, float,
                              cl_mem, size_t, size_t, cl_command_queue *, cl_event *);
typedef int (*dgemv_function)(int, int, size_t, size_t, double, cl_mem, size_t, size_t, cl_mem, size_t, size_t,
                              double, cl_mem, size_t, size_t, cl_command_queue *, cl_event *);
typedef int (*sger_function)(int, size_t, size_t, float, cl_mem, size_t, size_t, cl_mem, size_t, size_t, cl_mem,
                             size_t, size_t, cl_command_queue *, cl_event *);
typedef int (*dger_function)(int, size_t, size_t, double, cl_mem, size_t, size_t, cl_mem, size_t, size_t, cl_mem,
                             size_t, size_t, cl_command_queue *, cl_event *);

static struct {
    sgemm_function sgemm;
    dgemm_function dgemm;
    sgemv_function sgemv;
    dgemv_function dgemv;
    sger_function sger;
    dger_function dger;
} loaded;

static char problem[512];
static int available;
static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load(void) {
    const char *named = getenv("XENT_CLBLAST_LIBRARY");
    const char *path = named && *named ? named : "libclblast.so.1";
    void *library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
        const char *error = dlerror();
        snprintf(problem, sizeof problem, "CLBlast (%s) cannot be opened: %s", path, error ? error : "unknown error");
        return;
    }
#define XENT_LOOK_UP(field, name)                                                                         \
    *(void **)&loaded.field = dlsym(library, name);                                                       \
    if (!loaded.field) {                                                                                  \
        snprintf(problem, sizeof problem, "CLBlast (%s) has no %s", path, name);                          \
        return;                                                                                           \
    }
    XENT_LOOK_UP(sgemm, "CLBlastSgemm")
    XENT_LOOK_UP(dgemm, "CLBlastDgemm")
    XENT_LOOK_UP(sgemv, "CLBlastSgemv")
    XENT_LOOK_UP(dgemv, "CLBlastDgemv")
    XENT_LOOK_UP(sger, "CLBlastSger")
    XENT_LOOK_UP(dger, "CLBlastDger")
#undef XENT_LOOK_UP
    available = 1;
}

const char *xent_clblast_problem(void) {
    pthread_once(&load_once, load);
    return available ? NULL : problem;
}

int xent_clblast_sgemm(xent_clblast_transpose a_transpose, xent_clblast_transpose b_transpose, size_t m, size_t n,
                       size_t k, float alpha, cl_mem a, size_t a_offset, size_t lda, cl_mem b, size_t b_offset,
                       size_t ldb, float beta, cl_mem c, size_t c_offset, size_t ldc, cl_command_queue queue) {
    return loaded.sgemm(CLBLAST_ROW_MAJOR, a_transpose, b_transpose, m, n, k, alpha, a, a_offset, lda, b, b_offset, ldb,
                        beta, c, c_offset, ldc, &queue, NULL);
}

int xent_clblast_dgemm(xent_clblast_transpose a_transpose, xent_clblast_transpose b_transpose, size_t m, size_t n,
                       size_t k, double alpha, cl_mem a, size_t a_offset, size_t lda, cl_mem b, size_t b_offset,
                       size_t ldb, double beta, cl_mem c, size_t c_offset, size_t ldc, cl_command_queue queue) {
    return loaded.dgemm(CLBLAST_ROW_MAJOR, a_transpose, b_transpose, m, n, k, alpha, a, a_offset, lda, b, b_offset, ldb,
                        beta, c, c_offset, ldc, &queue, NULL);
}

int xent_clblast_sgemv(xent_clblast_transpose a_transpose, size_t m, size_t n, float alpha, cl_mem a,
                       size_t a_offset, size_t lda, cl_mem x, size_t x_offset, float beta, cl_mem y, size_t y_offset,
                       cl_command_queue queue) {
    return loaded.sgemv(CLBLAST_ROW_MAJOR, a_transpose, m, n, alpha, a, a_offset, lda, x, x_offset, 1, beta, y,
                        y_offset, 1, &queue, NULL);
}

int xent_clblast_dgemv(xent_clblast_transpose a_transpose, size_t m, size_t n, double alpha, cl_mem a,
                       size_t a_offset, size_t lda, cl_mem x, size_t x_offset, double beta, cl_mem y,
                       size_t y_offset, cl_command_queue queue) {
    return loaded.dgemv(CLBLAST_ROW_MAJOR, a_transpose, m, n, alpha, a, a_offset, lda, x, x_offset, 1, beta, y,
                        y_offset, 1, &queue, NULL);
}

int xent_clblast_sger(size_t m, size_t n, float alpha, cl_mem x, size_t x_offset, cl_mem y, size_t y_offset, cl_mem a,
                      size_t a_offset, size_t lda, cl_command_queue queue) {
    return loaded.sger(CLBLAST_ROW_MAJOR, m, n, alpha, x, x_offset, 1, y, y_offset, 1, a, a_offset, lda, &queue, NULL);
}

int xent_clblast_dger(size_t m, size_t n, double alpha, cl_mem x, size_t x_offset, cl_mem y, size_t y_offset,
                      cl_mem a, size_t a_offset, size_t lda, cl_command_queue queue) {
    return loaded.dger(CLBLAST_ROW_MAJOR, m, n, alpha, x, x_offset, 1, y, y_offset, 1, a, a_offset, lda, &queue, NULL);
}
