/* The encoder's training kernels, compiled as one translation unit.
 *
 * The sources are split per network (common.h, dense.h and grids.h hold what they share), but
 * gcc decides how far to inline the shared helpers per unit: compiled apart, the dense layers' helpers
 * are inlined differently and, under -ffast-math, the encoder's floats (and so its bytes) change.
 * This file keeps one unit and the order the helpers are defined in.
 */
#include "arm.c"
#include "synthesis.c"
#include "upsampling.c"
#include "proxy.c"
#include "context.c"
#include "loss.c"

/* The vector width the kernels were built with (common.h picks it from the CPU's registers). */
int vector_lanes(void) { return LANES; }
