/* The latent pyramid as the ARM reads it: the grids concatenated in one flat array (finest
 * first), walked one row segment at a time, and the co-located sums onto a coarser grid. */
#ifndef LNIC_KERNELS_GRIDS_H
#define LNIC_KERNELS_GRIDS_H

#include "common.h"

/* Where the ARM's inputs come from: a channels-first context [K][N] (ctx), or the L latent
 * grids themselves (flat, finest first; shapes [L][2], starts [L] their offsets in flat), each
 * block's context gathered as CausalContext does (nc (dy, dx) neighbours offs, then the next
 * coarser grid's co-located latent). Gathering per block keeps the N_CONTEXT x N context out of
 * memory: it is built in L1 from grid rows that stay in cache. */
typedef struct {
    const float *ctx, *flat;
    const long *shapes;
    long starts[MAX_LEVELS + 1];
    int L, nc;
    const int *offs;
} ArmSrc;

static ArmSrc grid_source(const float *flat, const long *shapes, int L, const int *offs, int nc) {
    ArmSrc a = {NULL, flat, shapes, {0}, L, nc, offs};
    for (int k = 0; k < L; k++) a.starts[k + 1] = a.starts[k] + shapes[2 * k] * shapes[2 * k + 1];
    return a;
}

/* The run of samples s .. s + len - 1 that lies in one row y of grid k (starting at column x0),
 * len <= left: blocks of B samples are walked one row segment at a time. */
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

#endif
