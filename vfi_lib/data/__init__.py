"""vfi_lib.data: datasets, image/video I/O and the embedded sample.

Items are dicts: ``img0``, ``gt``, ``img1`` uint8 (3, H, W) RGB tensors, ``t`` float32 scalar
tensor, ``name`` str (synthetic sets add ``flow_t0``/``flow_t1`` (2, H, W) float32 backward
flows). ``to_float(batch, device)`` turns a collated batch into (img0, img1, gt, t) floats.

Training entry points for the trainer::

    ds = build_train_dataset(cfg, epoch)        # crop = cfg.train.crop_at(epoch)
    sampler = make_sampler(ds, num_replicas, rank, seed=cfg.train.seed)   # DDP-aware
    for epoch in ...:
        ds.set_crop(cfg.train.crop_at(epoch)); ds.set_epoch(epoch); sampler.set_epoch(epoch)
        loader = DataLoader(ds, batch_size, sampler=sampler, ...)  # a new iterator each epoch
    val = build_val_dataset(cfg)

``set_crop``/``set_epoch`` must be called before the epoch's DataLoader iterator is created
(workers copy the dataset then); with ``persistent_workers=True`` rebuild the DataLoader when the
crop changes.
"""

from __future__ import annotations

from torch.utils.data import Dataset, DistributedSampler, Sampler

from .augment import Augment
from .bbb import BBBSequence
from .embedded import FrameSequence, SampleTriplets, sample_manifest, sample_sequence, sample_triplets, write_vimeo_layout
from .errors import DataError, DataWarning
from .io import load_image, save_image
from .item import make_item, to_float
from .middlebury import Middlebury
from .mixing import MixedDataset, MixedSampler
from .snu_film import SNUFilm
from .synthetic import SyntheticMotion
from .ucf101 import UCF101
from .video import VideoReader, VideoWriter, cut_score
from .video_clips import VideoClips
from .vimeo90k import Vimeo90K
from .x4k import X4KTrain
from .xtest import XTest, Xiph

SYNTHETIC_TRAIN_LENGTH = 8192  # synthetic triplets per epoch (a fresh set every epoch)
SYNTHETIC_VAL_LENGTH = 64
SYNTHETIC_VAL_SEED = 20240  # fixed: the synthetic validation set never changes

__all__ = [
    "Augment", "BBBSequence", "DataError", "DataWarning", "FrameSequence", "Middlebury", "MixedDataset",
    "MixedSampler", "SNUFilm", "SampleTriplets", "SyntheticMotion", "UCF101", "VideoReader", "VideoWriter",
    "VideoClips", "Vimeo90K", "X4KTrain", "XTest", "Xiph", "build_train_dataset", "build_val_dataset", "cut_score",
    "load_image", "write_vimeo_layout",
    "make_item", "make_sampler", "sample_manifest", "sample_sequence", "sample_triplets", "save_image",
    "to_float",
]


def _need(path: str, key: str, what: str) -> str:
    if not path:
        raise DataError(f"train.{key} is empty; set it to the {what}")
    return path


def build_train_dataset(cfg, epoch: int = 0) -> Dataset:
    """Training set of ``cfg.train.dataset`` with the curriculum crop of ``epoch``.

    vimeo90k: Vimeo90K train split of ``train.data_path``. x4k_mix: MixedDataset of that and
    X4KTrain(``train.x4k_path``, stride ``train.x4k_stride``) at ``train.mix_ratio`` (use
    :func:`make_sampler`). synthetic: SyntheticMotion (seed ``train.seed``; fresh triplets each
    epoch). sample: the embedded triplets. bbb: BBBSequence of ``train.data_path`` (a frame
    directory) or of the embedded sequence when it is empty. video: VideoClips of ``train.data_path``
    (any folder of videos / frame folders; gaps up to ``train.video_max_gap``, the last
    ``train.video_val_fraction`` of every clip held out). X4K, synthetic and video targets are at
    t = 0.5 for the phase-1 model and at arbitrary t for phases 2/3.
    """
    tc = cfg.train
    crop = tc.crop_at(epoch)
    phase1 = cfg.model.phase == 1
    if tc.dataset == "vimeo90k":
        ds = Vimeo90K(_need(tc.data_path, "data_path", "Vimeo90K triplet root"), "train", crop_size=crop)
    elif tc.dataset == "x4k_mix":
        vimeo = Vimeo90K(_need(tc.data_path, "data_path", "Vimeo90K triplet root"), "train", crop_size=crop)
        x4k = X4KTrain(_need(tc.x4k_path, "x4k_path", "X4K1000FPS root"), crop_size=crop, stride=tuple(tc.x4k_stride),
                       target="middle" if phase1 else "random")
        ds = MixedDataset([vimeo, x4k], ratio=tuple(tc.mix_ratio))
    elif tc.dataset == "synthetic":
        ds = SyntheticMotion(SYNTHETIC_TRAIN_LENGTH, size=crop, t=0.5 if phase1 else None, seed=tc.seed)
    elif tc.dataset == "sample":
        ds = SampleTriplets(crop_size=crop, augment=True)
    elif tc.dataset == "bbb":
        ds = BBBSequence(tc.data_path or None, "train", crop_size=crop)
    elif tc.dataset == "video":
        ds = _video(cfg, "train", crop)
    else:
        raise DataError(f"unknown train.dataset {tc.dataset!r}")
    ds.set_epoch(epoch)
    return ds


def _video(cfg, split: str, crop) -> VideoClips:
    tc = cfg.train
    return VideoClips(_need(tc.data_path, "data_path", "folder of video files / frame folders"), split, crop_size=crop,
                      max_gap=tc.video_max_gap, target="middle" if cfg.model.phase == 1 else "random",
                      val_fraction=tc.video_val_fraction, cut_threshold=tc.video_cut_threshold,
                      index=tc.video_index or None)


def build_val_dataset(cfg) -> Dataset:
    """Validation set, never seen in training: Vimeo90K test split (vimeo90k, x4k_mix), a
    fixed-seed synthetic set (synthetic), the Big Buck Bunny hold-out (bbb: the last 30 frames of
    the clip; sample: the embedded sequence's held-out frames 102..119, 14 triplets, while
    ``--dataset sample`` trains on the 6 triplets of frames 11..65), or the held-out end of
    every clip (video; full frames, t = 0.5)."""
    tc = cfg.train
    if tc.dataset in ("vimeo90k", "x4k_mix"):
        return Vimeo90K(_need(tc.data_path, "data_path", "Vimeo90K triplet root"), "test")
    if tc.dataset == "synthetic":
        return SyntheticMotion(SYNTHETIC_VAL_LENGTH, size=256, t=0.5, seed=SYNTHETIC_VAL_SEED)
    if tc.dataset == "sample":
        return BBBSequence(None, "val")
    if tc.dataset == "bbb":
        return BBBSequence(tc.data_path or None, "val")
    if tc.dataset == "video":
        return _video(cfg, "val", None)
    raise DataError(f"unknown train.dataset {tc.dataset!r}")


def make_sampler(dataset: Dataset, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                 seed: int = 0, drop_last: bool = False) -> Sampler:
    """DDP-aware sampler: MixedSampler for a MixedDataset, DistributedSampler otherwise
    (num_replicas/rank default to the initialised process group, else 1/0). Call set_epoch."""
    if isinstance(dataset, MixedDataset):
        return dataset.make_sampler(num_replicas, rank, shuffle, seed, drop_last=drop_last)
    from .mixing import _dist_defaults

    num_replicas, rank = _dist_defaults(num_replicas, rank)
    return DistributedSampler(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed, drop_last=drop_last)
