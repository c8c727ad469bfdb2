"""The native training kernels equal the torch code they replace (values and gradients)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from lnic.encoder.native import build, library
from lnic.encoder.native.arm_ops import ArmRate
from lnic.encoder.native.synthesis_ops import Mlp2
from lnic.encoder.nets.arm import Arm
from lnic.encoder.nets.mlp import ChannelsFirstMlp
from lnic.encoder.nets.synthesis import Synthesis
from lnic.model.arm import LOG_SCALE_MAX, LOG_SCALE_MIN

needs_native = pytest.mark.skipif(library() is None, reason="no C compiler: torch kernels only")


def _assert_grads_close(got_g, want_g, rtol=1e-4):
    for g, w in zip(got_g, want_g):
        torch.testing.assert_close(g, w, rtol=rtol, atol=rtol * w.abs().max().item())


def _compare(reference, native, tensors, atol=1e-5):
    """Values (and gradients with respect to ``tensors``) of ``native`` equal ``reference``'s."""
    want, want_g = _grads(reference, tensors)
    got, got_g = _grads(native, tensors)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=atol)
    _assert_grads_close(got_g, want_g)


def _grads(fn, tensors):
    for t in tensors:
        t.grad = None
    value = fn()
    (value * 0.7).backward() if value.dim() == 0 else value.backward(torch.ones_like(value))
    return value.detach(), [t.grad.clone() for t in tensors]


@needs_native
@pytest.mark.parametrize("n", [64, 1000, 4099])
def test_arm_rate_equals_the_torch_rate(n):
    from lnic.model.latents import grid_shapes

    torch.manual_seed(n)
    arm = Arm(16, 2)
    for p in arm.parameters():
        p.data.normal_(0, 0.4)
    # log-scales beyond both clamps, latents near and far from the mean
    arm.out.bias.data = torch.tensor([0.3, -1.0])
    shapes = grid_shapes(max(8, n // 40), 40, 3)
    grids = [(torch.randn(s) * 3).requires_grad_() for s in shapes]
    params = list(arm.parameters())
    want, want_g = _grads(lambda: arm.bits(grids, native=False), [*grids, *params])
    got, got_g = _grads(lambda: arm.bits(grids, native=True), [*grids, *params])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-3)
    _assert_grads_close(got_g, want_g)


@needs_native
def test_arm_rate_clamps_the_log_scale_like_torch():
    torch.manual_seed(0)
    n = 300
    context = torch.randn(13, n, requires_grad=True)
    x = (torch.randn(n) * 4).round().requires_grad_()
    params = [
        torch.randn(16, 13),
        torch.randn(16),
        torch.randn(16, 16) * 0.3,
        torch.randn(16),
        torch.randn(2, 16) * 2,
        torch.tensor([0.0, 0.0]),
    ]
    params = [p.requires_grad_() for p in params]

    def reference():
        from lnic.encoder.nets.entropy import laplace_bits

        out = ChannelsFirstMlp.apply(context, *params)
        return laplace_bits(x, out[0], out[1].clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)).sum()

    want, want_g = _grads(reference, [context, x, *params])
    got, got_g = _grads(
        lambda: ArmRate.apply(context, x, LOG_SCALE_MIN, LOG_SCALE_MAX, *params),
        [context, x, *params],
    )
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-3)
    _assert_grads_close(got_g, want_g)


@needs_native
@pytest.mark.parametrize("n", [64, 777])
def test_synthesis_mlp_equals_the_torch_mlp(n):
    torch.manual_seed(n)
    x = torch.randn(7, n, requires_grad=True)
    params = [torch.randn(40, 7), torch.randn(40), torch.randn(3, 40), torch.randn(3)]
    params = [p.requires_grad_() for p in params]
    _compare(
        lambda: ChannelsFirstMlp.apply(x, *params), lambda: Mlp2.apply(x, *params), [x, *params]
    )


