/* The decoder's per-step work of the latent decoding loop, in C: the integer ARM on a step's
 * latents with their context windows and table rows, then the store of the decoded latents.
 *
 * The same arithmetic as the numpy loop and the numba kernels (lnic/bitstream/arm_kernels.py),
 * on the same segment tables and folded ARM (lnic/bitstream/latent_coding/plan.py): every value
 * is an integer multiple of a power of two far below 2^53, so float64 products and sums are
 * exact in any order (vectorised, fused or not) and every machine gets the same bits. The floor
 * is computed exactly for every double (see vfloor). lnic/bitstream/c_kernels.py compiles this
 * file; it passes SEG_* (the segment table's columns) and BLOCK (latents per block) as -D flags,
 * so this file keeps no copy of them.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef __AVX__
#include <immintrin.h>
#endif

#if !defined(BLOCK) || !defined(SEG_COLUMNS)
#error "compile through lnic/bitstream/c_kernels.py: it defines BLOCK and the SEG_* columns"
#endif

typedef double dv __attribute__((vector_size(32)));
typedef int64_t iv __attribute__((vector_size(32)));
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

static inline dv clampv(dv v, double lo, double hi) {
    v = pick(v < splat(lo), splat(lo), v);
    return pick(v > splat(hi), splat(hi), v);
}


/* out[o][0:b] = clip(floor(w[o] . x[:, 0:BLOCK]), lo[o], hi[o]) (lo, hi NULL: lo_all, hi_all):
 * x's rows are ldx apart and 32-byte aligned; out's rows are BLOCK apart, aligned. Outputs
 * go in pairs, so that each input row loaded serves two accumulator sets. */
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
            const dv *xr = (const dv *)(x + i * ldx);
            for (int v = 0; v < VB; v++) {
                dv xv = xr[v];
                a0[v] += p * xv;
                a1[v] += q * xv;
            }
        }
        double la = lo ? lo[o] : lo_all, ha = hi ? hi[o] : hi_all;
        double lb = lo ? lo[o + 1] : lo_all, hb = hi ? hi[o + 1] : hi_all;
        for (int v = 0; v < VB; v++) {
            ((dv *)(out + o * BLOCK))[v] = clampv(vfloor(a0[v]), la, ha);
            ((dv *)(out + (o + 1) * BLOCK))[v] = clampv(vfloor(a1[v]), lb, hb);
        }
    }
    for (; o < n_out; o++) {
        dv a0[VB];
        for (int v = 0; v < VB; v++) a0[v] = splat(0.0);
        const double *w0 = w + o * n_in;
        for (int64_t i = 0; i < n_in; i++) {
            dv p = splat(w0[i]);
            const dv *xr = (const dv *)(x + i * ldx);
            for (int v = 0; v < VB; v++) a0[v] += p * xr[v];
        }
        double la = lo ? lo[o] : lo_all, ha = hi ? hi[o] : hi_all;
        for (int v = 0; v < VB; v++) ((dv *)(out + o * BLOCK))[v] = clampv(vfloor(a0[v]), la, ha);
    }
}

/* Window cell cells[q] (row r = cells[q] / cols, column c = cells[q] % cols) of latent i of
 * each segment into row q, column offset + i of x (rows ldx apart). */
static void gather(const double *storage, const int64_t *segs, int64_t n_segs, double *x,
                   int64_t ldx, const int64_t *cells, int64_t n_cells, int64_t cols) {
    for (int64_t k = 0; k < n_segs; k++) {
        const int64_t *s = segs + k * SEG_COLUMNS;
        int64_t m = s[SEG_LENGTH], lat = s[SEG_LAT];
        for (int64_t q = 0; q < n_cells; q++) {
            int64_t r = cells[q] / cols, c = cells[q] % cols;
            const double *src = storage + s[SEG_START] + r * s[SEG_ROW] + c * s[SEG_COL];
            double *dst = x + q * ldx + s[SEG_OFFSET];
            if (lat == 1)
                memcpy(dst, src, (size_t)m * sizeof(double));
            else
                for (int64_t i = 0; i < m; i++) dst[i] = src[i * lat];
        }
    }
}

/* What every step's calls share (lnic/bitstream/latent_coding/c_loop.py fills it once per
 * pass; its ctypes mirror, _Params, lists the same fields in the same order). */
typedef struct {
    double *x;              /* [dims[0], ldx]: the ARM's inputs of a step */
    const double *weights;  /* the hidden layers' matrices, in order */
    const int64_t *dims;    /* n_dims: inputs of each hidden layer, then its last's outputs */
    int64_t n_dims;
    double *scratch;        /* 3 blocks of [width, BLOCK] */
    int64_t width;
    const double *out_m;    /* [n_outputs, dims[n_dims - 1]] */
    int64_t n_outputs;
    double *o;              /* [n_outputs, n]: mu_q, m_int, scale_idx */
    const double *lo, *hi;  /* the outputs' bounds */
    double hidden_max;      /* hidden activations in [0, hidden_max] */
    const int64_t *cells;   /* the window cells the first layer reads */
    int64_t cols;           /* window columns */
    const double *row_vec;  /* table row = row_vec . outputs */
    const float *table;     /* [n_rows, n_sym] */
    int64_t n_rows, n_sym;
    float *probs;           /* [n, n_sym]: each latent's row, for the range decoder */
    int32_t *row_of;        /* [n]: each latent's row */
    const double *residual; /* symbol -> residual */
    const double *costs;    /* [n_rows * n_sym]: each symbol's information content */
    double *info;           /* the decoded symbols' information content, summed */
} StepParams;

