"""Train-step throughput: gan's training step against the reference DCGAN loop (pytorch/examples dcgan/main.py).

    .venv/bin/python benchmarks/bench_train.py                   # full ablation, 64x64/batch 64 and 32x32/batch 128
    .venv/bin/python benchmarks/bench_train.py --quick           # reference vs gan fp32 and bf16 only (CI, make bench)
    .venv/bin/python benchmarks/bench_train.py --precision bf16 --compile
    .venv/bin/python benchmarks/bench_train.py --threads 1 --clock cpu  # one core, unmoved by other jobs
    .venv/bin/python benchmarks/bench_train.py --device cuda --sizes 32:256,64:128

Both sides build the same DCGAN (gan.nets.models.build_models, ngf = ndf = 64, same init) and train it on the same
batch size. The reference is main.py's loop written out here: a torchvision-style dataset of PIL images with
per-image Resize / ToTensor / Normalize through a DataLoader, contiguous fp32, standard Adam, netD(real),
netD(fake.detach()), netD(fake) with D not frozen, default zero_grad, .item() for the printed stats.
gan's side is the real code path: gan.train.run.build_run (device-resident uint8 batches, channels_last,
foreach / fused Adam) and gan.train.step.train_step (d_step, then g_step with D frozen; no host syncs).
The ablation adds one lever at a time to the reference. Every arm, and the GEMMs, run in turn in
this one process, rotating the order each repeat; numbers are medians over repeats. Compare them only
with each other, never with numbers measured at another time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode
from torchvision import transforms

from gan.config.load import apply_overrides

from gan.config.schema import RunConfig
from gan.data.stream import BatchStream
from gan.data.builtin import load_split
from gan.train.machine import cpu_model, describe_cpu
from gan.nets.models import build_models
from gan.train.step import autocast, step_modules, train_step
from gan.train.run import build_run

GOALS = {"gan fp32": 1.4, "gan bf16": 3.0}  # x the reference at 64x64 on the 2-core CPU (issue 7)
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


########################################################################################
# the reference: pytorch/examples dcgan/main.py

class PilImages(Dataset):
    """MNIST-like: uint8 (N, 28, 28) images handed out as PIL images through `transform`, as torchvision does."""

    def __init__(self, images: torch.Tensor, transform: Callable):
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(Image.fromarray(self.images[i].numpy(), mode="L")), 0


class ReferenceLoop:
    """main.py's training step on the same architecture, plus the levers that are switched on."""

    def __init__(self, spec: Spec, device: torch.device, device_batches: bool = False,
                 channels_last: bool = False, foreach: bool = False):
        self.spec, self.device, self.device_batches = spec, device, device_batches
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        torch.manual_seed(0)
        netG, netD = build_models(spec.model_cfg, spec.nc, spec.size)
        self.netG = netG.to(device, memory_format=self.memory_format)
        self.netD = netD.to(device, memory_format=self.memory_format)
        # main.py: optim.Adam(params, lr=2e-4, betas=(0.5, 0.999)): on CPU that is the per-tensor for-loop
        extra = {"foreach": True} if foreach else {}
        self.optimizerD = torch.optim.Adam(self.netD.parameters(), lr=2e-4, betas=(0.5, 0.999), **extra)
        self.optimizerG = torch.optim.Adam(self.netG.parameters(), lr=2e-4, betas=(0.5, 0.999), **extra)
        self.criterion = torch.nn.BCEWithLogitsLoss()  # main.py: Sigmoid in netD + BCELoss; D here ends in logits
        if device_batches:
            images = load_split(spec.data_cfg, train=True, device=device).images  # uint8 (N, nc, S, S)
            self.stream = BatchStream(images, spec.batch, seed=0)
        else:
            g = torch.Generator().manual_seed(0)
            raw = torch.randint(0, 256, (spec.ref_images, 28, 28), dtype=torch.uint8, generator=g)
            dataset = PilImages(raw, transforms.Compose([transforms.Resize(spec.size), transforms.ToTensor(),
                                                         transforms.Normalize((0.5,), (0.5,))]))
            self.loader = DataLoader(dataset, batch_size=spec.batch, shuffle=True, num_workers=spec.ref_workers,
                                     drop_last=True, persistent_workers=spec.ref_workers > 0)
            self.batches = iter(self.loader)

    def _next_real(self) -> torch.Tensor:
        if self.device_batches:
            return self.stream.next().contiguous(memory_format=self.memory_format)
        try:
            data = next(self.batches)
        except StopIteration:
            self.batches = iter(self.loader)
            data = next(self.batches)
        return data[0].to(self.device).contiguous(memory_format=self.memory_format)

    def step(self) -> None:
        netG, netD, criterion = self.netG, self.netD, self.criterion
        ############################
        # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
        ###########################
        netD.zero_grad()
        real_cpu = self._next_real()
        batch_size = real_cpu.size(0)
        label = torch.full((batch_size,), 1.0, dtype=real_cpu.dtype, device=self.device)
        output = netD(real_cpu)
        errD_real = criterion(output, label)
        errD_real.backward()
        D_x = output.sigmoid().mean().item()
        noise = torch.randn(batch_size, self.spec.model_cfg.nz, 1, 1, device=self.device)
        fake = netG(noise)
        label.fill_(0.0)
        output = netD(fake.detach())
        errD_fake = criterion(output, label)
        errD_fake.backward()
        D_G_z1 = output.sigmoid().mean().item()
        errD = errD_real + errD_fake
        self.optimizerD.step()
        ############################
        # (2) Update G network: maximize log(D(G(z)))
        ###########################
        netG.zero_grad()
        label.fill_(1.0)
        output = netD(fake)
        errG = criterion(output, label)
        errG.backward()
        D_G_z2 = output.sigmoid().mean().item()
        self.optimizerG.step()
        self.printed = (errD.item(), errG.item(), D_x, D_G_z1, D_G_z2)  # main.py prints these every step


