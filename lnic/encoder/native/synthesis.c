#include "dense.h"

#define MAXC 4 /* input channels per pass of the residual convolutions' weight gradient */

/* Synthesis MLP: x [K][N] -> out [C][N] = w2 relu(w1 x + b1) + b2;
 * params = w1 [H][K], b1 [H], w2 [C][H], b2 [C]. */

void mlp2_forward(const float *x, long N, int K, int H, int C, const float *p, float *out, int nt) {
    const long nblk = (N + B - 1) / B;
    const float *w1 = p, *b1 = w1 + H * K, *w2 = b1 + H, *b2 = w2 + C * H;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (long blk = 0; blk < nblk; blk++) {
        float h[MAX_HIDDEN * B], o[MAX_IN * B], tmp[MAX_IN * B];
        const long s = blk * B;
        const int m = N - s < B ? (int)(N - s) : B;
        long ld;
        const float *xb = block_in(x, N, K, s, m, tmp, &ld);
        dense(xb, ld, K, w1, b1, H, 1, h);
        dense(h, B, H, w2, b2, C, 0, o);
        for (int k = 0; k < C; k++) memcpy(out + k * N + s, o + k * B, sizeof(float) * m);
    }
}

/* Given gout [C][N]: gx [K][N] (if not NULL) and chunk_grads [NCHUNK][P]. */
void mlp2_backward(const float *x, long N, int K, int H, int C, const float *p,
                   const float *gout, float *gx, float *chunk_grads, int nt) {
    const long nblk = (N + B - 1) / B;
    const int P = H * K + H + C * H + C;
    const float *w1 = p, *b1 = w1 + H * K, *w2 = b1 + H;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int c = 0; c < NCHUNK; c++) {
        float h[MAX_HIDDEN * B], tmp[MAX_IN * B], gt[MAX_IN * B], gh[MAX_HIDDEN * B],
            gxb[MAX_IN * B];
        float *acc = calloc((size_t)P * LANES, sizeof(float));
        float *gw1 = acc, *gb1 = gw1 + H * K * LANES, *gw2 = gb1 + H * LANES,
              *gb2 = gw2 + C * H * LANES;
        for (long blk = c * nblk / NCHUNK; blk < (c + 1) * nblk / NCHUNK; blk++) {
            const long s = blk * B;
            const int m = N - s < B ? (int)(N - s) : B;
            long ld, ldg;
            const float *xb = block_in(x, N, K, s, m, tmp, &ld);
            const float *gb = block_in(gout, N, C, s, m, gt, &ldg);
            float go[MAX_IN * B];
            for (int k = 0; k < C; k++) memcpy(go + k * B, gb + k * ldg, sizeof(float) * B);
            dense(xb, ld, K, w1, b1, H, 1, h);
            dense_backward(h, B, H, w2, C, go, gw2, gb2, gh);
            mask_relu(gh, h, H);
            dense_backward(xb, ld, K, w1, H, gh, gw1, gb1, gx == NULL ? NULL : gxb);
            if (gx != NULL)
                for (int k = 0; k < K; k++) memcpy(gx + k * N + s, gxb + k * B, sizeof(float) * m);
        }
        sum_lanes(acc, P, chunk_grads + (long)c * P);
        free(acc);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* Residual 3x3 convolution with replicated borders, C -> C channels, [C][H][W]:
 * out = y + b + conv(act(y)), act = relu if relu else identity (lnic.encoder.nets.synthesis). */

static inline float act(float v, int relu) { return relu && v < 0.f ? 0.f : v; }

/* dst[i * 9 + kx] += sum_x g[x] * rows[i][x + kx] for i < C, kx < 3 (one tap row of the weight
 * gradient; rows have stride ld). With C a constant (inlined), the 3C sums are vector
 * accumulators in registers, each loaded g vector used 3C times (one dot product at a time
 * would wait on its chain of dependent adds). */
static inline void conv_taps_grad(const float *g, long W, const float *rows, long ld, int C,
                                  float *dst) {
    vf acc[MAXC * 3];
    for (int t = 0; t < 3 * C; t++) acc[t] = (vf){};
    long x = 0;
    for (; x + LANES <= W; x += LANES) {
        const vf gv = LDV(g + x);
        for (int i = 0; i < C; i++)
            for (int kx = 0; kx < 3; kx++) acc[i * 3 + kx] += gv * LDV(rows + i * ld + x + kx);
    }
    for (int i = 0; i < C; i++)
        for (int kx = 0; kx < 3; kx++) {
            float sum = 0.f;
            for (int l = 0; l < LANES; l++) sum += acc[i * 3 + kx][l];
            for (long t = x; t < W; t++) sum += g[t] * rows[i * ld + t + kx];
            dst[i * 9 + kx] += sum;
        }
}

void resconv_forward(const float *y, long H, long W, int C, const float *w, const float *b,
                     int relu, float *out, int nt) {
#pragma omp parallel for schedule(static) num_threads(nt)
    for (long r = 0; r < H; r++) {
        /* act(y) of rows r-1, r, r+1 (clamped), columns padded: [C][3][W + 2] */
        float (*row)[3][W + 2] = malloc(sizeof(float) * C * 3 * (W + 2));
        for (int i = 0; i < C; i++)
            for (int ky = 0; ky < 3; ky++) {
                long sr = r + ky - 1;
                sr = sr < 0 ? 0 : (sr >= H ? H - 1 : sr);
                const float *src = y + ((long)i * H + sr) * W;
                for (long x = 0; x < W; x++) row[i][ky][x + 1] = act(src[x], relu);
                row[i][ky][0] = row[i][ky][1];
                row[i][ky][W + 1] = row[i][ky][W];
            }
        for (int o = 0; o < C; o++) {
            float *dst = out + ((long)o * H + r) * W;
            const float *res = y + ((long)o * H + r) * W;
            for (long x = 0; x < W; x++) dst[x] = res[x] + b[o];
            for (int i = 0; i < C; i++)
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        const float wk = w[((o * C + i) * 3 + ky) * 3 + kx];
                        const float *s = row[i][ky] + kx;
                        for (long x = 0; x < W; x++) dst[x] += wk * s[x];
                    }
        }
        free(row);
    }
}