@needs_native
@pytest.mark.parametrize("k, hidden, c", [(1, 1, 1), (3, 6, 1), (5, 13, 3), (7, 40, 3)])
def test_mlp_tiles_with_ragged_edges_equal_torch(k, hidden, c):
    # the kernels work in 4 x 4 tiles of outputs and inputs: widths that are not multiples of 4
    # (grayscale's one output, small images' few grids) run the tiles' zero-padded edges
    torch.manual_seed(k * 100 + hidden)
    x = torch.randn(k, 200, requires_grad=True)
    params = [torch.randn(hidden, k), torch.randn(hidden), torch.randn(c, hidden), torch.randn(c)]
    params = [p.requires_grad_() for p in params]
    _compare(
        lambda: ChannelsFirstMlp.apply(x, *params), lambda: Mlp2.apply(x, *params), [x, *params]
    )


@needs_native
@pytest.mark.parametrize("hidden", [5, 13])
def test_arm_rate_with_ragged_hidden_width_equals_torch(hidden):
    from lnic.model.latents import grid_shapes

    torch.manual_seed(hidden)
    arm = Arm(hidden, 2)
    for p in arm.parameters():
        p.data.normal_(0, 0.4)
    grids = [(torch.randn(s) * 3).requires_grad_() for s in grid_shapes(24, 40, 3)]
    params = list(arm.parameters())
    want, want_g = _grads(lambda: arm.bits(grids, native=False), [*grids, *params])
    got, got_g = _grads(lambda: arm.bits(grids, native=True), [*grids, *params])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-3)
    _assert_grads_close(got_g, want_g)


@needs_native
def test_synthesis_module_uses_the_native_mlp_with_the_same_output():
    torch.manual_seed(0)
    synth = Synthesis(7, 40, 3)
    z = torch.randn(7, 21, 30)
    torch.testing.assert_close(synth(z, native=True), synth(z, native=False))


@needs_native
def test_weight_gradients_do_not_depend_on_the_thread_count():
    torch.manual_seed(0)
    x = torch.randn(7, 5000, requires_grad=True)
    params = [
        torch.randn(40, 7).requires_grad_(),
        torch.randn(40).requires_grad_(),
        torch.randn(3, 40).requires_grad_(),
        torch.randn(3).requires_grad_(),
    ]
    threads = torch.get_num_threads()
    results = []
    try:
        for t in (1, 2):
            torch.set_num_threads(t)
            results.append(_grads(lambda: Mlp2.apply(x, *params), [x, *params])[1])
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*results):
        assert torch.equal(a, b)


@needs_native
@pytest.mark.skipif(not build.cpu_flags(), reason="no x86 /proc/cpuinfo flags to compare with")
def test_vectors_are_as_wide_as_the_cpus_registers():
    # 16-float vectors on a CPU without AVX-512 made a training step 7x slower (spilled tiles)
    flags = set(build.cpu_flags().split())
    expected = 16 if "avx512f" in flags else 8 if "avx" in flags else 4
    assert library().vector_lanes() == expected


def test_native_kernels_can_be_switched_off():
    code = "from lnic.encoder.native import library; print(library() is None)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"LNIC_NATIVE": "0", "PATH": ""},
        check=True,
    )
    assert out.stdout.strip() == "True"


def test_the_kernels_limits_are_compiler_defines_in_the_cache_key(monkeypatch):
    from lnic.encoder.native import build, limits

    for source in build.sources():
        text = source.read_text()
        assert not [name for name in limits.LIMITS if f"#define {name} " in text], source.name
    if shutil.which("gcc"):  # without the defines the sources refuse to compile
        run = subprocess.run(
            ["gcc", "-fsyntax-only", str(build.UNIT)], capture_output=True, text=True
        )
        assert run.returncode != 0 and "limits.py" in run.stderr
    before = build.library_path()
    monkeypatch.setitem(limits.LIMITS, "MAX_HIDDEN", 2 * limits.MAX_HIDDEN)
    assert f"-DMAX_HIDDEN={2 * limits.MAX_HIDDEN}" in limits.defines()
    assert build.library_path() != before


