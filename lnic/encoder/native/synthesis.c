#include "dense.h"

#define MAXC 4 /* channels the residual convolutions keep in registers (more: a slower path) */
#define XV 3    /* pixel vectors per step of the 3x3 convolutions (conv3_rows) */

/* Synthesis MLP: x [K][N] -> out [C][N] = w2 relu(w1 x + b1) + b2;
 * params = w1 [H][K], b1 [H], w2 [C][H], b2 [C]. */

void mlp2_forward(const float *x, long N, int K, int H, int C, const float *p, float *out, int nt) {
    const long nblk = (N + B - 1) / B;
    const float *w1 = p, *b1 = w1 + H * K, *w2 = b1 + H, *b2 = w2 + C * H;
    float *buf = malloc(sizeof(float) * (LAYER_FLOATS(K, H) + LAYER_FLOATS(H, C)));
    const Layer l1 = pack_dense(w1, b1, K, H, buf),
                l2 = pack_dense(w2, b2, H, C, buf + LAYER_FLOATS(K, H));
#pragma omp parallel for schedule(static) num_threads(nt)
    for (long blk = 0; blk < nblk; blk++) {
        float h[MAX_HIDDEN * B], o[MAX_IN * B], tmp[MAX_IN * B];
        const long s = blk * B;
        const int m = N - s < B ? (int)(N - s) : B;
        long ld;
        const float *xb = block_in(x, N, K, s, m, tmp, &ld);
        apply_layer(xb, ld, &l1, 1, h);
        apply_layer(h, B, &l2, 0, o);
        for (int k = 0; k < C; k++) memcpy(out + k * N + s, o + k * B, sizeof(float) * m);
    }
    free(buf);
}

/* Given gout [C][N]: gx [K][N] (if not NULL) and chunk_grads [NCHUNK][P]. A chunk's blocks go
 * in groups of GRAD_GROUP: each block's activations and input gradients first, then the weight
 * gradients of the whole group (GradGroup). The weight gradients are estimated from the
 * blocks with blk % wstride == wphase, times wstride (wstride 1: exact). */
void mlp2_backward(const float *x, long N, int K, int H, int C, const float *p,
                   const float *gout, float *gx, float *chunk_grads, int wstride, int wphase,
                   int nt) {
    const long nblk = (N + B - 1) / B;
    const int P = H * K + H + C * H + C;
    const float *w1 = p, *b1 = w1 + H * K, *w2 = b1 + H;
    /* the first layer, and the transposes of both (the input gradients) */
    const long n1 = LAYER_FLOATS(K, H), n2 = LAYER_FLOATS(C, H);
    float *buf = malloc(sizeof(float) * (n1 + n2 + LAYER_FLOATS(H, K)));
    const Layer l1 = pack_dense(w1, b1, K, H, buf), t2 = pack_transpose(w2, H, C, buf + n1),
                t1 = pack_transpose(w1, K, H, buf + n1 + n2);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int c = 0; c < NCHUNK; c++) {
        /* per block of a group: hidden activations and their gradient [H][B], the output
         * gradient [C][B], and the inputs' zero-padded copy for a partial block [K][B] */
        float *scratch = malloc(sizeof(float) * GRAD_GROUP * B * (2 * H + C + K));
        float *acc = calloc((size_t)P * LANES, sizeof(float));
        float *gw1 = acc, *gb1 = gw1 + H * K * LANES, *gw2 = gb1 + H * LANES,
              *gb2 = gw2 + C * H * LANES;
        float gt[MAX_IN * B], gxb[MAX_IN * B];
        GradGroup gg1 = {0}, gg2 = {0}; /* the two layers' weight-gradient groups */
        const long first = c * nblk / NCHUNK, last = (c + 1) * nblk / NCHUNK;
        for (long blk0 = first; blk0 < last; blk0 += GRAD_GROUP) {
            const int ns = last - blk0 < GRAD_GROUP ? (int)(last - blk0) : GRAD_GROUP;
            for (int g = 0; g < ns; g++) {
                float *h = scratch + (long)g * B * (2 * H + C + K), *gh = h + H * B,
                      *go = gh + H * B, *tmp = go + C * B;
                const long s = (blk0 + g) * B;
                const int m = N - s < B ? (int)(N - s) : B;
                long ld, ldg;
                const float *xb = block_in(x, N, K, s, m, tmp, &ld);
                const float *gb = block_in(gout, N, C, s, m, gt, &ldg);
                for (int k = 0; k < C; k++) memcpy(go + k * B, gb + k * ldg, sizeof(float) * B);
                apply_layer(xb, ld, &l1, 1, h);
                apply_layer(go, B, &t2, 0, gh);
                mask_relu(gh, h, H);
                if (gx != NULL) {
                    apply_layer(gh, B, &t1, 0, gxb);
                    for (int k = 0; k < K; k++)
                        memcpy(gx + k * N + s, gxb + k * B, sizeof(float) * m);
                }
                if ((blk0 + g) % wstride != wphase) continue;
                group_add(&gg2, h, B, go);
                group_add(&gg1, xb, ld, gh);
            }
            group_grads(&gg2, H, C, gw2, gb2);
            group_grads(&gg1, K, H, gw1, gb1);
        }
        sum_lanes(acc, P, (float)wstride, chunk_grads + (long)c * P);
        free(acc);
        free(scratch);
    }
    free(buf);
}

