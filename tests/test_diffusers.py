"""The diffusers generator with every pipeline class the README names, built offline.

Each pipeline is a tiny random-weight instance of the real diffusers class, built from config
objects (UNet / transformer / VAE / MoVQ, CLIP and T5 text encoders) with tokenizers made from
an in-memory vocabulary, saved to a folder and loaded back through the generator the way
``fakedamage synth`` loads a hub id: nothing is downloaded. Their images are noise; their code
path (argument handling, image processors, latent packing, size rules) is the real pipelines'.

Stand-ins with the exact ``__call__`` signature of a real class cover what no real class here
shows: an older FLUX Fill without ``strength``, the decoder-only Kandinsky pipeline that needs
image embeddings, and a text-to-image pipeline that is not an inpainting one.
"""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import numpy as np
import pytest
import skimage.data

pytest.importorskip("diffusers")
pytest.importorskip("transformers")

import diffusers  # noqa: E402
import torch  # noqa: E402

from fakedamage.data.generators import create_generator  # noqa: E402
from fakedamage.data.generators.diffusers import DiffusersInpaintGenerator, call_parameters  # noqa: E402

# ------------------------------------------------------------------ tiny offline components


def clip_tokenizer():
    """A byte-level CLIP BPE tokenizer with no merges: every byte is a token (514 entries)."""
    from tokenizers.pre_tokenizers import ByteLevel
    from transformers import CLIPTokenizer

    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    chars = sorted(ByteLevel.alphabet())
    for c in chars:
        vocab[c] = len(vocab)
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def t5_tokenizer():
    """A unigram T5 tokenizer over letters (no sentencepiece model file needed)."""
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -1.0)]
    pieces += [(c, -2.0) for c in "abcdefghijklmnopqrstuvwxyz"]
    return T5Tokenizer(vocab=pieces, extra_ids=0)


def clip_config(**kw):
    from transformers import CLIPTextConfig

    base = dict(bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
                num_attention_heads=4, num_hidden_layers=2, vocab_size=1000, projection_dim=32)
    return CLIPTextConfig(**{**base, **kw})


def tiny_vae():
    return diffusers.AutoencoderKL(block_out_channels=(32, 64), in_channels=3, out_channels=3, latent_channels=4,
                                   down_block_types=("DownEncoderBlock2D",) * 2,
                                   up_block_types=("UpDecoderBlock2D",) * 2, norm_num_groups=8, sample_size=32)


def build_sd(flavour: str):
    """SD 1.5 inpainting (PNDM, per-block attention heads) or SD 2 inpainting (linear projections, DDIM)."""
    from transformers import CLIPTextModel

    torch.manual_seed(0)
    sd2 = flavour == "sd2"
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=9, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, attention_head_dim=(2, 4) if sd2 else 4, use_linear_projection=sd2,
        norm_num_groups=8)
    scheduler = (diffusers.DDIMScheduler(steps_offset=1) if sd2 else diffusers.PNDMScheduler(skip_prk_steps=True, steps_offset=1))
    return diffusers.StableDiffusionInpaintPipeline(
        vae=tiny_vae(), text_encoder=CLIPTextModel(clip_config(hidden_act="gelu" if sd2 else "quick_gelu")),
        tokenizer=clip_tokenizer(), unet=unet, scheduler=scheduler, safety_checker=None, feature_extractor=None,
        image_encoder=None, requires_safety_checker=False)


def build_sdxl():
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(0)
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=1, sample_size=32, in_channels=9, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * 8 + 32,  # 6 time ids of 8 + the pooled text of encoder 2
        cross_attention_dim=64, norm_num_groups=8)  # encoder 1 (32) and encoder 2 (32) concatenated
    return diffusers.StableDiffusionXLInpaintPipeline(
        vae=tiny_vae(), text_encoder=CLIPTextModel(clip_config()),
        text_encoder_2=CLIPTextModelWithProjection(clip_config()), tokenizer=clip_tokenizer(),
        tokenizer_2=clip_tokenizer(), unet=unet, scheduler=diffusers.EulerDiscreteScheduler(steps_offset=1),
        requires_aesthetics_score=False, add_watermarker=False)