_USE_KERNELS = """
import ctypes
from lnic.encoder.native import library
lib = library()
print(lib is not None)
if lib is not None:
    out = (ctypes.c_float * 4)()
    lib.gauss_fill(out, 4, 7, ctypes.c_float(1.0), 1)
    print(any(v != 0 for v in out))
"""


def _use_kernels(cache, **env):
    """Load the kernels in a fresh process whose cache folder is ``cache`` (a crash stays there)."""
    env = {**os.environ, "LNIC_CACHE_DIR": str(cache), "LNIC_NATIVE": "1", **env}
    return subprocess.run(
        [sys.executable, "-c", _USE_KERNELS], env=env, capture_output=True, text=True, timeout=600
    )


def _cached_copy(cache):
    """A copy of this process's built library (and its recorded checksum) in ``cache``."""
    from lnic.encoder.native.build import library_path

    built = library_path()
    for path in built.parent.glob(built.name + "*"):
        shutil.copy2(path, cache / path.name)
    return cache / built.name, built.stat().st_size


@needs_native
def test_an_intact_cached_library_is_loaded_as_it_is(tmp_path):
    library, _ = _cached_copy(tmp_path)
    before = library.stat()
    run = _use_kernels(tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "True"]
    after = library.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


@needs_native
def test_a_truncated_cached_library_is_built_again(tmp_path):
    """A damaged cache file must not crash the encoder (loaded unchecked, it dies of SIGBUS)."""
    library, size = _cached_copy(tmp_path)
    with open(library, "r+b") as f:
        f.truncate(size // 2)
    run = _use_kernels(tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["True", "True"]
    from lnic.encoder.native.build import is_intact

    assert library.stat().st_size == size and is_intact(library)


@needs_native
def test_a_damaged_cache_without_a_compiler_falls_back_to_torch_with_one_warning(tmp_path):
    library, size = _cached_copy(tmp_path)
    with open(library, "r+b") as f:
        f.truncate(size // 2)
    run = _use_kernels(tmp_path, CC="false")  # a "compiler" that always fails
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False"]
    assert run.stderr.count("torch kernels") == 1, run.stderr


def test_a_library_that_does_not_load_is_built_once_more(monkeypatch):
    import ctypes
    from pathlib import Path

    import lnic.cbuild as cbuild
    import lnic.encoder.native as native

    builds, loads = [], []

    def build_cached(*_, fresh=False):
        builds.append(fresh)
        return Path("k.so")

    monkeypatch.setattr(cbuild, "build_cached", build_cached)

    def cdll(path):
        loads.append(path)
        if len(loads) == 1:
            raise OSError("invalid ELF header")
        return "loaded"

    monkeypatch.setattr(ctypes, "CDLL", cdll)
    assert native._load() == "loaded"
    assert builds == [False, True]


@needs_native
@pytest.mark.parametrize(
    "shape", [(3, 5, 7), (3, 1, 9), (3, 12, 1), (2, 33, 70), (1, 20, 37), (3, 9, 50), (5, 6, 18)]
)
@pytest.mark.parametrize("relu", [False, True])
def test_residual_conv_equals_torch(shape, relu):
    import torch.nn.functional as F

    from lnic.encoder.native.synthesis_ops import ResidualConv3x3

    torch.manual_seed(sum(shape))
    c = shape[0]
    y = torch.randn(*shape, requires_grad=True)
    weight = torch.randn(c, c, 3, 3, requires_grad=True)
    bias = torch.randn(c, requires_grad=True)

    def reference():
        a = torch.relu(y) if relu else y
        padded = F.pad(a[None], (1, 1, 1, 1), mode="replicate")
        return y + F.conv2d(padded, weight, bias)[0]

    _compare(reference, lambda: ResidualConv3x3.apply(y, weight, bias, relu), [y, weight, bias])


@needs_native
def test_synthesis_gradients_equal_the_torch_synthesis():
    torch.manual_seed(1)
    synth = Synthesis(7, 40, 3)
    for p in synth.parameters():
        p.data.normal_(0, 0.3)
    z = torch.randn(7, 19, 26, requires_grad=True)
    target = torch.randn(3, 19, 26)
    params = [z, *synth.parameters()]
    want, want_g = _grads(lambda: ((synth(z, native=False) - target) ** 2).mean(), params)
    got, got_g = _grads(lambda: ((synth(z, native=True) - target) ** 2).mean(), params)
    torch.testing.assert_close(got, want)
    _assert_grads_close(got_g, want_g)


@needs_native
@pytest.mark.parametrize("shape", [(2, 5, 7), (1, 1, 1), (3, 2, 9), (2, 16, 3)])
@pytest.mark.parametrize("axis", [1, 2])
@pytest.mark.parametrize("odd", [False, True])
def test_upsampling_axis_equals_torch(shape, axis, odd):
    from lnic.encoder.native.upsampling_ops import UpAxis
    from lnic.encoder.nets.upsampling import up_axis_torch

    torch.manual_seed(sum(shape) + axis)
    x = torch.randn(*shape, requires_grad=True)
    taps = torch.randn(4, requires_grad=True)
    size = 2 * shape[axis] - int(odd)
    _compare(
        lambda: up_axis_torch(x, taps, axis, size) ** 2,
        lambda: UpAxis.apply(x, taps, axis, size) ** 2,
        [x, taps],
    )


@needs_native
def test_upsampler_gradients_equal_the_torch_upsampler():
    from lnic.encoder.nets.upsampling import Upsampler
    from lnic.model.latents import grid_shapes

    torch.manual_seed(3)
    shapes = grid_shapes(37, 50, 5)
    grids = [torch.randn(s, requires_grad=True) for s in shapes]
    ups = Upsampler(5)
    ups.taps.data += 0.05 * torch.randn_like(ups.taps)
    ups.pre.data += 0.1 * torch.randn_like(ups.pre)
    weights = torch.randn(5, 37, 50)
    params = [*grids, ups.taps, ups.pre]
    want, want_g = _grads(lambda: (ups(grids, native=False) * weights).sum(), params)
    got, got_g = _grads(lambda: (ups(grids, native=True) * weights).sum(), params)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)
    _assert_grads_close(got_g, want_g)


@needs_native
@pytest.mark.parametrize("size,levels", [((37, 50), 5), ((16, 17), 2), ((9, 11), 1)])
def test_upsample_pyramid_equals_the_level_by_level_kernels_bit_for_bit(size, levels):
    """The one-node pyramid runs the same kernels in the same order as PreAxis and UpAxis level
    by level: values and every gradient are equal, not only close (encodes keep their bytes)."""
    from lnic.encoder.nets.upsampling import Upsampler
    from lnic.model.latents import grid_shapes

    torch.manual_seed(levels)
    grids = [(3 * torch.randn(s)).requires_grad_() for s in grid_shapes(*size, levels)]
    ups = Upsampler(levels)
    ups.taps.data += 0.05 * torch.randn_like(ups.taps)
    ups.pre.data += 0.1 * torch.randn_like(ups.pre)
    weights = torch.randn(levels, *size)
    params = [*grids, ups.pre] + ([ups.taps] if levels > 1 else [])  # one grid: no x2 taps
    fused, fused_g = _grads(lambda: (ups(grids) * weights).sum(), params)
    by_level, by_level_g = _grads(
        lambda: (ups.forward_by_level(grids, native=True) * weights).sum(), params
    )
    assert torch.equal(fused, by_level)
    for a, b in zip(fused_g, by_level_g):
        assert torch.equal(a, b)


@needs_native
@pytest.mark.parametrize("shape", [(1, 1), (2, 5), (7, 3), (9, 40), (33, 6)])
@pytest.mark.parametrize("axis", [0, 1])
def test_prefilter_axis_equals_torch(shape, axis):
    from lnic.encoder.native.upsampling_ops import PreAxis
    from lnic.encoder.nets.upsampling import pre_axis_torch

    torch.manual_seed(sum(shape) + axis)
    x = torch.randn(*shape, requires_grad=True)
    taps = torch.randn(4, requires_grad=True)
    _compare(
        lambda: pre_axis_torch(x, taps, axis) ** 2,
        lambda: PreAxis.apply(x, taps, axis) ** 2,
        [x, taps],
    )


@needs_native
def test_prefilter_gradients_do_not_depend_on_the_thread_count():
    from lnic.encoder.native.upsampling_ops import PreAxis

    torch.manual_seed(1)
    x = torch.randn(70, 90, requires_grad=True)
    taps = torch.randn(4, requires_grad=True)
    threads = torch.get_num_threads()
    results = []
    try:
        for t in (1, 2):
            torch.set_num_threads(t)
            results.append(
                _grads(lambda: PreAxis.apply(PreAxis.apply(x, taps, 1), taps, 0) ** 2, [x, taps])[1]
            )
    finally:
        torch.set_num_threads(threads)
    for a, b in zip(*results):
        assert torch.equal(a, b)


@needs_native
@pytest.mark.parametrize("temperature", [0.3, 0.05])
def test_soft_round_proxy_equals_torch(temperature):
    from lnic.encoder.native.ops import SoftRoundNoise
    from lnic.encoder.train import soft_round

    torch.manual_seed(0)
    g = (torch.randn(5000) * 3).requires_grad_()
    noise = torch.randn(5000) * 0.2
    t = torch.tensor(temperature)
    want, want_g = _grads(lambda: soft_round(soft_round(g, t) + noise, t) ** 2, [g])
    got, got_g = _grads(lambda: SoftRoundNoise.apply(g, noise, temperature) ** 2, [g])
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(got_g[0], want_g[0], rtol=1e-3, atol=1e-3)


@needs_native
@pytest.mark.parametrize(
    "shape,levels",
    [((17, 23), 3), ((9, 130), 4), ((70, 67), 7), ((1, 5), 2), ((256, 40), 5), ((300, 61), 4)],
)
def test_arm_rate_on_grids_equals_the_rate_of_the_materialised_context(shape, levels):
    """The per-block context gathering (rows split across blocks and grids, borders, the
    coarser grid's co-located latent) gives the values and gradients of the two-step path; the
    last two shapes are long enough for the backward's fused scatter, the others are not."""
    from lnic.encoder.native.arm_ops import ArmRateGrids, CausalContextFlat
    from lnic.model.latents import grid_shapes

    torch.manual_seed(levels)
    shapes = grid_shapes(*shape, levels)
    flat = (torch.randn(sum(h * w for h, w in shapes)) * 2).requires_grad_()
    params = [p.data.normal_(0, 0.4).requires_grad_() for p in Arm(16, 2).parameters()]
    _compare(
        lambda: ArmRate.apply(
            CausalContextFlat.apply(flat, shapes), flat, LOG_SCALE_MIN, LOG_SCALE_MAX, *params
        ),
        lambda: ArmRateGrids.apply(flat, shapes, LOG_SCALE_MIN, LOG_SCALE_MAX, *params),
        [flat, *params],
    )


@needs_native
@pytest.mark.parametrize("shape,fused", [((300, 61), True), ((70, 67), False)])
def test_arm_rate_on_grids_scatters_its_context_gradient_when_chunks_are_long(
    shape, fused, monkeypatch
):
    import lnic.encoder.native.arm_ops as arm_ops
    from lnic.model.latents import grid_shapes

    called = []
    real = arm_ops.run_kernel
    monkeypatch.setattr(
        arm_ops, "run_kernel", lambda kernel, *a: called.append(kernel) or real(kernel, *a)
    )
    shapes = grid_shapes(*shape, 4)
    flat = torch.randn(sum(h * w for h, w in shapes), requires_grad=True)
    params = [p.data.normal_(0, 0.4).requires_grad_() for p in Arm(16, 2).parameters()]
    arm_ops.ArmRateGrids.apply(flat, shapes, LOG_SCALE_MIN, LOG_SCALE_MAX, *params).backward()
    assert ("context_backward" in called) is not fused


@needs_native
@pytest.mark.parametrize("shape", [(17, 23), (9, 40), (32, 48), (1, 5)])
def test_flat_context_equals_the_grid_context(shape):
    from lnic.encoder.native.arm_ops import CausalContextFlat
    from lnic.encoder.nets.arm import CausalContext
    from lnic.model.latents import grid_shapes

    torch.manual_seed(0)
    shapes = grid_shapes(*shape, 3)
    grids = [torch.randn(*s, requires_grad=True) for s in shapes]
    weights = torch.randn(13, sum(h * w for h, w in shapes))
    want, want_g = _grads(lambda: (CausalContext.apply(*grids) * weights).sum(), grids)
    got, got_g = _grads(
        lambda: (
            CausalContextFlat.apply(torch.cat([g.reshape(-1) for g in grids]), shapes) * weights
        ).sum(),
        grids,
    )
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-4)
    _assert_grads_close(got_g, want_g, rtol=1e-5)


@needs_native
def test_native_gaussian_noise_is_gaussian_seeded_and_thread_count_free():
    from scipy import stats

    from lnic.encoder.native.ops import gaussian_noise

    like = torch.empty(200_000)
    threads = torch.get_num_threads()
    draws = []
    try:
        for t in (1, 2):
            torch.set_num_threads(t)
            torch.manual_seed(3)
            draws.append(gaussian_noise(like, 0.25))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(draws[0], draws[1])
    z = (draws[0] / 0.25).numpy()
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(stats.pearsonr(z[:-1], z[1:])[0]) < 0.01  # neighbours independent
    torch.manual_seed(4)
    assert not torch.equal(gaussian_noise(like, 0.25), draws[0])


@needs_native
def test_native_gaussian_noise_is_its_hash_and_box_muller_at_every_index():
    # the kernel hashes a run of indices first and transforms them after: every element must
    # still be the transform of its own index's hash, across runs and in a ragged last run
    import ctypes

    lib, n, seed = library(), 1000, 12345
    out = torch.empty(n)
    lib.gauss_fill(out.data_ptr(), n, seed, ctypes.c_float(0.5), 1)
    mask = (1 << 64) - 1
    want = []
    for i in range(n):
        z = (seed + i * 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
        u1 = ((z >> 40) + 1) / 2**24
        u2 = ((z >> 16) & 0xFFFFFF) / 2**24
        want.append(0.5 * np.sqrt(-2 * np.log(u1)) * np.cos(2 * np.pi * u2 - (i & 1) * np.pi / 2))
    np.testing.assert_allclose(out.numpy(), np.array(want), rtol=1e-4, atol=1e-5)


@needs_native
@pytest.mark.parametrize("shape", [(300, 61), (70, 67)])
def test_arm_rate_on_grids_gives_the_same_bits_with_and_without_gradients(shape):
    """With a gradient to come, the forward computes the bits in the backward kernel's pass (the
    fused one for the first shape, the two-step one for the second): the value must be the
    forward kernel's."""
    from lnic.encoder.native.arm_ops import ArmRateGrids
    from lnic.model.latents import grid_shapes

    torch.manual_seed(3)
    shapes = grid_shapes(*shape, 4)
    flat = (torch.randn(sum(h * w for h, w in shapes)) * 2).requires_grad_()
    params = [p.data.normal_(0, 0.4).requires_grad_() for p in Arm(16, 2).parameters()]
    with_grad = ArmRateGrids.apply(flat, shapes, LOG_SCALE_MIN, LOG_SCALE_MAX, *params)
    with torch.no_grad():
        without = ArmRateGrids.apply(flat, shapes, LOG_SCALE_MIN, LOG_SCALE_MAX, *params)
    assert with_grad.requires_grad and not without.requires_grad
    assert with_grad.item() == without.item() > 0


@needs_native
@pytest.mark.parametrize("shape", [(3, 5, 7), (3, 64, 48), (1, 300, 301)])
def test_squared_error_equals_torchs_mse_loss(shape):
    from lnic.encoder.native.ops import SquaredError

    torch.manual_seed(shape[2])
    x = torch.rand(*shape, requires_grad=True)
    target = torch.rand(*shape)
    _compare(
        lambda: torch.nn.functional.mse_loss(x, target), lambda: SquaredError.apply(x, target), [x]
    )


@needs_native
def test_squared_error_does_not_depend_on_the_thread_count():
    from lnic.encoder.native.ops import SquaredError

    torch.manual_seed(0)
    x, target = torch.rand(3, 200, 300), torch.rand(3, 200, 300)
    threads = torch.get_num_threads()
    try:
        values = []
        for n in (1, 2, 3):
            torch.set_num_threads(n)
            values.append(SquaredError.apply(x, target).item())
    finally:
        torch.set_num_threads(threads)
    assert values[0] == values[1] == values[2]


def _sampled_grads(fn, tensors, stride):
    """Gradients of ``fn`` with weight gradients sampled at every phase of ``stride``."""
    from lnic.encoder.native.ops import sampled_weight_gradients

    out = []
    for phase in range(stride):
        with sampled_weight_gradients(stride, phase):
            out.append(_grads(fn, tensors)[1])
    return out


@needs_native
@pytest.mark.parametrize("shape", [(300, 61), (70, 67)])
def test_sampled_weight_gradients_average_to_the_exact_ones(shape):
    """One block in `stride` gives each network's weight gradient (times `stride`): over the
    phases they average to the exact gradient, each phase differs from it, and the latents'
    and inputs' gradients stay exact (the ARM on both of its backward paths, the MLP)."""
    from lnic.encoder.native.arm_ops import ArmRateGrids
    from lnic.encoder.native.synthesis_ops import Mlp2
    from lnic.model.latents import grid_shapes

    torch.manual_seed(5)
    shapes = grid_shapes(*shape, 4)
    flat = (torch.randn(sum(h * w for h, w in shapes)) * 2).requires_grad_()
    arm = [p.data.normal_(0, 0.4).requires_grad_() for p in Arm(16, 2).parameters()]
    x = torch.randn(7, shape[0] * shape[1], requires_grad=True)
    mlp = [torch.randn(40, 7), torch.randn(40), torch.randn(3, 40), torch.randn(3)]
    mlp = [p.mul_(0.3).requires_grad_() for p in mlp]
    cases = [
        (lambda: ArmRateGrids.apply(flat, shapes, LOG_SCALE_MIN, LOG_SCALE_MAX, *arm), flat, arm),
        (lambda: Mlp2.apply(x, *mlp).square().sum(), x, mlp),
    ]
    for fn, inputs, weights in cases:
        exact = _grads(fn, [inputs, *weights])[1]
        sampled = _sampled_grads(fn, [inputs, *weights], 2)
        for grads in sampled:
            torch.testing.assert_close(grads[0], exact[0])
            assert not torch.allclose(grads[1], exact[1])
        mean = [(a + b) / 2 for a, b in zip(sampled[0][1:], sampled[1][1:])]
        _assert_grads_close(mean, exact[1:])


def test_weight_sampling_is_refused_outside_its_range():
    from lnic.encoder.native.ops import sampled_weight_gradients, weight_sampling

    for stride, phase in [(0, 0), (2, 2), (3, -1)]:
        with pytest.raises(ValueError), sampled_weight_gradients(stride, phase):
            pass
    with sampled_weight_gradients(4, 3):
        assert weight_sampling() == (4, 3)
    assert weight_sampling() == (1, 0)
