#ifndef CPU_ROW_KERNELS_VECTOR_MATH_H
#define CPU_ROW_KERNELS_VECTOR_MATH_H

// exp() and log() for the vector types, vectorised. Every helper is always inlined (see VectorTypes.h).

#include "VectorTypes.h"

// Range reduction for exp: x = n ln2 + r with n an integer and |r| <= ln2/2, after x is raised to at
// least -104 (`exact`: the results of xent_exp_vf, which reach 0 there) or -87.3 (terms of a sum, see
// xent_exp_sum_vf); NaN stays, since NaN < bound is false. Returns r, sets *n to n and *t to the bits
// of x / ln2 + 1.5 * 2^23, whose low bits hold n (garbage for NaN lanes, whose r is NaN). `exact`
// subtracts n ln2 in two parts (Cody-Waite), else with ln2 rounded to float: where the compiler fuses
// x - n ln2 into one multiply-add (the AVX2 and AVX-512 builds) that errs by n * 2e-9 relative; the
// baseline build rounds n ln2 first, about 2^-24 |x| absolute. Either is negligible for a term of a
// sum of at least 1, since such a term is below 2^-n: measured (VectorMathAccuracyTests), a term errs
// by at most 0.91 ulp of 1 on every build.
XENT_INLINE xent_vf xent_exp_reduce_vf(xent_vf x, int exact, xent_vi *t, xent_vf *n) {
    const float bound = exact ? -104.0f : -87.3f;
    x = x < bound ? bound : x;
    const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    const xent_vf shifted = x * 1.44269504088896341f + shifter;
    const xent_vf nf = shifted - shifter;
    memcpy(t, &shifted, sizeof shifted);
    *n = nf;
    if (!exact) {
        return x - nf * 0.693147182f;
    }
    const xent_vf r = x - nf * 0.693359375f;
    return r - nf * -2.12194440e-4f;
}

// exp(r) for |r| <= ln2/2: Cephes' degree-7 polynomial (about 1 ulp).
XENT_INLINE xent_vf xent_exp_poly_vf(xent_vf r) {
    xent_vf p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    return p * r * r + r + 1.0f;
}

// exp(r) - 1 for |r| <= ln2/2: the degree-5 polynomial of ARM's optimized-routines (about 2 ulp once
// 1 is added).
XENT_INLINE xent_vf xent_exp_sum_poly_vf(xent_vf r) {
    xent_vf r2 = r * r;
    xent_vf p = 0x1.0e4020p-7f * r + 0x1.573e2ep-5f;
    xent_vf q = 0x1.555e66p-3f * r + 0x1.fffdb6p-2f;
    q = p * r2 + q;
    return q * r2 + 0x1.ffffecp-1f * r;
}

// exp(x) for float lanes with x <= 0, -inf or NaN: every argument the kernels take (x - max,
// x - lse). Cody-Waite range reduction x = n ln2 + r, |r| <= ln2/2, xent_exp_poly_vf, and 2^n built
// as 2^(n/2) * 2^(n - n/2) so results that are subnormal are rounded, not flushed. exp(-inf) = 0 and
// exp(NaN) = NaN.
XENT_INLINE xent_vf xent_exp_vf(xent_vf x) {
    xent_vi ni;
    xent_vf nf;
    xent_vf r = xent_exp_reduce_vf(x, 1, &ni, &nf);
    ni -= 0x4B400000;  // the bits of the shifter: what is left is n
    xent_vf p = xent_exp_poly_vf(r);
    // Usually every lane has -125 <= n <= 0 and the result is normal: add n to p's exponent. A lane
    // outside (a subnormal result, or NaN whose n is garbage) takes the two-step scaling for all.
    xent_vi outside = (xent_vi)((xent_vu)(ni + 125) > 125u);
    if (!__builtin_reduce_or(outside)) {
        xent_vi bits;
        memcpy(&bits, &p, sizeof p);
        bits += ni << 23;
        memcpy(&p, &bits, sizeof p);
        return p;
    }
    xent_vi n1 = ni >> 1;
    xent_vi b1 = (n1 + 127) << 23;
    xent_vi b2 = (ni - n1 + 127) << 23;
    xent_vf f1, f2;
    memcpy(&f1, &b1, sizeof f1);
    memcpy(&f2, &b2, sizeof f2);
    return p * f1 * f2;
}

