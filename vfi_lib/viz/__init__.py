"""vfi_lib.viz: thesis figure style, flow colours, frame panels, attention and scan-path plots,
tables, and the notebook frame scrubber.

    from vfi_lib.viz import apply_style, figsize, save_figure, flow_to_color, plot_prediction
"""

from .attention import (plot_gate_histogram, plot_shift_masks, plot_sink_comparison, plot_window_attention,
                        query_attention, sink_stats)
from .flow import flow_to_color, flow_wheel, make_colorwheel
from .frames import (compose_row, encode_png, error_map, error_to_color, features_to_rgb, plot_prediction,
                     plot_triplets, plot_warp_errors, show_images, to_image)
from .maps import plot_window_stat_overlays
from .plots import (latency_fit, plot_ablation_summary, plot_channel_weights, plot_histories, plot_latency_scaling,
                    plot_loglog_timings, plot_matrices, plot_median_bands, plot_ssd_matrices, plot_stacked_bars)
from .scan_paths import DIRECTION_NAMES, plot_scan_path, plot_scan_paths
from .curves import plot_curves
from .style import TEXT_WIDTH_IN, apply_style, figsize, image_axes, save_figure, thesis_style
from .tables import markdown_table, save_table, show_table
from .widgets import (blend_predict, frame_scrubber, plot_scrubber_positions, plot_time_row, render_scrubber_frame,
                      show_scrubber)

__all__ = [
    # style and export
    "TEXT_WIDTH_IN", "apply_style", "figsize", "image_axes", "save_figure", "thesis_style", "plot_curves",
    "markdown_table", "save_table", "show_table",
    # flow
    "flow_to_color", "flow_wheel", "make_colorwheel",
    # frames
    "compose_row", "encode_png", "error_map", "error_to_color", "features_to_rgb", "plot_prediction", "plot_triplets",
    "plot_warp_errors", "show_images", "to_image",
    # charts
    "latency_fit", "plot_ablation_summary", "plot_channel_weights", "plot_histories", "plot_latency_scaling",
    "plot_loglog_timings", "plot_matrices", "plot_median_bands", "plot_ssd_matrices", "plot_stacked_bars",
    "plot_window_stat_overlays",
    # scans, attention
    "DIRECTION_NAMES", "plot_scan_path", "plot_scan_paths",
    "plot_gate_histogram", "plot_shift_masks", "plot_sink_comparison", "plot_window_attention", "query_attention",
    "sink_stats",
    # widgets
    "blend_predict", "frame_scrubber", "plot_scrubber_positions", "plot_time_row", "render_scrubber_frame",
    "show_scrubber",
]
