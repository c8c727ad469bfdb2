/* Fused forward and backward passes of the encoder's two per-sample networks.
 *
 * Built at run time by lnic/encoder/native/__init__.py (gcc -O3 -march=native -fopenmp) and
 * called through ctypes; the torch code in lnic/encoder/nets is the reference they must equal.
 * Data are channels-first float32: sample n of feature k is at [k * ld + n]. Samples are
 * processed in blocks of B; a block's hidden activations live on the stack (L1), so the
 * backward pass recomputes them instead of reading hundreds of MB back from memory.
 *
 * Weight gradients are accumulated per chunk (NCHUNK fixed chunks of blocks, whatever the
 * number of threads) and summed by the caller in chunk order: the result does not depend on
 * the thread count.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define B 64
#define MAXH 64
#define MAXK 32
#define NCHUNK 64
#define MAXC 4 /* input channels per pass of the residual convolutions' weight gradient */

/* Vectors of LANES floats (gcc vector extensions; one AVX-512 register), JT x JT tiles of them
 * as accumulators in the dense layers; a block is 4 vectors. */
#define LANES 16
#define JT 4
_Static_assert(B == 4 * LANES, "affine() holds a block as four vectors");
typedef float vf __attribute__((vector_size(4 * LANES)));
static inline vf LDV(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void STV(float *p, vf v) { memcpy(p, &v, sizeof v); }
static const float ZERO_BLOCK[B] __attribute__((aligned(64)));
static inline vf relu_v(vf v) {
    for (int l = 0; l < LANES; l++) v[l] = v[l] > 0.f ? v[l] : 0.f;
    return v;
}

/* out[o][r] = act(bias[o] + sum_i w[o * so + i * si] x[i][r]) for o < n_out, r < B (B = 4
 * vectors); x has row stride ldx, bias may be NULL (zero). JT outputs at a time: their 16
 * vector accumulators stay in registers while each input row is loaded once for all four, and
 * the sum runs over i in order (the same rounding as a plain loop). */
static inline void affine(const float *x, long ldx, int n_in, const float *w, long so, long si,
                          const float *bias, int n_out, int relu, float *out) {
    for (int o0 = 0; o0 < n_out; o0 += JT) {
        const int no = n_out - o0 < JT ? n_out - o0 : JT;
        float wt[JT][MAXH > MAXK ? MAXH : MAXK], bt[JT];
        for (int a = 0; a < JT; a++) {
            bt[a] = a < no && bias != NULL ? bias[o0 + a] : 0.f;
            for (int i = 0; i < n_in; i++) wt[a][i] = a < no ? w[(o0 + a) * so + i * si] : 0.f;
        }
        vf a00 = (vf){} + bt[0], a01 = a00, a02 = a00, a03 = a00;
        vf a10 = (vf){} + bt[1], a11 = a10, a12 = a10, a13 = a10;
        vf a20 = (vf){} + bt[2], a21 = a20, a22 = a20, a23 = a20;
        vf a30 = (vf){} + bt[3], a31 = a30, a32 = a30, a33 = a30;
        for (int i = 0; i < n_in; i++) {
            const float *xr = x + i * ldx;
            const vf x0 = LDV(xr), x1 = LDV(xr + LANES), x2 = LDV(xr + 2 * LANES),
                     x3 = LDV(xr + 3 * LANES);
            const float w0 = wt[0][i], w1 = wt[1][i], w2 = wt[2][i], w3 = wt[3][i];
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
        float *o = out + (long)o0 * B;
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
}

/* out[j][r] = act(b[j] + sum_k w[j][k] x[k][r]) for r < B; x has row stride ldx. */
static inline void dense(const float *x, long ldx, int K, const float *w, const float *b,
                         int H, int relu, float *out) {
    affine(x, ldx, K, w, K, 1, b, H, relu, out);
}

/* Backward of one dense layer over a block: given g_out [H][B] (already masked by the
 * activation's derivative), accumulate gw16 [H][K][LANES] += g_out x^T and gb16 [H][LANES] +=
 * g_out lane-wise (sample r adds to lane r % LANES: no horizontal sum per block, whose latency
 * chain dominated; the caller sums the lanes once per chunk), and, if gx is not NULL, write
 * gx [K][B] = w^T g_out. */
static inline void dense_backward(const float *x, long ldx, int K, const float *w, int H,
                                  const float *g_out, float *gw16, float *gb16, float *gx) {
    for (int j = 0; j < H; j++) {
        const float *gj = g_out + j * B;
        float vb[LANES];
        for (int l = 0; l < LANES; l++) vb[l] = gb16[j * LANES + l];
        for (int q = 0; q < B; q += LANES)
            for (int l = 0; l < LANES; l++) vb[l] += gj[q + l];
        for (int l = 0; l < LANES; l++) gb16[j * LANES + l] = vb[l];
    }
    /* weight gradients, in tiles of JT outputs x JT inputs: 16 independent accumulators of
     * LANES lanes stay in registers while each block's rows stream past (with one output's
     * accumulators only, the chain of dependent adds bounded the loop). Rows past H or K read
     * zeros and accumulate into a scratch tile. */
    float sink[JT * JT * LANES] __attribute__((aligned(64))) = {0};
    for (int j0 = 0; j0 < H; j0 += JT)
        for (int k0 = 0; k0 < K; k0 += JT) {
            const float *g0, *g1, *g2, *g3, *x0, *x1, *x2, *x3;
            float *d[JT * JT];
            g0 = j0 < H ? g_out + j0 * B : ZERO_BLOCK;
            g1 = j0 + 1 < H ? g_out + (j0 + 1) * B : ZERO_BLOCK;
            g2 = j0 + 2 < H ? g_out + (j0 + 2) * B : ZERO_BLOCK;
            g3 = j0 + 3 < H ? g_out + (j0 + 3) * B : ZERO_BLOCK;
            x0 = k0 < K ? x + k0 * ldx : ZERO_BLOCK;
            x1 = k0 + 1 < K ? x + (k0 + 1) * ldx : ZERO_BLOCK;
            x2 = k0 + 2 < K ? x + (k0 + 2) * ldx : ZERO_BLOCK;
            x3 = k0 + 3 < K ? x + (k0 + 3) * ldx : ZERO_BLOCK;
            for (int a = 0; a < JT; a++)
                for (int c = 0; c < JT; c++)
                    d[a * JT + c] = (j0 + a < H && k0 + c < K)
                                        ? gw16 + ((long)(j0 + a) * K + k0 + c) * LANES
                                        : sink + (a * JT + c) * LANES;
#define ACC_LOAD(i) vf v##i = LDV(d[i])
            ACC_LOAD(0); ACC_LOAD(1); ACC_LOAD(2); ACC_LOAD(3); ACC_LOAD(4); ACC_LOAD(5);
            ACC_LOAD(6); ACC_LOAD(7); ACC_LOAD(8); ACC_LOAD(9); ACC_LOAD(10); ACC_LOAD(11);
            ACC_LOAD(12); ACC_LOAD(13); ACC_LOAD(14); ACC_LOAD(15);
            for (int q = 0; q < B; q += LANES) {
                const vf ga = LDV(g0 + q), gb = LDV(g1 + q), gc = LDV(g2 + q), gd = LDV(g3 + q);
                const vf xa = LDV(x0 + q), xb = LDV(x1 + q), xc = LDV(x2 + q), xd = LDV(x3 + q);
                v0 += ga * xa; v1 += ga * xb; v2 += ga * xc; v3 += ga * xd;
                v4 += gb * xa; v5 += gb * xb; v6 += gb * xc; v7 += gb * xd;
                v8 += gc * xa; v9 += gc * xb; v10 += gc * xc; v11 += gc * xd;
                v12 += gd * xa; v13 += gd * xb; v14 += gd * xc; v15 += gd * xd;
            }
#define ACC_STORE(i) STV(d[i], v##i)
            ACC_STORE(0); ACC_STORE(1); ACC_STORE(2); ACC_STORE(3); ACC_STORE(4); ACC_STORE(5);
            ACC_STORE(6); ACC_STORE(7); ACC_STORE(8); ACC_STORE(9); ACC_STORE(10); ACC_STORE(11);
            ACC_STORE(12); ACC_STORE(13); ACC_STORE(14); ACC_STORE(15);
#undef ACC_LOAD
#undef ACC_STORE
        }
    if (gx == NULL) return;
    /* input gradient gx [K][B] = w^T g_out */
    affine(g_out, B, H, w, 1, K, NULL, K, 0, gx);
}

/* dst[p] = sum of the lanes of acc16 [P][LANES] (in lane order). */
static inline void sum_lanes(const float *acc16, int P, float *dst) {
    for (int p = 0; p < P; p++) {
        float s = 0.f;
        for (int l = 0; l < LANES; l++) s += acc16[p * LANES + l];
        dst[p] = s;
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

/* ------------------------------------------------------------------------------------------ */
/* ARM + Laplace rate: ctx [K][N], x [N]; params = w1 [H][K], b1 [H], w2 [H][H], b2 [H],
 * w3 [2][H], b3 [2]. bits(n) = -log2 P(x_n) under a discretised Laplace of mean out0 and
 * log-scale clamp(out1, ls_min, ls_max) (lnic.encoder.nets.entropy.laplace_bits). */

#define LN2 0.69314718055994530942f

/* bits, and with want_grad d bits / d mu and d bits / d ls (0 where the clamp is active). */
static inline void laplace(const float *x, const float *mu, const float *ls_raw, int m,
                           float ls_min, float ls_max, float *bits, float *g_mu, float *g_ls) {
    for (int r = 0; r < B; r++) {
        float ls = ls_raw[r];
        float live_ls = (ls >= ls_min && ls <= ls_max) ? 1.f : 0.f;
        ls = ls < ls_min ? ls_min : (ls > ls_max ? ls_max : ls);
        const float inv_b = expf(-ls);
        const float diff = x[r] - mu[r];
        const float d = fabsf(diff);
        const float sgn = diff > 0.f ? 1.f : (diff < 0.f ? -1.f : 0.f);
        float logp, dd, dinv;
        if (d >= 0.5f) {
            /* 1 - exp(-1/b) and 1 / (exp(1/b) - 1), both without overflow */
            const float one_minus = -expm1f(-inv_b);
            logp = logf(0.5f) - (d - 0.5f) * inv_b + logf(one_minus);
            dd = -inv_b;
            dinv = 0.5f - d + expf(-inv_b) / one_minus;
        } else {
            const float e1 = expf((d - 0.5f) * inv_b);
            const float e2 = expf(-(d + 0.5f) * inv_b);
            const float p = 1.f - 0.5f * (e1 + e2);
            if (p > 1e-12f) {
                logp = logf(p);
                const float ip = 1.f / p;
                dd = -0.5f * inv_b * (e1 - e2) * ip;
                dinv = 0.5f * ((0.5f - d) * e1 + (0.5f + d) * e2) * ip;
            } else {
                logp = logf(1e-12f);
                dd = 0.f;
                dinv = 0.f;
            }
        }
        const float valid = r < m ? 1.f : 0.f;
        bits[r] = valid * (-logp / LN2);
        if (g_mu != NULL) {
            /* bits = -logp / ln2; d/dx = -dd * sgn / ln2; d/dmu = -d/dx */
            g_mu[r] = valid * dd * sgn / LN2;
            g_ls[r] = valid * live_ls * (dinv * inv_b / LN2);
        }
    }
}

static inline void arm_forward_block(const float *c, long ldc, int K, int H, const float *p,
                                     float *h1, float *h2, float *out) {
    const float *w1 = p, *b1 = w1 + H * K, *w2 = b1 + H, *b2 = w2 + H * H, *w3 = b2 + H,
                *b3 = w3 + 2 * H;
    dense(c, ldc, K, w1, b1, H, 1, h1);
    dense(h1, B, H, w2, b2, H, 1, h2);
    dense(h2, B, H, w3, b3, 2, 0, out);
}

/* Where the ARM's inputs come from: a channels-first context [K][N] (ctx), or the L latent
 * grids themselves (flat, finest first; shapes [L][2], starts [L] their offsets in flat), each
 * block's context gathered as CausalContext does (nc (dy, dx) neighbours offs, then the next
 * coarser grid's co-located latent). Gathering per block keeps the 13 x N context out of
 * memory: it is built in L1 from grid rows that stay in cache. */
#define MAXL 16
typedef struct {
    const float *ctx, *flat;
    const long *shapes;
    long starts[MAXL + 1];
    int L, nc;
    const int *offs;
} ArmSrc;

static ArmSrc grid_source(const float *flat, const long *shapes, int L, const int *offs, int nc) {
    ArmSrc a = {NULL, flat, shapes, {0}, L, nc, offs};
    for (int k = 0; k < L; k++) a.starts[k + 1] = a.starts[k] + shapes[2 * k] * shapes[2 * k + 1];
    return a;
}

/* The run of samples s .. s + len - 1 that lies in one row y of grid k (starting at column x0),
 * len <= left: blocks of 64 samples are walked one row segment at a time. */
typedef struct {
    int k, len;
    long h, w, y, x0;
} RowSeg;

static inline RowSeg row_segment(const ArmSrc *a, int k, long s, int left) {
    while (s >= a->starts[k + 1]) k++;
    RowSeg g = {k, 0, a->shapes[2 * k], a->shapes[2 * k + 1], 0, 0};
    const long r = s - a->starts[k];
    g.y = r / g.w;
    g.x0 = r % g.w;
    g.len = (int)(g.w - g.x0 < left ? g.w - g.x0 : left);
    return g;
}

/* Neighbour column x0 + x + dx lies inside its row for lo <= x < hi (0 <= lo <= hi <= len). */
static inline void inside_span(const RowSeg *g, long dx, long *lo, long *hi) {
    long l = -g->x0 - dx, h = g->w - g->x0 - dx;
    l = l < 0 ? 0 : (l > g->len ? g->len : l);
    h = h > g->len ? g->len : (h < l ? l : h);
    *lo = l;
    *hi = h;
}

/* tmp [nc + 1][B] = the contexts of samples s .. s + m - 1 (zero past m): a run of samples per
 * row segment, each neighbour row copied with zeros outside its grid. */
static void gather_block(const ArmSrc *a, long s, int m, float *tmp) {
    const int nc = a->nc;
    int k = 0, filled = 0;
    while (filled < m) {
        const RowSeg g = row_segment(a, k, s, m - filled);
        k = g.k;
        const int len = g.len;
        const float *grid = a->flat + a->starts[k];
        for (int i = 0; i < nc; i++) {
            float *dst = tmp + i * B + filled;
            const long sy = g.y + a->offs[2 * i], dx = a->offs[2 * i + 1];
            if (sy < 0 || sy >= g.h) {
                memset(dst, 0, sizeof(float) * len);
                continue;
            }
            long lo, hi;
            inside_span(&g, dx, &lo, &hi);
            for (long x = 0; x < lo; x++) dst[x] = 0.f;
            if (hi > lo) memcpy(dst + lo, grid + sy * g.w + g.x0 + dx + lo, sizeof(float) * (hi - lo));
            for (long x = hi; x < len; x++) dst[x] = 0.f;
        }
        float *dst = tmp + nc * B + filled;
        if (k + 1 < a->L) {
            const float *coarse = a->flat + a->starts[k + 1] + (g.y / 2) * a->shapes[2 * k + 3];
            for (int x = 0; x < len; x++) dst[x] = coarse[(g.x0 + x) / 2];
        } else {
            memset(dst, 0, sizeof(float) * len);
        }
        filled += len;
        s += len;
    }
    if (m < B)
        for (int i = 0; i <= nc; i++) memset(tmp + i * B + m, 0, sizeof(float) * (B - m));
}

static inline const float *arm_block(const ArmSrc *a, long N, int K, long s, int m, float *tmp,
                                     long *ld) {
    if (a->ctx != NULL) return block_in(a->ctx, N, K, s, m, tmp, ld);
    gather_block(a, s, m, tmp);
    *ld = B;
    return tmp;
}

/* Sum of bits per chunk into chunk_bits [NCHUNK] (double). */
static void arm_rate_forward_src(const ArmSrc *a, const float *x, long N, int K, int H,
                                 const float *p, float ls_min, float ls_max, double *chunk_bits,
                                 int nt) {
    const long nblk = (N + B - 1) / B;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int c = 0; c < NCHUNK; c++) {
        float h1[MAXH * B], h2[MAXH * B], out[2 * B], bits[B], tmp[MAXK * B], xt[B];
        double acc = 0.0;
        for (long blk = c * nblk / NCHUNK; blk < (c + 1) * nblk / NCHUNK; blk++) {
            const long s = blk * B;
            const int m = N - s < B ? (int)(N - s) : B;
            long ld;
            const float *cb = arm_block(a, N, K, s, m, tmp, &ld);
            long ldx;
            const float *xb = block_in(x, N, 1, s, m, xt, &ldx);
            arm_forward_block(cb, ld, K, H, p, h1, h2, out);
            laplace(xb, out, out + B, m, ls_min, ls_max, bits, NULL, NULL);
            float s_bits = 0.f;
            for (int r = 0; r < B; r++) s_bits += bits[r];
            acc += s_bits;
        }
        chunk_bits[c] = acc;
    }
}

/* gflat += the same-grid part of a block's input gradient gc [nc + 1][B] (each latent's
 * gradient as neighbour i goes to that neighbour), and gco [s .. s + m) = its co-located part
 * (summed onto the coarser grid afterwards). The mirror of gather_block. */
static void scatter_block(const ArmSrc *a, long s, int m, const float *gc, float *gflat,
                          float *gco) {
    const int nc = a->nc;
    int k = 0, done = 0;
    while (done < m) {
        const RowSeg g = row_segment(a, k, s, m - done);
        k = g.k;
        float *grid = gflat + a->starts[k];
        for (int i = 0; i < nc; i++) {
            const long sy = g.y + a->offs[2 * i], dx = a->offs[2 * i + 1];
            if (sy < 0 || sy >= g.h) continue;
            long lo, hi;
            inside_span(&g, dx, &lo, &hi);
            const float *src = gc + i * B + done;
            float *dst = grid + sy * g.w + g.x0 + dx;
            for (long x = lo; x < hi; x++) dst[x] += src[x];
        }
        memcpy(gco + s, gc + nc * B + done, sizeof(float) * g.len);
        done += g.len;
        s += g.len;
    }
}

/* Where the backward puts the inputs' gradient: gctx [K][N] (with gx [N] apart), or, on the
 * grids, straight into gflat [N] (own gradient and neighbours' alike) plus gco [N]. */
typedef struct {
    float *gctx, *gx, *gflat, *gco;
} ArmGradOut;

/* One chunk of the backward: its blocks in order, weight gradients into chunk_grads [P]. */
static void arm_backward_chunk(const ArmSrc *a, const float *x, long N, int K, int H,
                               const float *p, float ls_min, float ls_max, float g, int c,
                               const ArmGradOut *o, float *chunk_grads) {
    const long nblk = (N + B - 1) / B;
    const int P = H * K + H + H * H + H + 2 * H + 2;
    const float *w1 = p, *w2 = p + H * K + H, *w3 = w2 + H * H + H;
    float h1[MAXH * B], h2[MAXH * B], out[2 * B], bits[B], tmp[MAXK * B], xt[B];
    float gout[2 * B], g2[MAXH * B], g1[MAXH * B], gc[MAXK * B];
    float *acc = calloc((size_t)P * LANES, sizeof(float));
    float *gw1 = acc, *gb1 = gw1 + H * K * LANES, *gw2 = gb1 + H * LANES,
          *gb2 = gw2 + H * H * LANES, *gw3 = gb2 + H * LANES, *gb3 = gw3 + 2 * H * LANES;
    for (long blk = c * nblk / NCHUNK; blk < (c + 1) * nblk / NCHUNK; blk++) {
        const long s = blk * B;
        const int m = N - s < B ? (int)(N - s) : B;
        long ld, ldx;
        const float *cb = arm_block(a, N, K, s, m, tmp, &ld);
        const float *xb = block_in(x, N, 1, s, m, xt, &ldx);
        arm_forward_block(cb, ld, K, H, p, h1, h2, out);
        laplace(xb, out, out + B, m, ls_min, ls_max, bits, gout, gout + B);
        for (int r = 0; r < 2 * B; r++) gout[r] *= g;
        dense_backward(h2, B, H, w3, 2, gout, gw3, gb3, g2);
        mask_relu(g2, h2, H);
        dense_backward(h1, B, H, w2, H, g2, gw2, gb2, g1);
        mask_relu(g1, h1, H);
        dense_backward(cb, ld, K, w1, H, g1, gw1, gb1, gc);
        if (o->gctx != NULL) {
            for (int r = 0; r < m; r++) o->gx[s + r] = -gout[r];
            for (int k = 0; k < K; k++) memcpy(o->gctx + k * N + s, gc + k * B, sizeof(float) * m);
        } else {
            for (int r = 0; r < m; r++) o->gflat[s + r] -= gout[r];
            scatter_block(a, s, m, gc, o->gflat, o->gco);
        }
    }
    sum_lanes(acc, P, chunk_grads);
    free(acc);
}

/* Gradients of g * sum(bits): gctx [K][N] (the inputs' gradient), gx [N], chunk_grads
 * [NCHUNK][P]. */
static void arm_rate_backward_src(const ArmSrc *a, const float *x, long N, int K, int H,
                                  const float *p, float ls_min, float ls_max, float g,
                                  float *gctx, float *gx, float *chunk_grads, int nt) {
    const int P = H * K + H + H * H + H + 2 * H + 2;
    const ArmGradOut o = {gctx, gx, NULL, NULL};
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int c = 0; c < NCHUNK; c++)
        arm_backward_chunk(a, x, N, K, H, p, ls_min, ls_max, g, c, &o, chunk_grads + (long)c * P);
}

void arm_rate_forward(const float *ctx, const float *x, long N, int K, int H, const float *p,
                      float ls_min, float ls_max, double *chunk_bits, int nt) {
    const ArmSrc a = {ctx, NULL, NULL, {0}, 0, 0, NULL};
    arm_rate_forward_src(&a, x, N, K, H, p, ls_min, ls_max, chunk_bits, nt);
}

void arm_rate_backward(const float *ctx, const float *x, long N, int K, int H, const float *p,
                       float ls_min, float ls_max, float g, float *gctx, float *gx,
                       float *chunk_grads, int nt) {
    const ArmSrc a = {ctx, NULL, NULL, {0}, 0, 0, NULL};
    arm_rate_backward_src(&a, x, N, K, H, p, ls_min, ls_max, g, gctx, gx, chunk_grads, nt);
}

/* The same on the grids (flat [N], L <= MAXL grids): the context is gathered per block, and
 * the backward's gctx [nc + 1][N] goes to context_backward for the grids' gradient. */
void arm_rate_grids_forward(const float *flat, const long *shapes, int L, const int *offs, int nc,
                            long N, int H, const float *p, float ls_min, float ls_max,
                            double *chunk_bits, int nt) {
    const ArmSrc a = grid_source(flat, shapes, L, offs, nc);
    arm_rate_forward_src(&a, flat, N, nc + 1, H, p, ls_min, ls_max, chunk_bits, nt);
}

/* The grids' own gradient gflat [N] in one pass, with gco [N] as scratch: each block scatters
 * its context gradient onto the latents it read (all earlier in the same grid, at most `reach`
 * samples back). With every chunk at least `reach` long, a chunk writes only into itself and
 * the chunk before it, so the even chunks run in parallel, then the odd ones: no two threads
 * touch one latent, and each latent's sum has a fixed order whatever the thread count. The
 * co-located parts are then gathered onto the coarser grids. Returns 0 (nothing written) when
 * the chunks are too short for that (small or very wide images): the caller then uses
 * arm_rate_grids_backward and context_backward. */
/* Sum of the 2x2 block of a finer grid [hf][wf] whose co-located coarser latent is (y, x)
 * (clipped at the finer grid's border), in a fixed order: that latent's gradient as the
 * co-located context feature of the four. */
static inline float colocated_sum(const float *fine, long hf, long wf, long y, long x) {
    float s = 0.f;
    for (long dy = 0; dy < 2; dy++)
        for (long dx = 0; dx < 2; dx++)
            if (2 * y + dy < hf && 2 * x + dx < wf) s += fine[(2 * y + dy) * wf + 2 * x + dx];
    return s;
}

int arm_rate_grids_backward_fused(const float *flat, const long *shapes, int L, const int *offs,
                                  int nc, long N, int H, const float *p, float ls_min,
                                  float ls_max, float g, float *gflat, float *gco,
                                  float *chunk_grads, int nt) {
    const ArmSrc a = grid_source(flat, shapes, L, offs, nc);
    long reach = 0;
    for (int k = 0; k < L; k++)
        for (int i = 0; i < nc; i++) {
            const long back = -(offs[2 * i] * shapes[2 * k + 1] + offs[2 * i + 1]);
            reach = back > reach ? back : reach;
        }
    const long nblk = (N + B - 1) / B;
    if ((nblk / NCHUNK) * B < reach || reach <= 0) return 0;
    const int K = nc + 1, P = H * K + H + H * H + H + 2 * H + 2;
    const ArmGradOut o = {NULL, NULL, gflat, gco};
    memset(gflat, 0, sizeof(float) * N);
    for (int phase = 0; phase < 2; phase++) {
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int c = phase; c < NCHUNK; c += 2)
            arm_backward_chunk(&a, flat, N, K, H, p, ls_min, ls_max, g, c, &o,
                               chunk_grads + (long)c * P);
    }
    for (int k = 1; k < L; k++) {
        const long h = shapes[2 * k], w = shapes[2 * k + 1];
        const long hf = shapes[2 * k - 2], wf = shapes[2 * k - 1];
        const float *fine = gco + a.starts[k - 1];
        float *dst = gflat + a.starts[k];
#pragma omp parallel for schedule(static) num_threads(nt)
        for (long y = 0; y < h; y++)
            for (long x = 0; x < w; x++) dst[y * w + x] += colocated_sum(fine, hf, wf, y, x);
    }
    return 1;
}

void arm_rate_grids_backward(const float *flat, const long *shapes, int L, const int *offs,
                             int nc, long N, int H, const float *p, float ls_min, float ls_max,
                             float g, float *gctx, float *gx, float *chunk_grads, int nt) {
    const ArmSrc a = grid_source(flat, shapes, L, offs, nc);
    arm_rate_backward_src(&a, flat, N, nc + 1, H, p, ls_min, ls_max, g, gctx, gx, chunk_grads,
                          nt);
}

/* ------------------------------------------------------------------------------------------ */
/* Synthesis MLP: x [K][N] -> out [C][N] = w2 relu(w1 x + b1) + b2;
 * params = w1 [H][K], b1 [H], w2 [C][H], b2 [C]. */

void mlp2_forward(const float *x, long N, int K, int H, int C, const float *p, float *out, int nt) {
    const long nblk = (N + B - 1) / B;
    const float *w1 = p, *b1 = w1 + H * K, *w2 = b1 + H, *b2 = w2 + C * H;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (long blk = 0; blk < nblk; blk++) {
        float h[MAXH * B], o[MAXK * B], tmp[MAXK * B];
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
        float h[MAXH * B], tmp[MAXK * B], gt[MAXK * B], gh[MAXH * B], gxb[MAXK * B];
        float *acc = calloc((size_t)P * LANES, sizeof(float));
        float *gw1 = acc, *gb1 = gw1 + H * K * LANES, *gw2 = gb1 + H * LANES,
              *gb2 = gw2 + C * H * LANES;
        for (long blk = c * nblk / NCHUNK; blk < (c + 1) * nblk / NCHUNK; blk++) {
            const long s = blk * B;
            const int m = N - s < B ? (int)(N - s) : B;
            long ld, ldg;
            const float *xb = block_in(x, N, K, s, m, tmp, &ld);
            const float *gb = block_in(gout, N, C, s, m, gt, &ldg);
            float go[MAXK * B];
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
 * was bound by its chain of dependent adds). */
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

/* ------------------------------------------------------------------------------------------ */
/* x2 upsampling along one axis of x [outer][n][inner] -> out [outer][size][inner] with the
 * symmetric taps (a, b, c, d) and replicated borders (lnic.model.upsampling.up_axis):
 * even[m] = a x[m-2] + c x[m-1] + d x[m] + b x[m+1], odd[m] = b x[m-1] + d x[m] + c x[m+1]
 * + a x[m+2]; size is 2n or 2n - 1 (the last odd sample dropped). */

static inline long clampl(long v, long n) { return v < 0 ? 0 : (v >= n ? n - 1 : v); }

/* xp [n + 2r] = x [n] with r samples replicated at each border: xp[j] = x[clamp(j - r)]. */
static inline void pad_replicate(const float *x, long n, long r, float *xp) {
    for (long j = 0; j < n + 2 * r; j++) xp[j] = x[clampl(j - r, n)];
}

/* One chunk's four tap-gradient sums into dst [4]. */
static inline void store_taps(float *dst, float g0, float g1, float g2, float g3) {
    dst[0] = g0;
    dst[1] = g1;
    dst[2] = g2;
    dst[3] = g3;
}

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

/* ------------------------------------------------------------------------------------------ */
/* Quantization proxy: out = sr(sr(g) + n) with sr the soft-round of temperature T
 * (lnic.encoder.train.soft_round), and its derivative sr'(sr(g) + n) * sr'(g). */

static inline float soft_round1(float x, float inv_t, float half_over_tanh) {
    const float m = floorf(x) + 0.5f;
    return m + half_over_tanh * tanhf((x - m) * inv_t);
}

static inline float soft_round1_grad(float x, float inv_t, float half_over_tanh) {
    const float m = floorf(x) + 0.5f;
    const float th = tanhf((x - m) * inv_t);
    return half_over_tanh * inv_t * (1.f - th * th);
}

void proxy_forward(const float *g, const float *n, long N, float T, float *out, int nt) {
    const float inv_t = 1.f / T, hot = 0.5f / tanhf(0.5f / T);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (long i = 0; i < N; i++)
        out[i] = soft_round1(soft_round1(g[i], inv_t, hot) + n[i], inv_t, hot);
}

void proxy_backward(const float *g, const float *n, long N, float T, const float *gout,
                    float *gin, int nt) {
    const float inv_t = 1.f / T, hot = 0.5f / tanhf(0.5f / T);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (long i = 0; i < N; i++) {
        const float z = soft_round1(g[i], inv_t, hot) + n[i];
        gin[i] = gout[i] * soft_round1_grad(z, inv_t, hot) * soft_round1_grad(g[i], inv_t, hot);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* ARM context of every latent (lnic.encoder.nets.arm.CausalContext): flat holds the L grids
 * (finest first, raster order, shapes [L][2]); out [nc + 1][N]: the nc (dy, dx) neighbours in
 * the same grid (0 outside), then the next coarser grid at (y / 2, x / 2) (0 for the coarsest). */

void context_forward(const float *flat, const long *shapes, int L, const int *offs, int nc,
                     float *out, long N, int nt) {
    long off = 0;
    for (int k = 0; k < L; k++) {
        const long h = shapes[2 * k], w = shapes[2 * k + 1];
        const float *grid = flat + off;
        const float *coarse = k + 1 < L ? flat + off + h * w : NULL;
        const long wc = k + 1 < L ? shapes[2 * k + 3] : 0;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (long y = 0; y < h; y++) {
            for (int i = 0; i < nc; i++) {
                const long sy = y + offs[2 * i], dx = offs[2 * i + 1];
                float *dst = out + i * N + off + y * w;
                if (sy < 0 || sy >= h) {
                    for (long x = 0; x < w; x++) dst[x] = 0.f;
                    continue;
                }
                const float *src = grid + sy * w;
                for (long x = 0; x < w; x++) {
                    const long sx = x + dx;
                    dst[x] = (sx >= 0 && sx < w) ? src[sx] : 0.f;
                }
            }
            float *dst = out + nc * N + off + y * w;
            if (coarse == NULL)
                for (long x = 0; x < w; x++) dst[x] = 0.f;
            else
                for (long x = 0; x < w; x++) dst[x] = coarse[(y / 2) * wc + x / 2];
        }
        off += h * w;
    }
}

/* gflat [N] = the gradient of flat given gout [nc + 1][N] (a gather per latent). */
void context_backward(const float *gout, const long *shapes, int L, const int *offs, int nc,
                      float *gflat, long N, int nt) {
    long off = 0;
    for (int k = 0; k < L; k++) {
        const long h = shapes[2 * k], w = shapes[2 * k + 1];
        const long hf = k > 0 ? shapes[2 * k - 2] : 0, wf = k > 0 ? shapes[2 * k - 1] : 0;
        const long off_f = k > 0 ? off - hf * wf : 0;
#pragma omp parallel for schedule(static) num_threads(nt)
        for (long y = 0; y < h; y++) {
            float *dst = gflat + off + y * w;
            for (long x = 0; x < w; x++) dst[x] = 0.f;
            for (int i = 0; i < nc; i++) {
                /* latent (y, x) is neighbour i of (y - dy, x - dx) */
                const long ty = y - offs[2 * i], dx = offs[2 * i + 1];
                if (ty < 0 || ty >= h) continue;
                const float *src = gout + i * N + off + ty * w;
                for (long x = 0; x < w; x++) {
                    const long tx = x - dx;
                    if (tx >= 0 && tx < w) dst[x] += src[tx];
                }
            }
            if (k > 0) /* the co-located feature of the finer grid's 2x2 block */
                for (long x = 0; x < w; x++)
                    dst[x] += colocated_sum(gout + nc * N + off_f, hf, wf, y, x);
        }
        off += h * w;
    }
}

/* ------------------------------------------------------------------------------------------ */
/* out [N] = std * a standard Gaussian sample per element, a pure function of (seed, index):
 * the splitmix64 finaliser of seed + index * golden gives 48 uniform bits, and Box-Muller
 * turns them into one Gaussian (cosine for even indices, sine for odd ones of the same
 * pair-free draw). The training noise of lnic.encoder.train.proxy, in one vectorised pass
 * (torch's normal_ and the scaling took two). Same values for any thread count. */
void gauss_fill(float *out, long N, unsigned long long seed, float std, int nt) {
    const float two_pi = 6.28318530717958647692f, inv24 = 1.f / 16777216.f;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (long i = 0; i < N; i++) {
        unsigned long long z = seed + (unsigned long long)i * 0x9E3779B97F4A7C15ULL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        z ^= z >> 31;
        const float u1 = ((float)(z >> 40) + 1.f) * inv24;          /* (0, 1] */
        const float u2 = (float)((z >> 16) & 0xFFFFFF) * inv24;   /* [0, 1) */
        const float r = sqrtf(-2.f * logf(u1));
        out[i] = std * r * cosf(two_pi * u2 - (float)(i & 1) * 1.57079632679489662f);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* The latent pre-filter along one axis of x [outer][n][inner] (lnic.model.upsampling.
 * prefilter_axis): out[m] = c0 x[m] + sum_{j=1..3} c_j (x[m - j] + x[m + j]), borders
 * replicated, taps t = (c0, c1, c2, c3). */

#define PRE_R 3

void pre_forward(const float *x, long outer, long n, long inner, const float *t, float *out,
                 int nt) {
    const float c0 = t[0], c1 = t[1], c2 = t[2], c3 = t[3];
#pragma omp parallel for schedule(static) num_threads(nt)
    for (long o = 0; o < outer; o++) {
        const float *xo = x + o * n * inner;
        float *oo = out + o * n * inner;
        if (inner == 1) {
            float *xp = malloc(sizeof(float) * (n + 2 * PRE_R));
            pad_replicate(xo, n, PRE_R, xp);
            for (long m = 0; m < n; m++) {
                const float *p = xp + m + PRE_R; /* p[k] = x[m + k] */
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
    for (int j = -PRE_R; j <= PRE_R; j++) {
        const long m = q - PRE_R + j;
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
            float *xp = malloc(sizeof(float) * (n + 2 * PRE_R));
            float *gz = calloc(n + 4 * PRE_R, sizeof(float)); /* gz[2R + m] = g[m], 0 outside */
            float *gp = malloc(sizeof(float) * (n + 2 * PRE_R));
            for (long l = ch * outer / NCHUNK; l < (ch + 1) * outer / NCHUNK; l++) {
                const float *xo = x + l * n, *gl = g + l * n;
                pad_replicate(xo, n, PRE_R, xp);
                memcpy(gz + 2 * PRE_R, gl, sizeof(float) * n);
                for (long m = 0; m < n; m++) {
                    const float *p = xp + m + PRE_R;
                    g0 += gl[m] * p[0];
                    g1 += gl[m] * (p[-1] + p[1]);
                    g2 += gl[m] * (p[-2] + p[2]);
                    g3 += gl[m] * (p[-3] + p[3]);
                }
                /* padded-input gradient gp[q] = sum_j c_|j| g[q - 3 + j] */
                const float *z = gz + PRE_R; /* z[q + j] = g[q - 3 + j] */
                for (long q = 0; q < n + 2 * PRE_R; q++)
                    gp[q] = t[0] * z[q] + t[1] * (z[q - 1] + z[q + 1]) +
                            t[2] * (z[q - 2] + z[q + 2]) + t[3] * (z[q - 3] + z[q + 3]);
                float *gxo = gx + l * n;
                for (long j = 0; j < n; j++) gxo[j] = gp[j + PRE_R];
                for (int r = 0; r < PRE_R; r++) {
                    gxo[0] += gp[r];
                    gxo[n - 1] += gp[n + PRE_R + r];
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
            pre_grad_padded_row(go, n, inner, m + PRE_R, t, dst);
            if (m == 0)
                for (long q = 0; q < PRE_R; q++) {
                    pre_grad_padded_row(go, n, inner, q, t, row);
                    for (long i = 0; i < inner; i++) dst[i] += row[i];
                }
            if (m == n - 1)
                for (long q = n + PRE_R; q < n + 2 * PRE_R; q++) {
                    pre_grad_padded_row(go, n, inner, q, t, row);
                    for (long i = 0; i < inner; i++) dst[i] += row[i];
                }
        }
        free(row);
        store_taps(chunk_grads + ch * 4, g0, g1, g2, g3);
    }
}