########################################################################################
# gan's step, through the training loop's own functions

class GanLoop:
    """gan.train.run.build_run + train_step for a config: exactly what `gan train` runs each step."""

    def __init__(self, cfg: RunConfig):
        self.tmp = tempfile.TemporaryDirectory()
        self.run = build_run(cfg, Path(self.tmp.name))
        self.nets = step_modules(self.run)
        self.amp = autocast(cfg, self.run.device)

    def step(self) -> None:
        train_step(self.run, self.nets, self.amp)


class Gemm:
    """`a @ b` at size n: the machine's dense-matmul rate, measured in turn with the arms (same contention)."""

    def __init__(self, n: int, dtype: torch.dtype, device: torch.device, calls: int):
        g = torch.Generator().manual_seed(0)
        self.a, self.b = (torch.randn(n, n, generator=g).to(device, dtype) for _ in range(2))
        self.calls, self.flops = calls, 2 * n ** 3 * calls

    def step(self) -> None:
        for _ in range(self.calls):
            self.a @ self.b


########################################################################################
# measuring

@dataclass
class Spec:
    size: int
    batch: int
    width: int
    nc: int
    device: torch.device
    ref_workers: int
    n_images: int = 2048  # gan's fake split (device-resident; its epoch boundary costs one randperm)
    ref_images: int = 60_000  # the reference's PIL dataset, MNIST-sized: epochs (and worker restarts) as rare

    @property
    def model_cfg(self):
        return self.gan_cfg().model

    @property
    def data_cfg(self):
        return self.gan_cfg().data

    def gan_cfg(self, **train) -> RunConfig:
        overrides = {"data.name": "fake", "data.image_size": self.size, "data.fake_size": self.n_images,
                     "model.ngf": self.width, "model.ndf": self.width, "train.batch_size": self.batch,
                     "train.device": str(self.device), **{f"train.{k}": v for k, v in train.items()}}
        return apply_overrides(RunConfig(), overrides)


@dataclass
class Arm:
    name: str
    make: Callable[[], object]
    flop_family: str | None = None  # arms of one family do the same arithmetic: counted once
    goal: float | None = None  # x the reference that issue 7 asks for (64x64 on the CPU)
    loop: object = None
    times: list[float] = field(default_factory=list)
    error: str | None = None


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def count_flops(loop) -> float:
    with FlopCounterMode(display=False) as counter:
        loop.step()
    return float(counter.get_total_flops())


