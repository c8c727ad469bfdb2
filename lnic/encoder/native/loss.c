#include "common.h"

/* The training loss's distortion: the mean squared error of x [N] against target [N], and its
 * gradient grad [N] = 2 (x - target) / N, in one pass. Each of the NCHUNK fixed chunks sums its
 * squares in float over runs of SUM_RUN values and adds the runs in double, into chunk_sums
 * [NCHUNK]; the caller adds the chunks in order, so the value does not depend on the threads. */
#define SUM_RUN 1024

void mse_forward(const float *x, const float *target, long N, float *grad, double *chunk_sums,
                 int nt) {
    const float scale = 2.f / (float)N;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (int c = 0; c < NCHUNK; c++) {
        const long lo = c * N / NCHUNK, hi = (c + 1) * N / NCHUNK;
        double acc = 0.0;
        for (long s = lo; s < hi; s += SUM_RUN) {
            const long e = s + SUM_RUN < hi ? s + SUM_RUN : hi;
            float run = 0.f;
            for (long i = s; i < e; i++) {
                const float d = x[i] - target[i];
                grad[i] = scale * d;
                run += d * d;
            }
            acc += run;
        }
        chunk_sums[c] = acc;
    }
}
