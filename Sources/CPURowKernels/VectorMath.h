#ifndef CPU_ROW_KERNELS_VECTOR_MATH_H
#define CPU_ROW_KERNELS_VECTOR_MATH_H

// Vector types one cache line wide and an exp() for them. Every helper is always inlined, so each
// ISA clone of an entry point compiles them for its own instruction set.

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define XENT_INLINE static inline __attribute__((always_inline))

// 64-byte vectors passed between always-inlined helpers never cross an ABI boundary.
#pragma clang diagnostic ignored "-Wpsabi"

typedef float xent_vf __attribute__((ext_vector_type(16)));
typedef int32_t xent_vi __attribute__((ext_vector_type(16)));
typedef _Float16 xent_vh __attribute__((ext_vector_type(16)));
typedef double xent_vd __attribute__((ext_vector_type(8)));
typedef int64_t xent_vl __attribute__((ext_vector_type(8)));

// Lane-wise maximum that keeps `a` where the comparison is false, so a NaN in `b` is not taken; the
// NaN still reaches the row's sum through exp(NaN - max), which is what makes that row's loss NaN.
XENT_INLINE xent_vf xent_max_vf(xent_vf a, xent_vf b) { return b > a ? b : a; }
XENT_INLINE xent_vd xent_max_vd(xent_vd a, xent_vd b) { return b > a ? b : a; }

// exp(x) for float lanes: Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, Cephes' degree-7
// polynomial (about 1 ulp), and 2^n built as 2^(n/2) * 2^(n - n/2) so results that are subnormal
// are rounded, not flushed. exp(-inf) = 0, exp(+inf) = +inf, exp(NaN) = NaN.
XENT_INLINE xent_vf xent_exp_vf(xent_vf x) {
    const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    xent_vi overflow = x > 88.72283935546875f;
    x = x < -104.0f ? -104.0f : x;
    x = x > 88.72283935546875f ? 88.0f : x;
    xent_vf t = x * 1.44269504088896341f + shifter;
    xent_vf n = t - shifter;
    xent_vi ni;
    memcpy(&ni, &t, sizeof t);
    ni -= 0x4B400000;  // the bits of the shifter: what is left is n
    xent_vf r = x - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    xent_vf p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    xent_vi n1 = ni >> 1;
    xent_vi n2 = ni - n1;
    xent_vi b1 = (n1 + 127) << 23;
    xent_vi b2 = (n2 + 127) << 23;
    xent_vf f1, f2;
    memcpy(&f1, &b1, sizeof f1);
    memcpy(&f2, &b2, sizeof f2);
    xent_vf result = p * f1 * f2;
    return overflow ? (xent_vf)INFINITY : result;
}

// exp(x) for double lanes: the same reduction with a degree-13 Taylor polynomial (error below 1e-17
// relative on |r| <= ln2/2).
XENT_INLINE xent_vd xent_exp_vd(xent_vd x) {
    const double shifter = 6755399441055744.0;  // 1.5 * 2^52
    xent_vl overflow = x > 709.782712893384;
    x = x < -746.0 ? -746.0 : x;
    x = x > 709.782712893384 ? 709.0 : x;
    xent_vd t = x * 1.4426950408889634074 + shifter;
    xent_vd n = t - shifter;
    xent_vl ni;
    memcpy(&ni, &t, sizeof t);
    ni -= 0x4338000000000000;  // the bits of the shifter: what is left is n
    xent_vd r = x - n * 6.93145751953125e-1;
    r = r - n * 1.42860682030941723212e-6;
    xent_vd p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    xent_vl n1 = ni >> 1;
    xent_vl n2 = ni - n1;
    xent_vl b1 = (n1 + 1023) << 52;
    xent_vl b2 = (n2 + 1023) << 52;
    xent_vd f1, f2;
    memcpy(&f1, &b1, sizeof f1);
    memcpy(&f2, &b2, sizeof f2);
    xent_vd result = p * f1 * f2;
    return overflow ? (xent_vd)INFINITY : result;
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
XENT_INLINE xent_vf xent_load_f32(const float *p) {
    xent_vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
XENT_INLINE void xent_store_f32(float *p, xent_vf v) { memcpy(p, &v, sizeof v); }
XENT_INLINE xent_vd xent_load_f64(const double *p) {
    xent_vd v;
    memcpy(&v, p, sizeof v);
    return v;
}
XENT_INLINE void xent_store_f64(double *p, xent_vd v) { memcpy(p, &v, sizeof v); }

#endif
