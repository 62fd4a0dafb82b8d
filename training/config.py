"""The trainer's settings: absl flags at the edge, turned into one frozen `TrainConfig`."""

from __future__ import annotations

import dataclasses
import math

from absl import flags

from training import augment
from training.augment import AugmentConfig

# The models a run folder keeps (training.run_folder.CHECKPOINTS maps them to files; that module
# imports TensorFlow, which --help must not wait for).
CHECKPOINTS = ("last", "best")

# This module does not import TensorFlow: `--help` answers without loading it.
STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
MIXED_PRECISION = ("none", "mixed_float16", "mixed_bfloat16")
LR_SCHEDULES = ("constant", "cosine")
LEARNING_RATE = 1e-3  # the published network's Adam rate (training.optimization.compile_model)

# Settings that shape the training state a checkpoint holds: resuming a run with other values
# would silently mix two trainings, so it is an error (`changed_state_settings`). --epochs may
# grow, and the others (logging, caching, checkpoint interval, strategy...) may change freely.
STATE_SETTINGS = (
    "tfrecord_glob",
    "val_tfrecord_glob",
    "batch_size",
    "steps_per_epoch",
    "learning_rate",
    "lr_schedule",
    "warmup_epochs",
    "label_smoothing",
    "shuffle_buffer",
    "seed",
    "mixed_precision",
    "skip_corrupt",
    *(f.name for f in dataclasses.fields(AugmentConfig)),
)


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What `trainer.train` needs; defaults are those of the published run (batch 2, 2 epochs)."""

    tfrecord_glob: str
    model_dir: str
    val_tfrecord_glob: str = ""
    batch_size: int = 2
    epochs: int = 2
    steps_per_epoch: int = 0  # 0: one pass over the training shards per epoch
    validation_steps: int = 0  # 0: the whole validation set
    learning_rate: float = LEARNING_RATE
    shuffle_buffer: int = 256
    seed: int = 0
    strategy: str = "auto"
    mixed_precision: str = "none"
    jit_compile: bool = False
    checkpoint_every_steps: int = 1000  # 0: back up at epoch ends only
    cache: str = ""
    verbose: int = 2
    skip_corrupt: bool = False  # leave out damaged shards' records (counted) instead of stopping
    deterministic: bool = False  # tf.config.experimental.enable_op_determinism()
    lr_schedule: str = "constant"
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    early_stopping_patience: int = 0  # 0: off
    augment: AugmentConfig = AugmentConfig()

    def __post_init__(self):
        for name in ("tfrecord_glob", "model_dir"):
            if not getattr(self, name):
                raise ValueError(f"--{name} is required")
        positive = ("batch_size", "epochs")
        non_negative = (
            "steps_per_epoch",
            "validation_steps",
            "shuffle_buffer",
            "checkpoint_every_steps",
        )
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"--{name} must be >= 1, got {getattr(self, name)}")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"--{name} must be >= 0, got {getattr(self, name)}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise ValueError(f"--learning_rate must be > 0, got {self.learning_rate}")
        if self.strategy not in STRATEGIES:
            raise ValueError(f"--strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(
                f"--mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}"
            )
        if self.verbose not in (0, 1, 2):
            raise ValueError(f"--verbose must be 0, 1 or 2, got {self.verbose}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(
                f"--lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}"
            )
        if not (0 <= self.warmup_epochs < self.epochs):
            raise ValueError(
                f"--warmup_epochs must be >= 0 and below --epochs={self.epochs}, "
                f"got {self.warmup_epochs}"
            )
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"--label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.early_stopping_patience < 0:
            raise ValueError(
                f"--early_stopping_patience must be >= 0, got {self.early_stopping_patience}"
            )
        if self.early_stopping_patience and not self.val_tfrecord_glob:
            raise ValueError(
                "--early_stopping_patience needs --val_tfrecord_glob: it watches validation top-1"
            )

    def settings(self) -> dict:
        """Every setting by its flag name (the augmentation flags included)."""
        data = dataclasses.asdict(self)
        data.update(data.pop("augment"))
        return data


def changed_state_settings(old: dict, new: dict) -> list[str]:
    """The settings in STATE_SETTINGS whose value differs between two `settings()` dicts.

    A setting missing from `old` (a run folder from before it existed) counts as its default.
    """
    defaults = TrainConfig(tfrecord_glob="-", model_dir="-").settings()
    changed = []
    for name in STATE_SETTINGS:
        before = old.get(name, defaults[name])
        if before != new[name]:
            changed.append(f"--{name} (was {before!r}, now {new[name]!r})")
    return changed


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Defines the trainer's flags; called by `python -m training` only (flags live at the edge)."""
    _define_data_flags(fv)
    _define_epoch_flags(fv)
    _define_optimization_flags(fv)
    _define_run_flags(fv)
    augment.define_flags(fv)
    flags.mark_flags_as_required(["tfrecord_glob", "model_dir"], flag_values=fv)
    flags.register_validator(
        "learning_rate",
        lambda v: v > 0 and math.isfinite(v),
        message="--learning_rate must be a finite number > 0",
        flag_values=fv,
    )


