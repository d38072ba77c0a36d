"""LGS block components: SS2D scans, gated window attention, ECAB, mHC, MaTVLM init, LGS stage.

Submodules import lazily (``from vfi_lib.modules.lgs_block import LGSStage``) so that importing the
package does not build anything; the names below are re-exported for convenience.
"""

from vfi_lib.modules.ecab import ECA, ECAB, eca_kernel_size
from vfi_lib.modules.gated_window_attention import GatedWindowAttention
from vfi_lib.modules.init_matvlm import (
    apply_matvlm_init, init_from_attention_model, init_mamba2_from_attention, init_mamba2_from_window_attention,
)
from vfi_lib.modules.lgs_block import LGSBlock, LGSStage
from vfi_lib.modules.mhc import MHCConnection, collapse_stream, expand_stream, sinkhorn_log
from vfi_lib.modules.scan import SS2D, cross_merge, cross_scan, cross_unscan

__all__ = [
    "ECA", "ECAB", "eca_kernel_size", "GatedWindowAttention", "apply_matvlm_init", "init_from_attention_model",
    "init_mamba2_from_attention", "init_mamba2_from_window_attention", "LGSBlock", "LGSStage", "MHCConnection",
    "collapse_stream", "expand_stream", "sinkhorn_log", "SS2D", "cross_merge", "cross_scan", "cross_unscan",
]
