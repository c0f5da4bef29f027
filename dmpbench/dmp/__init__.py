"""DMP core: the conditional 1D diffusion model over prompts (Diffusion Meta-Prompts, section 3).

``DMP`` (model.py) is the API methods use; ``UNet1D`` (unet1d.py) and ``VAE1D`` (vae1d.py) are the
networks of Table 17; layout.py maps prompts to 1D signals; sampling.py holds guidance (equation 3).
"""

from dmpbench.dmp.model import DMP
from dmpbench.dmp.unet1d import PRESETS, UNet1D, UNet1DConfig
from dmpbench.dmp.vae1d import VAE1D, VAE1DConfig

__all__ = ["DMP", "PRESETS", "UNet1D", "UNet1DConfig", "VAE1D", "VAE1DConfig"]
