#include "common.h"

#if PREFILTER_RADIUS != 3
#error "pre_forward and pre_backward spell out three taps on each side"
#endif

/* x2 upsampling along one axis of x [outer][n][inner] -> out [outer][size][inner] with the
 * symmetric taps (a, b, c, d) and replicated borders (lnic.model.upsampling.up_axis):
 * even[m] = a x[m-2] + c x[m-1] + d x[m] + b x[m+1], odd[m] = b x[m-1] + d x[m] + c x[m+1]
 * + a x[m+2]; size is 2n or 2n - 1 (the last odd sample dropped). */

void up_forward(const float *x, long outer, long n, long inner, long size, const float *t,
                float *out, int nt) {
    const float a = t[0], b = t[1], c = t[2], d = t[3];
#pragma omp parallel for schedule(static) num_threads(nt)
    for (long o = 0; o < outer; o++) {
        const float *xo = x + o * n * inner;
        float *oo = out + o * size * inner;
        if (inner == 1) {
            float *xp = malloc(sizeof(float) * (n + 4));
            pad_replicate(xo, n, 2, xp);
            for (long m = 0; m < n; m++) {
                const float *p = xp + m; /* p[k] = x[m - 2 + k] */
                oo[2 * m] = a * p[0] + c * p[1] + d * p[2] + b * p[3];
                if (2 * m + 1 < size) oo[2 * m + 1] = b * p[1] + d * p[2] + c * p[3] + a * p[4];
            }
            free(xp);
            continue;
        }
        for (long m = 0; m < n; m++) {
            const float *r0 = xo + clampl(m - 2, n) * inner, *r1 = xo + clampl(m - 1, n) * inner,
                        *r2 = xo + m * inner, *r3 = xo + clampl(m + 1, n) * inner,
                        *r4 = xo + clampl(m + 2, n) * inner;
            float *e = oo + 2 * m * inner;
            for (long i = 0; i < inner; i++) e[i] = a * r0[i] + c * r1[i] + d * r2[i] + b * r3[i];
            if (2 * m + 1 < size) {
                float *od = e + inner;
                for (long i = 0; i < inner; i++)
                    od[i] = b * r1[i] + d * r2[i] + c * r3[i] + a * r4[i];
            }
        }
    }
}

/* Row q of the gradient of the border-padded input xp (xp[q] = x[clamp(q - 2)], q < n + 4),
 * a gather over the outputs that read it; ge / go are the even / odd output rows. */
static inline void up_grad_padded_row(const float *g, long n, long inner, long size, long q,
                                      float a, float b, float c, float d, float *dst) {
    /* even[m] reads xp[m..m+3] with (a, c, d, b); odd[m] reads xp[m+1..m+4] with (b, d, c, a) */
    const float ce[4] = {a, c, d, b}, co[4] = {b, d, c, a};
    for (long i = 0; i < inner; i++) dst[i] = 0.f;
    for (int k = 0; k < 4; k++) {
        const long me = q - k, mo = q - 1 - k;
        if (me >= 0 && me < n) {
            const float *ge = g + 2 * me * inner;
            for (long i = 0; i < inner; i++) dst[i] += ce[k] * ge[i];
        }
        if (mo >= 0 && mo < n && 2 * mo + 1 < size) {
            const float *go = g + (2 * mo + 1) * inner;
            for (long i = 0; i < inner; i++) dst[i] += co[k] * go[i];
        }
    }
}

/* Given g [outer][size][inner]: gx [outer][n][inner] and chunk_grads [NCHUNK][4] (a, b, c, d),
 * the tap gradients summed over NCHUNK fixed chunks (the result is thread-count free). */
