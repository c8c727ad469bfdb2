#include "dense.h"
#include "grids.h"

/* ARM + Laplace rate: ctx [K][N], x [N]; params = w1 [H][K], b1 [H], w2 [H][H], b2 [H],
 * w3 [2][H], b3 [2]. bits(n) = -log2 P(x_n) under a discretised Laplace of mean out0 and
 * log-scale clamp(out1, ls_min, ls_max) (lnic.encoder.nets.entropy.laplace_bits). */

#define LN2 0.69314718055994530942f

/* bits, and with want_grad d bits / d mu and d bits / d ls (0 where the clamp is active).
 * Both sides of |x - mu| = 1/2 are computed for every sample (the loop is vectorised, so a
 * branch would be a blend anyway), from four transcendentals: exp(-ls) = 1/b, 1 - exp(-1/b)
 * (expm1, exact for small 1/b), exp(-(1/2 - d)/b) near the mean (its partner
 * exp(-(1/2 + d)/b) is exp(-1/b) over it) and one logarithm of either side's mass. */
static inline void laplace(const float *x, const float *mu, const float *ls_raw, int m,
                           float ls_min, float ls_max, float *bits, float *g_mu, float *g_ls) {
    for (int r = 0; r < B; r++) {
        float ls = ls_raw[r];
        const float live_ls = (ls >= ls_min && ls <= ls_max) ? 1.f : 0.f;
        ls = ls < ls_min ? ls_min : (ls > ls_max ? ls_max : ls);
        const float inv_b = expf(-ls);
        const float diff = x[r] - mu[r];
        const float d = fabsf(diff);
        const float sgn = diff > 0.f ? 1.f : (diff < 0.f ? -1.f : 0.f);
        const float one_minus = -expm1f(-inv_b); /* 1 - exp(-1/b) */
        const float e_inv = 1.f - one_minus;     /* exp(-1/b) */
        /* |d| >= 1/2: P = exp(-(d - 1/2)/b) (1 - exp(-1/b)) / 2;
         * |d| < 1/2: P = 1 - (e1 + e2) / 2, e1 = exp(-(1/2 - d)/b), e2 = exp(-(1/2 + d)/b) */
        const int tail = d >= 0.5f;
        const float dn = tail ? 0.5f : d;
        const float e1 = expf((dn - 0.5f) * inv_b);
        const float e2 = e_inv / e1;
        const float p = 1.f - 0.5f * (e1 + e2);
        const int floor_p = !tail && !(p > 1e-12f); /* the near mass floored at 1e-12 */
        const float mass = tail ? 0.5f * one_minus : (floor_p ? 1e-12f : p);
        const float logp = logf(mass) - (tail ? (d - 0.5f) * inv_b : 0.f);
        const float ip = floor_p ? 0.f : 1.f / p;
        const float dd = tail ? -inv_b : -0.5f * inv_b * (e1 - e2) * ip;
        const float dinv =
            tail ? 0.5f - d + e_inv / one_minus : 0.5f * ((0.5f - d) * e1 + (0.5f + d) * e2) * ip;
        const float valid = r < m ? 1.f : 0.f;
        bits[r] = valid * (-logp / LN2);
        if (g_mu != NULL) {
            /* bits = -logp / ln2; d/dx = -dd * sgn / ln2; d/dmu = -d/dx */
            g_mu[r] = valid * dd * sgn / LN2;
            g_ls[r] = valid * live_ls * (dinv * inv_b / LN2);
        }
    }
}

/* The ARM's layers packed for apply_layer (params = w1 [H][K], b1 [H], w2 [H][H], b2 [H],
 * w3 [2][H], b3 [2]): the forward's three, and the transposes of w3, w2, w1 that the backward's
 * input gradients apply. Packed once per kernel call, shared by the threads. */
typedef struct {
    Layer l1, l2, l3, t3, t2, t1;
    float *buf;
} ArmNet;

static ArmNet pack_arm(const float *p, int K, int H) {
    const float *w1 = p, *b1 = w1 + H * K, *w2 = b1 + H, *b2 = w2 + H * H, *w3 = b2 + H,
                *b3 = w3 + 2 * H;
    const long sizes[6] = {LAYER_FLOATS(K, H), LAYER_FLOATS(H, H), LAYER_FLOATS(H, 2),
                           LAYER_FLOATS(2, H), LAYER_FLOATS(H, H), LAYER_FLOATS(H, K)};
    long total = 0;
    for (int i = 0; i < 6; i++) total += sizes[i];
    ArmNet n;
    n.buf = malloc(sizeof(float) * total);
    float *q = n.buf;
    n.l1 = pack_dense(w1, b1, K, H, q);
    n.l2 = pack_dense(w2, b2, H, H, q += sizes[0]);
    n.l3 = pack_dense(w3, b3, H, 2, q += sizes[1]);
    n.t3 = pack_transpose(w3, H, 2, q += sizes[2]);
    n.t2 = pack_transpose(w2, H, H, q += sizes[3]);
    n.t1 = pack_transpose(w1, K, H, q += sizes[4]);
    return n;
}

