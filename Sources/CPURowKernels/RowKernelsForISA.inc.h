// The row kernels of every storage type and the other entry points for one ISA level, included once
// per level by RowKernelsAVX512.c, RowKernelsAVX2.c and RowKernelsBaseline.c (inside a `target`
// attribute region for the first two), with:
//   XENT_ISA     name suffix of the level (v4, v3, baseline)
//   XENT_AVX512  1 where the level has AVX-512, whose exp builds 2^n with vscalefps
// Every helper the entry points call is always inlined: a 64-byte vector never crosses a call in a
// build without AVX-512, and each helper is compiled for the level it is inlined into.

#include "RowFold.h"
#include "RowKernelTunables.h"
#include "VectorMath.h"
#include "VectorTranspose.h"

#if XENT_AVX512
#define XENT_EXP_VF xent_exp_avx512_vf
#define XENT_EXP_SUM_VF xent_exp_sum_avx512_vf
#else
#define XENT_EXP_VF xent_exp_vf
#define XENT_EXP_SUM_VF xent_exp_sum_vf
#endif

// Caps `count` contiguous values in place: values = s tanh(values · (1 / s)), every one by xent_tanh_vf
// (the last partial vector through a padded copy). The reciprocal of s is taken once: a division per
// vector would cost more than the tanh.
XENT_INLINE void XENT_ISA_NAME(cap_f32, XENT_ISA)(float *values, int64_t count, float s) {
    const float inverse = 1.0f / s;
    int64_t i = 0;
    for (; i + 16 <= count; i += 16) {
        xent_store_f32(values + i, s * xent_tanh_vf(xent_load_f32(values + i) * inverse));
    }
    if (i < count) {
        float rest[16] = {0};
        memcpy(rest, values + i, (size_t)(count - i) * sizeof(float));
        xent_store_f32(rest, s * xent_tanh_vf(xent_load_f32(rest) * inverse));
        memcpy(values + i, rest, (size_t)(count - i) * sizeof(float));
    }
}
XENT_INLINE void XENT_ISA_NAME(cap_f64, XENT_ISA)(double *values, int64_t count, double s) {
    for (int64_t i = 0; i < count; i++) {
        values[i] = s * tanh(values[i] / s);
    }
}

// Each input type with the outputs of its own type, and half-precision inputs also with float outputs;
// after each instantiation its soft-capped rows, which run the row kernels of the accumulation type:
// float and double first.
#include "RowKernelParametersF32.inc.h"
#include "RowKernelOutputF32.inc.h"
#include "RowKernel.inc.h"
#include "SoftCappedRows.inc.h"
#include "RowKernelOutputEnd.inc.h"
#include "RowKernelParametersEnd.inc.h"

#include "RowKernelParametersF64.inc.h"
#include "RowKernelOutputF64.inc.h"
#include "RowKernel.inc.h"
#include "SoftCappedRows.inc.h"
#include "RowKernelOutputEnd.inc.h"
#include "RowKernelParametersEnd.inc.h"

#include "RowKernelParametersF16.inc.h"
#include "RowKernelOutputF16.inc.h"
#include "RowKernel.inc.h"
#include "SoftCappedRows.inc.h"
#include "RowKernelOutputEnd.inc.h"
#include "RowKernelOutputF32.inc.h"
#include "RowKernel.inc.h"
#include "SoftCappedRows.inc.h"
#include "RowKernelOutputEnd.inc.h"
#include "RowKernelParametersEnd.inc.h"

#include "RowKernelParametersBF16.inc.h"
#include "RowKernelOutputBF16.inc.h"
#include "RowKernel.inc.h"
#include "SoftCappedRows.inc.h"
#include "RowKernelOutputEnd.inc.h"
#include "RowKernelOutputF32.inc.h"
#include "RowKernel.inc.h"
#include "SoftCappedRows.inc.h"
#include "RowKernelOutputEnd.inc.h"
#include "RowKernelParametersEnd.inc.h"

#undef XENT_EXP_VF
#undef XENT_EXP_SUM_VF

// Calls the run of rows stored as `in`, writing outputs as `out`, plain or soft-capped.
#define XENT_RUN(in, out)                                                                                         \
    (capped ? XENT_ISA_NAME(capped_run_##in##_##out, XENT_ISA) : XENT_ISA_NAME(run_##in##_##out, XENT_ISA))( \
        rows, outputs, results, begin, end)

double XENT_ISA_NAME(xent_run_rows, XENT_ISA)(xent_dtype dtype, const xent_rows *rows, const xent_outputs *outputs,
                                              const xent_row_results *results, int64_t begin, int64_t end) {
    const int capped = rows->options.softcap != 0;
    const int wide = outputs && outputs->dtype != dtype;
    switch (dtype) {
    case XENT_F16:
        return wide ? XENT_RUN(f16, f32) : XENT_RUN(f16, f16);
    case XENT_BF16:
        return wide ? XENT_RUN(bf16, f32) : XENT_RUN(bf16, bf16);
    case XENT_F32:
        return XENT_RUN(f32, f32);
    case XENT_F64:
        return XENT_RUN(f64, f64);
    }
    return 0;
}

#undef XENT_RUN

int64_t XENT_ISA_NAME(xent_check_targets, XENT_ISA)(const int64_t *targets, int64_t count, int64_t classes,
                                                    int64_t ignore_index, const double *weight, int64_t *kept,
                                                    double *kept_weight) {
    int64_t counted = 0;
    double total = 0;
    for (int64_t start = 0; start < count; start += 4096) {
        const int64_t size = count - start < 4096 ? count - start : 4096;
        const int64_t bad = check_target_block(targets + start, size, classes, ignore_index, weight, &counted, &total);
        if (bad >= 0) {
            return start + bad;
        }
    }
    *kept = counted;
    *kept_weight = weight ? total : (double)counted;
    return -1;
}

float XENT_ISA_NAME(xent_read_sum, XENT_ISA)(const float *values, int64_t count) {
    xent_vf a = 0, b = 0, c = 0, d = 0;
    int64_t i = 0;
    for (; i + 64 <= count; i += 64) {
        a += xent_load_f32(values + i);
        b += xent_load_f32(values + i + 16);
        c += xent_load_f32(values + i + 32);
        d += xent_load_f32(values + i + 48);
    }
    xent_vf sum = (a + b) + (c + d);
    float total = 0;
    for (int lane = 0; lane < 16; lane++) {
        total += sum[lane];
    }
    for (; i < count; i++) {
        total += values[i];
    }
    return total;
}

void XENT_ISA_NAME(xent_copy_stream, XENT_ISA)(const float *from, float *to, int64_t count) {
    int64_t i = 0;
    for (; i < count && ((uintptr_t)(to + i) & 63) != 0; i++) {
        to[i] = from[i];
    }
    for (; i + 16 <= count; i += 16) {
        xent_stream_f32(to + i, xent_load_f32(from + i));
    }
    for (; i < count; i++) {
        to[i] = from[i];
    }
#if defined(__x86_64__)
    __builtin_ia32_sfence();
#endif
}

#include "VectorMathProbe.inc.h"