def build_kandinsky22():
    """Kandinsky 2.2 inpainting as AutoPipelineForInpainting runs it: prior (text -> CLIP image
    embedding) and decoder (a 9-channel image-conditioned UNet, a MoVQ)."""
    from transformers import (
        CLIPImageProcessor,
        CLIPTextModelWithProjection,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    torch.manual_seed(0)
    prior = diffusers.PriorTransformer(num_attention_heads=2, attention_head_dim=12, embedding_dim=32, num_layers=1)
    prior.clip_std = torch.nn.Parameter(torch.ones(prior.clip_std.shape))  # random weights leave it 0
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, image_size=32, projection_dim=32, intermediate_size=37, num_attention_heads=4,
        num_channels=3, num_hidden_layers=2, patch_size=8))
    processor = CLIPImageProcessor(crop_size=32, size=32, do_center_crop=True, do_normalize=True, do_resize=True,
                                   resample=3)
    unet = diffusers.UNet2DConditionModel(
        in_channels=9, out_channels=8, addition_embed_type="image",
        down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
        up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
        mid_block_type="UNetMidBlock2DSimpleCrossAttn", block_out_channels=(32, 64), layers_per_block=1,
        encoder_hid_dim=32, encoder_hid_dim_type="image_proj", cross_attention_dim=32, attention_head_dim=4,
        resnet_time_scale_shift="scale_shift", class_embed_type=None, norm_num_groups=8)
    movq = diffusers.VQModel(
        block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D", "AttnDownEncoderBlock2D"],
        up_block_types=["AttnUpDecoderBlock2D", "UpDecoderBlock2D"], in_channels=3, out_channels=3,
        latent_channels=4, layers_per_block=1, norm_num_groups=8, norm_type="spatial", num_vq_embeddings=12,
        vq_embed_dim=4)
    return diffusers.KandinskyV22InpaintCombinedPipeline(
        unet=unet, movq=movq,
        scheduler=diffusers.DDPMScheduler(beta_schedule="linear", beta_start=0.00085, beta_end=0.012,
                                          clip_sample=False, steps_offset=1, prediction_type="epsilon"),
        prior_prior=prior, prior_image_encoder=image_encoder,
        prior_text_encoder=CLIPTextModelWithProjection(clip_config()), prior_tokenizer=clip_tokenizer(),
        prior_scheduler=diffusers.UnCLIPScheduler(variance_type="fixed_small_log", prediction_type="sample",
                                                  num_train_timesteps=1000, clip_sample=True,
                                                  clip_sample_range=10.0),
        prior_image_processor=processor)


def build_flux_fill():
    from transformers import CLIPTextModel, T5Config, T5EncoderModel

    torch.manual_seed(0)
    t5 = t5_tokenizer()
    # in_channels: packed latents (2 * 4) + packed masked-image latents (2 * 4) + packed mask (1 * 4)
    transformer = diffusers.FluxTransformer2DModel(
        patch_size=1, in_channels=20, out_channels=8, num_layers=1, num_single_layers=1, attention_head_dim=16,
        num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=[4, 4, 8])
    vae = diffusers.AutoencoderKL(
        sample_size=32, in_channels=3, out_channels=3, block_out_channels=(4,), layers_per_block=1,
        latent_channels=2, norm_num_groups=1, use_quant_conv=False, use_post_quant_conv=False,
        shift_factor=0.0609, scaling_factor=1.5035)
    text_encoder_2 = T5EncoderModel(T5Config(vocab_size=len(t5), d_model=32, d_kv=8, d_ff=37, num_layers=1,
                                             num_heads=4, pad_token_id=0, eos_token_id=1,
                                             decoder_start_token_id=0))
    return diffusers.FluxFillPipeline(
        scheduler=diffusers.FlowMatchEulerDiscreteScheduler(), vae=vae,
        text_encoder=CLIPTextModel(clip_config()), tokenizer=clip_tokenizer(), text_encoder_2=text_encoder_2,
        tokenizer_2=t5, transformer=transformer)


def crop(h=60, w=64):
    return skimage.data.coffee()[100:100 + h, 200:200 + w].copy()


def damage_mask(h=60, w=64):
    m = np.zeros((h, w), np.float32)
    m[12:36, 16:44] = 1
    return m


# (readme name, builder, pipeline_class given to the generator, class it must load, extra call kwargs)
PIPELINES = {
    "sd15": (lambda: build_sd("sd15"), "auto", diffusers.StableDiffusionInpaintPipeline, {}),
    "sd2": (lambda: build_sd("sd2"), "auto", diffusers.StableDiffusionInpaintPipeline, {}),
    "sdxl": (build_sdxl, "auto", diffusers.StableDiffusionXLInpaintPipeline, {}),
    "kandinsky22": (build_kandinsky22, "auto", diffusers.KandinskyV22InpaintCombinedPipeline,
                    {"prior_num_inference_steps": 2}),
    "flux_fill": (build_flux_fill, "FluxFillPipeline", diffusers.FluxFillPipeline, {"max_sequence_length": 16}),
}