/* Given g = d loss / d out: gy [C][H][W], chunk_grads [NCHUNK][C*C*9 + C] (weights, then
 * biases), gpad: scratch [C][H+2][W+2]. */
void resconv_backward(const float *y, long H, long W, int C, const float *w, int relu,
                      const float *g, float *gy, float *gpad, float *chunk_grads, int nt) {
    const long Wp = W + 2, Hp = H + 2;
    const int P = C * C * 9 + C;
    /* gradient of the padded activation, row by row (a gather: rows are independent) */
#pragma omp parallel for schedule(static) num_threads(nt)
    for (long q = 0; q < Hp; q++) {
        for (int i = 0; i < C; i++) {
            float *dst = gpad + ((long)i * Hp + q) * Wp;
            for (long x = 0; x < Wp; x++) dst[x] = 0.f;
            for (int ky = 0; ky < 3; ky++) {
                const long pr = q - ky; /* output row whose tap ky reads padded row q */
                if (pr < 0 || pr >= H) continue;
                for (int o = 0; o < C; o++) {
                    const float *gr = g + ((long)o * H + pr) * W;
                    for (int kx = 0; kx < 3; kx++) {
                        const float wk = w[((o * C + i) * 3 + ky) * 3 + kx];
                        float *d = dst + kx;
                        for (long x = 0; x < W; x++) d[x] += wk * gr[x];
                    }
                }
            }
        }
    }
    /* fold the replicated border back onto the edge pixels, then gy = g + act'(y) * that */
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int i = 0; i < C; i++) {
        float *gp = gpad + (long)i * Hp * Wp;
        for (long x = 0; x < Wp; x++) {
            gp[Wp + x] += gp[x];
            gp[H * Wp + x] += gp[(H + 1) * Wp + x];
        }
        for (long r = 1; r <= H; r++) {
            gp[r * Wp + 1] += gp[r * Wp];
            gp[r * Wp + W] += gp[r * Wp + W + 1];
        }
        for (long r = 0; r < H; r++) {
            const float *src = gp + (r + 1) * Wp + 1;
            const float *yr = y + ((long)i * H + r) * W;
            const float *gr = g + ((long)i * H + r) * W;
            float *dst = gy + ((long)i * H + r) * W;
            for (long x = 0; x < W; x++)
                dst[x] = gr[x] + ((!relu || yr[x] > 0.f) ? src[x] : 0.f);
        }
    }
    /* weight and bias gradients over NCHUNK fixed chunks of rows */
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int c = 0; c < NCHUNK; c++) {
        float *gp = chunk_grads + (long)c * P;
        memset(gp, 0, sizeof(float) * P);
        float (*row)[W + 2] = malloc(sizeof(float) * C * (W + 2));
        for (long r = c * H / NCHUNK; r < (c + 1) * H / NCHUNK; r++) {
            for (int ky = 0; ky < 3; ky++) {
                long sr = r + ky - 1;
                sr = sr < 0 ? 0 : (sr >= H ? H - 1 : sr);
                for (int i = 0; i < C; i++) {
                    const float *src = y + ((long)i * H + sr) * W;
                    for (long x = 0; x < W; x++) row[i][x + 1] = act(src[x], relu);
                    row[i][0] = row[i][1];
                    row[i][W + 1] = row[i][W];
                }
                for (int o = 0; o < C; o++) {
                    const float *gr = g + ((long)o * H + r) * W;
                    float *dst = gp + (long)o * C * 9 + ky * 3;
                    if (C == 3) /* constant C: the accumulators live in registers */
                        conv_taps_grad(gr, W, &row[0][0], W + 2, 3, dst);
                    else if (C == 1)
                        conv_taps_grad(gr, W, &row[0][0], W + 2, 1, dst);
                    else /* input channels in groups of at most MAXC */
                        for (int i0 = 0; i0 < C; i0 += MAXC)
                            conv_taps_grad(gr, W, &row[i0][0], W + 2,
                                           C - i0 < MAXC ? C - i0 : MAXC, dst + i0 * 9);
                }
            }
            for (int o = 0; o < C; o++) {
                const float *gr = g + ((long)o * H + r) * W;
                float acc = 0.f;
                for (long x = 0; x < W; x++) acc += gr[x];
                gp[C * C * 9 + o] += acc;
            }
        }
        free(row);
    }
}