void up_backward(const float *x, long outer, long n, long inner, long size, const float *t,
                 const float *g, float *gx, float *chunk_grads, int nt) {
    const float a = t[0], b = t[1], c = t[2], d = t[3];
    if (inner == 1) {
        /* columns: one line per (channel, row). The line's even and odd output gradients are
         * split into two zero-padded arrays first, so that the tap sums and the input gradient
         * run as contiguous vector loops along the line (up_grad_padded_row, written for whole
         * rows, would run one sample at a time here) */
        const long lines = outer;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int ch = 0; ch < NCHUNK; ch++) {
            float ga = 0.f, gb = 0.f, gc = 0.f, gd = 0.f;
            float *xp = malloc(sizeof(float) * (n + 4));
            float *gp = malloc(sizeof(float) * (n + 4));
            float *ev = calloc(n + 8, sizeof(float)), *od = calloc(n + 8, sizeof(float));
            for (long l = ch * lines / NCHUNK; l < (ch + 1) * lines / NCHUNK; l++) {
                const float *xo = x + l * n;
                const float *gl = g + l * size;
                pad_replicate(xo, n, 2, xp);
                /* ev[4 + m] = g[2m], od[4 + m] = g[2m + 1]; the rest stays 0 from calloc
                 * (with size = 2n - 1 every line leaves od[4 + n - 1] unwritten) */
                for (long m = 0; m < n; m++) ev[4 + m] = gl[2 * m];
                for (long m = 0; m < size / 2; m++) od[4 + m] = gl[2 * m + 1];
                const float *ge = ev + 4, *go = od + 4;
                for (long m = 0; m < n; m++) {
                    const float *p = xp + m;
                    ga += ge[m] * p[0] + go[m] * p[4];
                    gb += ge[m] * p[3] + go[m] * p[1];
                    gc += ge[m] * p[1] + go[m] * p[3];
                    gd += (ge[m] + go[m]) * p[2];
                }
                /* padded-input gradient: even[m] read xp[m..m+3] with (a, c, d, b), odd[m]
                 * xp[m+1..m+4] with (b, d, c, a) */
                for (long q = 0; q < n + 4; q++)
                    gp[q] = a * ge[q] + c * ge[q - 1] + d * ge[q - 2] + b * ge[q - 3] +
                            b * go[q - 1] + d * go[q - 2] + c * go[q - 3] + a * go[q - 4];
                float *gxo = gx + l * n;
                for (long j = 0; j < n; j++) gxo[j] = gp[j + 2];
                gxo[0] += gp[0] + gp[1];
                gxo[n - 1] += gp[n + 2] + gp[n + 3];
            }
            free(xp);
            free(gp);
            free(ev);
            free(od);
            store_taps(chunk_grads + ch * 4, ga, gb, gc, gd);
        }
        return;
    }
    /* rows: every operation runs along a whole row (inner samples) */
    const long items = outer * (n + 4);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int ch = 0; ch < NCHUNK; ch++) {
        float ga = 0.f, gb = 0.f, gc = 0.f, gd = 0.f;
        float *row = malloc(sizeof(float) * inner);
        for (long it = ch * items / NCHUNK; it < (ch + 1) * items / NCHUNK; it++) {
            const long o = it / (n + 4), q = it % (n + 4);
            const float *xo = x + o * n * inner, *go_ = g + o * size * inner;
            float *gxo = gx + o * n * inner;
            /* tap gradients: output pair m = q (when it exists) */
            if (q < n) {
                const long m = q;
                const float *p0 = xo + clampl(m - 2, n) * inner, *p1 = xo + clampl(m - 1, n) * inner,
                            *p2 = xo + m * inner, *p3 = xo + clampl(m + 1, n) * inner,
                            *p4 = xo + clampl(m + 2, n) * inner;
                const float *ge = go_ + 2 * m * inner;
                for (long i = 0; i < inner; i++) {
                    ga += ge[i] * p0[i];
                    gb += ge[i] * p3[i];
                    gc += ge[i] * p1[i];
                    gd += ge[i] * p2[i];
                }
                if (2 * m + 1 < size) {
                    const float *god = ge + inner;
                    for (long i = 0; i < inner; i++) {
                        ga += god[i] * p4[i];
                        gb += god[i] * p1[i];
                        gc += god[i] * p3[i];
                        gd += god[i] * p2[i];
                    }
                }
            }
            /* input gradient: padded row q lands on row clamp(q - 2); the border rows
             * 0, 1 and n + 2, n + 3 are added by the items of rows 0 and n - 1 */
            if (q < 2 || q >= n + 2) continue;
            const long j = q - 2;
            float *dst = gxo + j * inner;
            up_grad_padded_row(go_, n, inner, size, q, a, b, c, d, dst);
            if (j == 0)
                for (long e = 0; e < 2; e++) {
                    up_grad_padded_row(go_, n, inner, size, e, a, b, c, d, row);
                    for (long i = 0; i < inner; i++) dst[i] += row[i];
                }
            if (j == n - 1)
                for (long e = n + 2; e < n + 4; e++) {
                    up_grad_padded_row(go_, n, inner, size, e, a, b, c, d, row);
                    for (long i = 0; i < inner; i++) dst[i] += row[i];
                }
        }
        free(row);
        store_taps(chunk_grads + ch * 4, ga, gb, gc, gd);
    }
}

