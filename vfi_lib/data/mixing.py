"""Mixing two training sets at a fixed ratio (Phase 3: Vimeo90K : X4K1000FPS = 2 : 1), DDP-aware.

``MixedDataset([vimeo, x4k])`` concatenates the sets (global index = offset + local index) and
forwards ``set_crop``/``set_epoch``. ``MixedSampler`` builds one global stream per epoch, the
same on every rank (seeded by ``seed + epoch``): blocks of ``sum(ratio)`` positions, each block
holding exactly ``ratio[s]`` positions of source s in random order, so every position is
source s with probability ratio[s] / sum(ratio) (exact in expectation, exact per block). Each
source fills its positions from fresh random permutations of its indices (cycled when the
epoch needs more than one pass). As in ``DistributedSampler``, the stream is padded (by
wrapping) or truncated (``drop_last``) to a multiple of ``num_replicas`` and rank r takes
positions r, r + R, r + 2R, ...: ranks get disjoint positions and equal lengths.
The default epoch is one pass over the first set plus the matching share of the others.
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import torch
from torch.utils.data import ConcatDataset, Dataset, Sampler

from .errors import DataError


def _dist_defaults(num_replicas: int | None, rank: int | None) -> tuple[int, int]:
    if num_replicas is None or rank is None:
        ready = torch.distributed.is_available() and torch.distributed.is_initialized()
        num_replicas = num_replicas if num_replicas is not None else (torch.distributed.get_world_size() if ready else 1)
        rank = rank if rank is not None else (torch.distributed.get_rank() if ready else 0)
    if num_replicas < 1 or not 0 <= rank < num_replicas:
        raise DataError(f"invalid DDP setting: rank {rank} of num_replicas {num_replicas}")
    return num_replicas, rank


class MixedSampler(Sampler[int]):
    """``MixedSampler(sizes, ratio=(2, 1), num_samples=None, num_replicas=None, rank=None, seed=0)``.

    Yields global indices into ``MixedDataset`` for this rank; call ``set_epoch`` every epoch.
    ``num_samples`` is the global stream length per epoch (before the DDP split).
    """

    def __init__(self, sizes: Sequence[int], ratio: Sequence[int] = (2, 1), num_samples: int | None = None,
                 num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False) -> None:
        if len(sizes) != len(ratio) or any(s < 1 for s in sizes) or any(r < 0 for r in ratio) or sum(ratio) < 1:
            raise DataError(f"MixedSampler needs one positive size per ratio entry, got sizes {list(sizes)}, ratio {list(ratio)}")
        self.sizes, self.ratio = [int(s) for s in sizes], [int(r) for r in ratio]
        self.offsets = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        block = sum(self.ratio)
        if num_samples is None:
            first = next(i for i, r in enumerate(self.ratio) if r > 0)
            num_samples = math.ceil(self.sizes[first] * block / self.ratio[first])
        self.total = math.ceil(num_samples / block) * block  # whole blocks
        self.num_replicas, self.rank = _dist_defaults(num_replicas, rank)
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, int(seed), drop_last, 0
        self.per_rank = self.total // self.num_replicas if drop_last else math.ceil(self.total / self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.per_rank

    def global_stream(self) -> list[int]:
        """The whole epoch's index stream (identical on every rank)."""
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        block = torch.tensor([s for s, r in enumerate(self.ratio) for _ in range(r)])
        nblocks = self.total // len(block)
        if self.shuffle:
            src = torch.stack([block[torch.randperm(len(block), generator=g)] for _ in range(nblocks)]).reshape(-1)
        else:
            src = block.repeat(nblocks)
        out = torch.empty(self.total, dtype=torch.long)
        for s, size in enumerate(self.sizes):
            pos = (src == s).nonzero().reshape(-1)
            passes = math.ceil(len(pos) / size) if len(pos) else 0
            perm = [torch.randperm(size, generator=g) if self.shuffle else torch.arange(size) for _ in range(passes)]
            if perm:
                out[pos] = torch.cat(perm)[: len(pos)] + self.offsets[s]
        return out.tolist()

    def __iter__(self) -> Iterator[int]:
        stream = self.global_stream()
        n = self.per_rank * self.num_replicas
        stream = stream[:n] if self.drop_last else (stream + stream[: n - len(stream)])
        return iter(stream[self.rank:n:self.num_replicas])


class MixedDataset(ConcatDataset):
    """Concatenation of training sets that mixes them at ``ratio`` through :meth:`make_sampler`."""

    def __init__(self, datasets: Sequence[Dataset], ratio: Sequence[int] = (2, 1)) -> None:
        super().__init__(list(datasets))
        if len(ratio) != len(self.datasets):
            raise DataError(f"MixedDataset ratio {list(ratio)} needs one entry per dataset ({len(self.datasets)})")
        self.ratio = tuple(int(r) for r in ratio)

    def set_crop(self, size) -> None:
        for d in self.datasets:
            d.set_crop(size)

    def set_epoch(self, epoch: int) -> None:
        for d in self.datasets:
            d.set_epoch(epoch)

    def make_sampler(self, num_replicas: int | None = None, rank: int | None = None, shuffle: bool = True,
                     seed: int = 0, num_samples: int | None = None, drop_last: bool = False) -> MixedSampler:
        return MixedSampler([len(d) for d in self.datasets], self.ratio, num_samples, num_replicas, rank,
                            shuffle, seed, drop_last)
