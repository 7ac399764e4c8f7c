#include "CPURowKernels.h"

#include "RowFold.h"
#include "RowKernelsByISA.h"

#if defined(__x86_64__)
#include <pthread.h>
#include <stdio.h>

// The ISA levels with a build of the row kernels.
typedef enum { XENT_LEVEL_BASELINE, XENT_LEVEL_V3, XENT_LEVEL_V4 } xent_level;

static xent_level chosen_level;
static pthread_once_t level_once = PTHREAD_ONCE_INIT;

// The best level the CPU has, or a lower one that XENT_CPU_ISA names ("v3" or "baseline"): CI runs the
// tests on each build that way on an AVX-512 machine.
static void choose_level(void) {
    xent_level level = __builtin_cpu_supports("x86-64-v4")   ? XENT_LEVEL_V4
                       : __builtin_cpu_supports("x86-64-v3") ? XENT_LEVEL_V3
                                                             : XENT_LEVEL_BASELINE;
    const char *named = getenv("XENT_CPU_ISA");
    if (named) {
        const xent_level asked = strcmp(named, "v4") == 0   ? XENT_LEVEL_V4
                                 : strcmp(named, "v3") == 0 ? XENT_LEVEL_V3
                                                            : XENT_LEVEL_BASELINE;
        if (asked == XENT_LEVEL_BASELINE && strcmp(named, "baseline") != 0) {
            fprintf(stderr, "xent: XENT_CPU_ISA=%s is not v4, v3 or baseline; using the baseline build\n", named);
        } else if (asked > level) {
            fprintf(stderr, "xent: XENT_CPU_ISA=%s is beyond this CPU; using its best build\n", named);
        }
        level = asked < level ? asked : level;
    }
    chosen_level = level;
}

// Calls the build of `name` for the chosen level.
#define XENT_BY_ISA(name, ...)                                                                           \
    (pthread_once(&level_once, choose_level),                                                            \
     chosen_level == XENT_LEVEL_V4   ? XENT_ISA_NAME(name, v4)(__VA_ARGS__)                              \
     : chosen_level == XENT_LEVEL_V3 ? XENT_ISA_NAME(name, v3)(__VA_ARGS__)                              \
                                     : XENT_ISA_NAME(name, baseline)(__VA_ARGS__))
#else
// Other architectures have the baseline build only.
#define XENT_BY_ISA(name, ...) XENT_ISA_NAME(name, baseline)(__VA_ARGS__)
#endif

double xent_fold_rows(const xent_row_results *results, int64_t first, const xent_row_stat *stats, int64_t count) {
    xent_fold fold = {0, 0};
    xent_stat_block block;
    for (int64_t done = 0; done < count; done += XENT_FOLD_ROWS) {
        const int64_t size = count - done < XENT_FOLD_ROWS ? count - done : XENT_FOLD_ROWS;
        for (int64_t i = 0; i < size; i++) {
            store_stat(&block, i, stats[done + i]);
        }
        fold_block(&fold, results, first + done, &block, size);
    }
    return fold_total(fold);
}

double xent_run_rows(xent_dtype dtype, const xent_rows *rows, const xent_outputs *outputs,
                     const xent_row_results *results, int64_t begin, int64_t end) {
    return XENT_BY_ISA(xent_run_rows, dtype, rows, outputs, results, begin, end);
}

int64_t xent_check_targets(const int64_t *targets, int64_t count, int64_t classes, int64_t ignore_index,
                           const double *weight, int64_t *kept, double *kept_weight) {
    return XENT_BY_ISA(xent_check_targets, targets, count, classes, ignore_index, weight, kept, kept_weight);
}

float xent_read_sum(const float *values, int64_t count) { return XENT_BY_ISA(xent_read_sum, values, count); }

void xent_copy_stream(const float *from, float *to, int64_t count) { XENT_BY_ISA(xent_copy_stream, from, to, count); }

void xent_vector_math_probe(xent_vector_function function, const float *x, float *y, int64_t count) {
    XENT_BY_ISA(xent_vector_math_probe, function, x, y, count);
}

void xent_vector_math_probe_f64(const double *x, double *y, int64_t count) {
    XENT_BY_ISA(xent_vector_math_probe_f64, x, y, count);
}
