"""Any ``diffusers`` inpainting pipeline as a fake-damage generator.

Works with a hub id or a local folder, e.g. ``stable-diffusion-v1-5/stable-diffusion-inpainting``,
``stabilityai/stable-diffusion-2-inpainting`` (both ``StableDiffusionInpaintPipeline``),
``diffusers/stable-diffusion-xl-1.0-inpainting-0.1`` (``StableDiffusionXLInpaintPipeline``),
``kandinsky-community/kandinsky-2-2-decoder-inpaint`` (``AutoPipelineForInpainting`` makes it a
``KandinskyV22InpaintCombinedPipeline``: prior + decoder) or ``black-forest-labs/FLUX.1-Fill-dev``
(``pipeline_class=FluxFillPipeline``), or with a pipeline object already built. The painted damage
is given to the pipeline as the initial image and the mask region is re-synthesised under a damage
prompt; the pipeline's output is the whole image decoded by its VAE (the ``inpaint_full``
variant); :mod:`fakedamage.data.synth` pastes the mask region back for ``inpaint_pasted``.

These pipelines do not take the same arguments: FLUX.1 Fill has no ``negative_prompt`` (and, in
older diffusers, no ``strength``), Kandinsky 2.2 needs ``prompt`` and has no ``strength`` or
``prompt_embeds``. Each call's keyword arguments are therefore built from the pipeline's own
``__call__`` signature: a setting the pipeline does not take is not passed, a required parameter
fakedamage cannot fill is a one-line error when the generator is made, and so is a pipeline
without ``image`` and ``mask_image`` (not an inpainting pipeline).

Pipelines with a tokenizer (``tokenizer``, ``tokenizer_2`` or Kandinsky's ``prior_tokenizer``)
get the prompt as text. Pipelines without one (e.g. a tiny random-weight pipeline built from
config for offline tests) receive zero ``prompt_embeds`` (and pooled embeddings where the
pipeline takes them) of the denoiser's conditioning width instead.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from PIL import Image

from ..prompts import NEGATIVE_PROMPT

__all__ = ["DiffusersInpaintGenerator", "build_tiny_inpaint_pipeline", "call_parameters"]

_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
#: Components through which a pipeline turns prompt text into conditioning.
_TOKENIZERS = ("tokenizer", "tokenizer_2", "prior_tokenizer")
#: What an inpainting call cannot do without.
_ESSENTIAL = ("image", "mask_image")


def _absent_components(model: str) -> dict[str, None]:
    """Components a local pipeline folder was saved without (``[null, null]`` in model_index.json)."""
    index = Path(model) / "model_index.json"
    if not index.is_file():
        return {}
    spec = json.loads(index.read_text())
    return {k: None for k, v in spec.items() if isinstance(v, list) and v == [None, None]}


def call_parameters(pipe: Any) -> dict[str, inspect.Parameter]:
    """The named parameters of ``pipe.__call__`` (``*args``/``**kwargs`` excluded: nothing is passed blindly)."""
    try:
        sig = inspect.signature(pipe.__call__)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{type(pipe).__name__}: cannot read the signature of its __call__ ({e})") from None
    return {n: p for n, p in sig.parameters.items()
            if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)}


def _size_multiple(pipe: Any) -> int:
    """Sides of the image given to ``pipe`` are padded to a multiple of this (its output has the same size).

    8 for Stable Diffusion 1/2/XL (VAE 8x down), 16 for FLUX (latents packed in 2x2 patches),
    64 for Kandinsky 2.2 (its MoVQ rounds sides up to ``scale**2``).
    """
    m = 8
    vsf = getattr(pipe, "vae_scale_factor", None)
    if isinstance(vsf, int) and vsf > 0:
        m = math.lcm(m, vsf * (2 if hasattr(type(pipe), "_pack_latents") else 1))
    decoder = getattr(pipe, "decoder_pipe", None)
    movq = getattr(pipe, "movq_scale_factor", None) or getattr(decoder, "movq_scale_factor", None)
    if isinstance(movq, int) and movq > 0:
        m = math.lcm(m, movq * movq)
    return m


class DiffusersInpaintGenerator:
    """Inpaint damage with a diffusers pipeline.

    Args:
        model: Hub id or local folder of an inpainting pipeline, or a pipeline object (used as is).
        name: Manifest name (default: the model's last path component, or the pipeline's class).
        pipeline_class: ``auto`` (``AutoPipelineForInpainting``) or a diffusers class name.
        steps: Denoising steps.
        guidance_scale: Classifier-free guidance scale.
        strength: How far the masked region moves from the painted input (0-1]; pipelines without
            ``strength`` (Kandinsky 2.2) always re-synthesise the region from noise.
        seed: Base seed, added to each call's seed.
        device: ``cpu``, ``cuda``, ...
        dtype: ``float32``, ``float16`` or ``bfloat16``.
        negative_prompt: Negative prompt, for pipelines that take one.
        local_files_only: Never reach a hub (default when ``HF_HUB_OFFLINE`` is set).
        call_kwargs: More keyword arguments for every pipeline call (e.g. ``max_sequence_length``
            for FLUX, ``prior_num_inference_steps`` for Kandinsky); each must be a parameter of the
            pipeline's ``__call__`` and overrides the value fakedamage would pass.
        **load_kwargs: Passed to ``from_pretrained`` (``variant``, ``revision``, ...).

    Raises:
        ValueError: (one line) the pipeline cannot be loaded, is not an inpainting pipeline
            (no ``image``/``mask_image``), requires an argument fakedamage does not give, or
            ``call_kwargs`` names a parameter it does not take.
    """

    decodes_whole_image = True
    uses_prompt = True

    def __init__(self, model: Any, name: str | None = None, pipeline_class: str = "auto", steps: int = 30,
                 guidance_scale: float = 7.5, strength: float = 0.99, seed: int = 0, device: str = "cpu",
                 dtype: str = "float32", negative_prompt: str | None = NEGATIVE_PROMPT,
                 local_files_only: bool | None = None, call_kwargs: Mapping[str, Any] | None = None,
                 **load_kwargs: Any) -> None:
        if dtype not in _DTYPES:
            raise ValueError(f"dtype must be one of {sorted(_DTYPES)}, got {dtype!r}")
        if isinstance(model, (str, os.PathLike)):
            pipe = self._load(str(model), pipeline_class, dtype, local_files_only, load_kwargs)
            self.name = name or str(model).rstrip("/").split("/")[-1]
        else:
            pipe = model
            self.name = name or type(pipe).__name__
        if hasattr(pipe, "to"):
            pipe = pipe.to(device)
        if hasattr(pipe, "set_progress_bar_config"):
            pipe.set_progress_bar_config(disable=True)
        self.pipe = pipe
        self.steps, self.guidance_scale, self.strength = int(steps), float(guidance_scale), float(strength)
        self.seed, self.device, self.negative_prompt = int(seed), device, negative_prompt
        self.params = call_parameters(pipe)
        self.size_multiple = _size_multiple(pipe)
        where = f"{self.name} ({type(pipe).__name__})"
        missing = [p for p in _ESSENTIAL if p not in self.params]
        if missing:
            raise ValueError(f"{where} is not an inpainting pipeline: its __call__ takes no {' or '.join(missing)}; "
                             "give an inpainting pipeline (pipeline_class=auto loads one through "
                             "AutoPipelineForInpainting)")
        self.call_kwargs = dict(call_kwargs or {})
        unknown = sorted(set(self.call_kwargs) - set(self.params))
        if unknown:
            raise ValueError(f"{where}: call_kwargs {unknown} are not parameters of its __call__ "
                             f"(it takes {sorted(self.params)})")
        # the argument names do not depend on the image: check the required ones now, not mid-synthesis
        names = set(self._kwargs(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 8), np.float32), "", None))
        required = [n for n, p in self.params.items() if p.default is inspect.Parameter.empty and n not in names]
        if required:
            raise ValueError(f"{where}: its __call__ requires {required}, which fakedamage does not give; "
                             "load the full inpainting pipeline (pipeline_class=auto) or pass them in call_kwargs")

    @staticmethod
    def _load(model: str, pipeline_class: str, dtype: str, local_files_only: bool | None,
              load_kwargs: dict[str, Any]) -> Any:
        import diffusers

        if local_files_only is None:
            local_files_only = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "")
        cls = diffusers.AutoPipelineForInpainting if pipeline_class == "auto" else getattr(diffusers, pipeline_class, None)
        if cls is None:
            raise ValueError(f"diffusers has no pipeline class {pipeline_class!r}; use auto or e.g. FluxFillPipeline")
        load_kwargs = {**_absent_components(model), **load_kwargs}
        try:
            return cls.from_pretrained(model, torch_dtype=_DTYPES[dtype], local_files_only=local_files_only,
                                       **load_kwargs)
        except (OSError, ValueError) as e:
            raise ValueError(f"{model}: cannot load the diffusers pipeline ({str(e).splitlines()[0]}); "
                             "give a local folder or a hub id reachable from here") from None

    def _has_tokenizer(self) -> bool:
        return any(getattr(self.pipe, t, None) is not None for t in _TOKENIZERS)

    def _zero_embeds(self) -> dict[str, Any]:
        """Zero conditioning for a pipeline without a tokenizer, for the embedding parameters it takes."""
        den = getattr(self.pipe, "unet", None) or getattr(self.pipe, "transformer", None)
        cfg = getattr(den, "config", None)
        if cfg is None:
            raise ValueError(f"{self.name}: {type(self.pipe).__name__} has no tokenizer and no unet/transformer "
                             "to size prompt embeddings for")
        width = getattr(cfg, "cross_attention_dim", None) or getattr(cfg, "joint_attention_dim", None)
        dtype = next(den.parameters()).dtype
        out: dict[str, Any] = {}
        if "prompt_embeds" in self.params and width:
            embeds = torch.zeros(1, 77, int(width), dtype=dtype, device=self.device)
            out["prompt_embeds"] = embeds
            if "negative_prompt_embeds" in self.params:
                out["negative_prompt_embeds"] = embeds
        if "pooled_prompt_embeds" in self.params:
            pooled = getattr(cfg, "pooled_projection_dim", None)  # FLUX
            if pooled is None and getattr(cfg, "projection_class_embeddings_input_dim", None):  # SDXL: text + time ids
                n_ids = 5 if getattr(getattr(self.pipe, "config", None), "requires_aesthetics_score", False) else 6
                pooled = cfg.projection_class_embeddings_input_dim - n_ids * cfg.addition_time_embed_dim
            if pooled:
                out["pooled_prompt_embeds"] = torch.zeros(1, int(pooled), dtype=dtype, device=self.device)
                if "negative_pooled_prompt_embeds" in self.params:
                    out["negative_pooled_prompt_embeds"] = out["pooled_prompt_embeds"]
        return out

    def _kwargs(self, img: np.ndarray, mask: np.ndarray, prompt: str, generator: Any) -> dict[str, Any]:
        """Keyword arguments of one call: only parameters the pipeline's ``__call__`` takes."""
        kw: dict[str, Any] = {
            "image": Image.fromarray(img),
            "mask_image": Image.fromarray((np.asarray(mask) > 0.05).astype(np.uint8) * 255),
            "height": img.shape[0], "width": img.shape[1], "num_inference_steps": self.steps,
            "guidance_scale": self.guidance_scale, "strength": self.strength, "generator": generator,
            "output_type": "np",
        }
        if self._has_tokenizer() or "prompt_embeds" not in self.params:
            kw["prompt"] = prompt
            if self.negative_prompt:
                kw["negative_prompt"] = self.negative_prompt
        else:
            kw.update(self._zero_embeds())
        kw = {k: v for k, v in kw.items() if k in self.params}
        kw.update(self.call_kwargs)
        return kw

    @torch.no_grad()
    def regenerate(self, image: np.ndarray, mask: np.ndarray, prompt: str = "", seed: int = 0) -> np.ndarray:
        """Inpaint ``mask`` of ``image`` under ``prompt``.

        Args:
            image: ``(H, W, 3)`` uint8 RGB with the damage painted in.
            mask: ``(H, W)`` float in ``[0, 1]``.
            prompt: Damage prompt (see :func:`fakedamage.data.prompts.make_prompt`).
            seed: Diffusion noise seed (added to the generator's base seed).

        Returns:
            ``(H, W, 3)`` uint8: the pipeline output at the input size. Sides are padded by
            reflection to the multiple the pipeline needs (:attr:`size_multiple`: 8 for Stable
            Diffusion, 16 for FLUX, 64 for Kandinsky 2.2) and cropped back.
        """
        h, w = image.shape[:2]
        k = self.size_multiple
        ph, pw = (-h) % k, (-w) % k
        # reflect needs the pad smaller than the side; a small crop in a big-multiple pipeline takes edge
        mode = "reflect" if ph < h and pw < w else "edge"
        img = np.pad(image, ((0, ph), (0, pw), (0, 0)), mode=mode) if ph or pw else image
        m = np.pad(mask, ((0, ph), (0, pw)), mode="constant") if ph or pw else mask
        gen = torch.Generator(device="cpu").manual_seed(self.seed + int(seed))
        out = self.pipe(**self._kwargs(img, m, prompt, gen)).images[0]
        if isinstance(out, Image.Image):
            out = np.asarray(out.convert("RGB"))
        else:
            out = np.clip(np.round(np.asarray(out, dtype=np.float32) * 255.0), 0, 255).astype(np.uint8)
        if out.shape[:2] != img.shape[:2]:
            raise ValueError(f"{self.name}: the pipeline returned {out.shape[1]}x{out.shape[0]} for a "
                             f"{img.shape[1]}x{img.shape[0]} input; it needs sides of another multiple than "
                             f"{k}")
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