@pytest.mark.parametrize("kind", list(PIPELINES))
def test_every_readme_pipeline_inpaints_through_the_generator(kind, tmp_path):
    build, pipeline_class, expected, extra = PIPELINES[kind]
    build().save_pretrained(str(tmp_path / kind))
    gen = create_generator("diffusers", model=str(tmp_path / kind), pipeline_class=pipeline_class, steps=2,
                           name=f"tiny-{kind}", local_files_only=True, call_kwargs=extra)
    assert type(gen.pipe) is expected
    params = call_parameters(gen.pipe)
    img, mask = crop(), damage_mask()
    kwargs = gen._kwargs(img, mask, "a deep scratch", None)
    assert set(kwargs) <= set(params)  # nothing the pipeline does not take
    assert {"image", "mask_image", "height", "width", "num_inference_steps", "prompt"} <= set(kwargs)
    assert ("strength" in kwargs) == ("strength" in params)
    assert ("negative_prompt" in kwargs) == ("negative_prompt" in params)
    if kind == "kandinsky22":
        assert "strength" not in kwargs and "prompt_embeds" not in params
    if kind == "flux_fill":
        assert "negative_prompt" not in kwargs
    out = gen.regenerate(img, mask, prompt="a deep scratch", seed=3)
    assert out.shape == img.shape and out.dtype == np.uint8  # 60 rows: padded for the pipeline, cropped back
    assert not np.array_equal(out, img)


def test_size_multiples_follow_the_pipeline():
    from fakedamage.data.generators.diffusers import _size_multiple

    assert _size_multiple(SimpleNamespace(vae_scale_factor=8)) == 8  # SD 1/2/XL
    assert _size_multiple(SimpleNamespace(decoder_pipe=SimpleNamespace(movq_scale_factor=8))) == 64  # Kandinsky 2.2

    class Packed:  # FLUX packs 2x2 latent patches
        vae_scale_factor = 8

        @staticmethod
        def _pack_latents():
            pass

    assert _size_multiple(Packed()) == 16


# ------------------------------------------------------------------ stand-ins with real signatures


def stand_in(cls, drop=(), tokenizer=True):
    """An object whose ``__call__`` has the signature of ``cls.__call__`` (less ``drop``): it binds
    the arguments as the real class would (an unknown keyword is a TypeError) and returns grey."""
    sig = inspect.signature(cls.__call__)
    sig = sig.replace(parameters=[p for p in sig.parameters.values() if p.name not in drop])

    class StandIn:
        def __init__(self):
            self.tokenizer = object() if tokenizer else None
            self.calls = []

        def __call__(self, *args, **kwargs):
            sig.bind(self, *args, **kwargs)
            self.calls.append(kwargs)
            return SimpleNamespace(images=[np.full((kwargs["height"], kwargs["width"], 3), 0.5, np.float32)])

    StandIn.__call__.__signature__ = sig
    StandIn.__name__ = f"StandIn{cls.__name__}"
    return StandIn()


def test_flux_fill_without_strength_gets_neither_strength_nor_negative_prompt():
    """FLUX.1 Fill as older diffusers define it: no ``strength``, and never a ``negative_prompt``."""
    pipe = stand_in(diffusers.FluxFillPipeline, drop=("strength",))
    assert "strength" not in call_parameters(pipe) and "negative_prompt" not in call_parameters(pipe)
    gen = DiffusersInpaintGenerator(pipe, steps=2, call_kwargs={"max_sequence_length": 16})
    out = gen.regenerate(crop(), damage_mask(), prompt="a dent")
    (call,) = pipe.calls
    assert "strength" not in call and "negative_prompt" not in call and call["prompt"] == "a dent"
    assert call["max_sequence_length"] == 16 and out.shape == crop().shape and (out == 128).all()


def test_a_pipeline_without_a_tokenizer_gets_zero_embeddings():
    pipe = stand_in(diffusers.StableDiffusionInpaintPipeline, tokenizer=False)
    pipe.unet = torch.nn.Linear(1, 1)
    pipe.unet.config = SimpleNamespace(cross_attention_dim=32)
    gen = DiffusersInpaintGenerator(pipe, steps=2)
    gen.regenerate(crop(), damage_mask(), prompt="a crack")
    (call,) = pipe.calls
    assert "prompt" not in call and call["prompt_embeds"].shape == (1, 77, 32)
    assert call["negative_prompt_embeds"] is call["prompt_embeds"] and call["strength"] == gen.strength


def test_the_decoder_only_kandinsky_pipeline_is_one_clear_line():
    with pytest.raises(ValueError, match=r"requires \['image_embeds', 'negative_image_embeds'\]") as e:
        DiffusersInpaintGenerator(stand_in(diffusers.KandinskyV22InpaintPipeline, tokenizer=False), name="kd")
    assert "\n" not in str(e.value) and "pipeline_class=auto" in str(e.value)


def test_a_text_to_image_pipeline_is_not_an_inpainting_one():
    with pytest.raises(ValueError, match="is not an inpainting pipeline: its __call__ takes no image or mask_image"):
        DiffusersInpaintGenerator(stand_in(diffusers.StableDiffusionPipeline), name="t2i")


def test_unknown_call_kwargs_are_refused():
    with pytest.raises(ValueError, match=r"call_kwargs \['strength'\] are not parameters"):
        DiffusersInpaintGenerator(stand_in(diffusers.FluxFillPipeline, drop=("strength",)), call_kwargs={"strength": 1})
