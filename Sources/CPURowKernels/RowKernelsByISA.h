#ifndef CPU_ROW_KERNELS_ROW_KERNELS_BY_ISA_H
#define CPU_ROW_KERNELS_ROW_KERNELS_BY_ISA_H

// The row kernels are built once per x86-64 ISA level, each in its own translation unit where every
// function is compiled for that level (RowKernelsAVX512.c, RowKernelsAVX2.c, RowKernelsBaseline.c,
// all instantiating RowKernelsForISA.inc.h), and CPURowKernels.c's entry points call the build the
// CPU supports. No build flags are needed. A whole unit per level, rather than target_clones, lets
// the AVX-512 build use AVX-512 instructions the others lack (vscalefps in its exps), and lets its
// helpers take 64-byte vectors with the same features as their callers.
//
// The system headers the kernels use come first, so that their declarations stay outside the
// units' target regions.

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "CPURowKernels.h"

#define XENT_ISA_NAME_(name, isa) name##_##isa
#define XENT_ISA_NAME(name, isa) XENT_ISA_NAME_(name, isa)

// The entry points of the build for one level, as CPURowKernels.h states them.
#define XENT_DECLARE_ISA_ENTRIES(isa, attributes)                                                       \
    attributes double XENT_ISA_NAME(xent_run_rows, isa)(xent_dtype dtype, const xent_rows *rows,        \
                                                        const xent_outputs *outputs,                    \
                                                        const xent_row_results *results, int64_t begin, \
                                                        int64_t end);                                   \
    attributes int64_t XENT_ISA_NAME(xent_check_targets, isa)(const int64_t *targets, int64_t count,    \
                                                              int64_t classes, int64_t ignore_index,    \
                                                              const double *weight, int64_t *kept,      \
                                                              double *kept_weight);                     \
    attributes float XENT_ISA_NAME(xent_read_sum, isa)(const float *values, int64_t count);                 \
    attributes void XENT_ISA_NAME(xent_copy_stream, isa)(const float *from, float *to, int64_t count);      \
    attributes void XENT_ISA_NAME(xent_vector_math_probe, isa)(xent_vector_function function, const float *x, \
                                                               float *y, int64_t count);                      \
    attributes void XENT_ISA_NAME(xent_vector_math_probe_f64, isa)(const double *x, double *y, int64_t count);

#if defined(__x86_64__)
#define XENT_TARGET_V4 __attribute__((target("arch=x86-64-v4")))
#define XENT_TARGET_V3 __attribute__((target("arch=x86-64-v3")))
XENT_DECLARE_ISA_ENTRIES(v4, XENT_TARGET_V4)
XENT_DECLARE_ISA_ENTRIES(v3, XENT_TARGET_V3)
#endif
XENT_DECLARE_ISA_ENTRIES(baseline, )

#endif
