"""Any ``diffusers`` inpainting pipeline as a fake-damage generator.

Works with a hub id or a local folder, e.g. ``stable-diffusion-v1-5/stable-diffusion-inpainting``,
``stabilityai/stable-diffusion-2-inpainting``, ``diffusers/stable-diffusion-xl-1.0-inpainting-0.1``,
``kandinsky-community/kandinsky-2-2-decoder-inpaint`` or ``black-forest-labs/FLUX.1-Fill-dev``
(loaded through ``AutoPipelineForInpainting``; FLUX Fill through its own class when
``pipeline_class`` names it). The painted damage is given to the pipeline as the
initial image and the mask region is re-synthesised under a damage prompt; the
pipeline's output is the whole image decoded by its VAE (the ``inpaint_full``
variant); :mod:`fakedamage.data.synth` pastes the mask region back for
``inpaint_pasted``.

Pipelines without a tokenizer/text encoder (e.g. a tiny random-weight pipeline
built from config for offline tests) receive zero ``prompt_embeds`` of the
UNet's cross-attention width instead of a prompt.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..prompts import NEGATIVE_PROMPT

__all__ = ["DiffusersInpaintGenerator", "build_tiny_inpaint_pipeline"]

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def _absent_components(model: str) -> dict[str, None]:
    """Components a local pipeline folder was saved without (``[null, null]`` in model_index.json)."""
    index = Path(model) / "model_index.json"
    if not index.is_file():
        return {}
    spec = json.loads(index.read_text())
    return {k: None for k, v in spec.items() if isinstance(v, list) and v == [None, None]}


class DiffusersInpaintGenerator:
    """Inpaint damage with a diffusers pipeline.

    Args:
        model: Hub id or local folder of an inpainting pipeline.
        name: Manifest name (default: the model's last path component).
        pipeline_class: ``auto`` (``AutoPipelineForInpainting``) or a diffusers class name.
        steps: Denoising steps.
        guidance_scale: Classifier-free guidance scale.
        strength: How far the masked region moves from the painted input (0-1].
        seed: Base seed, added to each call's seed.
        device: ``cpu``, ``cuda``, ...
        dtype: ``float32``, ``float16`` or ``bfloat16``.
        negative_prompt: Negative prompt for pipelines with a text encoder.
        local_files_only: Never reach a hub (default when ``HF_HUB_OFFLINE`` is set).
        **load_kwargs: Passed to ``from_pretrained`` (``variant``, ``revision``, ...).
    """

    decodes_whole_image = True
    uses_prompt = True

    def __init__(self, model: str, name: str | None = None, pipeline_class: str = "auto", steps: int = 30,
                 guidance_scale: float = 7.5, strength: float = 0.99, seed: int = 0, device: str = "cpu",
                 dtype: str = "float32", negative_prompt: str = NEGATIVE_PROMPT,
                 local_files_only: bool | None = None, **load_kwargs: Any) -> None:
        import diffusers

        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        if local_files_only is None:
            local_files_only = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "")
        cls = diffusers.AutoPipelineForInpainting if pipeline_class == "auto" else getattr(diffusers, pipeline_class)
        load_kwargs = {**_absent_components(model), **load_kwargs}
        try:
            pipe = cls.from_pretrained(model, torch_dtype=_DTYPES[dtype], local_files_only=local_files_only,
                                       **load_kwargs)
        except (OSError, ValueError) as e:
            raise ValueError(f"{model}: cannot load the diffusers pipeline ({str(e).splitlines()[0]}); "
                             "give a local folder or a hub id reachable from here") from None
        self.pipe = pipe.to(device)
        self.pipe.set_progress_bar_config(disable=True)
        self.name = name or str(model).rstrip("/").split("/")[-1]
        self.steps, self.guidance_scale, self.strength = int(steps), float(guidance_scale), float(strength)
        self.seed, self.device, self.negative_prompt = int(seed), device, negative_prompt

    def _text_kwargs(self, prompt: str) -> dict[str, Any]:
        if getattr(self.pipe, "tokenizer", None) is not None:
            return {"prompt": prompt, "negative_prompt": self.negative_prompt}
        unet = getattr(self.pipe, "unet", None) or getattr(self.pipe, "transformer", None)
        width = int(getattr(unet.config, "cross_attention_dim", None) or unet.config.joint_attention_dim)
        dtype = next(unet.parameters()).dtype
        embeds = torch.zeros(1, 77, width, dtype=dtype, device=self.device)
        return {"prompt_embeds": embeds, "negative_prompt_embeds": embeds}

    @torch.no_grad()
    def regenerate(self, image: np.ndarray, mask: np.ndarray, prompt: str = "", seed: int = 0) -> np.ndarray:
        """Inpaint ``mask`` of ``image`` under ``prompt``.

        Args:
            image: ``(H, W, 3)`` uint8 RGB with the damage painted in.
            mask: ``(H, W)`` float in ``[0, 1]``.
            prompt: Damage prompt (see :func:`fakedamage.data.prompts.make_prompt`).
            seed: Diffusion noise seed (added to the generator's base seed).

        Returns:
            ``(H, W, 3)`` uint8: the pipeline output at the input size. Sides are padded
            by reflection to a multiple of 8 for the pipeline and cropped back.
        """
        h, w = image.shape[:2]
        ph, pw = (-h) % 8, (-w) % 8
        img = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode="reflect") if ph or pw else image
        m = np.pad(mask, ((0, ph), (0, pw)), mode="constant") if ph or pw else mask
        gen = torch.Generator(device="cpu").manual_seed(self.seed + int(seed))
        out = self.pipe(
            image=Image.fromarray(img), mask_image=Image.fromarray((np.asarray(m) > 0.05).astype(np.uint8) * 255),
            height=img.shape[0], width=img.shape[1], num_inference_steps=self.steps,
            guidance_scale=self.guidance_scale, strength=self.strength, generator=gen, output_type="np",
            **self._text_kwargs(prompt),
        ).images[0]
        out = np.clip(np.round(np.asarray(out, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
        return out[:h, :w]


def build_tiny_inpaint_pipeline(path: str | os.PathLike, seed: int = 0) -> Path:
    """Save a tiny random-weight ``StableDiffusionInpaintPipeline`` built from config (offline).

    It has the structure of Stable Diffusion inpainting (a 9-channel conditional UNet,
    an ``AutoencoderKL``, a DDIM scheduler) but no text encoder or tokenizer and
    random weights: its images are noise, its code path is the real pipeline's. For
    tests and benchmarks on machines without hub access.
    """
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionInpaintPipeline, UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=9, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=4, norm_num_groups=8)
    vae = AutoencoderKL(block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        norm_num_groups=8)
    pipe = StableDiffusionInpaintPipeline(vae=vae, text_encoder=None, tokenizer=None, unet=unet,
                                          scheduler=DDIMScheduler(steps_offset=1), safety_checker=None, feature_extractor=None,
                                          image_encoder=None, requires_safety_checker=False)
    pipe.save_pretrained(str(path))
    return Path(path)