// exp(x) for float lanes whose results are only summed into a total of at least 1 (the terms
// exp(x - max) of a row, whose maximum contributes 1): arguments below -87.3 give exp(-87.3), about
// 1.04 * 2^-126, instead of a smaller number, which changes such a sum by less than 2^-100 of itself,
// so every result is normal and 2^n is added to the exponent without a check. xent_exp_sum_poly_vf on
// the one-constant range reduction: about 2 ulp near 0, and as a value on its own up to 4.7 ulp for
// arguments far below 0 (68 ulp on the baseline build, see xent_exp_reduce_vf), which is within
// 0.91 ulp of 1, the least the sum can be. exp(-inf) is exp(-87.3) and NaN stays NaN.
XENT_INLINE xent_vf xent_exp_sum_vf(xent_vf x) {
    xent_vi t;
    xent_vf nf;
    xent_vf r = xent_exp_reduce_vf(x, 0, &t, &nf);
    xent_vf poly = xent_exp_sum_poly_vf(r);
    // 2^n is (n + 127) << 23, and n << 23 is t << 23: the shifter's bits vanish in the shift.
    xent_vu scaleBits = ((xent_vu)t << 23) + (127u << 23);
    xent_vf scale;
    memcpy(&scale, &scaleBits, sizeof scale);
    return poly * scale + scale;
}

#if defined(XENT_AVX512) && XENT_AVX512
#include <immintrin.h>

// The AVX-512 build's exps (RowKernelsAVX512.c, where every function is compiled for AVX-512): the
// same reductions and polynomials, with 2^n applied by vscalefps, one instruction that also rounds a
// subnormal result correctly (no range check, no two-step scaling).

// xent_exp_vf: exp(x) for x <= 0, -inf or NaN, about 1 ulp, subnormal results rounded.
XENT_INLINE xent_vf xent_exp_avx512_vf(xent_vf x) {
    xent_vi t;
    xent_vf n;
    xent_vf r = xent_exp_reduce_vf(x, 1, &t, &n);
    return (xent_vf)_mm512_scalef_ps((__m512)xent_exp_poly_vf(r), (__m512)n);
}

// xent_exp_sum_vf: exp(x) for terms summed into a total of at least 1.
XENT_INLINE xent_vf xent_exp_sum_avx512_vf(xent_vf x) {
    xent_vi t;
    xent_vf n;
    xent_vf r = xent_exp_reduce_vf(x, 0, &t, &n);
    return (xent_vf)_mm512_scalef_ps((__m512)(xent_exp_sum_poly_vf(r) + 1.0f), (__m512)n);
}
#endif

// log(x) for float lanes (Cephes' logf: x = 2^e m with m in [sqrt(1/2), sqrt(2)), a degree-9
// polynomial in m - 1, about 1 ulp). log(0) = -inf, log(+inf) = +inf, NaN stays NaN; subnormal and
// negative arguments, which the kernels never pass, are not handled.
XENT_INLINE xent_vf xent_log_vf(xent_vf x) {
    xent_vi bits;
    memcpy(&bits, &x, sizeof x);
    xent_vi e = ((bits >> 23) & 0xff) - 126;
    xent_vi mbits = (bits & 0x807fffff) | 0x3f000000;
    xent_vf m;
    memcpy(&m, &mbits, sizeof m);
    xent_vi small = m < 0.707106781186547524f;
    e = small ? e - 1 : e;
    m = small ? m + m - 1.0f : m - 1.0f;
    xent_vf z = m * m;
    xent_vf y = 7.0376836292e-2f;
    y = y * m - 1.1514610310e-1f;
    y = y * m + 1.1676998740e-1f;
    y = y * m - 1.2420140846e-1f;
    y = y * m + 1.4249322787e-1f;
    y = y * m - 1.6668057665e-1f;
    y = y * m + 2.0000714765e-1f;
    y = y * m - 2.4999993993e-1f;
    y = y * m + 3.3333331174e-1f;
    y = y * m * z;
    xent_vf fe = __builtin_convertvector(e, xent_vf);
    y += -2.12194440e-4f * fe;
    y += -0.5f * z;
    xent_vf r = m + y + 0.693359375f * fe;
    r = x == 0.0f ? (xent_vf)-INFINITY : r;
    r = x == INFINITY ? (xent_vf)INFINITY : r;
    return x != x ? x : r;
}

