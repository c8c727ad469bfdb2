/* The decoder's per-step work of the latent decoding loop, in C: the integer ARM on a step's
 * latents with their context windows and table rows, the range decoder, the store of the
 * decoded latents.
 *
 * The same arithmetic as the numpy loop and the numba kernels (lnic/bitstream/arm_kernels.py),
 * on the same segment tables and folded ARM (lnic/bitstream/latent_coding/plan.py): every value
 * is an integer multiple of a power of two far below 2^53, so float64 products and sums are
 * exact in any order (vectorised, fused or not) and every machine gets the same bits
 * (exact_vec.h: the floor, the dense layer). The encoder's exact rate runs the same ARM on
 * known contexts (latent_arm_batch). lnic/bitstream/c_kernels.py compiles this file; it passes
 * SEG_* (the segment table's columns), BLOCK (latents per block) and RANGE_CODER_PRECISION (from
 * lnic/format.py) as -D flags, so this file keeps no copy of them.
 */
#include <stdint.h>
#include <string.h>

#if !defined(BLOCK) || !defined(SEG_COLUMNS) || !defined(RANGE_CODER_PRECISION)
#error "compile through lnic/bitstream/c_kernels.py: it defines BLOCK, SEG_*, RANGE_CODER_PRECISION"
#endif

#include "exact_vec.h"

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
    const uint32_t *cdf;    /* [n_rows, n_sym + 1]: each row as the range coder quantizes it */
    int64_t n_rows, n_sym;
    int32_t *row_of;        /* [n]: each latent's row */
    const double *residual; /* symbol -> residual */
    const double *costs;    /* [n_rows * n_sym]: each symbol's information content */
    double *info;           /* the decoded symbols' information content, summed */
} StepParams;

/* The ARM on n latents whose inputs are the columns of x ([dims[0], ldx], ldx >= n rounded up to
 * BLOCK, the last row ones, the padding columns zero), block by block: o ([n_outputs, n])
 * receives mu_q, m_int and scale_idx. */
static void arm_layers(const double *x, int64_t ldx, int64_t n, const StepParams *p) {
    const int64_t *dims = p->dims;
    int64_t n_dims = p->n_dims, width = p->width, n_outputs = p->n_outputs;
    double *h[3] = {p->scratch, p->scratch + width * BLOCK, p->scratch + 2 * width * BLOCK};
    for (int64_t j0 = 0; j0 < n; j0 += BLOCK) {
        int64_t b = n - j0 < BLOCK ? n - j0 : BLOCK;
        const double *cur = x + j0, *w = p->weights;
        int64_t ldc = ldx;
        for (int64_t l = 0; l + 1 < n_dims; l++) {
            layer_block(w, dims[l + 1], dims[l], cur, ldc, h[l & 1], NULL, NULL, 0.0,
                        p->hidden_max);
            w += dims[l + 1] * dims[l];
            cur = h[l & 1];
            ldc = BLOCK;
        }
        layer_block(p->out_m, n_outputs, dims[n_dims - 1], cur, ldc, h[2], p->lo, p->hi, 0.0, 0.0);
        for (int64_t r = 0; r < n_outputs; r++)
            memcpy(p->o + r * n + j0, h[2] + r * BLOCK, (size_t)b * sizeof(double));
    }
}

/* One step's ARM on its n latents (see arm_kernels._arm_step for the numba form): p->x as
 * [dims[0], ldx], ldx = n rounded up to BLOCK, receives the window cells the first layer reads
 * (p->cells) and a row of ones; o receives the outputs and row_of each latent's table row
 * (row_vec . o[:, j]). Returns 0 if a row is outside the table (a diverging pass on a corrupt
 * stream, or one without the clamps). */
static int arm_rows(const double *storage, const int64_t *segs, int64_t n_segs, int64_t n,
                    const StepParams *p) {
    double *x = p->x;
    int64_t k_in = p->dims[0], ldx = (n + BLOCK - 1) / BLOCK * BLOCK;
    gather(storage, segs, n_segs, x, ldx, p->cells, k_in - 1, p->cols);
    for (int64_t r = 0; r < k_in - 1; r++)
        for (int64_t j = n; j < ldx; j++) x[r * ldx + j] = 0.0;
    for (int64_t j = 0; j < ldx; j++) x[(k_in - 1) * ldx + j] = 1.0;
    arm_layers(x, ldx, n, p);
    for (int64_t j = 0; j < n; j++) {
        double v = 0.0;
        for (int64_t r = 0; r < p->n_outputs; r++) v += p->row_vec[r] * p->o[r * n + j];
        if (!(v >= 0.0 && v < (double)p->n_rows)) return 0;
        p->row_of[j] = (int32_t)v;
    }
    return 1;
}

