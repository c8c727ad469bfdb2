/* The dense layers of the per-sample MLPs (ARM and synthesis) over blocks of B samples:
 * forward and backward with register tiles of vector accumulators. */
#ifndef LNIC_KERNELS_DENSE_H
#define LNIC_KERNELS_DENSE_H

#include "common.h"

static const float ZERO_BLOCK[B] __attribute__((aligned(64)));
static inline vf relu_v(vf v) {
    for (int l = 0; l < LANES; l++) v[l] = v[l] > 0.f ? v[l] : 0.f;
    return v;
}

/* A dense layer's weights in the order affine_run reads them, packed once per kernel call (per
 * thread) rather than once per block: tiles of JT outputs, wt [tiles][JT][n_in] with the
 * outputs past n_out zero, and biases bt [tiles][JT]. */
typedef struct {
    const float *wt, *bt;
    int n_in, n_out;
} Layer;

/* Floats a packed layer of n_in inputs and n_out outputs takes. */
#define LAYER_FLOATS(n_in, n_out) ((((n_out) + JT - 1) / JT) * JT * ((n_in) + 1))

/* The layer out[o] = bias[o] + sum_i w[o * so + i * si] x[i] (bias NULL: zero) packed into buf
 * [LAYER_FLOATS(n_in, n_out)]. */
static inline Layer pack_layer(const float *w, long so, long si, const float *bias, int n_in,
                               int n_out, float *buf) {
    const int rows = ((n_out + JT - 1) / JT) * JT;
    float *wt = buf, *bt = buf + (long)rows * n_in;
    for (int o = 0; o < rows; o++) {
        bt[o] = o < n_out && bias != NULL ? bias[o] : 0.f;
        for (int i = 0; i < n_in; i++) wt[o * n_in + i] = o < n_out ? w[o * so + i * si] : 0.f;
    }
    return (Layer){wt, bt, n_in, n_out};
}

/* The dense layer w [H][K] with its bias (forward), and its transpose without bias (the input
 * gradient gx [K] = w^T g [H]). */
static inline Layer pack_dense(const float *w, const float *b, int K, int H, float *buf) {
    return pack_layer(w, K, 1, b, K, H, buf);
}
static inline Layer pack_transpose(const float *w, int K, int H, float *buf) {
    return pack_layer(w, 1, K, NULL, H, K, buf);
}

/* One run of RUN samples of a layer: the JT (at most) outputs of one tile (weights wt [JT][n_in],
 * biases bt [JT]) into out [no][B] (row stride B). */
static inline void affine_run(const float *x, long ldx, int n_in, const float *wt,
                              const float *bt, int no, int relu, float *out) {
    const float *wt0 = wt, *wt1 = wt + n_in, *wt2 = wt + 2 * n_in, *wt3 = wt + 3 * n_in;
    vf a00 = (vf){} + bt[0], a01 = a00, a02 = a00, a03 = a00;
    vf a10 = (vf){} + bt[1], a11 = a10, a12 = a10, a13 = a10;
    vf a20 = (vf){} + bt[2], a21 = a20, a22 = a20, a23 = a20;
    vf a30 = (vf){} + bt[3], a31 = a30, a32 = a30, a33 = a30;
    for (int i = 0; i < n_in; i++) {
        const float *xr = x + i * ldx;
        const vf x0 = LDV(xr), x1 = LDV(xr + LANES), x2 = LDV(xr + 2 * LANES),
                 x3 = LDV(xr + 3 * LANES);
        const float w0 = wt0[i], w1 = wt1[i], w2 = wt2[i], w3 = wt3[i];
        a00 += w0 * x0; a01 += w0 * x1; a02 += w0 * x2; a03 += w0 * x3;
        a10 += w1 * x0; a11 += w1 * x1; a12 += w1 * x2; a13 += w1 * x3;
        a20 += w2 * x0; a21 += w2 * x1; a22 += w2 * x2; a23 += w2 * x3;
        a30 += w3 * x0; a31 += w3 * x1; a32 += w3 * x2; a33 += w3 * x3;
    }
    if (relu) {
#define RELU(v) v = relu_v(v)
        RELU(a00); RELU(a01); RELU(a02); RELU(a03); RELU(a10); RELU(a11); RELU(a12);
        RELU(a13); RELU(a20); RELU(a21); RELU(a22); RELU(a23); RELU(a30); RELU(a31);
        RELU(a32); RELU(a33);
#undef RELU
    }
    float *o = out;
    STV(o, a00); STV(o + LANES, a01); STV(o + 2 * LANES, a02); STV(o + 3 * LANES, a03);
    if (no > 1) {
        o += B;
        STV(o, a10); STV(o + LANES, a11); STV(o + 2 * LANES, a12); STV(o + 3 * LANES, a13);
    }
    if (no > 2) {
        o += B;
        STV(o, a20); STV(o + LANES, a21); STV(o + 2 * LANES, a22); STV(o + 3 * LANES, a23);
    }
    if (no > 3) {
        o += B;
        STV(o, a30); STV(o + LANES, a31); STV(o + 2 * LANES, a32); STV(o + 3 * LANES, a33);
    }
}