/* The latent pre-filter along one axis of x [outer][n][inner] (lnic.model.upsampling.
 * prefilter_axis): out[m] = c0 x[m] + sum_{j=1..3} c_j (x[m - j] + x[m + j]), borders
 * replicated, taps t = (c0, c1, c2, c3). */

void pre_forward(const float *x, long outer, long n, long inner, const float *t, float *out,
                 int nt) {
    const float c0 = t[0], c1 = t[1], c2 = t[2], c3 = t[3];
#pragma omp parallel for schedule(static) num_threads(nt)
    for (long o = 0; o < outer; o++) {
        const float *xo = x + o * n * inner;
        float *oo = out + o * n * inner;
        if (inner == 1) {
            float *xp = malloc(sizeof(float) * (n + 2 * PREFILTER_RADIUS));
            pad_replicate(xo, n, PREFILTER_RADIUS, xp);
            for (long m = 0; m < n; m++) {
                const float *p = xp + m + PREFILTER_RADIUS; /* p[k] = x[m + k] */
                oo[m] = c0 * p[0] + c1 * (p[-1] + p[1]) + c2 * (p[-2] + p[2]) +
                        c3 * (p[-3] + p[3]);
            }
            free(xp);
            continue;
        }
        for (long m = 0; m < n; m++) {
            const float *r0 = xo + m * inner;
            const float *a1 = xo + clampl(m - 1, n) * inner, *b1 = xo + clampl(m + 1, n) * inner;
            const float *a2 = xo + clampl(m - 2, n) * inner, *b2 = xo + clampl(m + 2, n) * inner;
            const float *a3 = xo + clampl(m - 3, n) * inner, *b3 = xo + clampl(m + 3, n) * inner;
            float *e = oo + m * inner;
            for (long i = 0; i < inner; i++)
                e[i] = c0 * r0[i] + c1 * (a1[i] + b1[i]) + c2 * (a2[i] + b2[i]) +
                       c3 * (a3[i] + b3[i]);
        }
    }
}

/* Row q (0 <= q < n + 6) of the gradient of the border-padded input (xp[q] = x[clamp(q - 3)]):
 * the outputs m = q - 3 + j, |j| <= 3, each read it with tap c_|j|. */
static inline void pre_grad_padded_row(const float *g, long n, long inner, long q,
                                       const float *c, float *dst) {
    for (long i = 0; i < inner; i++) dst[i] = 0.f;
    for (int j = -PREFILTER_RADIUS; j <= PREFILTER_RADIUS; j++) {
        const long m = q - PREFILTER_RADIUS + j;
        if (m < 0 || m >= n) continue;
        const float w = c[j < 0 ? -j : j], *gm = g + m * inner;
        for (long i = 0; i < inner; i++) dst[i] += w * gm[i];
    }
}

/* Given g [outer][n][inner]: gx [outer][n][inner] and chunk_grads [NCHUNK][4], the tap
 * gradients summed over NCHUNK fixed chunks (the result is thread-count free). */
