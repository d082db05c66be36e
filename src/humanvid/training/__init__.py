"""One training loop; a method supplies the loss and the trainable parameters."""

from humanvid.training.loop import TrainResult, cycle_batches, train

__all__ = ["TrainResult", "cycle_batches", "train"]