def measure(arms: list[Arm], device: torch.device, repeats: int, steps: int, warmup: int,
            clock: Callable[[], float] = time.perf_counter) -> None:
    """Build and warm every arm, then `repeats` rounds: each arm runs `steps` steps, order rotating each round."""
    for arm in arms:
        try:
            t = time.perf_counter()
            arm.loop = arm.make()
            for _ in range(warmup):  # oneDNN primitives, allocator, torch.compile
                arm.loop.step()
            sync(device)
            print(f"  ready: {arm.name:<42} ({time.perf_counter() - t:.1f} s to build and warm up)", flush=True)
        except Exception as err:  # e.g. torch.compile without a working compiler: report, keep the others
            arm.error = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:100] if str(err).strip() else ''}"
            print(f"  failed: {arm.name}: {arm.error}", flush=True)
    live = [a for a in arms if a.error is None]
    for r in range(repeats):
        for arm in live[r % len(live):] + live[:r % len(live)]:
            sync(device)
            t = clock()
            for _ in range(steps):
                arm.loop.step()
            sync(device)
            arm.times.append((clock() - t) / steps)


def report(spec: Spec, arms: list[Arm], gemms: list[Arm], flops: dict[str, float]) -> dict[str, float]:
    """Prints the table for one size; returns {arm name: ratio to the reference} (x ref)."""
    ref = arms[0]
    if ref.error:
        print(f"the reference failed ({ref.error}): no ratios")
        return {}
    print(f"{'arm':<42}{'ms/step':>9}{'img/s':>8}{'x ref':>7}{'paired':>8}{'spread':>13}{'GFLOP':>7}{'GFLOP/s':>9}")
    ratios = {}
    for arm in arms:
        if arm.error:
            print(f"{arm.name:<42}{'failed':>9}  {arm.error}")
            continue
        med = statistics.median(arm.times)
        paired = [a / b for a, b in zip(ref.times, arm.times)]
        ratio = statistics.median(ref.times) / med
        ratios[arm.name] = ratio
        gf = flops.get(arm.flop_family or "", float("nan")) / 1e9
        print(f"{arm.name:<42}{1000 * med:9.1f}{spec.batch / med:8.1f}{ratio:7.2f}"
              f"{statistics.median(paired):8.2f}{min(paired):6.2f}-{max(paired):<6.2f}{gf:7.1f}{gf / med:9.1f}")
    gemms = [g for g in gemms if g.error is None]
    for g in gemms:
        med = statistics.median(g.times)
        print(f"{g.name:<42}{1000 * med / g.loop.calls:9.1f}{'':>8}{'':>7}{'':>8}{'':>13}"
              f"{g.loop.flops / g.loop.calls / 1e9:7.1f}{g.loop.flops / med / 1e9:9.1f}")
    gemm = {g.name.split()[0]: g.loop.flops / statistics.median(g.times) for g in gemms}
    for arm in arms:
        if arm.error or not arm.flop_family:
            continue
        rate = flops[arm.flop_family] / statistics.median(arm.times)
        dtype = "bf16" if "bf16" in arm.name else "fp32"
        if dtype in gemm:
            print(f"  {arm.name}: {rate / 1e9:.0f} GFLOP/s = {100 * rate / gemm[dtype]:.0f}% of the {dtype} GEMM rate")
    return ratios