/* ------------------------------------------------------------------------------------------ */
/* Residual 3x3 convolution with replicated borders, C -> C channels, [C][H][W]:
 * out = y + b + conv(act(y)), act = relu if relu else identity (lnic.encoder.nets.synthesis). */

static inline float act(float v, int relu) { return relu && v < 0.f ? 0.f : v; }

/* dst[i * 9 + kx] += sum_x g[x] * rows[i][x + kx] for i < C, kx < 3 (one tap row of the weight
 * gradient; rows have stride ld). With C a constant (inlined), the 3C sums are vector
 * accumulators in registers, each loaded g vector used 3C times (one dot product at a time
 * would wait on its chain of dependent adds). */
static inline __attribute__((always_inline)) void
conv_taps_grad(const float *g, long W, const float *rows, long ld, int C, float *dst) {
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

/* out[o][x] = init[o][x] + bias[o] + sum_{i, ky, kx} wt(o, i, ky, kx) * rows[i * 3 + ky][x + kx]
 * for o < C, x < n (init, bias: NULL for zero; wt(o, i, ky, kx) = wt[((o * so + i * si) + ky * 3
 * + kx)] with the kx taps reversed if flip). With C a constant (inlined), a vector of every output
 * channel stays in registers and each loaded input vector serves all C of them: a 3 -> 3
 * convolution is then 27 loads and 81 multiply-adds per LANES pixels instead of 81 passes over
 * the row. */
static inline __attribute__((always_inline)) void
conv3_rows(const float *const *rows, const float *wt, long so, long si, int flip, int C, long n,
           const float *const *init, const float *bias, float *const *out) {
    float wk[MAXC][MAXC][9];
    for (int o = 0; o < C; o++)
        for (int i = 0; i < C; i++)
            for (int t = 0; t < 9; t++)
                wk[o][i][t] = wt[o * so + i * si + (t / 3) * 3 + (flip ? 2 - t % 3 : t % 3)];
    long x = 0;
    /* XV vectors of pixels at a time: C * XV independent accumulators, enough to hide the
     * multiply-add's latency (with C = 3 and one vector, each accumulator's 27 dependent adds
     * bound the loop), and with C = 3 few enough for 16 vector registers (4 vectors spilled:
     * the forward took 2.6 ms instead of 1.9 on 768x512, one thread of a Zen 2); each
     * accumulator sums in the same order as the one-vector loop below */
    for (; x + XV * LANES <= n; x += XV * LANES) {
        vf acc[MAXC][XV];
        for (int o = 0; o < C; o++)
            for (int v = 0; v < XV; v++) {
                acc[o][v] = init ? LDV(init[o] + x + v * LANES) : (vf){};
                if (bias) acc[o][v] += bias[o];
            }
        for (int i = 0; i < C; i++)
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    const float *r = rows[i * 3 + ky] + x + kx;
                    for (int v = 0; v < XV; v++) {
                        const vf xv = LDV(r + v * LANES);
                        for (int o = 0; o < C; o++) acc[o][v] += wk[o][i][ky * 3 + kx] * xv;
                    }
                }
        for (int o = 0; o < C; o++)
            for (int v = 0; v < XV; v++) STV(out[o] + x + v * LANES, acc[o][v]);
    }
    for (; x + LANES <= n; x += LANES) {
        vf acc[MAXC];
        for (int o = 0; o < C; o++) {
            acc[o] = init ? LDV(init[o] + x) : (vf){};
            if (bias) acc[o] += bias[o];
        }
        for (int i = 0; i < C; i++)
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++) {
                    const vf v = LDV(rows[i * 3 + ky] + x + kx);
                    for (int o = 0; o < C; o++) acc[o] += wk[o][i][ky * 3 + kx] * v;
                }
        for (int o = 0; o < C; o++) STV(out[o] + x, acc[o]);
    }
    for (; x < n; x++)
        for (int o = 0; o < C; o++) {
            float a = (init ? init[o][x] : 0.f) + (bias ? bias[o] : 0.f);
            for (int i = 0; i < C; i++)
                for (int t = 0; t < 9; t++) a += wk[o][i][t] * rows[i * 3 + t / 3][x + t % 3];
            out[o][x] = a;
        }
}

/* conv3_rows with C a compile-time constant for C = 1 .. MAXC (more channels: one output channel
 * at a time through the same code, which then keeps nothing in registers). */
