/* The dense layers of the per-sample MLPs (ARM and synthesis) over blocks of B samples:
 * forward and backward with register tiles of vector accumulators. */
#ifndef LNIC_KERNELS_DENSE_H
#define LNIC_KERNELS_DENSE_H

#include "common.h"

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

/* One run of RUN samples (4 vectors) of a layer for JO outputs of a tile (weights wt [JO][n_in],
 * biases bt [JO]) into out [JO][B] (row stride B). Always inlined with JO a constant (the last
 * tile of a layer as wide as what is left), so that gcc unrolls the loops over o and v and keeps
 * the JO x 4 accumulators in registers. */
static inline __attribute__((always_inline)) void affine_run(const float *x, long ldx, int n_in,
                                                             const float *wt, const float *bt,
                                                             int relu, float *out, const int JO) {
    vf acc[JT][4];
    for (int o = 0; o < JO; o++)
        for (int v = 0; v < 4; v++) acc[o][v] = (vf){} + bt[o];
    for (int i = 0; i < n_in; i++) {
        const float *xr = x + i * ldx;
        vf xv[4];
        for (int v = 0; v < 4; v++) xv[v] = LDV(xr + v * LANES);
        for (int o = 0; o < JO; o++) {
            const float w = wt[o * n_in + i];
            for (int v = 0; v < 4; v++) acc[o][v] += w * xv[v];
        }
    }
    for (int o = 0; o < JO; o++)
        for (int v = 0; v < 4; v++) {
            if (relu) acc[o][v] = relu_v(acc[o][v]);
            STV(out + o * B + v * LANES, acc[o][v]);
        }
}

/* Outputs per register tile of apply_layer: TILE_OUT x 4 vector accumulators stay in registers
 * while each input row is loaded once for all of them. 4 (16 accumulators) needs AVX-512's 32
 * vector registers: with 16 (AVX2, SSE, NEON), 16 accumulators, 4 inputs and a weight spill,
 * and each spilled accumulator's chain of adds then waits on a store and a load; 2 outputs (8
 * accumulators) made a training step 4% faster on an AVX2-only AMD EPYC. */
#if defined(TILE_OUT)
/* set on the command line: tests of the other CPUs' configuration */
#elif defined(__AVX512F__)
#define TILE_OUT 4
#else
#define TILE_OUT 2
#endif

/* out[o][r] = act(layer(x[.][r])[o]) for o < n_out, r < B; x has row stride ldx. TILE_OUT
 * outputs at a time over runs of RUN samples; each output's sum runs over i in order (the same
 * rounding as a plain loop). */
static inline void apply_layer(const float *x, long ldx, const Layer *l, int relu, float *out) {
    for (int o0 = 0; o0 < l->n_out; o0 += TILE_OUT) {
        const float *wt = l->wt + (long)o0 * l->n_in, *bt = l->bt + o0;
        float *o = out + (long)o0 * B;
        const int jo = l->n_out - o0 < TILE_OUT ? l->n_out - o0 : TILE_OUT;
        for (int run = 0; run < B; run += RUN) switch (jo) {
            case 1: affine_run(x + run, ldx, l->n_in, wt, bt, relu, o + run, 1); break;
            case 2: affine_run(x + run, ldx, l->n_in, wt, bt, relu, o + run, 2); break;
            case 3: affine_run(x + run, ldx, l->n_in, wt, bt, relu, o + run, 3); break;
            default: affine_run(x + run, ldx, l->n_in, wt, bt, relu, o + run, 4);
            }
    }
}

/* One JR x KR tile (outputs j0.., inputs k0..) of dense_grads' weight gradients over S blocks.
 * Always inlined with JR and KR constants, so that the accumulators stay in registers. */
static inline __attribute__((always_inline)) void
grad_tile(const float *const *x, const long *ldx, int K, const float *const *g_out, int S, int j0,
          int k0, float *gw16, const int JR, const int KR) {
    vf acc[JT][JT];
    for (int a = 0; a < JR; a++)
        for (int c = 0; c < KR; c++) acc[a][c] = LDV(gw16 + ((long)(j0 + a) * K + k0 + c) * LANES);
    for (int s = 0; s < S; s++) {
        const float *gs = g_out[s] + (long)j0 * B, *xs = x[s] + k0 * ldx[s];
        const long ld = ldx[s];
        for (int q = 0; q < B; q += LANES) {
            vf gv[JT], xv[JT];
            for (int a = 0; a < JR; a++) gv[a] = LDV(gs + a * B + q);
            for (int c = 0; c < KR; c++) xv[c] = LDV(xs + c * ld + q);
            for (int a = 0; a < JR; a++)
                for (int c = 0; c < KR; c++) acc[a][c] += gv[a] * xv[c];
        }
    }
    for (int a = 0; a < JR; a++)
        for (int c = 0; c < KR; c++) STV(gw16 + ((long)(j0 + a) * K + k0 + c) * LANES, acc[a][c]);
}

