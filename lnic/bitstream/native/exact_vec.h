/* Exact float64 vector helpers shared by the decoder's C kernels (latent_step.c here and
 * lnic/decoder/native/pixels.c): vectors of 4 doubles, an exact floor, clamps, and the dense
 * layer on a block of BLOCK samples that both the ARM and the synthesis' 1x1 layers use.
 *
 * Every value the kernels handle is an integer multiple of a power of two far below 2^53, so
 * float64 products and sums are exact in any order (vectorised, fused or not) and every
 * machine gets the same bits; the floor is exact for every double. The includer defines BLOCK
 * (a multiple of 4) before including this file.
 */
#ifndef LNIC_EXACT_VEC_H
#define LNIC_EXACT_VEC_H

#include <math.h>
#include <stdint.h>
#ifdef __AVX__
#include <immintrin.h>
#endif

#ifndef BLOCK
#error "define BLOCK (samples per block, a multiple of 4) before including exact_vec.h"
#endif

/* aligned(8): loads and stores need no 32-byte alignment (the callers' buffers have it where
 * it is cheap to give, and unaligned vector accesses to aligned data cost nothing more) */
typedef double dv __attribute__((vector_size(32), aligned(8)));
typedef int64_t iv __attribute__((vector_size(32), aligned(8)));
#define VB (BLOCK / 4)

static inline dv splat(double a) { return (dv){a, a, a, a}; }

static inline dv pick(iv m, dv a, dv b) { return (dv)(((iv)a & m) | ((iv)b & ~m)); }

/* floor, exact for every double: one rounding instruction where the CPU has AVX; elsewhere,
 * below 2^52 in magnitude, (a + c) - c with c = +-2^52 rounds to an integer (the current
 * rounding mode: nearest) and one is taken off where that rounded up, and from 2^52 on every
 * double is an integer (inf and nan pass through either way). */
#ifdef __AVX__
static inline dv vfloor(dv a) {
    return (dv)_mm256_round_pd((__m256d)a, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
}
#else
static inline dv vfloor(dv a) {
    const dv big = splat(4503599627370496.0);
    iv neg = a < splat(0.0);
    dv c = pick(neg, -big, big);
    dv t = (a + c) - c;
    t -= (dv)((iv)splat(1.0) & (t > a));
    iv small = (a < big) & (a > -big);
    return pick(small, t, a);
}
#endif

/* clip to [lo, hi], nan passing through (as numpy's clip) */
static inline dv clampv(dv v, double lo, double hi) {
    v = pick(v < splat(lo), splat(lo), v);
    return pick(v > splat(hi), splat(hi), v);
}

/* out[o][0:BLOCK] = clip(floor(w[o] . x[:, 0:BLOCK]), lo[o], hi[o]) for o < n_out (lo, hi
 * NULL: lo_all, hi_all for every output): w is [n_out, n_in], x's rows are ldx apart, out's
 * rows BLOCK apart. Outputs go in pairs, so that each input row loaded serves two sets of
 * VB accumulators. */
static inline void layer_block(const double *w, int64_t n_out, int64_t n_in, const double *x,
                               int64_t ldx, double *out, const double *lo, const double *hi,
                               double lo_all, double hi_all) {
    int64_t o = 0;
    for (; o + 1 < n_out; o += 2) {
        dv a0[VB], a1[VB];
        for (int v = 0; v < VB; v++) a0[v] = a1[v] = splat(0.0);
        const double *w0 = w + o * n_in, *w1 = w0 + n_in;
        for (int64_t i = 0; i < n_in; i++) {
            dv p = splat(w0[i]), q = splat(w1[i]);
            const double *xr = x + i * ldx;
            for (int v = 0; v < VB; v++) {
                dv xv = *(const dv *)(xr + 4 * v);
                a0[v] += p * xv;
                a1[v] += q * xv;
            }
        }
        double la = lo ? lo[o] : lo_all, ha = hi ? hi[o] : hi_all;
        double lb = lo ? lo[o + 1] : lo_all, hb = hi ? hi[o + 1] : hi_all;
        for (int v = 0; v < VB; v++) {
            *(dv *)(out + o * BLOCK + 4 * v) = clampv(vfloor(a0[v]), la, ha);
            *(dv *)(out + (o + 1) * BLOCK + 4 * v) = clampv(vfloor(a1[v]), lb, hb);
        }
    }
    for (; o < n_out; o++) {
        dv a0[VB];
        for (int v = 0; v < VB; v++) a0[v] = splat(0.0);
        const double *w0 = w + o * n_in;
        for (int64_t i = 0; i < n_in; i++) {
            dv p = splat(w0[i]);
            const double *xr = x + i * ldx;
            for (int v = 0; v < VB; v++) a0[v] += p * *(const dv *)(xr + 4 * v);
        }
        double la = lo ? lo[o] : lo_all, ha = hi ? hi[o] : hi_all;
        for (int v = 0; v < VB; v++)
            *(dv *)(out + o * BLOCK + 4 * v) = clampv(vfloor(a0[v]), la, ha);
    }
}

#endif
