#include "common.h"

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

/* Elements per run of gauss_fill: the hashes of a run go first, into arrays on the stack, and
 * then its Box-Muller transforms in one loop that gcc vectorises (libmvec's logf, cosf). Even,
 * so that an element's parity is its index's within the run. */
#define GAUSS_RUN 256

/* out [N] = std * a standard Gaussian sample per element, a pure function of (seed, index):
 * the splitmix64 finaliser of seed + index * golden gives 48 uniform bits, and Box-Muller
 * turns them into one Gaussian (cosine for even indices, sine for odd ones of the same
 * pair-free draw). The training noise of lnic.encoder.train.proxy, in one vectorised pass
 * (torch needs two: normal_, then the scaling). Same values for any thread count. The hash
 * stays out of the transforms' loop: its 64-bit multiplies have no AVX2 vector form, and in
 * one loop with them the logarithms and cosines ran one at a time on AVX2-only CPUs. */
void gauss_fill(float *out, long N, unsigned long long seed, float std, int nt) {
    const float two_pi = 6.28318530717958647692f, inv24 = 1.f / 16777216.f;
    const float half_pi = 1.57079632679489662f;
    const long runs = (N + GAUSS_RUN - 1) / GAUSS_RUN;
#pragma omp parallel for schedule(static) num_threads(nt)
    for (long run = 0; run < runs; run++) {
        const long i0 = run * GAUSS_RUN;
        const int m = N - i0 < GAUSS_RUN ? (int)(N - i0) : GAUSS_RUN;
        float u1[GAUSS_RUN], u2[GAUSS_RUN];
        for (int j = 0; j < m; j++) {
            unsigned long long z = seed + (unsigned long long)(i0 + j) * 0x9E3779B97F4A7C15ULL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
            z ^= z >> 31;
            u1[j] = ((float)(z >> 40) + 1.f) * inv24;        /* (0, 1] */
            u2[j] = (float)((z >> 16) & 0xFFFFFF) * inv24; /* [0, 1) */
        }
        float *o = out + i0;
        for (int j = 0; j < m; j++)
            o[j] = std * sqrtf(-2.f * logf(u1[j])) *
                   cosf(two_pi * u2[j] - (float)(j & 1) * half_pi);
    }
}