/* affine_run for two outputs (wt [2][n_in], bt [2]): 8 accumulators, for CPUs with 16 vector
 * registers (apply_layer). */
static inline void affine_run2(const float *x, long ldx, int n_in, const float *wt,
                               const float *bt, int no, int relu, float *out) {
    const float *wt0 = wt, *wt1 = wt + n_in;
    vf a00 = (vf){} + bt[0], a01 = a00, a02 = a00, a03 = a00;
    vf a10 = (vf){} + bt[1], a11 = a10, a12 = a10, a13 = a10;
    for (int i = 0; i < n_in; i++) {
        const float *xr = x + i * ldx;
        const vf x0 = LDV(xr), x1 = LDV(xr + LANES), x2 = LDV(xr + 2 * LANES),
                 x3 = LDV(xr + 3 * LANES);
        const float w0 = wt0[i], w1 = wt1[i];
        a00 += w0 * x0; a01 += w0 * x1; a02 += w0 * x2; a03 += w0 * x3;
        a10 += w1 * x0; a11 += w1 * x1; a12 += w1 * x2; a13 += w1 * x3;
    }
    if (relu) {
        a00 = relu_v(a00); a01 = relu_v(a01); a02 = relu_v(a02); a03 = relu_v(a03);
        a10 = relu_v(a10); a11 = relu_v(a11); a12 = relu_v(a12); a13 = relu_v(a13);
    }
    STV(out, a00); STV(out + LANES, a01); STV(out + 2 * LANES, a02); STV(out + 3 * LANES, a03);
    if (no > 1) {
        out += B;
        STV(out, a10); STV(out + LANES, a11); STV(out + 2 * LANES, a12); STV(out + 3 * LANES, a13);
    }
}

/* out[o][r] = act(layer(x[.][r])[o]) for o < n_out, r < B; x has row stride ldx. JT outputs at
 * a time, over runs of RUN samples (4 vectors): their 16 vector accumulators stay in registers
 * while each input row is loaded once for all four, and the sum runs over i in order (the same
 * rounding as a plain loop). That needs AVX-512's 32 vector registers: with 16 (AVX2, SSE,
 * NEON), 16 accumulators, 4 inputs and a weight spill, and each spilled accumulator's chain of
 * adds then waits on a store and a load, so there a tile's outputs go two at a time (8
 * accumulators; a training step 4% faster on an AVX2-only AMD EPYC). */
static inline void apply_layer(const float *x, long ldx, const Layer *l, int relu, float *out) {
    for (int o0 = 0; o0 < l->n_out; o0 += JT) {
        const int no = l->n_out - o0 < JT ? l->n_out - o0 : JT;
#if !defined(__AVX512F__)
        for (int h = 0; h < no; h += 2)
            for (int run = 0; run < B; run += RUN)
                affine_run2(x + run, ldx, l->n_in, l->wt + (long)(o0 + h) * l->n_in, l->bt + o0 + h,
                            no - h, relu, out + (long)(o0 + h) * B + run);
#else
        for (int run = 0; run < B; run += RUN)
            affine_run(x + run, ldx, l->n_in, l->wt + (long)o0 * l->n_in, l->bt + o0, no, relu,
                       out + (long)o0 * B + run);
#endif
    }
}

/* Weight and bias gradients of one dense layer over S blocks: given g_out[s] [H][B] (already
 * masked by the activation's derivative) and its inputs x[s] (row stride ldx[s]), accumulate
 * gw16 [H][K][LANES] += sum_s g_out[s] x[s]^T and gb16 [H][LANES] += g_out lane-wise (sample r
 * adds to lane r % LANES: no horizontal sum per block, whose latency chain would dominate; the
 * caller sums the lanes once per chunk). The weights go in tiles of JT outputs x JT inputs: 16
 * independent accumulators of LANES lanes stay in registers while the S blocks' rows stream
 * past, so each tile's accumulators are loaded and stored once per S blocks (with one output's
 * accumulators only, the chain of dependent adds would bound the loop). Rows past H or K read
 * zeros and accumulate into a scratch tile. The sums run block by block, in order. */
