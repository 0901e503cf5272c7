"""How long the report's training runs will take on this machine, before they start.

    seconds ≈ Σ_runs 3 F(width) · images · epochs / R

F(width) is the model's forward FLOPs per image (:func:`training.model.forward_flops`;
forward plus backward ≈ 3 forwards), images the training images per epoch, and R the
FLOP rate this machine reaches, measured on a few training steps of a half-width
ResNet-9 (a second or two). It ignores data loading and norm logging, so it is a
lower bound; ``report --profile full`` on a CPU uses it to refuse, or to say how long.
"""

from __future__ import annotations

import time

from dynamics.util.errors import RidgelineError

CIFAR_TRAIN = 50_000  # CIFAR-10 training images


def measured_flop_rate(device: str = "cpu", width: float = 0.5, batch: int = 32, steps: int = 3) -> float:
    """R: FLOP/s of forward + backward + SGD steps of ResNet9(``width``) on ``device``."""
    import torch

    from training.model import ResNet9, forward_flops

    model = ResNet9(width=width).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()

    step()  # warm-up: allocation, kernel selection
    start = time.perf_counter()
    for _ in range(steps):
        step()
    seconds = (time.perf_counter() - start) / steps
    return 3 * forward_flops(model) * batch / seconds


def training_flops(runs) -> float:
    """Σ over ``runs`` ((name, TrainConfig), …) of 3 F(width) · images · epochs, FLOPs."""
    from training.model import ResNet9, forward_flops

    per_image: dict[float, float] = {}  # F(width), one forward pass per width
    total = 0.0
    for _, config in runs:
        if config.width not in per_image:
            per_image[config.width] = forward_flops(ResNet9(width=config.width))
        images = config.train_size or CIFAR_TRAIN - config.holdout
        total += 3 * per_image[config.width] * images * config.epochs
    return total


def training_seconds(runs, rate: float) -> float:
    """Σ over ``runs`` ((name, TrainConfig), …) of 3 F(width) · images · epochs / ``rate``."""
    return training_flops(runs) / rate


def check_cpu_time(runs, device: str, profile: str, console) -> None:
    """``full`` on a CPU: estimate the training time, and refuse unless the device was
    set to ``cpu`` explicitly (then say how long it will take); on a GPU, print the estimate."""
    import torch

    if profile != "full":
        return
    if device != "cpu" and not (device == "auto" and not torch.cuda.is_available()):
        gpu = "cuda" if device == "auto" else device
        rate = measured_flop_rate(gpu, width=1.0, batch=256)  # float32 steps: bf16 runs go faster
        flops = training_flops(runs)
        console.print(f"training on {gpu}: {flops:.3g} FLOP for {len(runs)} run(s), about "
                      f"{flops / rate / 3600:.1f} h at a measured {rate / 1e12:.0f} TFLOP/s "
                      "(float32; without data loading and logging)", highlight=False)
        return
    rate = measured_flop_rate()
    hours = training_seconds(runs, rate) / 3600
    text = (f"training on the CPU: about {hours:.1f} h for {len(runs)} run(s) "
            f"(from the model's FLOP count at a measured {rate / 1e9:.0f} GFLOP/s; a lower bound)")
    if profile == "full" and device != "cpu":
        raise RidgelineError(f"--profile full needs a GPU: no CUDA device here, and {text}; "
                             "pass --device cpu to run it anyway, or use --profile quick")
    console.print(text, highlight=False)