def bench_size(args: argparse.Namespace, device: torch.device, size: int, batch: int) -> dict[str, dict[str, float]]:
    """Measure and print one size; returns {arm name: {"img_per_s", "x_ref"}}."""
    spec = Spec(size, batch, args.width, 1, device, args.ref_workers)
    precisions = args.precision.split(",")
    arms = [Arm("reference (main.py loop)", lambda: ReferenceLoop(spec, device), "ref")]
    if not args.quick:
        arms += [Arm("+ device-resident batches", lambda: ReferenceLoop(spec, device, True), "ref"),
                 Arm("+ channels_last", lambda: ReferenceLoop(spec, device, True, True), "ref"),
                 Arm("+ foreach Adam", lambda: ReferenceLoop(spec, device, True, True, True), "ref")]
    on_goal = size == 64 and device.type == "cpu"
    for p in precisions:
        name = f"gan {p}" + (" (default)" if p == "fp32" else "")
        if p == "fp32" and not args.quick:
            name = "+ frozen D, no syncs = " + name
        arms.append(Arm(name, lambda p=p: GanLoop(spec.gan_cfg(precision=p)), "gan",
                        GOALS[f"gan {p}"] if on_goal else None))
        if p in args.compile:
            arms.append(Arm(f"gan {p} + torch.compile", lambda p=p: GanLoop(spec.gan_cfg(precision=p, compile=True)),
                            "gan"))
    gemms = [Arm(f"{p} GEMM {args.gemm}^2", lambda p=p: Gemm(args.gemm, DTYPES[p], device, args.gemm_calls))
             for p in precisions]
    if args.compile:
        # one process compiles several copies of the same modules (arms, sizes); `gan train` compiles one:
        # forget earlier sizes and allow this size's variants, so no arm silently falls back to eager
        torch._dynamo.reset()
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    print(f"\n== {size}x{size}, batch {batch}, ngf=ndf={args.width}, nc=1: {args.repeats} rotating repeats x "
          f"{args.steps} steps, medians ==", flush=True)
    measure(arms + gemms, device, args.repeats, args.steps, args.warmup,
            time.process_time if args.clock == "cpu" else time.perf_counter)
    flops = {}
    for family in ("ref", "gan"):  # on an eager fp32 arm: compiled kernels are invisible to the counter
        arm = next((a for a in arms if a.flop_family == family and a.error is None and "compile" not in a.name), None)
        if arm is not None:
            flops[family] = count_flops(arm.loop)
    ratios = report(spec, arms, gemms, flops)
    results = {a.name: {"img_per_s": batch / statistics.median(a.times), "x_ref": ratios[a.name]}
               for a in arms if a.name in ratios}
    for arm in arms:
        if arm.flop_family == "gan" and arm.name in results:
            r = results[arm.name]
            met = arm.goal is not None and r["x_ref"] >= arm.goal
            verdict = "" if arm.goal is None else f"; goal >= {arm.goal}x {'met' if met else 'NOT met'}"
            print(f"RATIO | {size}x{size}/b{batch} | {arm.name} | {r['x_ref']:.2f}x the reference "
                  f"({r['img_per_s']:.1f} vs {results[arms[0].name]['img_per_s']:.1f} img/s{verdict})")
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="reference and gan arms only, fewer repeats (CI, make bench)")
    p.add_argument("--precision", default="fp32,bf16", help="gan arms to run: fp32, bf16 or both (fp32,bf16)")
    p.add_argument("--compile", nargs="?", const="fp32,bf16", default="",
                   help="also run gan arms under torch.compile (slow to warm up): all of --precision, or those named")
    p.add_argument("--sizes", default="64:64,32:128", help="image_size:batch pairs (default 64:64,32:128)")
    p.add_argument("--width", type=int, default=64, help="ngf = ndf (default 64, the DCGAN reference)")
    p.add_argument("--repeats", type=int, default=None, help="rotating rounds (default 7; 3 with --quick)")
    p.add_argument("--steps", type=int, default=None, help="steps per arm per round (default 2; 1 with --quick)")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps per arm before measuring")
    p.add_argument("--gemm", type=int, default=2048, help="GEMM size n for the reference rate (n x n @ n x n)")
    p.add_argument("--gemm-calls", type=int, default=4, help="GEMMs per timed round")
    p.add_argument("--ref-workers", type=int, default=0,
                   help="DataLoader workers of the reference (main.py's default is 2; 0 keeps the 2 cores for both)")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall: elapsed time (the real speed); cpu: this process's CPU time, which other work on a "
                        "shared machine barely moves, but only with --threads 1 (more threads count their spin-waits)")
    args = p.parse_args(argv)
    args.repeats = args.repeats or (3 if args.quick else 7)
    args.steps = args.steps or (1 if args.quick else 2)
    if not set(args.precision.split(",")) <= {"fp32", "bf16"}:
        p.error("--precision takes fp32, bf16 or fp32,bf16")
    args.compile = [c for c in args.compile.split(",") if c in args.precision.split(",")]
    return args


def main(argv: list[str] | None = None) -> dict[str, dict[str, dict[str, float]]]:
    """Run the benchmark; returns {"64x64/b64": {arm name: {"img_per_s", "x_ref"}}, ...}."""
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model()
    print(f"torch {torch.__version__}, device {device} ({where}), {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}", flush=True)
    print(describe_cpu(), flush=True)  # bf16 figures hold only for a CPU with native bf16
    results = {}
    for pair in args.sizes.split(","):
        size, batch = (int(v) for v in pair.split(":"))
        results[f"{size}x{size}/b{batch}"] = bench_size(args, device, size, batch)
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    return results


if __name__ == "__main__":
    main()