static inline void dense_grads(const float *const *x, const long *ldx, int K,
                               const float *const *g_out, int H, int S, float *gw16,
                               float *gb16) {
    for (int j = 0; j < H; j++) {
        vf vb = LDV(gb16 + j * LANES);
        for (int s = 0; s < S; s++)
            for (int q = 0; q < B; q += LANES) vb += LDV(g_out[s] + j * B + q);
        STV(gb16 + j * LANES, vb);
    }
    float sink[JT * JT * LANES] __attribute__((aligned(64))) = {0};
    for (int j0 = 0; j0 < H; j0 += JT)
        for (int k0 = 0; k0 < K; k0 += JT) {
            float *d[JT * JT];
            for (int a = 0; a < JT; a++)
                for (int c = 0; c < JT; c++)
                    d[a * JT + c] = (j0 + a < H && k0 + c < K)
                                        ? gw16 + ((long)(j0 + a) * K + k0 + c) * LANES
                                        : sink + (a * JT + c) * LANES;
#define ACC_LOAD(i) vf v##i = LDV(d[i])
            ACC_LOAD(0); ACC_LOAD(1); ACC_LOAD(2); ACC_LOAD(3); ACC_LOAD(4); ACC_LOAD(5);
            ACC_LOAD(6); ACC_LOAD(7); ACC_LOAD(8); ACC_LOAD(9); ACC_LOAD(10); ACC_LOAD(11);
            ACC_LOAD(12); ACC_LOAD(13); ACC_LOAD(14); ACC_LOAD(15);
            for (int s = 0; s < S; s++) {
                const float *gs = g_out[s], *xs = x[s];
                const long ld = ldx[s];
                const float *g0 = j0 < H ? gs + j0 * B : ZERO_BLOCK;
                const float *g1 = j0 + 1 < H ? gs + (j0 + 1) * B : ZERO_BLOCK;
                const float *g2 = j0 + 2 < H ? gs + (j0 + 2) * B : ZERO_BLOCK;
                const float *g3 = j0 + 3 < H ? gs + (j0 + 3) * B : ZERO_BLOCK;
                const float *x0 = k0 < K ? xs + k0 * ld : ZERO_BLOCK;
                const float *x1 = k0 + 1 < K ? xs + (k0 + 1) * ld : ZERO_BLOCK;
                const float *x2 = k0 + 2 < K ? xs + (k0 + 2) * ld : ZERO_BLOCK;
                const float *x3 = k0 + 3 < K ? xs + (k0 + 3) * ld : ZERO_BLOCK;
                for (int q = 0; q < B; q += LANES) {
                    const vf ga = LDV(g0 + q), gb = LDV(g1 + q), gc = LDV(g2 + q),
                             gd = LDV(g3 + q);
                    const vf xa = LDV(x0 + q), xb = LDV(x1 + q), xc = LDV(x2 + q),
                             xd = LDV(x3 + q);
                    v0 += ga * xa; v1 += ga * xb; v2 += ga * xc; v3 += ga * xd;
                    v4 += gb * xa; v5 += gb * xb; v6 += gb * xc; v7 += gb * xd;
                    v8 += gc * xa; v9 += gc * xb; v10 += gc * xc; v11 += gc * xd;
                    v12 += gd * xa; v13 += gd * xb; v14 += gd * xc; v15 += gd * xd;
                }
            }
#define ACC_STORE(i) STV(d[i], v##i)
            ACC_STORE(0); ACC_STORE(1); ACC_STORE(2); ACC_STORE(3); ACC_STORE(4); ACC_STORE(5);
            ACC_STORE(6); ACC_STORE(7); ACC_STORE(8); ACC_STORE(9); ACC_STORE(10); ACC_STORE(11);
            ACC_STORE(12); ACC_STORE(13); ACC_STORE(14); ACC_STORE(15);
#undef ACC_LOAD
#undef ACC_STORE
        }
}

/* dst[p] = scale * the sum of the lanes of acc16 [P][LANES] (in lane order; scale: the weight
 * of a sampled gradient's blocks, 1 for exact sums). */
static inline void sum_lanes(const float *acc16, int P, float scale, float *dst) {
    for (int p = 0; p < P; p++) {
        float s = 0.f;
        for (int l = 0; l < LANES; l++) s += acc16[p * LANES + l];
        dst[p] = scale * s;
    }
}

static inline void mask_relu(float *g, const float *h, int H) {
    for (int i = 0; i < H * B; i++) g[i] = h[i] > 0.f ? g[i] : 0.f;
}

/* Block of a channels-first array [K][N] starting at sample s: a pointer with stride N, or,
 * for the last, partial block, a zero-padded copy with stride B. */
static inline const float *block_in(const float *x, long N, int K, long s, int m, float *tmp,
                                    long *ld) {
    if (m == B) {
        *ld = N;
        return x + s;
    }
    memset(tmp, 0, sizeof(float) * K * B);
    for (int k = 0; k < K; k++) memcpy(tmp + k * B, x + k * N + s, sizeof(float) * m);
    *ld = B;
    return tmp;
}

#endif
