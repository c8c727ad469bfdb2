/* The decoder's pixel stages in C: the row pass of the x2 upsampling steps, the synthesis' two
 * 1x1 layers on a block of upsampled pixels and a folded 3x3 convolution on a band of rows,
 * with the same arithmetic as the numpy code of lnic/decoder/upsampling.py and synthesis.py
 * (their folded matrices and taps, their layouts).
 *
 * Every value is an integer multiple of a power of two far below 2^53, so float64 products
 * and sums are exact in any order, vectorised or fused, and every machine gets the same
 * pixels (lnic/bitstream/native/exact_vec.h: the floor, the dense layer).
 * lnic/decoder/c_kernels.py compiles this file and passes BLOCK (pixels per block) as -D.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#ifndef BLOCK
#error "compile through lnic/decoder/c_kernels.py: it defines BLOCK"
#endif

#include "../../bitstream/native/exact_vec.h"

/* The two 1x1 layers on pixels 0..n-1 of z [k1, ldz apart] (the last row ones):
 * hidden = clip(floor(lin1 . z), 0, hidden_hi) [h1 rows, the last carrying the one], then
 * y = clip(floor(lin2 . hidden), -y_lim, y_lim) for the first c of lin2's h2 rows; pixel p goes
 * to y[ch * y_plane + (p / width) * y_row + p % width]. */
void synth_pointwise(const double *z, int64_t ldz, int64_t n, const double *lin1, int64_t h1,
                     int64_t k1, const double *lin2, int64_t h2, int64_t c, double hidden_hi,
                     double y_lim, double *y, int64_t y_plane, int64_t y_row, int64_t width) {
#pragma omp parallel
    { /* each thread keeps its block's values on its own stack */
        double zb[k1 * BLOCK], hb[h1 * BLOCK], ob[h2 * BLOCK];
#pragma omp for schedule(static)
        for (int64_t p0 = 0; p0 < n; p0 += BLOCK) {
            int64_t b = n - p0 < BLOCK ? n - p0 : BLOCK;
            const double *x = z + p0;
            int64_t ldx = ldz;
            if (b < BLOCK) { /* the last, partial block: zero-padded copy (no read past the rows) */
                for (int64_t i = 0; i < k1; i++) {
                    memcpy(zb + i * BLOCK, z + i * ldz + p0, (size_t)b * sizeof(double));
                    memset(zb + i * BLOCK + b, 0, (size_t)(BLOCK - b) * sizeof(double));
                }
                x = zb;
                ldx = BLOCK;
            }
            layer_block(lin1, h1, k1, x, ldx, hb, NULL, NULL, 0.0, hidden_hi);
            layer_block(lin2, h2, h1, hb, BLOCK, ob, NULL, NULL, -y_lim, y_lim);
            int64_t r = p0 / width, col = p0 % width;
            for (int64_t j = 0; j < b; j++) {
                for (int64_t ch = 0; ch < c; ch++)
                    y[ch * y_plane + r * y_row + col] = ob[ch * BLOCK + j];
                if (++col == width) {
                    col = 0;
                    r++;
                }
            }
        }
    }
}

/* A folded 3x3 convolution: out[oc * out_stride + k] = clip(floor(m[oc, -1] + sum over
 * (ch, dy, dx) of m[oc, ch * 9 + dy * 3 + dx] * in[ch * plane + dy * wp + dx + k]), -lim,
 * lim) for k in 0..len-1, with m [c, 9 c + 1] and in pointing at the first window's first
 * element (the numpy code's im2col rows). */
void synth_conv3x3(const double *in, int64_t plane, int64_t wp, int64_t len, const double *m,
                   int64_t c, double lim, double *out, int64_t out_stride) {
    int64_t taps = 9 * c, full = len / BLOCK * BLOCK;
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < full; k += BLOCK) {
        for (int64_t oc = 0; oc < c; oc++) {
            const double *mo = m + oc * (taps + 1);
            dv acc[VB];
            for (int v = 0; v < VB; v++) acc[v] = splat(mo[taps]);
            for (int64_t ch = 0; ch < c; ch++)
                for (int dy = 0; dy < 3; dy++)
                    for (int dx = 0; dx < 3; dx++) {
                        dv wt = splat(mo[ch * 9 + dy * 3 + dx]);
                        const double *src = in + ch * plane + dy * wp + dx + k;
                        for (int v = 0; v < VB; v++) acc[v] += wt * *(const dv *)(src + 4 * v);
                    }
            for (int v = 0; v < VB; v++)
                *(dv *)(out + oc * out_stride + k + 4 * v) = clampv(vfloor(acc[v]), -lim, lim);
        }
    }
    for (int64_t k = full; k < len; k++)
        for (int64_t oc = 0; oc < c; oc++) {
            const double *mo = m + oc * (taps + 1);
            double a = mo[taps];
            for (int64_t ch = 0; ch < c; ch++)
                for (int dy = 0; dy < 3; dy++)
                    for (int dx = 0; dx < 3; dx++)
                        a += mo[ch * 9 + dy * 3 + dx] * in[ch * plane + dy * wp + dx + k];
            a = floor(a);
            out[oc * out_stride + k] = a < -lim ? -lim : (a > lim ? lim : a);
        }
}