/* grad_tile for a JR-output tile row with KR = min(JT, K - k0) inputs */
static inline __attribute__((always_inline)) void
grad_tile_row(const float *const *x, const long *ldx, int K, const float *const *g_out, int S,
              int j0, int k0, float *gw16, const int JR) {
    switch (K - k0 < JT ? K - k0 : JT) {
    case 1: grad_tile(x, ldx, K, g_out, S, j0, k0, gw16, JR, 1); break;
    case 2: grad_tile(x, ldx, K, g_out, S, j0, k0, gw16, JR, 2); break;
    case 3: grad_tile(x, ldx, K, g_out, S, j0, k0, gw16, JR, 3); break;
    default: grad_tile(x, ldx, K, g_out, S, j0, k0, gw16, JR, 4);
    }
}

/* Weight and bias gradients of one dense layer over S blocks: given g_out[s] [H][B] (already
 * masked by the activation's derivative) and its inputs x[s] (row stride ldx[s]), accumulate
 * gw16 [H][K][LANES] += sum_s g_out[s] x[s]^T and gb16 [H][LANES] += g_out lane-wise (sample r
 * adds to lane r % LANES: no horizontal sum per block, whose latency chain would dominate; the
 * caller sums the lanes once per chunk). The weights go in tiles of up to JT outputs x JT inputs
 * (the last row and column of tiles as wide as what is left: no work on padding): up to 16
 * independent accumulators of LANES lanes stay in registers while the S blocks' rows stream
 * past, so each tile's accumulators are loaded and stored once per S blocks (with one output's
 * accumulators only, the chain of dependent adds would bound the loop). The sums run block by
 * block, in order. */
static inline void dense_grads(const float *const *x, const long *ldx, int K,
                               const float *const *g_out, int H, int S, float *gw16,
                               float *gb16) {
    for (int j = 0; j < H; j++) {
        vf vb = LDV(gb16 + j * LANES);
        for (int s = 0; s < S; s++)
            for (int q = 0; q < B; q += LANES) vb += LDV(g_out[s] + j * B + q);
        STV(gb16 + j * LANES, vb);
    }
    for (int j0 = 0; j0 < H; j0 += JT)
        for (int k0 = 0; k0 < K; k0 += JT) switch (H - j0 < JT ? H - j0 : JT) {
            case 1: grad_tile_row(x, ldx, K, g_out, S, j0, k0, gw16, 1); break;
            case 2: grad_tile_row(x, ldx, K, g_out, S, j0, k0, gw16, 2); break;
            case 3: grad_tile_row(x, ldx, K, g_out, S, j0, k0, gw16, 3); break;
            default: grad_tile_row(x, ldx, K, g_out, S, j0, k0, gw16, 4);
            }
}

/* Blocks per group of a backward's weight gradients (GradGroup). */
#define GRAD_GROUP 8

/* A dense layer's (input block, output-gradient block) pairs, collected over a group of up to
 * GRAD_GROUP blocks whose activations the caller keeps, so that dense_grads runs once per group:
 * its accumulator tiles are then loaded and stored once per group instead of once per block
 * (the sums still run block by block, in order). */
typedef struct {
    const float *x[GRAD_GROUP], *g[GRAD_GROUP];
    long ldx[GRAD_GROUP];
    int n;
} GradGroup;

static inline void group_add(GradGroup *gg, const float *x, long ldx, const float *g) {
    gg->x[gg->n] = x;
    gg->ldx[gg->n] = ldx;
    gg->g[gg->n] = g;
    gg->n++;
}

/* dense_grads of the group's blocks (K inputs, H outputs) into gw16, gb16; empties the group. */
static inline void group_grads(GradGroup *gg, int K, int H, float *gw16, float *gb16) {
    dense_grads(gg->x, gg->ldx, K, gg->g, H, gg->n, gw16, gb16);
    gg->n = 0;
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