def _define_data_flags(fv: flags.FlagValues) -> None:
    d = TrainConfig
    flags.DEFINE_string(
        "tfrecord_glob",
        None,
        "Training shards: a local or gs:// glob, or several separated by commas. dataset.json "
        "and labels.txt are read from the shards' folder.",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "val_tfrecord_glob",
        d.val_tfrecord_glob,
        "Validation shards (same format), evaluated at the end of every epoch.",
        flag_values=fv,
    )
    flags.DEFINE_string(
        "model_dir",
        None,
        "Run folder: checkpoints, backup for resuming, TensorBoard logs, metrics.csv, "
        "model.keras, saved_model/, best.keras. Rerunning the same command after a crash or "
        "Ctrl-C resumes from it; a larger --epochs continues a finished run.",
        flag_values=fv,
    )
    flags.DEFINE_boolean(
        "skip_corrupt",
        d.skip_corrupt,
        "Read every shard first and leave out the records of a damaged shard (bad CRC, cut "
        "file) from the damage on, with a warning counting them; default: stop with an error "
        "naming the shard and the byte offset.",
        flag_values=fv,
    )


def _define_epoch_flags(fv: flags.FlagValues) -> None:
    d = TrainConfig
    flags.DEFINE_integer(
        "batch_size",
        d.batch_size,
        "GLOBAL batch size: the clips of one step summed over all replicas and workers; it "
        "must divide by the number of replicas (each gets batch_size / replicas).",
        lower_bound=1,
        flag_values=fv,
    )
    flags.DEFINE_integer("epochs", d.epochs, "Epochs to train.", lower_bound=1, flag_values=fv)
    flags.DEFINE_integer(
        "steps_per_epoch",
        d.steps_per_epoch,
        "Steps per epoch; 0 = one pass over the training shards (examples // batch_size).",
        lower_bound=0,
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "validation_steps",
        d.validation_steps,
        "Validation batches per evaluation; 0 = the whole validation set.",
        lower_bound=0,
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "shuffle_buffer",
        d.shuffle_buffer,
        "Records shuffled together, in blocks of this many after the shard order is shuffled "
        "(held in memory: serialized clips of ~10-100 KB each); 0 = no shuffling.",
        lower_bound=0,
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "seed", d.seed, "Seed of weight initialization, dropout and shuffling.", flag_values=fv
    )
    flags.DEFINE_string(
        "cache",
        d.cache,
        "Cache the serialized training records after the first epoch: '' = off, 'memory', or "
        "a local file prefix.",
        flag_values=fv,
    )


def _define_optimization_flags(fv: flags.FlagValues) -> None:
    d = TrainConfig
    flags.DEFINE_float("learning_rate", d.learning_rate, "Adam learning rate.", flag_values=fv)
    flags.DEFINE_enum(
        "lr_schedule",
        d.lr_schedule,
        list(LR_SCHEDULES),
        "Learning rate over the run: constant (--learning_rate throughout), or cosine (decays "
        "from --learning_rate to 0 at the last step of --epochs). Both start with "
        "--warmup_epochs of linear warm-up.",
        flag_values=fv,
    )
    flags.DEFINE_float(
        "warmup_epochs",
        d.warmup_epochs,
        "Epochs (fractions allowed) over which the learning rate rises linearly from 0 to "
        "--learning_rate; 0 = no warm-up.",
        lower_bound=0.0,
        flag_values=fv,
    )
    flags.DEFINE_float(
        "label_smoothing",
        d.label_smoothing,
        "Label smoothing of the cross-entropy loss: the true class's target is 1 - e + e/K "
        "and every other class's e/K; 0 = off (try 0.1).",
        lower_bound=0.0,
        upper_bound=0.99,
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "early_stopping_patience",
        d.early_stopping_patience,
        "Stop when validation top-1 accuracy has not improved for this many epochs (needs "
        "--val_tfrecord_glob); best.keras keeps the best epoch either way. 0 = off.",
        lower_bound=0,
        flag_values=fv,
    )
    flags.DEFINE_enum(
        "mixed_precision",
        d.mixed_precision,
        list(MIXED_PRECISION),
        "Keras dtype policy; mixed_float16 for GPUs with tensor cores, mixed_bfloat16 for TPUs "
        "and recent CPUs/GPUs. The output layer stays float32.",
        flag_values=fv,
    )
    flags.DEFINE_boolean(
        "jit_compile", d.jit_compile, "Compile the train step with XLA.", flag_values=fv
    )


def _define_run_flags(fv: flags.FlagValues) -> None:
    d = TrainConfig
    flags.DEFINE_enum(
        "strategy",
        d.strategy,
        list(STRATEGIES),
        "auto: mirrored over all GPUs when more than one is visible, else one device. "
        "multi_worker: MultiWorkerMirroredStrategy over the hosts in TF_CONFIG.",
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "checkpoint_every_steps",
        d.checkpoint_every_steps,
        "Back up the training state every N steps (and at every epoch end) so a killed run "
        "resumes there; 0 = epoch ends only.",
        lower_bound=0,
        flag_values=fv,
    )
    flags.DEFINE_integer(
        "verbose",
        d.verbose,
        "Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch.",
        lower_bound=0,
        upper_bound=2,
        flag_values=fv,
    )
    flags.DEFINE_boolean(
        "deterministic",
        d.deterministic,
        "Deterministic TensorFlow ops: the same seed and data give the same losses on the same "
        "kind of device (slower on GPU).",
        flag_values=fv,
    )


def define_checkpoint_flag(fv: flags.FlagValues = flags.FLAGS) -> None:
    """--checkpoint, as evaluate and predict both take it."""
    flags.DEFINE_enum(
        "checkpoint",
        "last",
        list(CHECKPOINTS),
        "Which model of the run: last (model.keras, the last epoch) or best (best.keras, the "
        "epoch with the best validation top-1; runs with --val_tfrecord_glob keep one).",
        flag_values=fv,
    )


def from_flags(fv: flags.FlagValues = flags.FLAGS) -> TrainConfig:
    values = {f.name: fv[f.name].value for f in dataclasses.fields(TrainConfig) if f.name in fv}
    return TrainConfig(**values, augment=augment.from_flags(fv))
