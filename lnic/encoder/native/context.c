#include "grids.h"

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