static inline void arm_forward_block(const float *c, long ldc, const ArmNet *n, float *h1,
                                     float *h2, float *out) {
    apply_layer(c, ldc, &n->l1, 1, h1);
    apply_layer(h1, B, &n->l2, 1, h2);
    apply_layer(h2, B, &n->l3, 0, out);
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
    const ArmNet net = pack_arm(p, K, H);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int c = 0; c < NCHUNK; c++) {
        float h1[MAX_HIDDEN * B], h2[MAX_HIDDEN * B], out[2 * B], bits[B], tmp[MAX_IN * B], xt[B];
        double acc = 0.0;
        for (long blk = c * nblk / NCHUNK; blk < (c + 1) * nblk / NCHUNK; blk++) {
            const long s = blk * B;
            const int m = N - s < B ? (int)(N - s) : B;
            long ld;
            const float *cb = arm_block(a, N, K, s, m, tmp, &ld);
            long ldx;
            const float *xb = block_in(x, N, 1, s, m, xt, &ldx);
            arm_forward_block(cb, ld, &net, h1, h2, out);
            laplace(xb, out, out + B, m, ls_min, ls_max, bits, NULL, NULL);
            float s_bits = 0.f;
            for (int r = 0; r < B; r++) s_bits += bits[r];
            acc += s_bits;
        }
        chunk_bits[c] = acc;
    }
    free(net.buf);
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

/* Which blocks give the weight gradients: those with blk % stride == phase, times stride
 * (stride 1: all of them, exact). */
typedef struct {
    int stride, phase;
} WeightSampling;

/* One chunk of the backward: its blocks in order, weight gradients into chunk_grads [P] (from
 * the blocks ws selects), and (if bits_out is not NULL) the chunk's bits, summed as
 * arm_rate_forward_src sums them. The blocks go in groups of GRAD_GROUP: each block's forward,
 * rate and input gradients first (its activations and their gradients kept), then the weight
 * gradients of the whole group (GradGroup). */
static void arm_backward_chunk(const ArmSrc *a, const float *x, long N, int K, int H,
                               const ArmNet *net, float ls_min, float ls_max, float g, int c,
                               const ArmGradOut *o, float *chunk_grads, double *bits_out,
                               WeightSampling ws) {
    const long nblk = (N + B - 1) / B;
    const int P = H * K + H + H * H + H + 2 * H + 2;
    /* per block of a group: h1, h2, g1, g2 [H][B], gout [2][B], the context [K][B] */
    const long per = (long)B * (4 * H + 2 + K);
    float *scratch = malloc(sizeof(float) * GRAD_GROUP * per);
    float bits[B], xt[B], gc[MAX_IN * B], out[2 * B];
    float *acc = calloc((size_t)P * LANES, sizeof(float));
    float *gw1 = acc, *gb1 = gw1 + H * K * LANES, *gw2 = gb1 + H * LANES,
          *gb2 = gw2 + H * H * LANES, *gw3 = gb2 + H * LANES, *gb3 = gw3 + 2 * H * LANES;
    GradGroup gg1 = {0}, gg2 = {0}, gg3 = {0}; /* the three layers' weight-gradient groups */
    double acc_bits = 0.0;
    const long first = c * nblk / NCHUNK, last = (c + 1) * nblk / NCHUNK;
    for (long blk0 = first; blk0 < last; blk0 += GRAD_GROUP) {
        const int ns = last - blk0 < GRAD_GROUP ? (int)(last - blk0) : GRAD_GROUP;
        for (int k = 0; k < ns; k++) {
            float *h1 = scratch + k * per, *h2 = h1 + H * B, *g1 = h2 + H * B, *g2 = g1 + H * B,
                  *gout = g2 + H * B, *tmp = gout + 2 * B;
            const long blk = blk0 + k, s = blk * B;
            const int m = N - s < B ? (int)(N - s) : B;
            long ld, ldx;
            const float *cb = arm_block(a, N, K, s, m, tmp, &ld);
            const float *xb = block_in(x, N, 1, s, m, xt, &ldx);
            arm_forward_block(cb, ld, net, h1, h2, out);
            laplace(xb, out, out + B, m, ls_min, ls_max, bits, gout, gout + B);
            float s_bits = 0.f;
            for (int r = 0; r < B; r++) s_bits += bits[r];
            acc_bits += s_bits;
            for (int r = 0; r < 2 * B; r++) gout[r] *= g;
            apply_layer(gout, B, &net->t3, 0, g2);
            mask_relu(g2, h2, H);
            apply_layer(g2, B, &net->t2, 0, g1);
            mask_relu(g1, h1, H);
            apply_layer(g1, B, &net->t1, 0, gc);
            if (o->gctx != NULL) {
                for (int r = 0; r < m; r++) o->gx[s + r] = -gout[r];
                for (int j = 0; j < K; j++)
                    memcpy(o->gctx + j * N + s, gc + j * B, sizeof(float) * m);
            } else {
                for (int r = 0; r < m; r++) o->gflat[s + r] -= gout[r];
                scatter_block(a, s, m, gc, o->gflat, o->gco);
            }
            if (blk % ws.stride != ws.phase) continue;
            group_add(&gg3, h2, B, gout);
            group_add(&gg2, h1, B, g2);
            group_add(&gg1, cb, ld, g1);
        }
        group_grads(&gg3, H, 2, gw3, gb3);
        group_grads(&gg2, H, H, gw2, gb2);
        group_grads(&gg1, K, H, gw1, gb1);
    }
    sum_lanes(acc, P, (float)ws.stride, chunk_grads);
    free(acc);
    free(scratch);
    if (bits_out != NULL) *bits_out = acc_bits;
}

