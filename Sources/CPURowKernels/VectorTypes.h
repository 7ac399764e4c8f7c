#ifndef CPU_ROW_KERNELS_VECTOR_TYPES_H
#define CPU_ROW_KERNELS_VECTOR_TYPES_H

// Vector types one cache line wide, their loads and stores, lane-wise maximum and horizontal
// reductions. Every helper is always inlined, so each ISA build of the row kernels compiles them for
// its own instruction set.

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define XENT_INLINE static inline __attribute__((always_inline))

// 64-byte vectors passed between always-inlined helpers never cross an ABI boundary.
#pragma clang diagnostic ignored "-Wpsabi"

typedef float xent_vf __attribute__((ext_vector_type(16)));
typedef int32_t xent_vi __attribute__((ext_vector_type(16)));
typedef uint32_t xent_vu __attribute__((ext_vector_type(16)));
typedef _Float16 xent_vh __attribute__((ext_vector_type(16)));
typedef uint16_t xent_vs __attribute__((ext_vector_type(16)));

/// A bfloat16 in memory: its 16 bits, in a struct so that no C conversion applies to it by mistake (and
/// the compiler, seeing no bfloat16 arithmetic, never calls the runtime's __truncsfbf2 for it).
typedef struct xent_bf16 {
    uint16_t bits;
} xent_bf16;
typedef double xent_vd __attribute__((ext_vector_type(8)));
typedef double xent_vd16 __attribute__((ext_vector_type(16)));
typedef int64_t xent_vl __attribute__((ext_vector_type(8)));

// Lane-wise maximum that keeps `a` where the comparison is false, so a NaN in `b` is not taken; the
// NaN still reaches the row's sum through exp(NaN - max), which is what makes that row's loss NaN.
XENT_INLINE xent_vf xent_max_vf(xent_vf a, xent_vf b) { return b > a ? b : a; }
XENT_INLINE xent_vd xent_max_vd(xent_vd a, xent_vd b) { return b > a ? b : a; }

// Horizontal reductions by halving. The maximum skips NaN lanes like xent_max_*.
typedef float xent_vf8 __attribute__((ext_vector_type(8)));
typedef float xent_vf4 __attribute__((ext_vector_type(4)));
typedef double xent_vd4 __attribute__((ext_vector_type(4)));
typedef double xent_vd2 __attribute__((ext_vector_type(2)));

XENT_INLINE float xent_sum_vf(xent_vf v) {
    xent_vf8 a = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
                 __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    xent_vf4 b = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
    return (b[0] + b[2]) + (b[1] + b[3]);
}
XENT_INLINE float xent_hmax_vf(xent_vf v) {
    xent_vf8 lo = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7);
    xent_vf8 hi = __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
    xent_vf8 a = hi > lo ? hi : lo;
    xent_vf4 alo = __builtin_shufflevector(a, a, 0, 1, 2, 3), ahi = __builtin_shufflevector(a, a, 4, 5, 6, 7);
    xent_vf4 b = ahi > alo ? ahi : alo;
    float c = b[1] > b[0] ? b[1] : b[0], d = b[3] > b[2] ? b[3] : b[2];
    return d > c ? d : c;
}
XENT_INLINE double xent_sum_vd(xent_vd v) {
    xent_vd4 a = __builtin_shufflevector(v, v, 0, 1, 2, 3) + __builtin_shufflevector(v, v, 4, 5, 6, 7);
    xent_vd2 b = __builtin_shufflevector(a, a, 0, 1) + __builtin_shufflevector(a, a, 2, 3);
    return b[0] + b[1];
}
XENT_INLINE double xent_hmax_vd(xent_vd v) {
    xent_vd4 lo = __builtin_shufflevector(v, v, 0, 1, 2, 3), hi = __builtin_shufflevector(v, v, 4, 5, 6, 7);
    xent_vd4 a = hi > lo ? hi : lo;
    double c = a[1] > a[0] ? a[1] : a[0], d = a[3] > a[2] ? a[3] : a[2];
    return d > c ? d : c;
}

XENT_INLINE xent_vf xent_load_f16(const _Float16 *p) {
    xent_vh h;
    memcpy(&h, p, sizeof h);
    return __builtin_convertvector(h, xent_vf);
}
XENT_INLINE void xent_store_f16(_Float16 *p, xent_vf v) {
    xent_vh h = __builtin_convertvector(v, xent_vh);
    memcpy(p, &h, sizeof h);
}
XENT_INLINE void xent_stream_f16(_Float16 *p, xent_vf v) {
    __builtin_nontemporal_store(__builtin_convertvector(v, xent_vh), (xent_vh *)(void *)p);
}

// bfloat16 is the upper half of a float: widening is a shift, and narrowing rounds to nearest even with
// integer operations, as PyTorch's round_to_nearest_even (a NaN becomes 0x7FC0): the upper half of the
// float's bits `u` plus 0x7FFF plus the half's lowest bit (scalars and vectors alike).
#define XENT_BF16_ROUNDED(u) (((u) + 0x7FFF + (((u) >> 16) & 1)) >> 16)
XENT_INLINE float xent_widen_bf16(xent_bf16 v) {
    const uint32_t bits = (uint32_t)v.bits << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}
XENT_INLINE xent_bf16 xent_narrow_bf16(float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    const xent_bf16 b = {v != v ? (uint16_t)0x7FC0 : (uint16_t)XENT_BF16_ROUNDED(u)};
    return b;
}
XENT_INLINE xent_vf xent_load_bf16(const xent_bf16 *p) {
    xent_vs bits;
    memcpy(&bits, p, sizeof bits);
    const xent_vu wide = __builtin_convertvector(bits, xent_vu) << 16;
    xent_vf v;
    memcpy(&v, &wide, sizeof v);
    return v;
}
XENT_INLINE xent_vs xent_bf16_bits_vf(xent_vf v) {
    xent_vu u;
    memcpy(&u, &v, sizeof u);
    return __builtin_convertvector(v != v ? (xent_vu)0x7FC0 : XENT_BF16_ROUNDED(u), xent_vs);
}
XENT_INLINE void xent_store_bf16(xent_bf16 *p, xent_vf v) {
    const xent_vs bits = xent_bf16_bits_vf(v);
    memcpy(p, &bits, sizeof bits);
}
XENT_INLINE void xent_stream_bf16(xent_bf16 *p, xent_vf v) {
    __builtin_nontemporal_store(xent_bf16_bits_vf(v), (xent_vs *)(void *)p);
}

XENT_INLINE xent_vf xent_load_f32(const float *p) {
    xent_vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
XENT_INLINE void xent_store_f32(float *p, xent_vf v) { memcpy(p, &v, sizeof v); }
XENT_INLINE void xent_stream_f32(float *p, xent_vf v) { __builtin_nontemporal_store(v, (xent_vf *)(void *)p); }
XENT_INLINE xent_vd xent_load_f64(const double *p) {
    xent_vd v;
    memcpy(&v, p, sizeof v);
    return v;
}
XENT_INLINE void xent_store_f64(double *p, xent_vd v) { memcpy(p, &v, sizeof v); }
XENT_INLINE void xent_stream_f64(double *p, xent_vd v) { __builtin_nontemporal_store(v, (xent_vd *)(void *)p); }

/// The index of the first element of `p`, of `bytes` each, at a 64-byte boundary.
XENT_INLINE int64_t xent_to_line_boundary(const void *p, size_t bytes) {
    return (int64_t)(((64 - ((uintptr_t)p & 63)) & 63) / bytes);
}

#endif
