"""The real network: CIFAR-10 data, Page's ResNet-9, the training loop, norm logging.

    from training import TrainConfig, train
    summary = train(TrainConfig(width=0.25, train_size=5000, epochs=8, out="runs/quick"))

``train`` is imported lazily so that ``import training.config`` stays free of torch.
"""

from training.config import TrainConfig

__all__ = ["TrainConfig", "train"]


def train(config: TrainConfig, **kwargs) -> dict:
    """Train one run and return its summary: see :func:`training.trainer.train`."""
    from training.trainer import train as _train

    return _train(config, **kwargs)