/* Gradients of g * sum(bits): gctx [K][N] (the inputs' gradient), gx [N], chunk_grads
 * [NCHUNK][P]; chunk_bits [NCHUNK] (if not NULL): the forward's value on the way. */
static void arm_rate_backward_src(const ArmSrc *a, const float *x, long N, int K, int H,
                                  const float *p, float ls_min, float ls_max, float g,
                                  float *gctx, float *gx, float *chunk_grads, double *chunk_bits,
                                  WeightSampling ws, int nt) {
    const int P = H * K + H + H * H + H + 2 * H + 2;
    const ArmGradOut o = {gctx, gx, NULL, NULL};
    const ArmNet net = pack_arm(p, K, H);
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int c = 0; c < NCHUNK; c++)
        arm_backward_chunk(a, x, N, K, H, &net, ls_min, ls_max, g, c, &o, chunk_grads + (long)c * P,
                           chunk_bits == NULL ? NULL : chunk_bits + c, ws);
    free(net.buf);
}

void arm_rate_forward(const float *ctx, const float *x, long N, int K, int H, const float *p,
                      float ls_min, float ls_max, double *chunk_bits, int nt) {
    const ArmSrc a = {ctx, NULL, NULL, {0}, 0, 0, NULL};
    arm_rate_forward_src(&a, x, N, K, H, p, ls_min, ls_max, chunk_bits, nt);
}

void arm_rate_backward(const float *ctx, const float *x, long N, int K, int H, const float *p,
                       float ls_min, float ls_max, float g, float *gctx, float *gx,
                       float *chunk_grads, double *chunk_bits, int wstride, int wphase, int nt) {
    const ArmSrc a = {ctx, NULL, NULL, {0}, 0, 0, NULL};
    const WeightSampling ws = {wstride, wphase};
    arm_rate_backward_src(&a, x, N, K, H, p, ls_min, ls_max, g, gctx, gx, chunk_grads, chunk_bits,
                          ws, nt);
}

/* The same on the grids (flat [N], L <= MAX_LEVELS grids): the context is gathered per block, and
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
int arm_rate_grids_backward_fused(const float *flat, const long *shapes, int L, const int *offs,
                                  int nc, long N, int H, const float *p, float ls_min,
                                  float ls_max, float g, float *gflat, float *gco,
                                  float *chunk_grads, double *chunk_bits, int wstride,
                                  int wphase, int nt) {
    const ArmSrc a = grid_source(flat, shapes, L, offs, nc);
    const WeightSampling ws = {wstride, wphase};
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
    const ArmNet net = pack_arm(p, K, H);
    for (int phase = 0; phase < 2; phase++) {
#pragma omp parallel for schedule(static) num_threads(nt)
        for (int c = phase; c < NCHUNK; c += 2)
            arm_backward_chunk(&a, flat, N, K, H, &net, ls_min, ls_max, g, c, &o,
                               chunk_grads + (long)c * P,
                               chunk_bits == NULL ? NULL : chunk_bits + c, ws);
    }
    free(net.buf);
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
                             float g, float *gctx, float *gx, float *chunk_grads,
                             double *chunk_bits, int wstride, int wphase, int nt) {
    const ArmSrc a = grid_source(flat, shapes, L, offs, nc);
    const WeightSampling ws = {wstride, wphase};
    arm_rate_backward_src(&a, flat, N, nc + 1, H, p, ls_min, ls_max, g, gctx, gx, chunk_grads,
                          chunk_bits, ws, nt);
}