void pre_backward(const float *x, long outer, long n, long inner, const float *t, const float *g,
                  float *gx, float *chunk_grads, int nt) {
    if (inner == 1) {
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int ch = 0; ch < NCHUNK; ch++) {
            float g0 = 0.f, g1 = 0.f, g2 = 0.f, g3 = 0.f;
            float *xp = malloc(sizeof(float) * (n + 2 * PREFILTER_RADIUS));
            /* gz[2R + m] = g[m], 0 outside */
            float *gz = calloc(n + 4 * PREFILTER_RADIUS, sizeof(float));
            float *gp = malloc(sizeof(float) * (n + 2 * PREFILTER_RADIUS));
            for (long l = ch * outer / NCHUNK; l < (ch + 1) * outer / NCHUNK; l++) {
                const float *xo = x + l * n, *gl = g + l * n;
                pad_replicate(xo, n, PREFILTER_RADIUS, xp);
                memcpy(gz + 2 * PREFILTER_RADIUS, gl, sizeof(float) * n);
                for (long m = 0; m < n; m++) {
                    const float *p = xp + m + PREFILTER_RADIUS;
                    g0 += gl[m] * p[0];
                    g1 += gl[m] * (p[-1] + p[1]);
                    g2 += gl[m] * (p[-2] + p[2]);
                    g3 += gl[m] * (p[-3] + p[3]);
                }
                /* padded-input gradient gp[q] = sum_j c_|j| g[q - 3 + j] */
                const float *z = gz + PREFILTER_RADIUS; /* z[q + j] = g[q - 3 + j] */
                for (long q = 0; q < n + 2 * PREFILTER_RADIUS; q++)
                    gp[q] = t[0] * z[q] + t[1] * (z[q - 1] + z[q + 1]) +
                            t[2] * (z[q - 2] + z[q + 2]) + t[3] * (z[q - 3] + z[q + 3]);
                float *gxo = gx + l * n;
                for (long j = 0; j < n; j++) gxo[j] = gp[j + PREFILTER_RADIUS];
                for (int r = 0; r < PREFILTER_RADIUS; r++) {
                    gxo[0] += gp[r];
                    gxo[n - 1] += gp[n + PREFILTER_RADIUS + r];
                }
            }
            free(xp);
            free(gz);
            free(gp);
            store_taps(chunk_grads + ch * 4, g0, g1, g2, g3);
        }
        return;
    }
    /* rows: every operation runs along a whole row (inner samples) */
    const long items = outer * n;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int ch = 0; ch < NCHUNK; ch++) {
        float g0 = 0.f, g1 = 0.f, g2 = 0.f, g3 = 0.f;
        float *row = malloc(sizeof(float) * inner);
        for (long it = ch * items / NCHUNK; it < (ch + 1) * items / NCHUNK; it++) {
            const long o = it / n, m = it % n;
            const float *xo = x + o * n * inner, *gm = g + (o * n + m) * inner;
            const float *r0 = xo + m * inner;
            const float *a1 = xo + clampl(m - 1, n) * inner, *b1 = xo + clampl(m + 1, n) * inner;
            const float *a2 = xo + clampl(m - 2, n) * inner, *b2 = xo + clampl(m + 2, n) * inner;
            const float *a3 = xo + clampl(m - 3, n) * inner, *b3 = xo + clampl(m + 3, n) * inner;
            for (long i = 0; i < inner; i++) {
                g0 += gm[i] * r0[i];
                g1 += gm[i] * (a1[i] + b1[i]);
                g2 += gm[i] * (a2[i] + b2[i]);
                g3 += gm[i] * (a3[i] + b3[i]);
            }
            /* input gradient: padded row m + 3 lands on row m; the border rows 0..2 and
             * n + 3..n + 5 are added by the items of rows 0 and n - 1 */
            const float *go = g + o * n * inner;
            float *dst = gx + (o * n + m) * inner;
            pre_grad_padded_row(go, n, inner, m + PREFILTER_RADIUS, t, dst);
            if (m == 0)
                for (long q = 0; q < PREFILTER_RADIUS; q++) {
                    pre_grad_padded_row(go, n, inner, q, t, row);
                    for (long i = 0; i < inner; i++) dst[i] += row[i];
                }
            if (m == n - 1)
                for (long q = n + PREFILTER_RADIUS; q < n + 2 * PREFILTER_RADIUS; q++) {
                    pre_grad_padded_row(go, n, inner, q, t, row);
                    for (long i = 0; i < inner; i++) dst[i] += row[i];
                }
        }
        free(row);
        store_taps(chunk_grads + ch * 4, g0, g1, g2, g3);
    }
}
