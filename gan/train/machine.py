"""What this machine has (CPU model and capability, native bf16, free memory) and whether a job fits in it.

    check_training_fits(cfg, nc, device)   # UserError when G + D + Adam + one step's activations exceed memory;
                                           # one warning when bf16 would be emulated on this CPU
    check_grid_fits(cfg, nc, n)            # the same for `gan sample --n N` (model + N images + the PNG grid)
    describe_cpu()                         # "CPU AMD EPYC, torch capability AVX2, native bf16 no (...)"
    cpu_kind()                             # "AuthenticAMD 23.49 AVX2 avx2": what bit-exact retraining needs
    idle_cores()                           # cores no other work is running on now: threads for one-off work

Memory estimates are lower bounds (fp32, counted from the model built on the meta device, nothing allocated):
a job is refused only when even the lower bound exceeds what is available, so no working config is refused.
"""

from __future__ import annotations

import math
import os
import platform
import warnings
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from gan.config.schema import ModelConfig, RunConfig
from gan.errors import UserError

GB = 1e9
SAMPLE_BATCH = 500  # gan.nets.sampling.generate's batch: activations of one batch are alive at a time

########################################################################################
# the CPU


# /proc/cpuinfo flags that change which kernels torch, oneDNN and MKL pick, hence a run's low bits: a run
# retrains bit for bit only where all of them agree (an 'AMD EPYC' may or may not have AVX-512)
KERNEL_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile")


