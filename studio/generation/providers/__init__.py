"""Generation providers behind one interface; `from_settings` builds the configured ones."""

from __future__ import annotations

from studio.generation.providers.base import KINDS, Poll, Provider, ProviderError, final, transient
from studio.ops.settings import Settings

__all__ = ["KINDS", "Poll", "Provider", "ProviderError", "final", "from_settings", "transient"]


def from_settings(settings: Settings) -> dict[str, Provider]:
    """Animatic always; each hosted provider when its key (or server list) is set."""
    from studio.generation.providers.animatic import Animatic

    work = settings.data_dir / "providers"
    from studio.generation.providers.link import LinkFetcher

    found: dict[str, Provider] = {"animatic": Animatic(work / "animatic",
                                                       width=settings.animatic_width)}
    # Not a generator: takes brought by link are fetched as jobs of the same queue.
    found["link"] = LinkFetcher(work / "link", max_bytes=settings.upload_max_bytes,
                                seconds=settings.upload_fetch_seconds,
                                allow_loopback=settings.test_allow_loopback_urls)
    if settings.comfyui_urls:
        from studio.generation.providers.comfyui import ComfyUI

        found["comfyui"] = ComfyUI(settings.comfyui_urls, workflows_dir=settings.comfyui_workflows)
    if settings.runway_api_secret is not None:
        from studio.generation.providers.runway import Runway

        found["runway"] = Runway(settings.runway_api_secret.get_secret_value(),
                                 base_url=settings.runway_base_url,
                                 video_model=settings.runway_video_model,
                                 image_model=settings.runway_image_model)
    if settings.replicate_api_token is not None:
        from studio.generation.providers.replicate import Replicate

        found["replicate"] = Replicate(settings.replicate_api_token.get_secret_value(),
                                       base_url=settings.replicate_base_url,
                                       models=settings.replicate_models)
    if settings.elevenlabs_api_key is not None:
        from studio.generation.providers.elevenlabs import ElevenLabs

        found["elevenlabs"] = ElevenLabs(settings.elevenlabs_api_key.get_secret_value(),
                                         work / "elevenlabs", base_url=settings.elevenlabs_base_url,
                                         model=settings.elevenlabs_model)
    return found
