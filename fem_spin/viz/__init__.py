"""Plots (matplotlib, Agg) and 3-D pictures (pyvista, off-screen)."""

__all__ = ["plots", "render"]