def cpuinfo(path: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo ('vendor_id', 'model name', 'flags', ...); {} without one."""
    try:
        text = path.read_text()
    except OSError:  # macOS, Windows
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:  # the blank line after the first processor
                break
            continue
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_model(info: dict[str, str] | None = None) -> str:
    """'model name' from /proc/cpuinfo (e.g. 'AMD EPYC'), else what platform knows."""
    info = cpuinfo() if info is None else info
    return info.get("model name") or platform.processor() or platform.machine()


def cpu_kind(info: dict[str, str] | None = None, capability: str | None = None) -> str:
    """A short fingerprint of what decides the CPU kernels' arithmetic, e.g.
    'GenuineIntel 6.143 AVX512 avx2+avx512f+avx512_bf16+amx_tile' or 'AuthenticAMD 23.49 AVX2 avx2':
    vendor, family.model (the microarchitecture: kernels also tune to it), torch's dispatch level, and which
    KERNEL_FLAGS the CPU has. Runs that show different kinds are other draws, not the same run retrained."""
    info = cpuinfo() if info is None else info
    vendor = info.get("vendor_id") or platform.machine() or "unknown"
    family_model = f"{info.get('cpu family', '?')}.{info.get('model', '?')}"
    flags = set(info.get("flags", "").split())
    present = "+".join(f for f in KERNEL_FLAGS if f in flags) or "none"
    return f"{vendor} {family_model} {capability or cpu_capability()} {present}"


def cpu_capability() -> str:
    """torch's dispatch level on this CPU: 'AVX512', 'AVX2', 'DEFAULT', ... (what its kernels use)."""
    return torch.backends.cpu.get_cpu_capability()


def _flag(name: str) -> bool:
    fn = getattr(torch.cpu, name, None)  # private helpers: absent on some builds / architectures
    try:
        return bool(fn()) if fn is not None else False
    except Exception:
        return False


def native_bf16() -> bool:
    """True when bf16 matmuls run natively (AVX512-BF16 or AMX tiles); otherwise torch emulates them, 13-28x slower."""
    return _flag("_is_avx512_bf16_supported") or _flag("_is_amx_tile_supported")


def describe_cpu() -> str:
    """One line for benchmark tables and warnings: model, torch capability, native bf16 and why."""
    yes = {True: "yes", False: "no"}
    return (f"CPU {cpu_model()}, torch capability {cpu_capability()}, native bf16 {yes[native_bf16()]} "
            f"(AVX512-BF16 {yes[_flag('_is_avx512_bf16_supported')]}, AMX {yes[_flag('_is_amx_tile_supported')]})")


def warn_if_slow_bf16(cfg: RunConfig, device: torch.device) -> None:
    """bf16 autocast on a CPU without native bf16 is emulated: say so once, before training starts."""
    if cfg.train.precision == "bf16" and device.type == "cpu" and not native_bf16():
        warnings.warn(f"this CPU lacks native bf16 support ({cpu_model()}, torch capability {cpu_capability()}, "
                      "no AVX512-BF16 or AMX): train.precision=bf16 will be much slower than fp32 (13-28x "
                      "measured); use train.precision=fp32", stacklevel=2)


def _runnable_now(path: Path = Path("/proc/loadavg")) -> int | None:
    """Threads runnable on this machine at this instant (the 4th field of /proc/loadavg, 'running/total',
    which counts the reader itself); None where there is no such file."""
    try:
        return int(path.read_text().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def idle_cores(cores: int | None = None, samples: int = 5, sample_s: float = 0.1,
               runnable: Callable[[], int | None] = _runnable_now) -> int:
    """Cores that no other work runs on now: the cores minus the other runnable threads (the median of a few
    instant counts, this process's own thread left out), at least 1; all cores where that cannot be read.

    For one-off multi-threaded work such as training a feature network: on a busy CPU threads of one job wait
    for each other (libgomp spins), so more threads than idle cores is slower than one (a 2-thread classifier
    step took 2.48 s at load 5 here against 1.32 s on one thread). Not the 1-minute load average: it lags, and
    still counts work that has just ended (the plan's own timing processes)."""
    import statistics
    import time

    cores = cores or os.cpu_count() or 1
    counts = []
    for i in range(samples):
        if i:
            time.sleep(sample_s)
        if (n := runnable()) is None:
            return cores
        counts.append(n)
    others = max(0, round(statistics.median(counts)) - 1)  # the reader is runnable while it reads
    return max(1, min(cores, cores - others))


########################################################################################
# memory: what is free, what a job needs


def _cgroup_free() -> float:
    """Bytes left under a cgroup v2 memory limit (containers), inf when there is none."""
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            return int(limit) - int(Path("/sys/fs/cgroup/memory.current").read_text())
    except (OSError, ValueError):
        pass
    return math.inf


def available_memory(device: torch.device | str = "cpu") -> tuple[float, str]:
    """(free bytes, what they are): GPU memory on cuda, else available RAM (psutil if installed); inf if unknown."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return float(free), f"free GPU memory on {device}"
    if device.type != "cpu":
        return math.inf, "memory"
    try:
        import psutil
        free = float(psutil.virtual_memory().available)
    except ImportError:
        free = float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return min(free, _cgroup_free()), "available RAM"


def _activation_elements(net: nn.Module, x: torch.Tensor) -> tuple[int, torch.Tensor]:
    """(sum of every leaf module's output size, net(x)) for a forward on the meta device."""
    total = [0]
    hooks = [m.register_forward_hook(lambda m, i, o: total.__setitem__(0, total[0] + o.numel()))
             for m in net.modules() if not list(m.children())]
    try:
        out = net(x)
    finally:
        for h in hooks:
            h.remove()
    return total[0], out


def model_footprint(model_cfg: ModelConfig, nc: int, image_size: int, batch: int) -> tuple[int, int, int, int]:
    """(G params, D params, G activation elements, D activation elements) for one batch, nothing allocated."""
    from gan.nets.models import build_models

    with torch.device("meta"):
        G, D = build_models(model_cfg, nc, image_size)
        g_act, fake = _activation_elements(G, torch.empty(batch, model_cfg.nz, 1, 1))  # fake: (B, nc, S, S)
        d_act, _ = _activation_elements(D, fake)
    return (sum(p.numel() for p in G.parameters()), sum(p.numel() for p in D.parameters()), g_act, d_act)


def training_bytes(cfg: RunConfig, nc: int, batch: int) -> int:
    """Lower bound of a training step's memory (fp32): weights, gradients and Adam's two moments (16 B per
    parameter), and the activations one step keeps for backward and their gradients (G once, D on the real and
    the fake batch: 2 x 4 B per element)."""
    g_p, d_p, g_a, d_a = model_footprint(cfg.model, nc, cfg.data.image_size, batch)
    return 16 * (g_p + d_p) + 8 * (g_a + 2 * d_a)


def grid_bytes(cfg: RunConfig, nc: int, n: int) -> int:
    """Lower bound for `gan sample --n n`: G's weights and one batch's activations, the n images (float, kept
    twice: output and make_grid's copy), their RGB copy, and the float grid written three times on its way to PNG."""
    g_p, _, g_a, _ = model_footprint(cfg.model, nc, cfg.data.image_size, min(n, SAMPLE_BATCH))
    s = cfg.data.image_size
    h, w = grid_shape(n, s)
    return 4 * (g_p + g_a) + 4 * n * s * s * (2 * nc + 3) + 3 * 4 * 3 * h * w


def grid_shape(n: int, image_size: int, padding: int = 2) -> tuple[int, int]:
    """(height, width) in pixels of make_grid's grid with nrow = floor(sqrt(n)), as gan.nets.sampling writes it."""
    nrow = max(1, int(math.sqrt(n)))
    rows = math.ceil(n / nrow)
    cell = image_size + padding
    return rows * cell + padding, nrow * cell + padding


def ensure_fits(need: float, device: torch.device | str, what: str, fix: str) -> None:
    """UserError (one sentence) when `need` bytes exceed what `device` has free."""
    free, kind = available_memory(device)
    if need > free:
        raise UserError(f"{what} needs at least {need / GB:.1f} GB but this machine has {free / GB:.1f} GB of "
                        f"{kind}; {fix}")


def check_training_fits(cfg: RunConfig, nc: int, device: torch.device, batch: int | None = None) -> None:
    """Before building the models: refuse a model that cannot fit, warn about emulated bf16."""
    need = training_bytes(cfg, nc, batch or cfg.train.batch_size)
    ensure_fits(need, device, f"training with model.ngf={cfg.model.ngf}, model.ndf={cfg.model.ndf} at "
                f"{cfg.data.image_size}x{cfg.data.image_size}, batch {batch or cfg.train.batch_size}",
                "use a smaller model.ngf / model.ndf or train.batch_size")
    warn_if_slow_bf16(cfg, device)


def check_grid_fits(cfg: RunConfig, nc: int, n: int) -> None:
    """Before `gan sample` generates: a grid PIL can open (its decompression-bomb limit) that fits in memory."""
    from PIL import Image

    h, w = grid_shape(n, cfg.data.image_size)
    limit = 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else math.inf  # PIL warns above 1x, refuses above 2x
    if h * w > limit:
        most = n
        while most > 1 and math.prod(grid_shape(most, cfg.data.image_size)) > limit:
            most = int(most * 0.95)
        raise UserError(f"--n {n} makes a {w}x{h} grid ({h * w / 1e6:.0f} million pixels), more than image "
                        f"readers open (PIL refuses to open over {limit / 1e6:.0f} million); pass --n {most} or fewer")
    ensure_fits(grid_bytes(cfg, nc, n), "cpu", f"a grid of {n} samples", "pass a smaller --n")