/* The row pass of a x2 upsampling step: output rows r0..r1-1 of every channel,
 * out[ch * out_plane + (o - r0) * out_row + x] = clip(floor(sum over t of
 * phases[o % 2][t] * in[ch * in_plane + clip(o / 2 - 2 + t, 0, hc - 1) * in_row + x] + 1/2),
 * -lim, lim) for x in 0..w-1 (phases: [2][5], lnic.model.upsampling.polyphase_taps). */
void up_rows(const double *in, int64_t channels, int64_t hc, int64_t w, int64_t in_plane,
             int64_t in_row, const double *phases, int64_t r0, int64_t r1, double *out,
             int64_t out_plane, int64_t out_row, double lim) {
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t ch = 0; ch < channels; ch++)
        for (int64_t o = r0; o < r1; o++) {
            const double *ph = phases + 5 * (o % 2);
            const double *src[5];
            double wt[5];
            int nt = 0;
            for (int t = 0; t < 5; t++) {
                if (ph[t] == 0.0) continue;
                int64_t r = o / 2 - 2 + t;
                r = r < 0 ? 0 : (r > hc - 1 ? hc - 1 : r);
                src[nt] = in + ch * in_plane + r * in_row;
                wt[nt++] = ph[t];
            }
            double *dst = out + ch * out_plane + (o - r0) * out_row;
            int64_t x = 0;
            for (; x + 4 <= w; x += 4) {
                dv acc = splat(0.5);
                for (int t = 0; t < nt; t++) acc += splat(wt[t]) * *(const dv *)(src[t] + x);
                *(dv *)(dst + x) = clampv(vfloor(acc), -lim, lim);
            }
            for (; x < w; x++) {
                double a = 0.5;
                for (int t = 0; t < nt; t++) a += wt[t] * src[t][x];
                a = floor(a);
                dst[x] = a < -lim ? -lim : (a > lim ? lim : a);
            }
        }
}

static inline int64_t clampi(int64_t v, int64_t hi) { return v < 0 ? 0 : (v > hi ? hi : v); }

/* The column pass of a x2 upsampling step on rows rows of wc samples (in: rows in_row apart):
 * out[r * out_row + 2 m + p] = clip(floor(sum over t of phases[p][t] * in[r, clip(m - 2 + t,
 * 0, wc - 1)] + 1/2), -lim, lim) for the first w outputs of each row. */
void up_columns(const double *in, int64_t rows, int64_t wc, int64_t in_row, const double *phases,
                int64_t w, double *out, int64_t out_row, double lim) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        const double *x = in + r * in_row;
        double *y = out + r * out_row;
        for (int64_t j = 0; j < w; j++) {
            int64_t m = j >> 1;
            const double *ph = phases + 5 * (j & 1);
            double a = 0.5;
            if (m >= 2 && m + 2 < wc) {
                for (int t = 0; t < 5; t++) a += ph[t] * x[m - 2 + t];
            } else {
                for (int t = 0; t < 5; t++) a += ph[t] * x[clampi(m - 2 + t, wc - 1)];
            }
            a = floor(a);
            y[j] = a < -lim ? -lim : (a > lim ? lim : a);
        }
    }
}

/* One axis of the pre-filter on a grid of h x w samples (in and out: rows w apart):
 * out[i] = clip(floor(scale * (c0 x[i] + sum over j of c_j (x[i - j] + x[i + j])) + 1/2), -lim,
 * lim) along the rows (axis 1) or the columns (axis 0), borders replicated; taps: c0..c_radius,
 * scale: the input's fixed-point scale times 2^-e (folded into the taps, exact). */
void prefilter_axis(const double *in, int64_t h, int64_t w, int64_t axis, const double *taps,
                    int64_t radius, double scale, double *out, double lim) {
    double c[16];
    for (int64_t j = 0; j <= radius; j++) c[j] = taps[j] * scale;
    if (axis == 1) {
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < h; r++) {
            const double *x = in + r * w;
            double *y = out + r * w;
            for (int64_t i = 0; i < w; i++) {
                double a = c[0] * x[i];
                for (int64_t j = 1; j <= radius; j++)
                    a += c[j] * (x[clampi(i - j, w - 1)] + x[clampi(i + j, w - 1)]);
                a = floor(a + 0.5);
                y[i] = a < -lim ? -lim : (a > lim ? lim : a);
            }
        }
    } else {
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < h; r++) {
            double *y = out + r * w;
            const double *row0 = in + r * w;
            for (int64_t i = 0; i < w; i++) y[i] = c[0] * row0[i];
            for (int64_t j = 1; j <= radius; j++) {
                const double *up = in + clampi(r - j, h - 1) * w;
                const double *dn = in + clampi(r + j, h - 1) * w;
                for (int64_t i = 0; i < w; i++) y[i] += c[j] * (up[i] + dn[i]);
            }
            for (int64_t i = 0; i < w; i++) {
                double a = floor(y[i] + 0.5);
                y[i] = a < -lim ? -lim : (a > lim ? lim : a);
            }
        }
    }
}
