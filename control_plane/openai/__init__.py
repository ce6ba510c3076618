"""The OpenAI-compatible front door: ``/v1/audio/transcriptions`` (OpenAI model names), ``/v1/models``,
``/v1/realtime`` and the same under ``/openai/v1/``; adapters over Tandem's jobs and live sessions."""