/* One step's ARM on its n latents (see arm_kernels._arm_step for the numba form): x as
 * [dims[0], ldx], ldx = n rounded up to BLOCK, receives the window cells the first layer reads
 * (p->cells) and a row of ones; the layers run block by block; o receives the outputs, probs
 * each latent's table row (row_vec . o[:, j]) and row_of its index. Returns 0 if a row is
 * outside the table (a diverging pass on a corrupt stream, or one without the clamps). */
int latent_arm_step(const double *storage, const int64_t *segs, int64_t n_segs, int64_t n,
                    const StepParams *p) {
    double *x = p->x, *scratch = p->scratch, *o = p->o;
    const double *weights = p->weights, *out_m = p->out_m, *lo = p->lo, *hi = p->hi;
    const int64_t *dims = p->dims;
    int64_t n_dims = p->n_dims, width = p->width, n_outputs = p->n_outputs;
    int64_t n_rows = p->n_rows, n_sym = p->n_sym;
    double hidden_max = p->hidden_max;
    const double *row_vec = p->row_vec;
    const float *table = p->table;
    float *probs = p->probs;
    int32_t *row_of = p->row_of;
    int64_t k_in = dims[0], ldx = (n + BLOCK - 1) / BLOCK * BLOCK;
    gather(storage, segs, n_segs, x, ldx, p->cells, k_in - 1, p->cols);
    for (int64_t r = 0; r < k_in - 1; r++)
        for (int64_t j = n; j < ldx; j++) x[r * ldx + j] = 0.0;
    for (int64_t j = 0; j < ldx; j++) x[(k_in - 1) * ldx + j] = 1.0;
    double *h[3] = {scratch, scratch + width * BLOCK, scratch + 2 * width * BLOCK};
    for (int64_t j0 = 0; j0 < n; j0 += BLOCK) {
        int64_t b = n - j0 < BLOCK ? n - j0 : BLOCK;
        const double *cur = x + j0, *w = weights;
        int64_t ldc = ldx;
        for (int64_t l = 0; l + 1 < n_dims; l++) {
            layer_block(w, dims[l + 1], dims[l], cur, ldc, h[l & 1], NULL, NULL, 0.0, hidden_max);
            w += dims[l + 1] * dims[l];
            cur = h[l & 1];
            ldc = BLOCK;
        }
        layer_block(out_m, n_outputs, dims[n_dims - 1], cur, ldc, h[2], lo, hi, 0.0, 0.0);
        for (int64_t r = 0; r < n_outputs; r++)
            memcpy(o + r * n + j0, h[2] + r * BLOCK, (size_t)b * sizeof(double));
    }
    for (int64_t j = 0; j < n; j++) {
        double v = 0.0;
        for (int64_t r = 0; r < n_outputs; r++) v += row_vec[r] * o[r * n + j];
        if (!(v >= 0.0 && v < (double)n_rows)) return 0;
        int64_t row = (int64_t)v;
        row_of[j] = (int32_t)row;
        memcpy(probs + j * n_sym, table + row * n_sym, (size_t)n_sym * sizeof(float));
    }
    return 1;
}

/* storage[dst + i lat] = residual[sym[offset + i]] + m_int[offset + i] for each segment (m_int:
 * row 1 of o as [outputs, n]); adds the decoded symbols' information content to info[0]
 * (costs[row * n_sym + symbol]); returns the largest symbol of the step. */
int64_t latent_store_step(const int32_t *sym, double *storage, const int64_t *segs,
                          int64_t n_segs, int64_t n, const StepParams *p) {
    const double *residual = p->residual, *o = p->o, *costs = p->costs;
    const int32_t *row_of = p->row_of;
    int64_t n_sym = p->n_sym;
    int64_t top = 0;
    double bits = 0.0;
    for (int64_t j = 0; j < n; j++) {
        int32_t s = sym[j];
        if (s > top) top = s;
        bits += costs[(int64_t)row_of[j] * n_sym + s];
    }
    p->info[0] += bits;
    for (int64_t k = 0; k < n_segs; k++) {
        const int64_t *sg = segs + k * SEG_COLUMNS;
        int64_t m = sg[SEG_LENGTH], off = sg[SEG_OFFSET], dst = sg[SEG_DST], lat = sg[SEG_LAT];
        for (int64_t i = 0; i < m; i++)
            storage[dst + i * lat] = residual[sym[off + i]] + o[n + off + i];
    }
    return top;
}