// exp(x) for double lanes with x <= 0, -inf or NaN: the same reduction with a degree-13 Taylor
// polynomial (error below 1e-17 relative on |r| <= ln2/2).
XENT_INLINE xent_vd xent_exp_vd(xent_vd x) {
    const double shifter = 6755399441055744.0;  // 1.5 * 2^52
    x = x < -746.0 ? -746.0 : x;
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
    xent_vl b1 = (n1 + 1023) << 52;
    xent_vl b2 = (ni - n1 + 1023) << 52;
    xent_vd f1, f2;
    memcpy(&f1, &b1, sizeof f1);
    memcpy(&f2, &b2, sizeof f2);
    return p * f1 * f2;
}

// log(x) for double lanes, lane by lane (only the few-classes path takes it, once per row).
XENT_INLINE xent_vd xent_log_vd(xent_vd x) {
    for (int lane = 0; lane < 8; lane++) {
        x[lane] = log(x[lane]);
    }
    return x;
}

// n / d for float lanes: on AVX-512, vrcp14ps's estimate of 1 / d (relative error under 2^-14) refined
// by a Newton step, then the quotient n r corrected by its residual n - d q, which leaves it within
// about half an ulp as a division would; elsewhere a division. A division of 64-byte vectors takes
// several times the cycles of the estimate and its four multiply-adds.
XENT_INLINE xent_vf xent_divide_vf(xent_vf n, xent_vf d) {
#if defined(XENT_AVX512) && XENT_AVX512
    xent_vf r = (xent_vf)_mm512_rcp14_ps((__m512)d);
    r = r * (2.0f - d * r);
    const xent_vf q = n * r;
    return q + r * (n - d * q);
#else
    return n / d;
#endif
}

// tanh(y) for float lanes: the odd Taylor polynomial to degree 9 below |y| = 0.2 (truncation under
// 3e-10 relative), else (1 - e) / (1 + e) (xent_divide_vf) with e = exp(-2|y|), where 1 - e loses bits just above the
// switch (the worst error, measured by VectorMathAccuracyTests on every build); y's sign bit is copied
// last, so tanh(-0) = -0. tanh(+-inf) = +-1, NaN stays NaN.
XENT_INLINE xent_vf xent_tanh_vf(xent_vf y) {
    const xent_vf a = y < 0 ? -y : y;
    const xent_vf a2 = a * a;
    xent_vf p = 62.0f / 2835.0f;
    p = p * a2 - 17.0f / 315.0f;
    p = p * a2 + 2.0f / 15.0f;
    p = p * a2 - 1.0f / 3.0f;
    const xent_vf small = p * a2 * a + a;
#if defined(XENT_AVX512) && XENT_AVX512
    const xent_vf e = xent_exp_avx512_vf(-2.0f * a);
#else
    const xent_vf e = xent_exp_vf(-2.0f * a);
#endif
    const xent_vf large = xent_divide_vf(1.0f - e, 1.0f + e);
    const xent_vf t = a < 0.2f ? small : large;
    xent_vi bits, sign;
    memcpy(&bits, &t, sizeof t);
    memcpy(&sign, &y, sizeof y);
    bits |= sign & (xent_vi)INT32_MIN;
    xent_vf result;
    memcpy(&result, &bits, sizeof bits);
    return result;
}

#endif
