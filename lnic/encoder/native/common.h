/* What every kernel file shares: the limits, the block and vector types, the border helpers.
 *
 * lnic/encoder/native/build.py compiles the kernels as one unit (kernels.c includes every .c
 * file here; gcc -O3 -march=native -ffast-math -fopenmp), and the autograd functions of
 * lnic/encoder/native/ops.py and *_ops.py call them through ctypes; the torch code in
 * lnic/encoder/nets is the reference they must equal. Data are channels-first float32: sample n
 * of feature k is at [k * ld + n]. Samples are processed in blocks of B; a block's hidden
 * activations live on the stack (L1), so a backward pass recomputes them instead of reading
 * hundreds of MB back from memory.
 *
 * Weight gradients are accumulated per chunk (NCHUNK fixed chunks of blocks, whatever the
 * number of threads) and summed by the caller in chunk order: the result does not depend on the
 * thread count.
 */
#ifndef LNIC_KERNELS_COMMON_H
#define LNIC_KERNELS_COMMON_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The limits the Python side allocates and checks by come from lnic/encoder/native/limits.py as
 * -D defines: no source repeats them. */
#if !defined(NCHUNK) || !defined(MAX_HIDDEN) || !defined(MAX_IN) || !defined(MAX_LEVELS) || \
    !defined(N_CONTEXT) || !defined(PREFILTER_RADIUS)
#error "compile with the -D defines of lnic/encoder/native/limits.py (build.py passes them)"
#endif
_Static_assert(N_CONTEXT <= MAX_IN, "a block of ARM inputs holds at most MAX_IN features");

#define B 64

/* Vectors of LANES floats (gcc vector extensions), one register of the CPU the library is built
 * for: 16 with AVX-512, 8 with AVX/AVX2, 4 otherwise (SSE, NEON); tiles of up to JT x JT of
 * them as accumulators in the dense layers (dense.h). A vector wider than the CPU's registers is not merely split
 * in two: the tiles then need twice the registers there are and spill, and on an AVX2-only AMD
 * EPYC (Zen 2) a training step took 7x as long with 16 lanes as with 8
 * (benchmarks/encode_speed.md). A block is B samples on every CPU, 1 to 4 runs of 4 vectors. */
#if defined(LANES)
/* set on the command line: timing probes, and tests of the other CPUs' configurations
 * (tests/test_native_widths.py) */
#elif defined(__AVX512F__)
#define LANES 16
#elif defined(__AVX__)
#define LANES 8
#else
#define LANES 4
#endif
#define JT 4
#define RUN (4 * LANES)
_Static_assert(B % RUN == 0, "apply_layer() walks a block in runs of four vectors");
typedef float vf __attribute__((vector_size(4 * LANES)));
static inline vf LDV(const float *p) { vf v; memcpy(&v, p, sizeof v); return v; }
static inline void STV(float *p, vf v) { memcpy(p, &v, sizeof v); }

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

#endif
