"""vfi_lib.ssm: the Mamba2 / SSD core (Dao & Gu, 2024).

``ssd.ssd_naive`` (reference recurrence), ``ssd.ssd_chunked`` (chunked SSD in torch),
``backends.ssd`` (functional dispatcher: torch | triton; import it from ``vfi_lib.ssm.backends``,
the package attribute ``ssd`` is the submodule), ``mamba2.Mamba2`` (layer, parameter-compatible
with mamba_ssm's). mamba_ssm itself is only imported when the triton backend is asked for.
"""

from .backends import BackendError, resolve_backend
from .mamba2 import Mamba2, RMSNormGated, set_chunk_size, set_ssm_backend
from .ssd import ssd_chunked, ssd_naive

__all__ = ["BackendError", "Mamba2", "RMSNormGated", "resolve_backend", "set_chunk_size", "set_ssm_backend", "ssd_chunked", "ssd_naive"]