/* The ARM of latents whose inputs are given (the encoder's exact rate: every latent known):
 * x as in arm_layers, its first dims[0] - 1 rows the context the first layer's columns weigh. */
void latent_arm_batch(const double *x, int64_t ldx, int64_t n, const StepParams *p) {
    arm_layers(x, ldx, n, p);
}

/* storage[dst + i lat] = residual[sym[offset + i]] + m_int[offset + i] for each segment (m_int:
 * row 1 of o as [outputs, n]); adds the decoded symbols' information content to info[0]
 * (costs[row * n_sym + symbol]); returns the largest symbol of the step. */
static int64_t store(const int32_t *sym, double *storage, const int64_t *segs,
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

/* The range decoder of the format's coder (lnic.format.RANGE_CODER_PRECISION: constriction's
 * queue coder, 32-bit words, a 64-bit state): lower and range of the current interval, the
 * point the words read so far give, and the words. */
typedef struct {
    uint64_t lower, range, point;
    const uint32_t *words;
    int64_t n_words, pos;
} RangeState;

/* The first two words make the point (fewer: zeros after them); the interval is everything. */
void latent_range_init(RangeState *s, const uint32_t *words, int64_t n_words) {
    int read = 0;
    s->words = words;
    s->n_words = n_words;
    s->pos = 0;
    s->point = 0;
    while (s->pos < n_words && read < 2) {
        s->point = (s->point << 32) | words[s->pos++];
        read++;
    }
    if (read == 1) s->point <<= 32;
    s->lower = 0;
    s->range = UINT64_MAX;
}

/* Whether the section may hold nothing more: every word read, and the point no further from
 * the interval's start than the coder's final flush leaves it. */
int latent_range_exhausted(const RangeState *s) {
    return s->pos >= s->n_words &&
           (s->range == UINT64_MAX || s->point - s->lower < (((uint64_t)1 << 32) << 1) - 1);
}

/* Symbols sym[0..n-1] of latents whose rows are row_of (cdf: [rows, n_sym + 1]); returns 0 if
 * the data cannot come from these models (a quantile beyond the precision). */
static int range_decode(RangeState *s, const int32_t *row_of, int64_t n, const uint32_t *cdf,
                        int64_t n_sym, int32_t *sym) {
    const uint64_t total = (uint64_t)1 << RANGE_CODER_PRECISION;
    for (int64_t j = 0; j < n; j++) {
        uint64_t scale = s->range >> RANGE_CODER_PRECISION;
        uint64_t quantile = (s->point - s->lower) / scale;
        if (quantile >= total) return 0;
        const uint32_t *c = cdf + (int64_t)row_of[j] * (n_sym + 1);
        int64_t k = 0;
        while (c[k + 1] <= quantile) k++;
        s->lower += scale * c[k];
        s->range = scale * (uint64_t)(c[k + 1] - c[k]);
        if (s->range < ((uint64_t)1 << 32)) {
            s->lower <<= 32;
            s->range <<= 32;
            s->point <<= 32;
            if (s->pos < s->n_words) s->point |= s->words[s->pos++];
        }
        sym[j] = (int32_t)k;
    }
    return 1;
}

/* range_decode on its own (the tests compare it with constriction on arbitrary words). */
int latent_range_decode(RangeState *s, const int32_t *row_of, int64_t n, const uint32_t *cdf,
                        int64_t n_sym, int32_t *sym) {
    return range_decode(s, row_of, n, cdf, n_sym, sym);
}

/* One step: the ARM and the table rows of its n latents, their symbols from the range decoder
 * (into sym), the latents stored. Returns the step's largest symbol, -1 if a table row fell
 * outside the table, -2 if the data cannot come from the models. */
int64_t latent_step(double *storage, const int64_t *segs, int64_t n_segs, int64_t n,
                    const StepParams *p, RangeState *rs, int32_t *sym) {
    if (!arm_rows(storage, segs, n_segs, n, p)) return -1;
    if (!range_decode(rs, p->row_of, n, p->cdf, p->n_sym, sym)) return -2;
    return store(sym, storage, segs, n_segs, n, p);
}