static void conv3_rows_c(const float *const *rows, const float *wt, long so, long si, int flip,
                         int C, long n, const float *const *init, const float *bias,
                         float *const *out) {
    switch (C) {
    case 1: conv3_rows(rows, wt, so, si, flip, 1, n, init, bias, out); break;
    case 2: conv3_rows(rows, wt, so, si, flip, 2, n, init, bias, out); break;
    case 3: conv3_rows(rows, wt, so, si, flip, 3, n, init, bias, out); break;
    case 4: conv3_rows(rows, wt, so, si, flip, 4, n, init, bias, out); break;
    default:
        for (long x = 0; x < n; x++)
            for (int o = 0; o < C; o++) {
                float a = (init ? init[o][x] : 0.f) + (bias ? bias[o] : 0.f);
                for (int i = 0; i < C; i++)
                    for (int t = 0; t < 9; t++)
                        a += wt[o * so + i * si + (t / 3) * 3 + (flip ? 2 - t % 3 : t % 3)] *
                             rows[i * 3 + t / 3][x + t % 3];
                out[o][x] = a;
            }
    }
}

void resconv_forward(const float *y, long H, long W, int C, const float *w, const float *b,
                     int relu, float *out, int nt) {
#pragma omp parallel num_threads(nt)
    {
        /* act(y) of rows r-1, r, r+1 (clamped), columns padded: [C][3][W + 2] */
        float *buf = malloc(sizeof(float) * C * 3 * (W + 2));
        const float *rows[C * 3];
        const float *init[C];
        float *dst[C];
        for (int t = 0; t < C * 3; t++) rows[t] = buf + t * (W + 2);
#pragma omp for schedule(static)
        for (long r = 0; r < H; r++) {
            for (int i = 0; i < C; i++)
                for (int ky = 0; ky < 3; ky++) {
                    const float *src = y + ((long)i * H + clampl(r + ky - 1, H)) * W;
                    float *row = buf + (i * 3 + ky) * (W + 2);
                    for (long x = 0; x < W; x++) row[x + 1] = act(src[x], relu);
                    row[0] = row[1];
                    row[W + 1] = row[W];
                }
            for (int o = 0; o < C; o++) {
                init[o] = y + ((long)o * H + r) * W;
                dst[o] = out + ((long)o * H + r) * W;
            }
            conv3_rows_c(rows, w, C * 9, 9, 0, C, W, init, b, dst);
        }
        free(buf);
    }
}

/* Row q of the gradient of act(y) padded by one on each side: into dst[i] [W + 2],
 * dst[i][x] = sum_{o, ky, kx} w(o, i, ky, kx) g[o][q - ky][x - kx] (g zero outside), a 3x3
 * convolution of g with the weights transposed in (o, i) and reversed in kx; buf [C][3][W + 4]
 * holds the rows of g with two zeros at each end. */
static void grad_padded_row(const float *g, long H, long W, int C, const float *w, long q,
                            float *buf, float *const *dst) {
    const float *rows[C * 3];
    for (int o = 0; o < C; o++)
        for (int ky = 0; ky < 3; ky++) {
            const long pr = q - ky; /* the output row whose tap ky reads padded row q */
            float *row = buf + (o * 3 + ky) * (W + 4);
            if (pr < 0 || pr >= H)
                memset(row + 2, 0, sizeof(float) * W);
            else
                memcpy(row + 2, g + ((long)o * H + pr) * W, sizeof(float) * W);
            rows[o * 3 + ky] = row;
        }
    /* output channel i of this convolution reads input channel o through w(o, i) */
    conv3_rows_c(rows, w, 9, C * 9, 1, C, W + 2, NULL, NULL, dst);
}

/* Given g = d loss / d out: gy [C][H][W] and chunk_grads [NCHUNK][C*C*9 + C] (weights, then
 * biases). */
void resconv_backward(const float *y, long H, long W, int C, const float *w, int relu,
                      const float *g, float *gy, float *chunk_grads, int nt) {
    const long Wp = W + 2;
    const int P = C * C * 9 + C;
    /* gy = g + act'(y) * (the padded gradient with the replicated border folded back onto the
     * edge pixels), one row at a time: padded row r + 1, plus rows 0 and H + 1 at the edges */
#pragma omp parallel num_threads(nt)
    {
        float *buf = calloc((size_t)C * 3 * (W + 4), sizeof(float));
        float *rowbuf = malloc(sizeof(float) * 2 * C * Wp);
        float *row[C], *edge[C];
        for (int i = 0; i < C; i++) {
            row[i] = rowbuf + i * Wp;
            edge[i] = rowbuf + (C + i) * Wp;
        }
#pragma omp for schedule(static)
        for (long r = 0; r < H; r++) {
            grad_padded_row(g, H, W, C, w, r + 1, buf, row);
            for (int side = 0; side < 2; side++) {
                if (!(side == 0 ? r == 0 : r == H - 1)) continue;
                grad_padded_row(g, H, W, C, w, side == 0 ? 0 : H + 1, buf, edge);
                for (int i = 0; i < C; i++)
                    for (long x = 0; x < Wp; x++) row[i][x] += edge[i][x];
            }
            for (int i = 0; i < C; i++) {
                float *src = row[i];
                src[1] += src[0];
                src[W] += src[W + 1];
                const float *yr = y + ((long)i * H + r) * W;
                const float *gr = g + ((long)i * H + r) * W;
                float *dst = gy + ((long)i * H + r) * W;
                for (long x = 0; x < W; x++)
                    dst[x] = gr[x] + ((!relu || yr[x] > 0.f) ? src[x + 1] : 0.f);
            }
        }
        free(rowbuf);
        free(buf);
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

