#include "CPURowKernels.h"

#include "VectorMath.h"

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
// ThreadSanitizer instruments the clones' ifunc resolver, which runs before its runtime is set up.
#define XENT_NO_DISPATCH 1
#endif
#endif

#if defined(__x86_64__) && !defined(XENT_NO_DISPATCH)
// One build per ISA, chosen by the CPU's features when the library loads (no build flags needed).
#define XENT_DISPATCH __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define XENT_DISPATCH
#endif

#define SUFFIX f16
#define STORAGE _Float16
#define ACC float
#define VEC xent_vf
#define LANES 16
#define LOAD xent_load_f16
#define STORE xent_store_f16
#define VEXP xent_exp_vf
#define VLOG xent_log_vf
#define VMAX xent_max_vf
#define SEXP expf
#define SLOG logf
#define LOWEST (-FLT_MAX)
#define HSUM xent_sum_vf
#define HMAX xent_hmax_vf
#define IOTA ((xent_vf){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
#include "RowKernel.inc.h"
#undef SUFFIX
#undef STORAGE
#undef LOAD
#undef STORE

#define SUFFIX f32
#define STORAGE float
#define LOAD xent_load_f32
#define STORE xent_store_f32
#include "RowKernel.inc.h"
#undef SUFFIX
#undef STORAGE
#undef ACC
#undef VEC
#undef LANES
#undef LOAD
#undef STORE
#undef VEXP
#undef VLOG
#undef VMAX
#undef SEXP
#undef SLOG
#undef LOWEST
#undef HSUM
#undef HMAX
#undef IOTA

#define SUFFIX f64
#define STORAGE double
#define ACC double
#define VEC xent_vd
#define LANES 8
#define LOAD xent_load_f64
#define STORE xent_store_f64
#define VEXP xent_exp_vd
#define VLOG xent_log_vd
#define VMAX xent_max_vd
#define SEXP exp
#define SLOG log
#define LOWEST (-DBL_MAX)
#define HSUM xent_sum_vd
#define HMAX xent_hmax_vd
#define IOTA ((xent_vd){0, 1, 2, 3, 4, 5, 6, 7})
#include "RowKernel.inc.h"

XENT_DISPATCH
void xent_row_statistics(xent_dtype dtype, const xent_rows *rows, int64_t begin, int64_t end,
                         xent_row_stat *stats) {
    switch (dtype) {
    case XENT_F16:
        statistics_f16(rows, begin, end, stats);
        break;
    case XENT_F32:
        statistics_f32(rows, begin, end, stats);
        break;
    case XENT_F64:
        statistics_f64(rows, begin, end, stats);
        break;
    }
}

XENT_DISPATCH
void xent_row_outputs(xent_dtype dtype, const xent_rows *rows, const xent_outputs *outputs,
                      int64_t begin, int64_t end, xent_row_stat *stats) {
    switch (dtype) {
    case XENT_F16:
        outputs_f16(rows, outputs, begin, end, stats);
        break;
    case XENT_F32:
        outputs_f32(rows, outputs, begin, end, stats);
        break;
    case XENT_F64:
        outputs_f64(rows, outputs, begin, end, stats);
        break;
    }
}

// The clones call only always-inlined helpers: a 64-byte vector never crosses a call in an AVX2 clone.
XENT_INLINE float read_sum(const float *values, int64_t count) {
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

XENT_DISPATCH
float xent_read_sum(const float *values, int64_t count) { return read_sum(values, count); }
